// shaders/attention.wgsl against src/ref/attention.ts: causal grouped-query attention over a
// right-padded batch, forward (out, lse) and backward (dq, dk, dv), in both variants: tiles
// in workgroup memory, and a thread per (row, head); and inference against a KV cache
// (attention_decode: keys split over a workgroup; attention_decode_rows: a thread per row).
//
// Padded rows of q, k, v and dOut hold NaN, so any read of padding that reached a real
// position (or a padded output, which must be finite) would show.
//
// Tolerance: for each tensor T, max|T_gpu − T_ref| ≤ TOL · max|T_ref| with TOL = 5e-6
// (lse: 1e-6 of max|lse|). Dots of length ≤ 128 and softmax sums of ≤ 256 terms in f32, the
// online rescaling exp(m_old − m_new), and in the backward the cancellation in dP − D, leave
// about 1e-6 of the largest magnitude; measured worst over both variants: out 2.5e-7, lse
// 1.6e-7, dq 5.6e-7, dk 1.1e-6, dv 5.9e-7 (printed after the suite). The decode kernels are
// the forward's sums over ≤ 400 keys: the same TOL (measured worst over both: decode 6e-7);
// the rows they write into the cache are checked bit for bit.

import { afterAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { KernelError } from '../../src/gpu/errors';
import {
  ATTENTION_ENTRY_POINTS,
  ATTENTION_VARIANTS,
  attentionBackward,
  attentionDecode,
  attentionForward,
  attentionKernel,
  type AttentionDecodeDims,
  type AttentionDims,
  type AttentionVariant,
} from '../../src/ops/attention';
import { attentionBackwardRef, attentionDecodeRef, attentionForwardRef } from '../../src/ref/attention';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';

const TOL = 5e-6;
const LSE_TOL = 1e-6;

interface Case {
  batch: number;
  seq: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  lengths: number[];
}

/** Uniform data with NaN in the rows of padded positions (width = values per row). */
function paddedData(rng: Rng, c: Case, width: number, scale: number): Float32Array {
  const out = new Float32Array(c.batch * c.seq * width);
  for (let b = 0; b < c.batch; b++) {
    for (let t = 0; t < c.seq; t++) {
      const real = t < c.lengths[b]!;
      for (let e = 0; e < width; e++) out[(b * c.seq + t) * width + e] = real ? rng.uniform(-scale, scale) : NaN;
    }
  }
  return out;
}

function relErr(got: Float32Array, ref: Float64Array): number {
  expect(got.length).toBe(ref.length);
  let err = 0;
  let mag = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(got[i]!)) return Infinity;
    err = Math.max(err, Math.abs(got[i]! - ref[i]!));
    mag = Math.max(mag, Math.abs(ref[i]!));
  }
  return mag === 0 ? err : err / mag;
}

const worst: Record<string, number> = {};
afterAll(() => console.log(`attention, GPU vs f64 reference, worst relative error: ${JSON.stringify(worst, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(2)) : v))}`));

function expectWithin(name: string, err: number, tol: number): void {
  worst[name] = Math.max(worst[name] ?? 0, err);
  expect(err, `${name} relative error`).toBeLessThanOrEqual(tol);
}

