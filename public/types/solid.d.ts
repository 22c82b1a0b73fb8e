// SolidJS bindings (src/solid.js). Peer dependency: solid-js >= 1.8.
import type { StateChannel, ConnectOptions, Reducer, PushOptions, OpResponse, OpError, Status } from './index';

export interface CreateStateChannelOptions<S = any> {
  /** Socket mount, default "/socket". */
  url?: string;
  params?: Record<string, unknown> | (() => Record<string, unknown>);
  reducers?: Record<string, Reducer<S>>;
  socketOptions?: ConnectOptions;
  /** A channel made elsewhere. */
  channel?: StateChannel<S>;
}

export interface SolidStateChannel<S = any> {
  /** A Solid store: reads are tracked per property; undefined until the first state. */
  readonly state: S | undefined;
  readonly channel: StateChannel<S>;
  push<R = unknown, P = any>(name: string, payload?: P, options?: PushOptions<S, P>): Promise<OpResponse<R>>;
  pushMessage<P = any>(name: string, payload?: P, options?: PushOptions<S, P>): void;
  status(): Status;
  pending(): number;
  error(): OpError | null;
  version(): number | null;
  dispose(): void;
}

export function createStateChannel<S = any>(topic: string, options?: CreateStateChannelOptions<S>): SolidStateChannel<S>;
