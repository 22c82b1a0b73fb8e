// Shared by the browser tests: Debian's Chromium driven by playwright-core (from public/'s
// devDependencies), the real server (tests/js/lib/server.mjs), screenshots under
// build/screenshots/, and waits that poll the page rather than sleep.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, after } from 'node:test';
import { startServer } from '../js/lib/server.mjs';

const require = createRequire(new URL('../../public/package.json', import.meta.url));
const { chromium } = require('playwright-core');
export { startServer };

const root = new URL('../../', import.meta.url).pathname;
export const SCREENSHOTS = process.env.SC_SCREENSHOTS || join(root, 'build/screenshots');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Launches headless Chromium. Playwright gives every launch a fresh temporary user-data-dir
 *  (and removes it on close); each browser.newContext() is a further isolated profile with its
 *  own IndexedDB and service workers: one context = one user's browser. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking',
           '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

export const VIEWPORT = { width: 1100, height: 760 };

/** The start-up every browser test file shares: one real server (startServer's options) and one
 *  Chromium for the whole file, both stopped after it; then `setup(env)` when given (one hook, so
 *  the order is certain). Returns an object whose `server` and `browser` are set once the file's
 *  `before` hook has run. */
export function serverAndBrowser(serverOpts = {}, setup = null) {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await startServer(serverOpts);
    env.browser = await launchBrowser();
    if (setup) await setup(env);
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

/** A page that reports its console errors and uncaught exceptions into `errors`. */
export async function openPage(context, url) {
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  if (url) await page.goto(url);
  return page;
}

/** Waits until the demo's status bar says `status` (and `pending`, when given). */
export async function waitStatus(page, status, pending, timeout = 15000) {
  const sel = `[data-testid=status][data-status=${status}]` + (pending === undefined ? '' : `[data-pending="${pending}"]`);
  await page.waitForSelector(sel, { timeout });
}

/** Waits until the service worker controls the page (so a reload works offline). */
export async function waitServiceWorker(page, timeout = 15000) {
  await page.waitForFunction(() => navigator.serviceWorker && navigator.serviceWorker.controller !== null,
                             null, { timeout });
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** The titles of the todo items as the page shows them. */
export async function todoTitles(page) {
  return page.$$eval('[data-testid=todo-item] label', (els) => els.map((e) => e.textContent));
}

export async function addTodo(page, title) {
  await page.fill('.new-todo', title);
  await page.press('.new-todo', 'Enter');
}

/** Polls fn() until it returns a truthy value (at most `ms`); returns that value. */
export async function eventually(fn, ms = 15000, what = 'condition') {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) { last = err; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
