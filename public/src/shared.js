// Sockets and channels shared by the framework bindings.
//
// One socket per URL for the whole page, and one StateChannel per (socket, topic), reference
// counted: components that mount, unmount and mount again in one tick (React StrictMode, route
// changes, HMR) keep the same channel instead of leaving and rejoining, and two components on one
// topic share one join. A channel is left LEAVE_DELAY_MS after its last user released it.
// A channel created but never retained (a render React threw away) is left the same way.

import { connect } from './socket.js';

/** Ms a channel nobody uses stays joined: long enough for a remount, short enough to free the
 *  server's subscription soon after the page stops showing the topic. */
export const LEAVE_DELAY_MS = 1000;

const sockets = new Map(); // url -> StateSocket
const channels = new Map(); // `${url}\n${topic}` -> {channel, refs, timer}

/** The page's socket for `url`, created on first use (options apply only then). */
export function sharedSocket(url = '/socket', options = {}) {
  let socket = sockets.get(url);
  if (!socket) {
    socket = connect(url, options);
    sockets.set(url, socket);
  }
  return socket;
}

function scheduleLeave(key, entry) {
  clearTimeout(entry.timer);
  entry.timer = setTimeout(() => {
    if (entry.refs > 0 || channels.get(key) !== entry) return;
    channels.delete(key);
    entry.channel.leave();
  }, LEAVE_DELAY_MS);
}

/** The shared channel of `topic` on `socket`; join params and options apply when it is created.
 *  Call retainChannel/releaseChannel around its use. */
export function sharedChannel(socket, topic, params, options) {
  const key = `${socket.url}\n${topic}`;
  let entry = channels.get(key);
  if (!entry) {
    entry = { channel: socket.channel(topic, params, options), refs: 0, timer: null };
    channels.set(key, entry);
    scheduleLeave(key, entry); // left unless someone retains it
  }
  return entry.channel;
}

/** Marks a use of `channel`; returns the function that ends it. */
export function retainChannel(channel) {
  const key = `${channel.socket.url}\n${channel.topic}`;
  const entry = channels.get(key);
  if (!entry || entry.channel !== channel) return () => {};
  entry.refs++;
  clearTimeout(entry.timer);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    entry.refs--;
    if (entry.refs === 0) scheduleLeave(key, entry);
  };
}
