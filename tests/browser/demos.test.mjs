// Every demo renders from the real server, goes online and reacts to a click; a screenshot of
// each lands in build/screenshots/ for a person to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  serverAndBrowser, openPage, waitStatus, addTodo, todoTitles, eventually, screenshot, VIEWPORT,
} from './lib.mjs';

let ctx;
const env = serverAndBrowser({}, async ({ browser }) => {
  ctx = await browser.newContext({ viewport: VIEWPORT });
});

test('the index page links every demo', async () => {
  const page = await openPage(ctx, `${env.server.base}/`);
  const links = await page.$$eval('.demo-list a', (as) => as.map((a) => a.getAttribute('href')));
  assert.deepEqual(links, ['./todo.html', './counter.html', './chat.html', './table.html']);
  await screenshot(page, 'index');
  assert.deepEqual(page.errors, []);
});

test('the React TodoMVC adds, completes and counts items', async () => {
  const page = await openPage(ctx, `${env.server.base}/todo.html?id=shots`);
  await waitStatus(page, 'online');
  for (const t of ['Write the client', 'Test it in Chromium', 'Ship it']) await addTodo(page, t);
  await page.locator('[data-testid=todo-item]', { hasText: 'Write the client' }).locator('.toggle').click(); // not check(): the box follows server state, which lags the click
  await waitStatus(page, 'online', 0);
  await eventually(async () => (await page.textContent('[data-testid=todo-count]')) === '2 items left', 10000, 'count');
  assert.deepEqual(await todoTitles(page), ['Write the client', 'Test it in Chromium', 'Ship it']);
  await screenshot(page, 'todo');
  assert.deepEqual(page.errors, []);
});

test('the SolidJS counter counts clicks from two windows', async () => {
  const a = await openPage(ctx, `${env.server.base}/counter.html?id=shots`);
  const b = await openPage(await env.browser.newContext({ viewport: VIEWPORT }), `${env.server.base}/counter.html?id=shots`);
  await waitStatus(a, 'online');
  await waitStatus(b, 'online');
  for (let i = 0; i < 3; i++) await a.click('button[aria-label=Increment]');
  await b.click('button:has-text("+10")');
  await eventually(async () => (await a.textContent('[data-testid=count]')) === '13', 10000, 'a shows 13');
  await eventually(async () => (await b.textContent('[data-testid=count]')) === '13', 10000, 'b shows 13');
  await screenshot(a, 'counter');
  assert.deepEqual(a.errors, []);
});

test('the chat shows messages, presence and typing', async () => {
  const url = `${env.server.base}/chat.html?id=shots`;
  const ann = await openPage(await env.browser.newContext({ viewport: VIEWPORT }), undefined);
  await ann.addInitScript(() => localStorage.setItem('sc-chat-name', 'Ann'));
  await ann.goto(url);
  const ben = await openPage(await env.browser.newContext({ viewport: VIEWPORT }), undefined);
  await ben.addInitScript(() => localStorage.setItem('sc-chat-name', 'Ben'));
  await ben.goto(url);
  await waitStatus(ann, 'online');
  await waitStatus(ben, 'online');
  await eventually(async () => (await ann.textContent('.people')).includes('Ben'), 10000, 'Ann sees Ben online');
  await ben.fill('input[aria-label=Message]', 'Hello Ann!');
  await ben.click('button[type=submit]');
  await ann.type('input[aria-label=Message]', 'Hi Be');
  await eventually(async () => (await ben.textContent('[data-testid=typing]')).includes('Ann is typing'), 10000,
                   'Ben sees Ann typing');
  await eventually(async () => (await ann.textContent('[data-testid=messages]')).includes('Hello Ann!'), 10000,
                   'Ann sees the message');
  await screenshot(ben, 'chat');
  assert.deepEqual(ann.errors, []);
  assert.deepEqual(ben.errors, []);
});

test('the SolidJS benchmark table creates, updates and swaps rows', async () => {
  const page = await openPage(ctx, `${env.server.base}/table.html?id=shots`);
  await waitStatus(page, 'online');
  await page.click('#run');
  await eventually(async () => (await page.locator('table.bench tr').count()) === 1000, 15000, '1000 rows');
  const firstLabel = await page.textContent('table.bench tr:nth-child(1) td.label');
  await page.click('#update');
  await eventually(async () => (await page.textContent('table.bench tr:nth-child(1) td.label')) === `${firstLabel} !!!`,
                   10000, 'row 0 updated');
  const second = await page.textContent('table.bench tr:nth-child(2) td.id');
  await page.click('#swaprows');
  await eventually(async () => (await page.textContent('table.bench tr:nth-child(999) td.id')) === second,
                   10000, 'rows swapped');
  await page.click('table.bench tr:nth-child(3) td.label a');
  await eventually(() => page.locator('table.bench tr.selected').count(), 10000, 'a row selected');
  await screenshot(page, 'table');
  assert.deepEqual(page.errors, []);
});
