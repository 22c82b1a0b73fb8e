// Service worker of the demos: precaches the app shell (every file of the build, listed by
// vite.config.js) so a page reloads offline. Pages are fetched network-first (a new build shows
// when online) with the cached shell as fallback; built assets are content-hashed, so they are
// served cache-first. The socket, the API and the metrics are never cached.
const CACHE = __CACHE_NAME__;
const PRECACHE = __PRECACHE__;
const NEVER = ['/socket', '/statechannel', '/api/', '/healthz', '/metrics'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  if (NEVER.some((p) => url.pathname.startsWith(p))) return;
  if (req.mode === 'navigate') {
    event.respondWith(fetch(req).then((res) => {
      if (res.ok) {
        const copy = res.clone();
        caches.open(CACHE).then((c) => c.put(url.pathname, copy));
      }
      return res;
    }).catch(async () => {
      const cached = await caches.match(url.pathname, { ignoreSearch: true })
        || await caches.match(url.pathname === '/' ? '/index.html' : `${url.pathname}.html`);
      return cached || Response.error();
    }));
    return;
  }
  event.respondWith(caches.match(req, { ignoreSearch: true }).then((hit) => hit || fetch(req)));
});
