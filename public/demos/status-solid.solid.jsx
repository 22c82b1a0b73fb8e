// Connection status for the Solid demos: the same parts as status-react.jsx.
import { createEffect, createSignal, onCleanup, Show } from 'solid-js';
import { BANNER_DELAY_MS, STATUS_LABEL } from './common.js';

export function StatusBar(props) {
  const sc = props.channel;
  const [banner, setBanner] = createSignal(false);
  createEffect(() => {
    const down = sc.status() === 'reconnecting' || sc.status() === 'connecting';
    if (!down) { setBanner(false); return; }
    const t = setTimeout(() => setBanner(true), BANNER_DELAY_MS);
    onCleanup(() => clearTimeout(t));
  });
  return (
    <>
      <Show when={banner()}>
        <div class="banner" role="status">Reconnecting… your changes are kept and will be sent.</div>
      </Show>
      <Show when={sc.status() === 'offline'}>
        <div class="banner offline" role="status">Offline — edits are saved on this device and sync when you are back.</div>
      </Show>
      <div class="statusbar" data-testid="status" data-status={sc.status()} data-pending={sc.pending()}>
        <span class={`badge ${sc.status()}`}>{STATUS_LABEL[sc.status()]}</span>
        <span class="topic">{props.topic}</span>
        <Show when={sc.pending() > 0}>
          <span class="pending">{sc.pending()} change{sc.pending() === 1 ? '' : 's'} waiting to sync</span>
        </Show>
        <Show when={sc.error()}>
          <span class="error" title={sc.error().message}>Last error: {sc.error().reason}</span>
        </Show>
        <a href="./index.html">all demos</a>
      </div>
    </>
  );
}
