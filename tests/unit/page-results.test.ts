// The page's pure helpers behind Train, Try it and Export: the loss smoothing (TensorBoard's and
// W&B's debiased EMA), each choice's probability (a softmax over log-likelihoods), the zip built as
// Blob parts, and which of a run's files each download holds.

import { unzipSync, type UnzipFileInfo } from 'fflate';
import { describe, expect, it } from 'vitest';
import { downloadFiles } from '../../src/state/run';
import { choiceProbabilities } from '../../src/state/try';
import { zipParts } from '../../src/state/zip';
import { smoothEma } from '../../src/ui/train/smoothing';

describe('smoothEma', () => {
  it('is the raw curve at weight 0 and starts at the first value at any weight (debiased)', () => {
    expect(smoothEma([3, 1, 4, 1, 5], 0)).toEqual([3, 1, 4, 1, 5]);
    for (const w of [0.3, 0.6, 0.99]) expect(smoothEma([2.5, 7], w)[0]).toBeCloseTo(2.5, 12);
  });

  it('matches the formula on hand-worked values', () => {
    // w = 0.5: a1 = 0.5, a1/(1 − 0.5) = 1; a2 = 0.25 + 1 = 1.25, a2/(1 − 0.25) = 5/3;
    // a3 = 0.625 + 0 = 0.625, a3/(1 − 0.125) = 5/7.
    const s = smoothEma([1, 2, 0], 0.5);
    expect(s[0]).toBeCloseTo(1, 14);
    expect(s[1]).toBeCloseTo(5 / 3, 14);
    expect(s[2]).toBeCloseTo(5 / 7, 14);
  });

  it('keeps a constant curve constant and leaves a non-finite step as a gap', () => {
    for (const v of smoothEma(Array(50).fill(1.75), 0.9)) expect(v).toBeCloseTo(1.75, 12);
    const s = smoothEma([1, NaN, Infinity, 1], 0.6);
    expect(s[1]).toBeNull();
    expect(s[2]).toBeNull();
    expect(s[3]).toBeCloseTo(1, 12);
  });

  it('refuses a weight outside [0, 1)', () => {
    expect(() => smoothEma([1], 1)).toThrow(/\[0, 1\), got 1/);
    expect(() => smoothEma([1], -0.1)).toThrow(RangeError);
  });
});

describe('choiceProbabilities', () => {
  it('is a softmax: sums to 1, order kept, shift-invariant', () => {
    const p = choiceProbabilities([-1, -2, -3]);
    const e = [1, Math.exp(-1), Math.exp(-2)];
    const z = e.reduce((a, b) => a + b);
    p.forEach((v, k) => expect(v).toBeCloseTo(e[k]! / z, 15));
    expect(p.reduce((a, b) => a + b)).toBeCloseTo(1, 15);
    choiceProbabilities([-1001, -1002, -1003]).forEach((v, k) => expect(v).toBeCloseTo(p[k]!, 15));
  });

  it('does not overflow or underflow on log-likelihoods of long choices', () => {
    // exp(−800) is 0 in float64: without the shift every weight would vanish.
    expect(choiceProbabilities([-800, -800])).toEqual([0.5, 0.5]);
    expect(choiceProbabilities([-5, -5000])).toEqual([1, 0]);
  });

  it('gives −∞ a probability of 0, and no distribution when nothing is finite or a score is NaN', () => {
    expect(choiceProbabilities([-Infinity, -2])).toEqual([0, 1]);
    expect(choiceProbabilities([-Infinity, -Infinity]).every(Number.isNaN)).toBe(true);
    expect(choiceProbabilities([NaN, -1]).every(Number.isNaN)).toBe(true);
  });
});

describe('zipParts', () => {
  const tensors = new Uint8Array(70_001).map((_, i) => (i * 2_654_435_761) >>> 24); // incompressible-looking bytes
  const json = new TextEncoder().encode(JSON.stringify({ steps: Array.from({ length: 400 }, (_, i) => ({ step: i, loss: 1 / (i + 1) })) }));
  const files = [
    { name: 'model.safetensors', bytes: tensors },
    { name: 'metrics.json', bytes: json },
    { name: 'adapter/d2lora_model.safetensors', bytes: tensors.subarray(5, 999) },
    { name: 'empty.md', bytes: new Uint8Array(0) },
  ];
  const mtime = new Date('2025-06-01T12:34:56Z');

  it('unpacks to exactly the files, in order, the tensors stored and the text deflated', async () => {
    const parts = zipParts(files, mtime);
    const zip = new Uint8Array(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer());
    const infos: UnzipFileInfo[] = [];
    const unpacked = unzipSync(zip, { filter: (f) => (infos.push(f), true) });
    expect(Object.keys(unpacked)).toEqual(files.map((f) => f.name));
    for (const f of files) expect(unpacked[f.name]).toEqual(f.bytes);
    expect(infos.map((f) => [f.name, f.compression])).toEqual([
      ['model.safetensors', 0],
      ['metrics.json', 8],
      ['adapter/d2lora_model.safetensors', 0],
      ['empty.md', 8],
    ]);
    expect(infos[1]!.size).toBeLessThan(json.length / 4);
  });

  it('passes a stored file through as its own chunk: no copy, no string, no single buffer of the whole archive', () => {
    const parts = zipParts(files, mtime);
    expect(parts).toContain(tensors);
    expect(parts.length).toBeGreaterThan(files.length);
    expect(parts.every((p) => p instanceof Uint8Array)).toBe(true);
    expect(Math.max(...parts.map((p) => p.length))).toBe(tensors.length);
  });

  it('dates every entry with the given time, so one run gives the same bytes', async () => {
    const bytes = async (p: Uint8Array[]) => new Uint8Array(await new Blob(p as Uint8Array<ArrayBuffer>[]).arrayBuffer());
    expect(await bytes(zipParts(files, mtime))).toEqual(await bytes(zipParts(files, new Date(mtime))));
    expect(await bytes(zipParts(files, mtime))).not.toEqual(await bytes(zipParts(files, new Date('2025-06-02T12:34:56Z'))));
  });
});

describe('downloadFiles', () => {
  const artifacts = [
    { name: 'run.json', bytes: 600 },
    { name: 'model.safetensors', bytes: 1_040_000 },
    { name: 'adapter/d2lora_config.json', bytes: 900 },
    { name: 'adapter/d2lora_model.safetensors', bytes: 50_000 },
    { name: 'metrics.json', bytes: 12_000 },
  ];

  it('sizes each download from the files the worker will export', () => {
    expect(downloadFiles('output', artifacts)).toEqual(artifacts);
    expect(downloadFiles('adapter', artifacts).map((f) => f.name)).toEqual(['adapter/d2lora_config.json', 'adapter/d2lora_model.safetensors']);
    expect(downloadFiles('metrics', artifacts)).toEqual([{ name: 'metrics.json', bytes: 12_000 }]);
  });
});
