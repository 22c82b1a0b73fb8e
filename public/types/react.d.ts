// React bindings (src/react.js). Peer dependency: react >= 18.
import type { ReactNode, ReactElement } from 'react';
import type { StateChannel, ConnectOptions, Reducer, PushOptions, OpResponse, OpError, Status, ChannelStatus } from './index';

export interface StateChannelProviderProps<S = any> {
  /** Socket mount, default "/socket". */
  url?: string;
  /** Alias of `url` (state_channel_react's prop name). */
  socketUrl?: string;
  topic: string;
  /** Join params (read at every join). */
  params?: Record<string, unknown> | (() => Record<string, unknown>);
  /** Optimistic updates by event name. */
  reducers?: Record<string, Reducer<S>>;
  /** Options for connect() when this is the page's first use of `url`. */
  socketOptions?: ConnectOptions;
  /** A channel made elsewhere (then url/topic/params are ignored). */
  channel?: StateChannel<S>;
  children?: ReactNode;
}

export function StateChannelProvider<S = any>(props: StateChannelProviderProps<S>): ReactElement;

export interface UseStateChannel<S = any> {
  /** Server state plus pending optimistic updates; undefined until known. */
  state: S | undefined;
  push<R = unknown, P = any>(name: string, payload?: P, options?: PushOptions<S, P>): Promise<OpResponse<R>>;
  /** Fire and forget; a refusal shows in `error`. */
  pushMessage<P = any>(name: string, payload?: P, options?: PushOptions<S, P>): void;
  status: Status;
  pending: number;
  error: OpError | null;
  version: number | null;
  channel: StateChannel<S>;
}

export function useStateChannel<S = any>(): UseStateChannel<S>;
export function useStateChannelSelector<S = any, T = unknown>(selector: (state: S | undefined) => T,
                                                               equal?: (a: T, b: T) => boolean): T;
export function useStateChannelStatus(): ChannelStatus;
export function useStateChannelEvent(event: string, fn: (payload: any) => void): void;
export function useChannel<S = any>(): StateChannel<S>;
