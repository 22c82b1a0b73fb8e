// Immutable RFC 6902 JSON Patch applier with structural sharing (src/patch.js).

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type Operation =
  | { op: 'add'; path: string; value: JsonValue }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: JsonValue }
  | { op: 'move'; from: string; path: string }
  | { op: 'copy'; from: string; path: string }
  | { op: 'test'; path: string; value: JsonValue };

/** An operation that cannot be applied; `index` is its position in the patch. */
export class PatchError extends Error {
  index: number;
  operation: unknown;
}

/** Returns a new document; `doc` is untouched and every subtree no operation reached is shared
 *  (=== identical) with it. Throws PatchError on the first failing operation. */
export function applyPatch<T = JsonValue>(doc: T, ops: readonly Operation[]): T;
export function parsePointer(pointer: string): string[];
export function formatPointer(tokens: ReadonlyArray<string | number>): string;
export function getIn(doc: unknown, pointer: string): unknown;
export function deepEqual(a: unknown, b: unknown): boolean;
