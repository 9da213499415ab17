// shaders/attention.wgsl against src/ref/attention.ts: causal grouped-query attention over a
// right-padded batch, forward (out, lse) and backward (dq, dk, dv), in both variants: tiles
// in workgroup memory, and a thread per (row, head).
//
// Padded rows of q, k, v and dOut hold NaN, so any read of padding that reached a real
// position (or a padded output, which must be finite) would show.
//
// Tolerance: for each tensor T, max|T_gpu − T_ref| ≤ TOL · max|T_ref| with TOL = 5e-6
// (lse: 1e-6 of max|lse|). Dots of length ≤ 128 and softmax sums of ≤ 256 terms in f32, the
// online rescaling exp(m_old − m_new), and in the backward the cancellation in dP − D, leave
// about 1e-6 of the largest magnitude; measured worst over both variants: out 2.5e-7, lse
// 1.6e-7, dq 5.6e-7, dk 1.1e-6, dv 5.9e-7 (printed after the suite).

import { afterAll, describe, expect, it } from 'vitest';
import attentionWgsl from '../../shaders/attention.wgsl?raw';
import type { GpuContext } from '../../src/gpu/context';
import { KernelError } from '../../src/gpu/errors';
import { ATTENTION_VARIANTS, attentionBackward, attentionForward, type AttentionDims, type AttentionVariant } from '../../src/ops/attention';
import { attentionBackwardRef, attentionForwardRef } from '../../src/ref/attention';
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

describe('attention launchers', () => {
  it("bind at most 8 storage buffers per kernel (WebGPU's default maxStorageBuffersPerShaderStage)", async () => {
    const ctx = await gpu();
    const tiled = ['attention_forward', 'attention_backward_delta', 'attention_backward_dq', 'attention_backward_dkdv'];
    const thread = ['attention_forward_rows', 'attention_backward_dq_rows', 'attention_backward_dkdv_rows'];
    for (const entryPoint of [...tiled, ...thread]) {
      const { bindings } = ctx.kernel({ name: entryPoint, code: attentionWgsl, entryPoint });
      expect(bindings.filter((b) => b.kind !== 'uniform').length, entryPoint).toBeLessThanOrEqual(8);
    }
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
    await ctx.sync();
    for (const x of Object.values(t)) x.release();
  });
});
