// The js-framework-benchmark table in SolidJS on `table:<id>` (handlers/table.c, one table per
// client): the server builds the rows and sends patches; the Solid store applies them one
// operation at a time, so "update every 10th row" touches 100 label signals, not 1000 rows.
import { render } from 'solid-js/web';
import { For, Show } from 'solid-js';
import { createStateChannel } from '../src/solid.js';
import { StatusBar } from './status-solid.solid.jsx';
import { topicId, registerServiceWorker } from './common.js';
import './table.css';

function Table(props) {
  const sc = createStateChannel(props.topic, { url: '/socket' });
  const act = (name) => () => sc.pushMessage(name, {});
  const rows = () => (sc.state ? sc.state.rows : []);
  return (
    <main class="app wide">
      <StatusBar channel={sc} topic={props.topic} />
      <h1>Benchmark table</h1>
      <section class="card">
        <div class="bench-buttons">
          <button id="run" class="primary" onClick={act('run')}>Create 1,000 rows</button>
          <button id="runlots" onClick={act('runlots')}>Create 10,000 rows</button>
          <button id="add" onClick={act('add')}>Append 1,000 rows</button>
          <button id="update" onClick={act('update')}>Update every 10th row</button>
          <button id="clear" onClick={act('clear')}>Clear</button>
          <button id="swaprows" onClick={act('swaprows')}>Swap rows</button>
        </div>
        <p class="hint" data-testid="row-count">{rows().length} rows · version {sc.version() ?? '–'}</p>
        <Show when={rows().length > 0}>
          <table class="bench">
            <tbody>
              <For each={rows()}>{(row) => (
                <tr class={sc.state.selected === row.id ? 'selected' : ''}>
                  <td class="id">{row.id}</td>
                  <td class="label"><a onClick={() => sc.pushMessage('select', { id: row.id })}>{row.label}</a></td>
                  <td><button class="remove" aria-label="Remove"
                              onClick={() => sc.pushMessage('remove', { id: row.id })}>×</button></td>
                </tr>
              )}</For>
            </tbody>
          </table>
        </Show>
      </section>
    </main>
  );
}

const topic = `table:${topicId()}`;
render(() => <Table topic={topic} />, document.getElementById('root'));
registerServiceWorker();
