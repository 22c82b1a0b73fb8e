// handlers/table.c against the real server: the js-framework-benchmark operations, their
// patch sizes, the deterministic labels, and that each connection has its own table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../js/lib/server.mjs';
import { RawClient } from '../js/lib/phx.mjs';

const LABEL = /^(pretty|large|big|small|tall|short|long|handsome|plain|quaint|clean|elegant|easy|angry|crazy|helpful|mushy|odd|unsightly|adorable|important|inexpensive|cheap|expensive|fancy) (red|yellow|blue|green|pink|brown|purple|white|black|orange) (table|chair|house|bbq|desk|car|pony|cookie|sandwich|burger|pizza|mouse|keyboard)$/;

let server;
const clients = [];
async function client() {
  const c = await RawClient.connect(server.wsUrl);
  clients.push(c);
  return c;
}

before(async () => { server = await startServer(); });
after(async () => {
  for (const c of clients) c.ws.terminate();
  await server?.stop();
});

async function joined(topic = 'table:bench') {
  const c = await client();
  const t = await c.join(topic);
  assert.equal(t.reply.status, 'ok');
  return { c, t };
}

test('a new table has no rows and nothing selected', async () => {
  const { t } = await joined();
  assert.deepEqual(t.state, { rows: [], selected: null });
});

test('run makes 1,000 rows with increasing ids and benchmark labels', async () => {
  const { c, t } = await joined();
  const { reply } = await c.event(t, 'run');
  assert.equal(reply.status, 'ok');
  assert.equal(t.state.rows.length, 1000);
  assert.deepEqual(t.state.rows.map((r) => r.id), Array.from({ length: 1000 }, (_, i) => i + 1));
  for (const r of t.state.rows) assert.match(r.label, LABEL);
  assert.ok(new Set(t.state.rows.map((r) => r.label)).size > 100, 'labels vary');
  await c.event(t, 'run');
  assert.equal(t.state.rows[0].id, 1001, 'run replaces the rows with new ids');
  assert.deepEqual(t.errors, []);
});

test('labels are deterministic per topic', async () => {
  const one = await joined('table:seeded');
  const two = await joined('table:seeded');
  const other = await joined('table:other');
  for (const { c, t } of [one, two, other]) await c.event(t, 'run');
  assert.deepEqual(two.t.state.rows, one.t.state.rows);
  assert.notDeepEqual(other.t.state.rows.map((r) => r.label), one.t.state.rows.map((r) => r.label));
});

test('each connection has its own table', async () => {
  const one = await joined('table:mine');
  const two = await joined('table:mine');
  await one.c.event(one.t, 'run');
  assert.ok(await two.c.nothing((f) => f.event === 'state:patch', 500));
  assert.deepEqual(two.t.state.rows, []);
});

test('update appends " !!!" to every 10th label in a patch of 100 replace ops', async () => {
  const { c, t } = await joined();
  await c.event(t, 'run');
  const before = t.state.rows.map((r) => r.label);
  const { patch } = await c.event(t, 'update');
  assert.equal(patch.patch.length, 100);
  assert.ok(patch.patch.every((op) => op.op === 'replace'));
  t.state.rows.forEach((r, i) =>
    assert.equal(r.label, i % 10 === 0 ? `${before[i]} !!!` : before[i]));
});

test('swaprows exchanges rows 1 and 998 in at most 2 ops', async () => {
  const { c, t } = await joined();
  await c.event(t, 'run');
  const rows = t.state.rows;
  const { patch } = await c.event(t, 'swaprows');
  assert.ok(patch.patch.length <= 2, JSON.stringify(patch.patch));
  assert.deepEqual(t.state.rows[1], rows[998]);
  assert.deepEqual(t.state.rows[998], rows[1]);
  assert.equal(t.state.rows.length, 1000);
});

test('swaprows on a table of 998 rows or fewer changes nothing', async () => {
  const { c, t } = await joined();
  await c.event(t, 'run');
  await c.event(t, 'remove', { id: t.state.rows[5].id });
  await c.event(t, 'remove', { id: t.state.rows[5].id });
  assert.equal(t.state.rows.length, 998);
  const { reply, patch } = await c.event(t, 'swaprows');
  assert.equal(reply.status, 'ok');
  assert.equal(patch, null);
});

