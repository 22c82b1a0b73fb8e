// React bindings: <StateChannelProvider> joins a topic, hooks read it with useSyncExternalStore.
//
// The core store's getState() returns immutable snapshots whose untouched subtrees keep their
// identity, so a component that selects a subtree re-renders only when that subtree changed.
// Written with createElement (no JSX) so the file runs as is, without a build step.
// Hook names follow amberbit's state_channel_react: useStateChannel() -> {state, pushMessage}.

import {
  createContext, createElement, useCallback, useContext, useEffect, useMemo, useRef,
  useSyncExternalStore,
} from 'react';
import { sharedSocket, sharedChannel, retainChannel } from './shared.js';

const ChannelContext = createContext(null);

/**
 * Joins `topic` on the server at `url` (default "/socket"; `socketUrl` is accepted as an alias,
 * as in state_channel_react) and provides it to the hooks below. `params` are the join params;
 * `reducers` the optimistic updates by event name; `socketOptions` go to connect() when this is
 * the first use of `url` in the page. Alternatively pass a ready `channel`.
 */
export function StateChannelProvider(props) {
  const { url, socketUrl, topic, params, reducers, socketOptions, channel: given, children } = props;
  const endpoint = url || socketUrl || '/socket';
  // Params and reducers are read at (re)join time through refs: a new object literal on each
  // render must not rejoin the topic.
  const paramsRef = useRef(params);
  paramsRef.current = params;
  const reducersRef = useRef(reducers);
  reducersRef.current = reducers;
  const channel = useMemo(() => {
    if (given) return given;
    const socket = sharedSocket(endpoint, socketOptions);
    const liveReducers = new Proxy({}, {
      get: (_, name) => (reducersRef.current || {})[name],
      has: (_, name) => name in (reducersRef.current || {}),
    });
    return sharedChannel(socket, topic, () => {
      const p = paramsRef.current;
      return (typeof p === 'function' ? p() : p) || {};
    }, { reducers: liveReducers });
  }, [given, endpoint, topic]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => (given ? undefined : retainChannel(channel)), [channel, given]);
  return createElement(ChannelContext.Provider, { value: channel }, children);
}

/** The StateChannel provided by the nearest StateChannelProvider. */
export function useChannel() {
  const channel = useContext(ChannelContext);
  if (!channel) throw new Error('useStateChannel must be used inside a <StateChannelProvider>');
  return channel;
}

// A stable subscribe function per channel: a new one each render would resubscribe each render.
function useSubscribe(channel) {
  return useMemo(() => (fn) => channel.subscribe(fn), [channel]);
}

/**
 * The provided channel's state (server state plus pending optimistic updates; undefined until
 * known), `push(name, payload, {optimistic})` returning a Promise of the server's response,
 * `pushMessage(name, payload)` (fire and forget: a refusal shows in `error`), `status`
 * ('connecting' | 'online' | 'offline' | 'reconnecting'), `pending` (ops not yet acknowledged),
 * `error` (the last error) and `channel` itself.
 */
export function useStateChannel() {
  const channel = useChannel();
  const subscribe = useSubscribe(channel);
  const state = useSyncExternalStore(subscribe, () => channel.getState(),
                                     () => channel.getState());
  const st = useSyncExternalStore(subscribe, () => channel.getStatus(),
                                  () => channel.getStatus());
  const push = useCallback((name, payload, options) => channel.push(name, payload, options), [channel]);
  const pushMessage = useCallback((name, payload, options) => {
    channel.push(name, payload, options).catch(() => {}); // reported through status.lastError
  }, [channel]);
  return {
    state, push, pushMessage, channel,
    status: st.status, pending: st.pending, error: st.lastError, version: st.version,
  };
}

/**
 * A slice of the state: re-renders only when selector(state) changes (Object.is, or `equal`).
 * Select subtrees, not new objects: the store keeps untouched subtrees identical.
 */
export function useStateChannelSelector(selector, equal = Object.is) {
  const channel = useChannel();
  const subscribe = useSubscribe(channel);
  const last = useRef({ has: false, source: undefined, selector: undefined, value: undefined });
  const getSnapshot = () => {
    const source = channel.getState();
    const l = last.current;
    if (l.has && l.source === source && l.selector === selector) return l.value;
    const value = selector(source);
    if (l.has && equal(l.value, value)) {
      last.current = { has: true, source, selector, value: l.value };
      return l.value;
    }
    last.current = { has: true, source, selector, value };
    return value;
  };
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot);
}

/** Connection status alone: {status, pending, lastError, version, session}. */
export function useStateChannelStatus() {
  const channel = useChannel();
  const subscribe = useSubscribe(channel);
  return useSyncExternalStore(subscribe, () => channel.getStatus(),
                              () => channel.getStatus());
}

/** Calls fn(payload) for each `event` the topic's handler emits while the component is mounted. */
export function useStateChannelEvent(event, fn) {
  const channel = useChannel();
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => channel.on(event, (p) => fnRef.current(p)), [channel, event]);
}
