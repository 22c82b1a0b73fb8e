#!/usr/bin/env node
// peer.mjs -- times one npm JSON Patch library on one corpus case, in its own process so a
// runaway case can be killed (compare.mjs runs it with a timeout) and so each engine starts
// with a cold JIT and an empty heap, like sc-patch does.
//
//   node peer.mjs diff  ENGINE A.json B.json BUDGET_MS
//     times diff + serialize (JSON.stringify of the RFC 6902 operations); prints
//     {"ns_median","ops","bytes","n","valid"}: valid says whether the engine's own patch,
//     applied to A by fast-json-patch's applyPatch (the reference applier), gives B.
//   node peer.mjs apply ENGINE A.json PATCH.json B.json BUDGET_MS
//     times applying PATCH (sc-patch's, what a client receives) to a fresh copy of A; prints
//     {"ns_median","n","valid"} where valid says whether the result equals B.
//
// ENGINE: "fast-json-patch" (compare / applyPatch) or "jsondiffpatch" (diff with objectHash on
// "id", jsonpatch formatter; its RFC 6902 applier for apply).
//
// Timing: process.hrtime.bigint() around the measured call only; copies of A and of the patch
// (the appliers insert patch values by reference, so reusing one patch would let an iteration
// alter the next one's input) are made outside it. Warm-up: at least MIN_WARMUP_CALLS calls
// and a tenth of the budget (or the whole budget, for slow calls); then samples until
// BUDGET_MS of wall time, at least one, at most MAX_SAMPLES. A call longer than LONG_CALL_MS is
// the only sample; one longer than SLOW_MS is reported as {"timeout":true}: too slow for this
// engine to be measured within the run.
import { readFileSync } from "node:fs";
import fjp from "fast-json-patch"; // CommonJS: its exports are on the default
import { create as createDiffPatcher } from "jsondiffpatch";
import * as jdpFormatter from "jsondiffpatch/formatters/jsonpatch";
import { deepEqual } from "./json-equal.mjs";

const MAX_SAMPLES = 20000; // enough for a stable median; bounds memory and time
const SLOW_MS = 10000; // "takes > ~10 s": reported as a timeout, not measured
const LONG_CALL_MS = 1000; // a call at least this slow is its own (only) sample
const MIN_WARMUP_CALLS = 3; // V8 optimizes a hot function after a few calls: don't time those

const [mode, engine, ...rest] = process.argv.slice(2);
const readJson = (path) => JSON.parse(readFileSync(path, "utf8"));
const now = () => process.hrtime.bigint();

const jdp = createDiffPatcher({
  // Match array elements by "id" like sc-patch does; fall back to position for the rest.
  objectHash: (item, index) =>
    item !== null && typeof item === "object" && item.id !== undefined ? `id:${item.id}`
      : `$$index:${index}`,
});

const engines = {
  "fast-json-patch": {
    diff: (a, b) => fjp.compare(a, b),
    apply: (doc, patch) => fjp.applyPatch(doc, patch, false, true).newDocument,
  },
  jsondiffpatch: {
    diff: (a, b) => {
      const delta = jdp.diff(a, b);
      return delta === undefined ? [] : jdpFormatter.format(delta);
    },
    apply: (doc, patch) => {
      jdpFormatter.patch(doc, patch);
      return doc;
    },
  },
};

// The reference check: fast-json-patch's applier on a copy of a; a throw means invalid.
function patchGives(a, patch, b) {
  try {
    const out = fjp.applyPatch(structuredClone(a), structuredClone(patch), true, true).newDocument;
    return deepEqual(out, b);
  } catch {
    return false;
  }
}

// Runs step(setup()) repeatedly; returns the median of the timed step durations (ns).
function measure(setup, step, budgetMs) {
  const budgetNs = BigInt(Math.round(budgetMs * 1e6));
  const start = now();
  let last;
  for (let calls = 1; ; calls++) { // warm-up
    const input = setup();
    const t0 = now();
    last = step(input);
    const took = now() - t0;
    if (took > BigInt(SLOW_MS) * 1000000n) return { timeout: true, ns_first: Number(took) };
    // A call this slow is measured by that one call: JIT warm-up is noise at that scale, and
    // repeating it would blow the run's time.
    if (took >= BigInt(LONG_CALL_MS) * 1000000n) return { ns_median: Number(took), n: 1, last };
    const elapsed = now() - start;
    if (elapsed >= budgetNs || (calls >= MIN_WARMUP_CALLS && elapsed >= budgetNs / 10n)) break;
  }
  const samples = [];
  const sampleStart = now();
  while (samples.length < MAX_SAMPLES &&
         (samples.length === 0 || now() - sampleStart < budgetNs)) {
    const input = setup();
    const t0 = now();
    last = step(input);
    samples.push(Number(now() - t0));
  }
  samples.sort((x, y) => x - y);
  return { ns_median: samples[(samples.length - 1) >> 1], n: samples.length, last };
}

function main() {
  const impl = engines[engine];
  if (!impl || (mode !== "diff" && mode !== "apply")) {
    console.error("usage: peer.mjs diff ENGINE A B BUDGET_MS | apply ENGINE A PATCH B BUDGET_MS");
    process.exit(2);
  }
  if (mode === "diff") {
    const [pathA, pathB, budget] = rest;
    const a = readJson(pathA), b = readJson(pathB);
    // diff + serialize, as a server would before sending.
    const r = measure(() => null, () => {
      const ops = impl.diff(a, b);
      return { ops, text: JSON.stringify(ops) };
    }, Number(budget));
    if (r.timeout) return r;
    const { ops, text } = r.last;
    return { ns_median: r.ns_median, n: r.n, ops: ops.length, bytes: Buffer.byteLength(text),
      valid: patchGives(a, ops, b) };
  }
  const [pathA, pathPatch, pathB, budget] = rest;
  const a = readJson(pathA), patch = readJson(pathPatch), b = readJson(pathB);
  let valid;
  try {
    valid = deepEqual(impl.apply(structuredClone(a), structuredClone(patch)), b);
  } catch (e) {
    return { error: `apply failed: ${e.message}`.slice(0, 200), valid: false };
  }
  const r = measure(() => [structuredClone(a), structuredClone(patch)],
    ([doc, p]) => impl.apply(doc, p), Number(budget));
  if (r.timeout) return r;
  return { ns_median: r.ns_median, n: r.n, valid };
}

process.stdout.write(JSON.stringify(main()) + "\n");
