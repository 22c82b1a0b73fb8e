// The server is killed (kill -9) and restarted mid-session: the page shows it is reconnecting,
// keeps the edits made meanwhile, and ends with every edit applied exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverAndBrowser, startServer, openPage, waitStatus, addTodo, todoTitles, eventually, screenshot, VIEWPORT,
} from './lib.mjs';

const env = serverAndBrowser({ keepData: true });

test('a page recovers with nothing lost when the server is killed and restarted', async () => {
  const url = () => `${env.server.base}/todo.html?id=crash`;
  const ctx = await env.browser.newContext({ viewport: VIEWPORT });
  const page = await openPage(ctx, url());
  await waitStatus(page, 'online');
  await addTodo(page, 'before crash 1');
  await addTodo(page, 'before crash 2');
  await waitStatus(page, 'online', 0);

  const { port, dataDir } = env.server;
  await env.server.kill9();
  await waitStatus(page, 'reconnecting');
  await addTodo(page, 'while down 1');
  await addTodo(page, 'while down 2');
  await waitStatus(page, 'reconnecting', 2);
  await page.waitForSelector('.banner', { timeout: 5000 }); // shown after its delay
  await screenshot(page, 'todo-reconnecting');

  env.server = await startServer({ port, dataDir });
  await waitStatus(page, 'online', 0, 30000);
  const expected = ['before crash 1', 'before crash 2', 'while down 1', 'while down 2'];
  await eventually(async () => JSON.stringify(await todoTitles(page)) === JSON.stringify(expected), 10000,
                   'the page converges').catch(async (err) => {
    throw new Error(`${err.message}: the page shows ${JSON.stringify(await todoTitles(page))}`);
  });

  const other = await openPage(await env.browser.newContext({ viewport: VIEWPORT }), url());
  await waitStatus(other, 'online');
  await eventually(async () => (await todoTitles(other)).length >= 4, 10000, 'the server list');
  assert.deepEqual(await todoTitles(other), expected, 'each edit exactly once, in order');
  assert.equal(await page.locator('.banner').count(), 0, 'the banner is gone');
});
