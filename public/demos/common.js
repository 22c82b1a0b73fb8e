// Shared by every demo page: the topic id from the URL, the service worker, timing constants.

/** Ms a lost connection must last before the "reconnecting" banner shows: a blip (a server
 *  restart, a network hiccup) resolves faster than that and should not flash a banner. */
export const BANNER_DELAY_MS = 1000;

/** The topic id: ?id=<id> in the URL, else "demo". Ids are [A-Za-z0-9_-], as the handlers want. */
export function topicId(fallback = 'demo') {
  const id = new URLSearchParams(location.search).get('id') || fallback;
  return /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : fallback;
}

/** Registers the service worker that caches the app shell, so a reload works offline. */
export function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || import.meta.env.DEV) return;
  navigator.serviceWorker.register('/sw.js').catch((err) => {
    console.warn('service worker not registered:', err);
  });
}

/** Human label of a connection status. */
export const STATUS_LABEL = {
  connecting: 'Connecting…',
  online: 'Online',
  offline: 'Offline',
  reconnecting: 'Reconnecting…',
};