async function compare(ctx: GpuContext, c: Case, seed: number, variant: AttentionVariant): Promise<void> {
  const dims: AttentionDims = { ...c, scale: 1 / Math.sqrt(c.headDim) };
  const rng = new Rng(seed);
  const qWidth = c.numHeads * c.headDim;
  const kvWidth = c.numKvHeads * c.headDim;
  const Q = paddedData(rng, c, qWidth, 2);
  const K = paddedData(rng, c, kvWidth, 1);
  const V = paddedData(rng, c, kvWidth, 1);
  const G = paddedData(rng, c, qWidth, 1);
  const rows = c.batch * c.seq;
  const t = {
    q: ctx.upload(Q, [rows, qWidth], 'q'),
    k: ctx.upload(K, [rows, kvWidth], 'k'),
    v: ctx.upload(V, [rows, kvWidth], 'v'),
    lengths: ctx.upload(Uint32Array.from(c.lengths), [c.batch], 'lengths'),
    out: ctx.tensor([rows, qWidth], 'f32', 'out'),
    lse: ctx.tensor([c.batch, c.numHeads, c.seq], 'f32', 'lse'),
    dOut: ctx.upload(G, [rows, qWidth], 'dOut'),
    dq: ctx.tensor([rows, qWidth], 'f32', 'dq'),
    dk: ctx.tensor([rows, kvWidth], 'f32', 'dk'),
    dv: ctx.tensor([rows, kvWidth], 'f32', 'dv'),
  };
  attentionForward(ctx, t, dims, { variant });
  attentionBackward(ctx, t, dims, { variant });
  const ref = attentionForwardRef(Q, K, V, c.lengths, dims);
  const grads = attentionBackwardRef(Q, K, V, c.lengths, G, dims);
  expectWithin('out', relErr(await ctx.read(t.out), ref.out), TOL);
  expectWithin('lse', relErr(await ctx.read(t.lse), ref.lse), LSE_TOL);
  expectWithin('dq', relErr(await ctx.read(t.dq), grads.dq), TOL);
  expectWithin('dk', relErr(await ctx.read(t.dk), grads.dk), TOL);
  expectWithin('dv', relErr(await ctx.read(t.dv), grads.dv), TOL);

  // Deterministic: a second backward gives the same bits.
  const dk1 = new Uint32Array(await ctx.readBytes(t.dk));
  attentionBackward(ctx, t, dims, { variant });
  expect(new Uint32Array(await ctx.readBytes(t.dk))).toEqual(dk1);
  for (const x of Object.values(t)) x.release();
}

const CASES: [string, Case][] = [
  ['seq 1, batch 2 (one empty sequence)', { batch: 2, seq: 1, numHeads: 2, numKvHeads: 1, headDim: 16, lengths: [1, 0] }],
  ["seq 37, lengths [37, 20, 1], 8 heads / 4 kv heads, headDim 8 (stories260K)", { batch: 3, seq: 37, numHeads: 8, numKvHeads: 4, headDim: 8, lengths: [37, 20, 1] }],
  ['seq 29, 9 heads / 3 kv heads, headDim 64', { batch: 2, seq: 29, numHeads: 9, numKvHeads: 3, headDim: 64, lengths: [29, 13] }],
  ['seq 21, 2 heads / 1 kv head, headDim 128', { batch: 2, seq: 21, numHeads: 2, numKvHeads: 1, headDim: 128, lengths: [17, 21] }],
  ['seq 13, 3 heads, headDim 5 (no grouping, odd dim)', { batch: 1, seq: 13, numHeads: 3, numKvHeads: 3, headDim: 5, lengths: [13] }],
  ['seq 256, 2 heads / 1 kv head, headDim 32', { batch: 2, seq: 256, numHeads: 2, numKvHeads: 1, headDim: 32, lengths: [256, 201] }],
];

