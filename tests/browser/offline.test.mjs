// Offline edits survive a reload and are applied exactly once when the browser is back online.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverAndBrowser, openPage, waitStatus, waitServiceWorker, addTodo, todoTitles,
  eventually, screenshot, VIEWPORT,
} from './lib.mjs';

const env = serverAndBrowser();

test('edits made offline survive a reload and reach the server exactly once when back online', async () => {
  const url = `${env.server.base}/todo.html?id=offline`;
  const ctx = await env.browser.newContext({ viewport: VIEWPORT });
  let page = await openPage(ctx, url);
  await waitStatus(page, 'online');
  await waitServiceWorker(page);
  await addTodo(page, 'online one');
  await waitStatus(page, 'online', 0);

  await ctx.setOffline(true);
  await waitStatus(page, 'offline');
  await addTodo(page, 'offline one');
  await addTodo(page, 'offline two');
  await waitStatus(page, 'offline', 2);
  assert.deepEqual(await todoTitles(page), ['online one', 'offline one', 'offline two'], 'optimistic, at once');
  await screenshot(page, 'todo-offline');

  // Reload while offline: the service worker serves the shell, IndexedDB the state and the outbox.
  await page.reload();
  await waitStatus(page, 'offline', 2);
  await eventually(async () => (await todoTitles(page)).length === 3, 10000, 'the list rendered offline');
  assert.deepEqual(await todoTitles(page), ['online one', 'offline one', 'offline two']);
  await addTodo(page, 'offline three');
  await waitStatus(page, 'offline', 3);
  await screenshot(page, 'todo-offline-after-reload');

  await ctx.setOffline(false);
  await waitStatus(page, 'online', 0, 20000);

  // A fresh user sees the server's list: every edit once, in order.
  const other = await openPage(await env.browser.newContext({ viewport: VIEWPORT }), url);
  await waitStatus(other, 'online');
  const expected = ['online one', 'offline one', 'offline two', 'offline three'];
  await eventually(async () => (await todoTitles(other)).length >= 4, 10000, 'the server list');
  assert.deepEqual(await todoTitles(other), expected);
  await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(expected), 10000,
                   'the first page converges');
  assert.deepEqual(other.errors, []);
});
