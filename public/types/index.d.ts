// Statechannel client core (src/index.js). See docs/client.md for the offline/optimistic model.
import type { Operation } from './patch';
export { applyPatch, PatchError, parsePointer, formatPointer, getIn, deepEqual } from './patch';
export type { JsonValue, Operation } from './patch';

export type Status = 'connecting' | 'online' | 'offline' | 'reconnecting';

export const STATUS: {
  readonly CONNECTING: 'connecting';
  readonly ONLINE: 'online';
  readonly OFFLINE: 'offline';
  readonly RECONNECTING: 'reconnecting';
};

export const EVENTS: {
  readonly STATE_CHANGE: 'state:change';
  readonly STATE_PATCH: 'state:patch';
  readonly REFRESH: 'lvs_refresh';
  readonly OP: 'sc:event';
  readonly HANDLER_ERROR: 'error';
};

export const constants: Record<string, unknown>;

/** Async key-value storage holding the outbox and the last known state. */
export interface Storage {
  readonly kind: string;
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
}
export function memoryStorage(shared?: Map<string, unknown>): Storage;
export function indexedDbStorage(name?: string, idb?: IDBFactory): Storage;
export function defaultStorage(): Promise<Storage>;

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ConnectOptions {
  /** Socket connect params (reach the server's connect authorization). */
  params?: Record<string, unknown> | (() => Record<string, unknown>);
  /** Bearer token sent in Sec-WebSocket-Protocol (phoenix >= 1.8). */
  authToken?: string;
  /** Where ops and the last state are kept; default IndexedDB, else memory. */
  storage?: Storage;
  /** Timer functions (tests inject their own). */
  timers?: Timers;
  /** Reconnect and rejoin delays in ms by attempt (1-based). */
  backoff?: { reconnect?: (tries: number) => number; rejoin?: (tries: number) => number };
  /** WebSocket class (Node has none built in before v22). */
  transport?: unknown;
  /** Push and join timeout in ms (default 10000). */
  timeout?: number;
  heartbeatIntervalMs?: number;
  logger?: (kind: string, msg: string, data: unknown) => void;
  /** Whether the network is up (default navigator.onLine). */
  online?: () => boolean;
  /** Connect in the constructor (default true). */
  autoConnect?: boolean;
}

/** Pure function giving the state as if the op had been applied: the optimistic update. */
export type Reducer<S = any, P = any> = (state: S, payload: P) => S;

export interface ChannelOptions<S = any> {
  /** Optimistic updates by event name, used for pushes without their own and for ops reloaded
   *  from the outbox after a page reload. */
  reducers?: Record<string, Reducer<S>>;
  /** Keep the last known state in storage for an offline first paint (default true). */
  persistState?: boolean;
  /** Storage key of this channel's records (default `${url}|${topic}`). */
  storageKey?: string;
}

export interface PushOptions<S = any, P = any> {
  optimistic?: Reducer<S, P>;
}

/** The server's acknowledgement of an op. */
export interface OpResponse<R = unknown> {
  op: number;
  version?: number;
  reply: R | null;
  /** The op had been applied before (a replay); `reply` is the original one when known. */
  duplicate?: boolean;
  outcome?: 'unknown';
}

/** An op the server refused, or one the client could not send. */
export class OpError extends Error {
  reason: string;
  op?: number;
  name: string;
  payload?: unknown;
  response?: unknown;
}

export interface ChannelStatus {
  status: Status;
  /** Ops pushed and not yet acknowledged (including ones kept from before a reload). */
  pending: number;
  lastError: OpError | null;
  version: number | null;
  session: string | null;
}

export interface ChangeInfo<S> {
  prev: S | undefined;
  /** The patch that turned prev into the new state, when exactly that; else null. */
  ops: Operation[] | null;
}

export class StateChannel<S = any> {
  readonly topic: string;
  readonly socket: StateSocket;
  /** Resolves once the stored outbox and state are loaded and the join has been sent. */
  readonly ready: Promise<void>;
  getState(): S | undefined;
  getServerState(): S | undefined;
  getStatus(): ChannelStatus;
  subscribe(fn: (state: S | undefined, info: ChangeInfo<S>) => void): () => void;
  onError(fn: (err: OpError) => void): () => void;
  onAck(fn: (ack: { op: number; name: string; response: OpResponse }) => void): () => void;
  on(event: string, fn: (payload: any) => void): () => void;
  push<R = unknown, P = any>(name: string, payload?: P, options?: PushOptions<S, P>): Promise<OpResponse<R>>;
  refresh(): void;
  leave(): void;
}

export class StateSocket {
  readonly url: string;
  readonly timers: Timers;
  readonly storage: Promise<Storage>;
  /** The underlying phoenix Socket. */
  readonly phx: any;
  constructor(url?: string, options?: ConnectOptions);
  browserOnline(): boolean;
  clientId(): Promise<string>;
  onStatusChange(fn: () => void): () => void;
  channel<S = any>(topic: string, params?: Record<string, unknown> | (() => Record<string, unknown>),
                   options?: ChannelOptions<S>): StateChannel<S>;
  connect(): void;
  disconnect(): Promise<void>;
}

export function connect(url?: string, options?: ConnectOptions): StateSocket;
