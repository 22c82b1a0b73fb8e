// Two users (two isolated browser contexts) on one TodoMVC list see each other's edits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openPage, waitStatus, addTodo, todoTitles, eventually, screenshot, VIEWPORT } from './lib.mjs';

const env = serverAndBrowser();

test('two browser contexts edit the same todo list and each sees the other\'s change', async () => {
  const url = `${env.server.base}/todo.html?id=sync`;
  const alice = await openPage(await env.browser.newContext({ viewport: VIEWPORT }), url);
  const bob = await openPage(await env.browser.newContext({ viewport: VIEWPORT }), url);
  await waitStatus(alice, 'online');
  await waitStatus(bob, 'online');

  await addTodo(alice, 'from alice');
  await eventually(async () => (await todoTitles(bob)).includes('from alice'), 10000, 'bob sees alice');
  await addTodo(bob, 'from bob');
  await eventually(async () => (await todoTitles(alice)).includes('from bob'), 10000, 'alice sees bob');

  // Bob completes alice's item; alice sees it checked.
  await bob.locator('[data-testid=todo-item]', { hasText: 'from alice' }).locator('.toggle').click(); // not check(): the box follows server state, which lags the click
  await eventually(() => alice.locator('[data-testid=todo-item].completed', { hasText: 'from alice' }).count(),
                   10000, 'alice sees the toggle');
  await waitStatus(alice, 'online', 0);
  await waitStatus(bob, 'online', 0);
  assert.deepEqual(await todoTitles(alice), ['from alice', 'from bob']);
  assert.deepEqual(await todoTitles(bob), ['from alice', 'from bob']);
  await screenshot(alice, 'todo-two-users');
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});
