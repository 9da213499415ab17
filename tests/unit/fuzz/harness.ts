// The seeded fuzzing harness of the unit tier: mutations of real inputs fed to a parser of outside
// bytes, each input timed and its allocations watched. Every run is the same: input i of a target
// comes from new Rng(target.seed).fork(i) alone, so a failure names (target, i) and
// FUZZ_REPLAY="<target>#<i>" runs that one input again and lets its error through with its stack.
//
// What counts as a failure, for every input:
//   crash        the parser threw anything but its rejection (for byte parsers: a FormatError whose
//                file is the name given to the parser and whose message says it);
//   slow         one input took longer than HANG_MS;
//   allocation   the parser's heap plus external (ArrayBuffer) memory grew by more than
//                allocationLimit(input size) during one input, or an accepted result holds more
//                than RETAINED_PER_INPUT_BYTE × the input's size: what a parser that allocates from
//                a declared size it did not check does;
//   invalid      an accepted result failed the target's own check (e.g. its tensors cannot be read).
// A parser that never returns cannot be timed from the thread it blocks: a watchdog thread sees the
// input counter stand still for WATCHDOG_MS, prints the input's (target, i) and kills the process.
// FUZZ_DEBUG=1 also lists the distinct refusals each target reached.

import { writeSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { FormatError } from '../../../src/io/errors';
import { Rng } from '../../../src/util/rng';

/** An input that takes longer than this fails. The slowest real parse is well under 10 ms. */
export const HANG_MS = 1000;
/** The watchdog's patience with one input before it ends the process. */
const WATCHDOG_MS = 10_000;
/**
 * Growth of heap + external memory allowed during one input: a fixed slack for the parser's
 * working set (the tokenizer library builds its maps, JSON.parse its tree) and a multiple of the
 * input's size. A declared size taken on trust (2^31 floats, a 4 GB header) is far beyond it.
 */
export function allocationLimit(inputBytes: number): number {
  return 32 * 2 ** 20 + 64 * inputBytes;
}
/** An accepted result may hold at most this many bytes per input byte (f16 widened to f32 is 2). */
export const RETAINED_PER_INPUT_BYTE = 4;
/** A test of 10,000 inputs takes seconds; this leaves room for a loaded machine. */
export const FUZZ_TEST_TIMEOUT_MS = 60_000;
/** Inputs are capped at this size after every mutation, so no run grows without bound. */
const MAX_INPUT_BYTES = 4 * 2 ** 20;
/** Failures kept per target; the rest are counted. */
const MAX_FAILURES_KEPT = 10;

// ---------------------------------------------------------------------------------------------
// Targets and their report

export type Outcome =
  /** `retainedBytes`: the bytes the result holds (typed arrays, strings), when the target counts them. */
  | { accepted: true; retainedBytes?: number }
  /** `refusal`: which check said no, with its numbers blanked, to count the distinct checks reached. */
  | { accepted: false; refusal?: string };

export interface FuzzInput<I> {
  value: I;
  /** What was done to which base input, for the failure message. */
  recipe: string[];
}

export interface FuzzTarget<I> {
  /** Names the parser in the report and in FUZZ_REPLAY. */
  name: string;
  seed: number;
  mutations: number;
  /** Input i, made from its own generator only. */
  make(rng: Rng): FuzzInput<I>;
  size(value: I): number;
  /** Parses the input; a throw is a crash, a rejection is `{ accepted: false }`. */
  run(value: I): Outcome;
}

export interface FuzzFailure {
  index: number;
  kind: 'crash' | 'slow' | 'allocation' | 'invalid';
  problem: string;
  recipe: string[];
}

export interface FuzzReport {
  name: string;
  mutations: number;
  accepted: number;
  rejected: number;
  /** The slowest input: its time, its index and its size. */
  worstMs: number;
  worstMsIndex: number;
  worstMsBytes: number;
  medianMs: number;
  /** The whole run, and the part of it spent making (mutating) the inputs. */
  totalMs: number;
  makeMs: number;
  /** The most heap + external memory one input added, and that input's size. */
  worstAllocationBytes: number;
  worstAllocationInputBytes: number;
  /** The most any accepted result held per byte of its input; null where the target does not count. */
  worstRetainedRatio: number | null;
  /** How many distinct refusals (checks of the parser) the rejected inputs reached. */
  distinctRefusals: number;
  failures: FuzzFailure[];
  failureCount: number;
}

/** Thrown by a target's run() when an accepted result fails the target's check. */
export class InvalidResult extends Error {
  override name = 'InvalidResult';
}

/** The replay command for one input of a target. */
function replayHint(target: string, index: number): string {
  return `FUZZ_REPLAY='${target}#${index}'`;
}

/** The allocated memory V8 sees: its heap and the ArrayBuffers outside it (0.6 µs, no GC). */
function memoryInUse(): number {
  const stats = getHeapStatistics();
  return stats.used_heap_size + stats.external_memory;
}

export function inputOf<I>(target: FuzzTarget<I>, index: number): FuzzInput<I> {
  return target.make(new Rng(target.seed).fork(index));
}

/**
 * Runs every input of the target and reports what happened. With FUZZ_REPLAY naming one of its
 * inputs, that one runs first, alone and unguarded, so that its error comes out with its stack.
 */
export function runFuzz<I>(target: FuzzTarget<I>): FuzzReport {
  const replay = process.env.FUZZ_REPLAY;
  const replayIndex = replay !== undefined && replay.startsWith(`${target.name}#`) ? Number(replay.slice(target.name.length + 1)) : null;
  if (replayIndex !== null) {
    const { value, recipe } = inputOf(target, replayIndex);
    // To stderr at once: the input may never return, and the test's stdout is buffered.
    writeSync(2, `fuzz replay ${target.name} #${replayIndex}: ${recipe.join('; ')} (${target.size(value)} bytes)\n`);
    console.log('outcome:', target.run(value)); // a crash goes out with its stack
  }

  const report: FuzzReport = {
    name: target.name,
    mutations: 0,
    accepted: 0,
    rejected: 0,
    worstMs: 0,
    worstMsIndex: -1,
    worstMsBytes: 0,
    medianMs: 0,
    totalMs: 0,
    makeMs: 0,
    worstAllocationBytes: 0,
    worstAllocationInputBytes: 0,
    worstRetainedRatio: null,
    distinctRefusals: 0,
    failures: [],
    failureCount: 0,
  };
  const fail = (index: number, kind: FuzzFailure['kind'], problem: string, recipe: string[]) => {
    report.failureCount++;
    if (report.failures.length < MAX_FAILURES_KEPT) {
      report.failures.push({ index, kind, problem: `${problem} (replay: ${replayHint(target.name, index)})`, recipe });
    }
  };

  const refusals = new Set<string>();
  const watchdog = startWatchdog(target.name);
  const times = new Float64Array(target.mutations);
  const start = performance.now();
  try {
    for (let index = 0; index < target.mutations; index++) {
      const made = performance.now();
      const { value, recipe } = inputOf(target, index);
      report.makeMs += performance.now() - made;
      const bytes = target.size(value);
      watchdog.starting(index);
      const memoryBefore = memoryInUse();
      const t0 = performance.now();
      let outcome: Outcome | undefined;
      let error: unknown;
      try {
        outcome = target.run(value);
      } catch (e) {
        error = e;
      }
      const ms = performance.now() - t0;
      const allocated = memoryInUse() - memoryBefore;
      watchdog.finished();

      report.mutations++;
      times[index] = ms;
      if (ms > report.worstMs) [report.worstMs, report.worstMsIndex, report.worstMsBytes] = [ms, index, bytes];
      if (allocated > report.worstAllocationBytes) [report.worstAllocationBytes, report.worstAllocationInputBytes] = [allocated, bytes];
      if (ms > HANG_MS) fail(index, 'slow', `${ms.toFixed(0)} ms for one input of ${bytes} bytes; the bound is ${HANG_MS} ms`, recipe);
      if (allocated > allocationLimit(bytes)) {
        fail(index, 'allocation', `${(allocated / 2 ** 20).toFixed(1)} MiB allocated for an input of ${bytes} bytes; the bound is ${(allocationLimit(bytes) / 2 ** 20).toFixed(1)} MiB`, recipe);
      }
      if (outcome === undefined) {
        const kind = error instanceof InvalidResult ? 'invalid' : 'crash';
        fail(index, kind, error instanceof Error ? `${error.name}: ${error.message.slice(0, 500)}` : `threw ${String(error)}`, recipe);
      } else if (outcome.accepted) {
        report.accepted++;
        if (outcome.retainedBytes !== undefined) {
          const ratio = outcome.retainedBytes / Math.max(bytes, 1);
          report.worstRetainedRatio = Math.max(report.worstRetainedRatio ?? 0, ratio);
          if (ratio > RETAINED_PER_INPUT_BYTE) fail(index, 'allocation', `the accepted result holds ${outcome.retainedBytes} bytes for an input of ${bytes} bytes`, recipe);
        }
      } else {
        report.rejected++;
        if (outcome.refusal !== undefined) refusals.add(outcome.refusal);
      }
    }
  } finally {
    watchdog.stop();
  }
  report.totalMs = performance.now() - start;
  report.distinctRefusals = refusals.size;
  if (process.env.FUZZ_DEBUG) console.log(`fuzz ${target.name}: the distinct refusals\n${[...refusals].sort().join('\n')}`);
  report.medianMs = times.sort()[times.length >> 1] ?? 0;
  console.log(formatReport(report));
  return report;
}

/** One line per target, the figures the README's reliability table quotes. */
function formatReport(r: FuzzReport): string {
  return (
    `fuzz ${r.name}: ${r.mutations} mutations, ${r.accepted} accepted, ${r.rejected} rejected (${r.distinctRefusals} distinct refusals), ${r.failureCount} failures; ` +
    `${(r.totalMs / 1000).toFixed(2)} s in all (${(r.makeMs / 1000).toFixed(2)} s making inputs), per input median ${r.medianMs.toFixed(3)} ms, worst ${r.worstMs.toFixed(2)} ms ` +
    `(#${r.worstMsIndex}, ${r.worstMsBytes} bytes); worst allocation during one input ${(r.worstAllocationBytes / 2 ** 20).toFixed(2)} MiB ` +
    `(input of ${r.worstAllocationInputBytes} bytes)` +
    (r.worstRetainedRatio === null ? '' : `; accepted results hold at most ${r.worstRetainedRatio.toFixed(2)} bytes per input byte`)
  );
}

// ---------------------------------------------------------------------------------------------
// The watchdog: a thread that reads the input counter the loop writes.

const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const beat = new Int32Array(workerData.shared);
let seen = -1;
let since = Date.now();
setInterval(() => {
  const running = Atomics.load(beat, 0) === 1;
  const index = Atomics.load(beat, 1);
  if (!running || index !== seen) {
    seen = running ? index : -1;
    since = Date.now();
    return;
  }
  if (Date.now() - since > workerData.patienceMs) {
    writeSync(2, 'fuzz ' + workerData.target + ': input #' + index + ' has run for ' + workerData.patienceMs +
      ' ms and does not return: a hang (replay: FUZZ_REPLAY=\\'' + workerData.target + '#' + index + '\\'); ending the process\\n');
    process.kill(process.pid, 'SIGKILL');
  }
}, 250);
`;

interface Watchdog {
  starting(index: number): void;
  finished(): void;
  stop(): void;
}

function startWatchdog(target: string): Watchdog {
  const shared = new SharedArrayBuffer(8);
  const beat = new Int32Array(shared);
  const worker = new Worker(WATCHDOG_SOURCE, { eval: true, workerData: { shared, target, patienceMs: WATCHDOG_MS } });
  worker.unref();
  worker.on('error', (e) => writeSync(2, `fuzz ${target}: the watchdog failed (${e.message})\n`));
  return {
    starting(index) {
      Atomics.store(beat, 1, index);
      Atomics.store(beat, 0, 1);
    },
    finished() {
      Atomics.store(beat, 0, 0);
    },
    stop() {
      void worker.terminate();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Byte parsers: a FormatError naming the file is the one way to say no.

/**
 * The outcome of parse(bytes, fileName): accepted when it returns, rejected when it throws a
 * FormatError for `fileName` whose message names it; anything else is rethrown, a crash.
 */
export function formatErrorOutcome<R>(fileName: string, parse: () => R, retainedBytes?: (result: R) => number): Outcome {
  let result: R;
  try {
    result = parse();
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    if (e.file !== fileName || !e.message.includes(fileName)) {
      throw new Error(`a FormatError that does not name the file ${JSON.stringify(fileName)}: ${e.message}`, { cause: e });
    }
    return { accepted: false, refusal: refusalOf(e) };
  }
  return { accepted: true, retainedBytes: retainedBytes?.(result) };
}

/** A FormatError's field and expectation with names and numbers blanked: the check, not the instance. */
export function refusalOf(e: FormatError): string {
  return `${blankRefusal(e.field ?? '')} | ${blankRefusal(e.expected)}`;
}

/** A refusal's text with what varies from input to input (quoted names, asides, numbers) blanked. */
export function blankRefusal(text: string): string {
  return text.replace(/"[^"]*"/g, '"…"').replace(/\([^)]*\)/g, '(…)').replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, '#');
}

/** Bytes held by typed arrays and strings reachable from a value (each buffer counted once). */
export function retainedBytesOf(value: unknown): number {
  const buffers = new Set<ArrayBufferLike>();
  let strings = 0;
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') strings += v.length;
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    if (ArrayBuffer.isView(v)) buffers.add(v.buffer);
    else if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
    else if (v instanceof Set) for (const x of v) stack.push(x);
    else for (const x of Object.values(v)) stack.push(x);
  }
  let bytes = strings;
  for (const b of buffers) bytes += b.byteLength;
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Mutations of bytes

export interface Sample {
  name: string;
  bytes: Uint8Array;
  /** How often it is the base input, relative to the others (default 1): large real files less. */
  weight?: number;
}

/** Where a binary format has an integer or a float, for boundary values. */
export interface NumberField {
  at: number;
  type: 'u64' | 'i32' | 'f32';
  name: string;
  /** Values that matter for this field in this file (the file's length, a limit), beside the type's. */
  special?: number[];
}

export interface MutationContext {
  /** Other inputs to splice in: this format's and other formats'. */
  donors: readonly Sample[];
  /** Tokens of the format (keywords, punctuation) to insert or write over bytes. */
  dictionary: readonly Uint8Array[];
  /** The format's number fields in these bytes (binary formats). */
  numberFields?: (bytes: Uint8Array) => NumberField[];
}

export interface Mutator {
  name: string;
  weight: number;
  /** The mutated bytes and what was done, or null where it does not apply. */
  apply(rng: Rng, bytes: Uint8Array, context: MutationContext): { bytes: Uint8Array; what: string } | null;
}

export function below(rng: Rng, n: number): number {
  return Math.floor(rng.nextFloat() * n);
}

export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[below(rng, xs.length)]!;
}

/** A position in [0, length]: anywhere, or near either end, where formats keep their headers and lengths. */
function position(rng: Rng, length: number): number {
  const r = below(rng, 4);
  if (r === 0) return Math.min(length, below(rng, 64));
  if (r === 1) return Math.max(0, length - below(rng, 64));
  return below(rng, length + 1);
}

/** A run length: mostly short, sometimes hundreds, rarely tens of thousands of bytes. */
function runLength(rng: Rng): number {
  const r = below(rng, 100);
  if (r < 70) return 1 + below(rng, 16);
  if (r < 97) return 1 + below(rng, 1024);
  return 1 + below(rng, 65536);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const INTERESTING_BYTES = [0x00, 0x01, 0x07, 0x08, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x30, 0x39, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xed, 0xef, 0xf0, 0xfe, 0xff];

/** Boundary values of each number type (bigint for u64, whose upper half a double cannot hold). */
const U64_BOUNDARIES = [0n, 1n, 2n, 7n, 8n, 255n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];
const I32_BOUNDARIES = [0, 1, -1, 2, 3, 4, 7, 8, 255, 256, 65535, 65536, 2 ** 24, 2 ** 30, 2 ** 31 - 1, -(2 ** 31), -(2 ** 31) + 1, -2];
const F32_BOUNDARY_BITS = [
  0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7fc00000, 0xffffffff, 0x7f800000, 0xff800000, 0x7f7fffff, 0xff7fffff, 0x00000001, 0x00800000,
  0xd01502f9 /* −1e10, run.c's lowest merge score */, 0xd01502f8, 0x4f000000 /* 2^31 */,
];

export const byteMutators: Mutator[] = [
  {
    name: 'flip bits',
    weight: 4,
    apply(rng, bytes) {
      if (bytes.length === 0) return null;
      const out = bytes.slice();
      const flips = below(rng, 4) === 0 ? 2 + below(rng, 7) : 1;
      const at: number[] = [];
      for (let k = 0; k < flips; k++) {
        const i = Math.min(position(rng, bytes.length), bytes.length - 1);
        out[i] ^= 1 << below(rng, 8);
        at.push(i);
      }
      return { bytes: out, what: `flip ${flips} bit(s) at bytes ${at.join(', ')}` };
    },
  },
  {
    name: 'set bytes',
    weight: 3,
    apply(rng, bytes) {
      if (bytes.length === 0) return null;
      const out = bytes.slice();
      const i = Math.min(position(rng, bytes.length), bytes.length - 1);
      const n = Math.min(below(rng, 3) === 0 ? 1 + below(rng, 8) : 1, bytes.length - i);
      const value = below(rng, 2) === 0 ? pick(rng, INTERESTING_BYTES) : below(rng, 256);
      out.fill(value, i, i + n);
      return { bytes: out, what: `set bytes [${i}, ${i + n}) to 0x${value.toString(16)}` };
    },
  },
  {
    name: 'insert',
    weight: 3,
    apply(rng, bytes) {
      const i = position(rng, bytes.length);
      const n = runLength(rng);
      const run = below(rng, 2) === 0;
      const inserted = run ? new Uint8Array(n).fill(pick(rng, INTERESTING_BYTES)) : Uint8Array.from({ length: n }, () => below(rng, 256));
      return { bytes: concat(bytes.subarray(0, i), inserted, bytes.subarray(i)), what: `insert ${n} ${run ? `bytes 0x${inserted[0].toString(16)}` : 'random bytes'} at ${i}` };
    },
  },
  {
    name: 'delete',
    weight: 3,
    apply(rng, bytes) {
      if (bytes.length === 0) return null;
      const i = Math.min(position(rng, bytes.length), bytes.length - 1);
      const n = Math.min(runLength(rng), bytes.length - i);
      return { bytes: concat(bytes.subarray(0, i), bytes.subarray(i + n)), what: `delete bytes [${i}, ${i + n})` };
    },
  },
  {
    name: 'duplicate',
    weight: 2,
    apply(rng, bytes) {
      if (bytes.length === 0) return null;
      const from = below(rng, bytes.length);
      const n = Math.min(runLength(rng), bytes.length - from);
      const to = position(rng, bytes.length);
      const times = below(rng, 8) === 0 ? 2 + below(rng, 63) : 1;
      const copies = Array.from({ length: times }, () => bytes.subarray(from, from + n));
      return { bytes: concat(bytes.subarray(0, to), ...copies, bytes.subarray(to)), what: `copy bytes [${from}, ${from + n}) ${times}× to ${to}` };
    },
  },
  {
    name: 'truncate',
    weight: 2,
    apply(rng, bytes) {
      const n = position(rng, bytes.length);
      return { bytes: bytes.slice(0, n), what: `truncate to ${n} bytes` };
    },
  },
  {
    name: 'splice',
    weight: 2,
    apply(rng, bytes, { donors }) {
      if (donors.length === 0) return null;
      const donor = pick(rng, donors);
      const i = position(rng, bytes.length);
      const j = position(rng, donor.bytes.length);
      return { bytes: concat(bytes.subarray(0, i), donor.bytes.subarray(j)), what: `bytes [0, ${i}) then ${donor.name} from ${j}` };
    },
  },
  {
    name: 'dictionary token',
    weight: 3,
    apply(rng, bytes, { dictionary }) {
      if (dictionary.length === 0) return null;
      const token = pick(rng, dictionary);
      const i = position(rng, bytes.length);
      const overwrite = below(rng, 2) === 0;
      const text = JSON.stringify(new TextDecoder().decode(token));
      if (overwrite) {
        return { bytes: concat(bytes.subarray(0, i), token, bytes.subarray(Math.min(bytes.length, i + token.length))), what: `write ${text} over byte ${i}` };
      }
      return { bytes: concat(bytes.subarray(0, i), token, bytes.subarray(i)), what: `insert ${text} at ${i}` };
    },
  },
  {
    name: 'boundary number',
    weight: 6,
    apply(rng, bytes, { numberFields }) {
      const fields = numberFields?.(bytes) ?? [];
      if (fields.length === 0) return null;
      const field = pick(rng, fields);
      if (field.at + (field.type === 'u64' ? 8 : 4) > bytes.length) return null;
      const out = bytes.slice();
      const view = new DataView(out.buffer);
      let written: string;
      if (field.type === 'u64') {
        const current = view.getBigUint64(field.at, true);
        const near = [current - 1n, current + 1n, current + 8n, ...(field.special ?? []).map(BigInt)].filter((v) => v >= 0n && v < 2n ** 64n);
        const value = below(rng, 2) === 0 ? pick(rng, U64_BOUNDARIES) : pick(rng, near);
        view.setBigUint64(field.at, value, true);
        written = `${value}`;
      } else if (field.type === 'i32') {
        const current = view.getInt32(field.at, true);
        const near = [current - 1, current + 1, current * 2, Math.floor(current / 2), -current, ...(field.special ?? [])];
        const value = below(rng, 2) === 0 ? pick(rng, I32_BOUNDARIES) : pick(rng, near);
        view.setInt32(field.at, value | 0, true);
        written = `${value | 0}`;
      } else {
        const bits = pick(rng, F32_BOUNDARY_BITS);
        view.setUint32(field.at, bits, true);
        written = `f32 bits 0x${bits.toString(16)} (${view.getFloat32(field.at, true)})`;
      }
      return { bytes: out, what: `${field.name} (${field.type} at ${field.at}) := ${written}` };
    },
  },
];

/**
 * `base` mutated 1 to 4 times by mutators picked by weight (most inputs get one). Mutators that
 * do not apply to the bytes at hand are skipped; the result is capped at MAX_INPUT_BYTES.
 */
export function mutateBytes(rng: Rng, base: Sample, context: MutationContext, mutators: readonly Mutator[]): FuzzInput<Uint8Array> {
  const r = below(rng, 20);
  const rounds = r < 12 ? 1 : r < 17 ? 2 : 3 + below(rng, 2);
  const total = mutators.reduce((n, m) => n + m.weight, 0);
  let bytes = base.bytes;
  const recipe = [`from ${base.name} (${base.bytes.length} bytes)`];
  for (let round = 0, tries = 0; round < rounds && tries < 20; tries++) {
    let x = rng.nextFloat() * total;
    const mutator = mutators.find((m) => (x -= m.weight) < 0) ?? mutators[mutators.length - 1];
    const result = mutator.apply(rng, bytes, context);
    if (result === null) continue;
    bytes = result.bytes.length > MAX_INPUT_BYTES ? result.bytes.slice(0, MAX_INPUT_BYTES) : result.bytes;
    recipe.push(result.what);
    round++;
  }
  return { value: bytes, recipe };
}

/** UTF-8 bytes of each token. */
export function tokens(...texts: string[]): Uint8Array[] {
  return texts.map((t) => new TextEncoder().encode(t));
}

/** The mutations of one kind of file: bytes mutated from the samples, each run with the sample it came from. */
export interface ByteTargetSpec<S extends Sample> {
  name: string;
  seed: number;
  mutations: number;
  samples: readonly S[];
  context: MutationContext;
  /** Added to byteMutators: the format's own (JSON edits, a header rewrite). */
  extraMutators?: readonly Mutator[];
  run(bytes: Uint8Array, base: S): Outcome;
}

export function byteTarget<S extends Sample>(spec: ByteTargetSpec<S>): FuzzTarget<{ bytes: Uint8Array; base: S }> {
  const mutators = [...byteMutators, ...(spec.extraMutators ?? [])];
  const total = spec.samples.reduce((n, s) => n + (s.weight ?? 1), 0);
  return {
    name: spec.name,
    seed: spec.seed,
    mutations: spec.mutations,
    make(rng) {
      let x = rng.nextFloat() * total;
      const base = spec.samples.find((s) => (x -= s.weight ?? 1) < 0) ?? spec.samples[spec.samples.length - 1];
      const { value, recipe } = mutateBytes(rng, base, spec.context, mutators);
      return { value: { bytes: value, base }, recipe };
    },
    size: ({ bytes }) => bytes.length,
    run: ({ bytes, base }) => spec.run(bytes, base),
  };
}
