// The fuzzing harness itself: every failure it exists to catch is caught (a crash, a FormatError
// that does not name the file, a slow input, an allocation from a declared size, a result larger
// than its input), and every input is the same on every run.

import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../src/io/errors';
import { Rng } from '../../../src/util/rng';
import {
  allocationLimit,
  byteMutators,
  byteTarget,
  formatErrorOutcome,
  HANG_MS,
  inputOf,
  InvalidResult,
  mutateBytes,
  RETAINED_PER_INPUT_BYTE,
  runFuzz,
  type FuzzTarget,
  type MutationContext,
  type Outcome,
} from './harness';
import { jsonMutators, wholeFile } from './json';

const FILE = 'folder/file.bin';

/** A parser that does what input i says: each way of failing once, between two good inputs. */
const BEHAVIOURS: ((size: number) => Outcome)[] = [
  () => formatErrorOutcome(FILE, () => 1),
  () => formatErrorOutcome(FILE, () => { throw new FormatError({ file: FILE, expected: 'x', found: 'y' }); }),
  () => formatErrorOutcome(FILE, () => { throw new FormatError({ file: 'another.bin', expected: 'x', found: 'y' }); }),
  () => formatErrorOutcome(FILE, () => { throw new TypeError('undefined is not a function'); }),
  () => {
    const until = performance.now() + HANG_MS + 20;
    while (performance.now() < until);
    return { accepted: false };
  },
  // A parser that believes a declared count of 2^24 floats in a 16-byte file.
  () => formatErrorOutcome(FILE, () => new Float32Array(2 ** 24), (floats) => floats.byteLength),
  (size) => ({ accepted: true, retainedBytes: (RETAINED_PER_INPUT_BYTE + 1) * size }),
  () => formatErrorOutcome(FILE, () => { throw new InvalidResult('a tensor outside the file'); }),
  () => formatErrorOutcome(FILE, () => 2),
];

describe('the fuzzing harness', () => {
  it('reports each kind of failure with the input that caused it, and counts the rest', { timeout: 30_000 }, () => {
    let next = 0;
    const target: FuzzTarget<number> = {
      name: 'self-test',
      seed: 1,
      mutations: BEHAVIOURS.length,
      make: () => ({ value: next++, recipe: [`behaviour ${next - 1}`] }),
      size: () => 16,
      run: (i) => BEHAVIOURS[i]!(16),
    };
    const report = runFuzz(target);
    expect(report.failures.map((f) => [f.index, f.kind])).toEqual([
      [2, 'crash'],
      [3, 'crash'],
      [4, 'slow'],
      [5, 'allocation'], // while parsing
      [5, 'allocation'], // and held by the result
      [6, 'allocation'],
      [7, 'invalid'],
    ]);
    expect(report.failures[0]!.problem).toBe(`Error: a FormatError that does not name the file "${FILE}": another.bin: y; expected x (replay: FUZZ_REPLAY='self-test#2')`);
    expect(report.failures[1]!.problem).toMatch(/^TypeError: undefined is not a function/);
    expect(report.failures[3]!.problem).toMatch(/^6\d\.\d MiB allocated for an input of 16 bytes; the bound is 32\.0 MiB/);
    expect(report.failures[2]!.recipe).toEqual(['behaviour 4']);
    expect(report.failures[4]!.problem).toMatch(/^the accepted result holds 67108864 bytes for an input of 16 bytes/);
    // The good inputs, the refusal and the oversized result are counted as what they are.
    expect([report.accepted, report.rejected]).toEqual([4, 2]);
    expect(report.worstMsIndex).toBe(4);
    expect(report.worstAllocationBytes).toBeGreaterThan(allocationLimit(16));
  });

  it('makes the same inputs on every run, input i from its own seed alone', () => {
    const context: MutationContext = { donors: [{ name: 'donor', bytes: Uint8Array.of(9, 9, 9) }], dictionary: [Uint8Array.of(0x22)] };
    const target = byteTarget({
      name: 'determinism',
      seed: 42,
      mutations: 0,
      samples: [{ name: 'json', bytes: new TextEncoder().encode('{"a":[1,2,{"b":"c"}],"d":3}') }],
      context,
      extraMutators: jsonMutators(wholeFile),
      run: () => ({ accepted: true }),
    });
    const first = Array.from({ length: 200 }, (_, i) => inputOf(target, i));
    const again = [150, 3, 77].map((i) => inputOf(target, i));
    expect(again).toEqual([first[150], first[3], first[77]]);
    // Mutations change the input, and in many different ways (a few coincide: two cuts at the same length).
    const texts = new Set(first.map((x) => Buffer.from(x.value.bytes).toString('hex')));
    expect(texts.size).toBeGreaterThan(160);
    const kinds = new Set(first.flatMap((x) => x.recipe.slice(1).map((step) => step.split(/ \d| := |:/)[0])));
    expect(kinds.size).toBeGreaterThan(10);
  });

  it('writes boundary values where the format says its numbers are', () => {
    const rng = new Rng(7);
    const boundary = byteMutators.find((m) => m.name === 'boundary number')!;
    const seen = new Set<number>();
    for (let k = 0; k < 400; k++) {
      const out = boundary.apply(rng, new Uint8Array(12), { donors: [], dictionary: [], numberFields: () => [{ at: 4, type: 'i32', name: 'n' }] })!;
      expect([...out.bytes.subarray(0, 4), ...out.bytes.subarray(8)]).toEqual(Array(8).fill(0));
      seen.add(new DataView(out.bytes.buffer).getInt32(4, true));
    }
    for (const v of [0, -1, 1, 2 ** 31 - 1, -(2 ** 31)]) expect(seen).toContain(v);
    // No field, nothing to do: the mutator says so rather than writing anywhere.
    expect(boundary.apply(rng, new Uint8Array(12), { donors: [], dictionary: [] })).toBeNull();
    expect(mutateBytes(rng, { name: 'empty', bytes: new Uint8Array(0) }, { donors: [], dictionary: [] }, byteMutators).recipe[0]).toBe('from empty (0 bytes)');
  });
});