test('remove deletes one row in one op; select sets "selected"', async () => {
  const { c, t } = await joined();
  await c.event(t, 'run');
  const victim = t.state.rows[10];
  const { patch } = await c.event(t, 'remove', { id: victim.id });
  assert.equal(patch.patch.length, 1);
  assert.equal(patch.patch[0].op, 'remove');
  assert.equal(t.state.rows.length, 999);
  assert.ok(!t.state.rows.some((r) => r.id === victim.id));

  const chosen = t.state.rows[3].id;
  const sel = await c.event(t, 'select', { id: chosen });
  assert.equal(t.state.selected, chosen);
  assert.equal(sel.patch.patch.length, 1);
  await c.event(t, 'remove', { id: chosen });
  assert.equal(t.state.selected, null, 'removing the selected row clears the selection');
});

test('add appends 1,000 rows; runlots makes 10,000; clear empties', async () => {
  const { c, t } = await joined();
  await c.event(t, 'run');
  await c.event(t, 'add');
  assert.equal(t.state.rows.length, 2000);
  assert.equal(new Set(t.state.rows.map((r) => r.id)).size, 2000, 'ids are unique');
  await c.event(t, 'runlots');
  assert.equal(t.state.rows.length, 10000);
  await c.event(t, 'select', { id: t.state.rows[0].id });
  await c.event(t, 'clear');
  assert.deepEqual(t.state, { rows: [], selected: null });
  const { patch } = await c.event(t, 'clear');
  assert.equal(patch, null);
  assert.deepEqual(t.errors, []);
});

// The handler counts its rows instead of walking the list, and reaches rows 1 and 998 from the
// nearer end: every event that changes the count (run, add, remove, clear, a refused add) must
// keep it right, or swaprows would swap the wrong rows or skip a swap it owes.
test('swaprows swaps rows 1 and 998 however the row count got where it is', async () => {
  const { c, t } = await joined();
  const swapped = async (why) => {
    const rows = t.state.rows.slice();
    const { reply, patch } = await c.event(t, 'swaprows');
    assert.equal(reply.status, 'ok', why);
    if (rows.length <= 998) {
      assert.equal(patch, null, `${why}: ${rows.length} rows, nothing to swap`);
      return;
    }
    assert.deepEqual(t.state.rows[1], rows[998], why);
    assert.deepEqual(t.state.rows[998], rows[1], why);
    assert.deepEqual(t.state.rows.slice(2, 998), rows.slice(2, 998), why);
    assert.equal(t.state.rows.length, rows.length, why);
  };
  await c.event(t, 'run');
  await swapped('after run (1,000: row 998 from the end)');
  await c.event(t, 'add');
  await swapped('after add (2,000: row 998 from the front)');
  await c.event(t, 'remove', { id: t.state.rows[0].id });
  await swapped('after a remove (1,999)');
  await c.event(t, 'clear');
  await swapped('after clear (0)');
  await c.event(t, 'run');
  for (let i = 0; i < 2; i++) await c.event(t, 'remove', { id: t.state.rows[500].id });
  await swapped('after run and two removes (998)');
  await c.event(t, 'add');
  await swapped('after add (1,998)');
  assert.deepEqual(t.errors, []);
});

test('remove and select refuse malformed and unknown ids; unknown events are refused', async () => {
  const { c, t } = await joined();
  await c.event(t, 'run');
  for (const [name, payload, reason] of [
    ['remove', { id: 'x' }, 'invalid_payload'],
    ['select', {}, 'invalid_payload'],
    ['select', 3, 'invalid_payload'],
    ['remove', { id: 99999 }, 'not_found'],
    ['select', { id: -1 }, 'not_found'],
    ['sort', {}, 'unknown_event'],
  ]) {
    const { reply } = await c.event(t, name, payload);
    assert.equal(reply.status, 'error', `${name} ${JSON.stringify(payload)}`);
    assert.equal(reply.response.reason, reason, `${name} ${JSON.stringify(payload)}`);
  }
  assert.equal(t.state.rows.length, 1000);
});
