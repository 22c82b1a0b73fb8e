// A shared counter in SolidJS on `counter:<id>` (handlers/counter.c): every window shows one
// count. Clicks are optimistic ops: the number moves at once, offline too.
import { render } from 'solid-js/web';
import { Show } from 'solid-js';
import { createStateChannel } from '../src/solid.js';
import { StatusBar } from './status-solid.solid.jsx';
import { topicId, registerServiceWorker } from './common.js';
import './counter.css';

const reducers = {
  inc: (s, p) => ({ ...s, count: s.count + (p.by ?? 1) }),
  dec: (s, p) => ({ ...s, count: s.count - (p.by ?? 1) }),
  reset: (s) => ({ ...s, count: 0 }),
};

function Counter(props) {
  const sc = createStateChannel(props.topic, { url: '/socket', reducers });
  return (
    <main class="app">
      <StatusBar channel={sc} topic={props.topic} />
      <h1>Shared counter</h1>
      <section class="card counter">
        <Show when={sc.state} fallback={<p class="count" data-testid="count">…</p>}>
          <p class="count" data-testid="count">{sc.state.count}</p>
        </Show>
        <div class="buttons">
          <button onClick={() => sc.pushMessage('dec', { by: 1 })} aria-label="Decrement">−1</button>
          <button class="primary" onClick={() => sc.pushMessage('inc', { by: 1 })} aria-label="Increment">+1</button>
          <button onClick={() => sc.pushMessage('inc', { by: 10 })}>+10</button>
          <button onClick={() => sc.pushMessage('reset', {})}>Reset</button>
        </div>
        <p class="hint">Server version {sc.version() ?? '–'} · open a second window and click in both.</p>
      </section>
    </main>
  );
}

const topic = `counter:${topicId()}`;
render(() => <Counter topic={topic} />, document.getElementById('root'));
registerServiceWorker();