describe.each(ATTENTION_VARIANTS)('attention, GPU vs reference, %s', (variant) => {
  CASES.forEach(([label, c], n) => {
    it(label, async () => {
      await compare(await gpu(), c, 100 + n, variant);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// KV-cache inference: `rows` new query rows at positions offset … offset + rows − 1.

interface DecodeCase {
  rows: number;
  offset: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

/**
 * The cache holds random keys and values at positions < offset and NaN from there on, 3
 * positions past offset + rows: the kernel must read the new rows from kNew and vNew, write
 * them at positions offset … offset + rows − 1, and touch nothing else.
 */
async function compareDecode(ctx: GpuContext, c: DecodeCase, seed: number, variant: AttentionVariant): Promise<void> {
  const dims: AttentionDecodeDims = { ...c, scale: 1 / Math.sqrt(c.headDim) };
  const rng = new Rng(seed);
  const qWidth = c.numHeads * c.headDim;
  const kvWidth = c.numKvHeads * c.headDim;
  const capacity = c.offset + c.rows + 3;
  const uniform = (n: number, scale: number) => Float32Array.from({ length: n }, () => rng.uniform(-scale, scale));
  const cache = (): Float32Array => {
    const x = new Float32Array(capacity * kvWidth).fill(NaN);
    x.set(uniform(c.offset * kvWidth, 1));
    return x;
  };
  const Q = uniform(c.rows * qWidth, 2);
  const [kNew, vNew] = [uniform(c.rows * kvWidth, 1), uniform(c.rows * kvWidth, 1)];
  const [K, V] = [cache(), cache()];
  const t = {
    q: ctx.upload(Q, [c.rows, qWidth], 'q'),
    kNew: ctx.upload(kNew, [c.rows, kvWidth], 'new keys'),
    vNew: ctx.upload(vNew, [c.rows, kvWidth], 'new values'),
    kCache: ctx.upload(K, [capacity, kvWidth], 'k cache'),
    vCache: ctx.upload(V, [capacity, kvWidth], 'v cache'),
    out: ctx.tensor([c.rows, qWidth], 'f32', 'out'),
  };
  attentionDecode(ctx, t, dims, { variant });
  // What the cache must hold afterwards: the new rows at their positions, the rest as it was.
  const [wantK, wantV] = [K.slice(), V.slice()];
  wantK.set(kNew, c.offset * kvWidth);
  wantV.set(vNew, c.offset * kvWidth);
  expectWithin('decode', relErr(await ctx.read(t.out), attentionDecodeRef(Q, wantK, wantV, dims)), TOL);
  expect(new Uint32Array(await ctx.readBytes(t.kCache))).toEqual(new Uint32Array(wantK.buffer));
  expect(new Uint32Array(await ctx.readBytes(t.vCache))).toEqual(new Uint32Array(wantV.buffer));
  for (const x of Object.values(t)) x.release();
}

const DECODE_CASES: [string, DecodeCase][] = [
  ['q 1 at offset 0, 8 heads / 4 kv heads, headDim 8', { rows: 1, offset: 0, numHeads: 8, numKvHeads: 4, headDim: 8 }],
  ['q 1 at offset 300, 8 heads / 4 kv heads, headDim 64', { rows: 1, offset: 300, numHeads: 8, numKvHeads: 4, headDim: 64 }],
  ['q 1 at offset 63 (64 keys: one whole tile), 3 heads / 1 kv head, headDim 128', { rows: 1, offset: 63, numHeads: 3, numKvHeads: 1, headDim: 128 }],
  ['q 1 at offset 70, 3 heads / 1 kv head, headDim 5', { rows: 1, offset: 70, numHeads: 3, numKvHeads: 1, headDim: 5 }],
  ['q 5 at offset 0, 3 heads / 1 kv head, headDim 5', { rows: 5, offset: 0, numHeads: 3, numKvHeads: 1, headDim: 5 }],
  ['q 7 at offset 37, 3 heads / 1 kv head, headDim 128', { rows: 7, offset: 37, numHeads: 3, numKvHeads: 1, headDim: 128 }],
  ['q 67 at offset 130, 8 heads / 4 kv heads, headDim 8', { rows: 67, offset: 130, numHeads: 8, numKvHeads: 4, headDim: 8 }],
  ['q 29 at offset 0, 8 heads / 4 kv heads, headDim 64', { rows: 29, offset: 0, numHeads: 8, numKvHeads: 4, headDim: 64 }],
];

describe.each(ATTENTION_VARIANTS)('attention against a KV cache, GPU vs reference, %s', (variant) => {
  DECODE_CASES.forEach(([label, c], n) => {
    it(label, async () => {
      await compareDecode(await gpu(), c, 300 + n, variant);
    });
  });
});

describe('attention against a KV cache, thread per row', () => {
  it("gives the forward's bits when the cache holds the same keys (the same sums in the same order)", async () => {
    const ctx = await gpu();
    const c = { batch: 1, seq: 45, numHeads: 8, numKvHeads: 4, headDim: 8 };
    const rng = new Rng(9);
    const data = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-2, 2));
    const qWidth = c.numHeads * c.headDim;
    const kvWidth = c.numKvHeads * c.headDim;
    const q = ctx.upload(data(c.seq * qWidth), [c.seq, qWidth], 'q');
    const k = ctx.upload(data(c.seq * kvWidth), [c.seq, kvWidth], 'k');
    const v = ctx.upload(data(c.seq * kvWidth), [c.seq, kvWidth], 'v');
    const lengths = ctx.upload(Uint32Array.of(c.seq), [1], 'lengths');
    const forward = ctx.tensor([c.seq, qWidth], 'f32', 'forward out');
    const lse = ctx.tensor([1, c.numHeads, c.seq], 'f32', 'lse');
    const decoded = ctx.tensor([c.seq, qWidth], 'f32', 'decode out');
    const kCache = ctx.tensor([c.seq, kvWidth], 'f32', 'k cache');
    const vCache = ctx.tensor([c.seq, kvWidth], 'f32', 'v cache');
    const scale = 1 / Math.sqrt(c.headDim);
    attentionForward(ctx, { q, k, v, lengths, out: forward, lse }, { ...c, scale }, { variant: 'thread' });
    attentionDecode(ctx, { q, kNew: k, vNew: v, kCache, vCache, out: decoded }, { ...c, rows: c.seq, offset: 0, scale }, { variant: 'thread' });
    expect(new Uint32Array(await ctx.readBytes(decoded))).toEqual(new Uint32Array(await ctx.readBytes(forward)));
    for (const x of [q, k, v, lengths, forward, lse, decoded, kCache, vCache]) x.release();
  });
});

describe('attention launchers', () => {
  it("build every entry point from the launcher's tile constants, each binding at most 8 storage buffers (WebGPU's default maxStorageBuffersPerShaderStage)", async () => {
    const ctx = await gpu();
    for (const entryPoint of ATTENTION_ENTRY_POINTS) {
      const { bindings } = attentionKernel(ctx, entryPoint, 64);
      expect(bindings.filter((b) => b.kind !== 'uniform').length, entryPoint).toBeLessThanOrEqual(8);
    }
    await ctx.sync(); // raises any pipeline that failed to build
  });

  it('reject bad dims and short tensors with errors naming the kernel', async () => {
    const ctx = await gpu();
    const dims: AttentionDims = { batch: 1, seq: 4, numHeads: 4, numKvHeads: 2, headDim: 8, scale: 0.35 };
    const t = {
      q: ctx.tensor([4, 32], 'f32', 'q'),
      k: ctx.tensor([4, 16], 'f32', 'k'),
      v: ctx.tensor([4, 16], 'f32', 'v'),
      lengths: ctx.tensor([1], 'u32', 'lengths'),
      out: ctx.tensor([4, 32], 'f32', 'out'),
      lse: ctx.tensor([1, 4, 4], 'f32', 'lse'),
    };
    expect(() => attentionForward(ctx, t, { ...dims, numKvHeads: 3 })).toThrow(/attention_forward.*multiple of numKvHeads/);
    expect(() => attentionForward(ctx, t, { ...dims, headDim: 129 })).toThrow(/headDim=129 exceeds/);
    expect(() => attentionForward(ctx, t, dims, { variant: 'warp' as never })).toThrow(
      /kernel "attention_forward": variant "warp" is not one of tiled, thread/,
    );
    expect(() => attentionForward(ctx, { ...t, k: t.q, v: t.q }, { ...dims, numKvHeads: 4 })).not.toThrow();
    expect(() => attentionForward(ctx, t, { ...dims, seq: 5 })).toThrow(KernelError);
    expect(() => attentionForward(ctx, { ...t, lengths: t.lse }, dims)).toThrow(
      /kernel "attention_forward": lengths "lse" holds f32 values, needs u32/,
    );
    const one = () => ctx.tensor([1, 16], 'f32', 'new row');
    const decode = { q: ctx.tensor([1, 32], 'f32', 'q'), kNew: one(), vNew: one(), kCache: t.k, vCache: t.v, out: ctx.tensor([1, 32], 'f32', 'out') };
    const decodeDims: AttentionDecodeDims = { rows: 1, offset: 3, numHeads: 4, numKvHeads: 2, headDim: 8, scale: 0.35 };
    expect(() => attentionDecode(ctx, decode, decodeDims, { variant: 'thread' })).not.toThrow();
    expect(() => attentionDecode(ctx, { ...decode, q: t.q, out: t.out }, { ...decodeDims, rows: 2, offset: 2 })).toThrow(/kernel "attention_decode(_rows)?": shape mismatch: kNew "new row" has shape \[1, 16\]/);
    expect(() => attentionDecode(ctx, decode, { ...decodeDims, offset: 4 }, { variant: 'tiled' })).toThrow(
      /kernel "attention_decode": shape mismatch: kCache "k" has shape \[4, 16\] \(64 values\) but \(offset\+rows\)×\(numKvHeads·headDim\) = \(4\+1\)×\(2·8\) needs 80/,
    );
    expect(() => attentionDecode(ctx, decode, { ...decodeDims, numKvHeads: 3 })).toThrow(/multiple of numKvHeads/);
    expect(() => attentionKernel(ctx, 'attention_sideways')).toThrow(/kernel "attention_sideways": no such entry point/);
    for (const x of [decode.q, decode.kNew, decode.vNew, decode.out]) x.release();
    await ctx.sync();
    for (const x of Object.values(t)) x.release();
  });
});
