// Compiled (never run) by test/types.test.js: the hand-written .d.ts files must describe the
// API as the docs use it. A type error here fails the test.
import { connect, memoryStorage, applyPatch, STATUS, OpError, type StateChannel, type Operation } from 'statechannel-client';
import { StateChannelProvider, useStateChannel, useStateChannelSelector } from 'statechannel-client/react';
import { createStateChannel } from 'statechannel-client/solid';
import { createElement } from 'react';

interface Counter { count: number }

const socket = connect('/socket', { storage: memoryStorage(), backoff: { reconnect: (n) => n * 100 } });
const channel: StateChannel<Counter> = socket.channel<Counter>('counter:a', { name: 'x' }, {
  reducers: { inc: (s, p: { by: number }) => ({ ...s, count: s.count + p.by }) },
});
const state: Counter | undefined = channel.getState();
const off: () => void = channel.subscribe((s, info) => { if (info.ops) info.ops.forEach((o: Operation) => o.path); });
off();
channel.push<{ id: number }>('inc', { by: 1 }, { optimistic: (s) => ({ ...s, count: s.count + 1 }) })
  .then((r) => r.reply?.id)
  .catch((e: OpError) => e.reason);
const s = channel.getStatus();
const online: boolean = s.status === STATUS.ONLINE && s.pending === 0;
const patched: Counter = applyPatch<Counter>({ count: 1 }, [{ op: 'replace', path: '/count', value: 2 }]);

function View() {
  const { state: st, pushMessage, status, pending } = useStateChannel<Counter>();
  const count = useStateChannelSelector<Counter, number | undefined>((x) => x?.count);
  pushMessage('inc', { by: 1 });
  return createElement('p', null, `${st?.count} ${count} ${status} ${pending}`);
}
createElement(StateChannelProvider, { url: '/socket', topic: 'counter:a' }, createElement(View));

const sc = createStateChannel<Counter>('counter:a', { url: '/socket' });
const n: number | undefined = sc.state?.count;
sc.pushMessage('inc', { by: 1 });
const p: number = sc.pending();

export { state, online, patched, n, p };
