// shaders/optimizer.wgsl against src/ref/optimizer.ts: sums of squares, the clip factor (clipped,
// unclipped, off), and several AdamW steps chained exactly as the trainer records them, with the
// factor read from the GPU buffer.
//
// Tolerances (worst seen is printed after the suite):
//   sum of squares, total norm, factor   relative 2e-6 (f32 sums of ≤ 300k squares, tree-ordered)
//   m, v after each step                 relative to max|·|, 2e-6
//   param after each step                |Δ| ≤ 2e-6·(max|p| + lr·t): the f32 roundings of p itself
//                                        plus a few ulps of each step's lr-sized update

import { afterAll, describe, expect, it } from 'vitest';
import { KernelError } from '../../src/gpu/errors';
import { adamwStep, clipFactor, sumOfSquaresBlocks, sumOfSquaresPartials, type AdamWHyper } from '../../src/ops/optimizer';
import type { GpuContext } from '../../src/gpu/context';
import type { Tensor } from '../../src/gpu/tensor';
import { adamwStepRef, clipFactorRef, sumOfSquaresRef, type AdamWRefState } from '../../src/ref/optimizer';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';

const TOL = 2e-6;

const worst: Record<string, number> = {};
afterAll(() => console.log(`optimizer, GPU vs f64 reference, worst relative error: ${JSON.stringify(worst, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(2)) : v))}`));

function within(name: string, err: number, tol = TOL): void {
  worst[name] = Math.max(worst[name] ?? 0, err);
  expect(err, `${name} relative error`).toBeLessThanOrEqual(tol);
}

function uniform(n: number, rng: Rng, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.uniform(-scale, scale));
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** The partial sums of every tensor in one buffer, tensor after tensor, as the trainer records them; the buffer and each tensor's first block. */
function recordSumsOfSquares(ctx: GpuContext, xs: readonly Tensor[], lengths: readonly number[]): { partials: Tensor; firsts: number[] } {
  const firsts: number[] = [];
  let blocks = 0;
  for (const n of lengths) {
    firsts.push(blocks);
    blocks += sumOfSquaresBlocks(n);
  }
  const partials = ctx.zeros([Math.max(1, blocks)], 'f32', 'partials');
  xs.forEach((x, i) => sumOfSquaresPartials(ctx, { x, partials }, { n: lengths[i]!, first: firsts[i]! }));
  return { partials, firsts };
}

describe('sumOfSquaresPartials and clipFactor', () => {
  it('sums Σx² by block of awkward lengths into one buffer, tensor after tensor, then the clip factor of them all', async () => {
    const ctx = await gpu();
    const rng = new Rng(31);
    const lengths = [1, 4095, 4097, 300_001, 0, 4096];
    expect(lengths.map(sumOfSquaresBlocks)).toEqual([1, 1, 2, 74, 0, 1]);
    const hosts = lengths.map((n) => uniform(n, rng, 3));
    const tensors = hosts.map((h, s) => ctx.upload(h, [h.length], `x${s}`));
    const { partials, firsts } = recordSumsOfSquares(ctx, tensors, lengths);
    const got = await ctx.read(partials);
    expect(got.length).toBe(79);
    hosts.forEach((h, s) => {
      for (let b = 0; b < sumOfSquaresBlocks(h.length); b++) {
        const want = sumOfSquaresRef(h.subarray(b * 4096, (b + 1) * 4096));
        within('sum of squares', Math.abs(got[firsts[s]! + b]! - want) / want);
      }
    });

    const factor = ctx.tensor([2], 'f32', 'factor');
    const ref = hosts.map(sumOfSquaresRef);
    const total = Math.sqrt(ref.reduce((a, b) => a + b, 0));
    for (const maxNorm of [total / 7, total * 2, 0]) {
      clipFactor(ctx, { partials, factor }, { count: partials.size, maxNorm });
      const [gotFactor, gotTotal] = await ctx.read(factor);
      const want = clipFactorRef(ref, maxNorm);
      within('total norm', Math.abs(gotTotal! - want.totalNorm) / want.totalNorm);
      within('clip factor', Math.abs(gotFactor! - want.factor) / want.factor);
      if (maxNorm === total / 7) expect(gotFactor).toBeCloseTo(1 / 7, 5);
      else expect(gotFactor).toBe(1);
    }
    for (const t of [partials, factor, ...tensors]) t.release();
  });
});

describe('adamwStep', () => {
  const hp: AdamWHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

  it('six clipped steps over two tensors match the f64 reference', async () => {
    const ctx = await gpu();
    const rng = new Rng(41);
    const sizes = [1000, 37];
    const maxNorm = 5;
    const params = sizes.map((n) => uniform(n, rng));
    const state: AdamWRefState[] = params.map((p) => ({ param: Float64Array.from(p), m: new Float64Array(p.length), v: new Float64Array(p.length) }));
    const gpuState = params.map((p, s) => ({
      param: ctx.upload(p, [p.length], `param${s}`),
      m: ctx.zeros([p.length], 'f32', `m${s}`),
      v: ctx.zeros([p.length], 'f32', `v${s}`),
      grad: ctx.tensor([p.length], 'f32', `grad${s}`),
    }));
    const factor = ctx.tensor([2], 'f32', 'factor');

    for (let step = 1; step <= 6; step++) {
      // Gradients of mixed sizes: clipped on odd steps (norm ≈ 18), not on even ones (≈ 0.6).
      const grads = sizes.map((n) => uniform(n, rng, step % 2 === 1 ? 1 : 0.03));
      gpuState.forEach((s, i) => ctx.write(s.grad, grads[i]!));
      const { partials } = recordSumsOfSquares(ctx, gpuState.map((s) => s.grad), sizes);
      clipFactor(ctx, { partials, factor }, { count: partials.size, maxNorm });
      gpuState.forEach((s, i) => adamwStep(ctx, { ...s, factor }, { ...hp, n: sizes[i]!, step }));
      partials.release();

      const { factor: refFactor } = clipFactorRef(grads.map(sumOfSquaresRef), maxNorm);
      if (step % 2 === 1) expect(refFactor).toBeLessThan(1);
      else expect(refFactor).toBe(1);
      state.forEach((s, i) => adamwStepRef(s, grads[i]!, refFactor, hp, step));
      for (let i = 0; i < sizes.length; i++) {
        const ref = state[i]!;
        const [p, m, v] = await Promise.all([ctx.read(gpuState[i]!.param), ctx.read(gpuState[i]!.m), ctx.read(gpuState[i]!.v)]);
        within('param', maxDiff(p, ref.param) / (maxAbs(ref.param) + hp.lr * step));
        within('m', maxDiff(m, ref.m) / maxAbs(ref.m));
        within('v', maxDiff(v, ref.v) / maxAbs(ref.v));
      }
    }
    for (const s of gpuState) for (const t of Object.values(s)) t.release();
    factor.release();
  });

  it('decays the weights with a zero gradient (decoupled decay: p·(1 − lr·wd))', async () => {
    const ctx = await gpu();
    const p0 = Float32Array.from([1, -2, 0.5, 3]);
    const param = ctx.upload(p0, [4], 'param');
    const grad = ctx.zeros([4], 'f32', 'grad');
    const m = ctx.zeros([4], 'f32', 'm');
    const v = ctx.zeros([4], 'f32', 'v');
    const factor = ctx.upload(Float32Array.from([1, 0]), [2], 'factor');
    adamwStep(ctx, { param, grad, m, v, factor }, { ...hp, n: 4, step: 1 });
    adamwStep(ctx, { param, grad, m, v, factor }, { ...hp, n: 4, step: 2 });
    const got = await ctx.read(param);
    const ref: AdamWRefState = { param: Float64Array.from(p0), m: new Float64Array(4), v: new Float64Array(4) };
    adamwStepRef(ref, [0, 0, 0, 0], 1, hp, 1);
    adamwStepRef(ref, [0, 0, 0, 0], 1, hp, 2);
    expect(Array.from(ref.param)).toEqual(Array.from(p0, (x) => expect.closeTo(x * (1 - hp.lr * hp.weightDecay) ** 2, 14)));
    within('param', maxDiff(got, ref.param) / maxAbs(ref.param));
    expect(Array.from(await ctx.read(m))).toEqual([0, 0, 0, 0]);
    for (const t of [param, grad, m, v, factor]) t.release();
  });

  it('skips the whole step when the gradient norm is not finite (NaN or ∞)', async () => {
    const ctx = await gpu();
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const p0 = Float32Array.from([1, -2, 0.5]);
      const m0 = Float32Array.from([0.1, 0.2, -0.3]);
      const v0 = Float32Array.from([0.01, 0.02, 0.03]);
      const param = ctx.upload(p0, [3], 'param');
      const grad = ctx.upload(Float32Array.from([0.5, bad, 1]), [3], 'grad');
      const m = ctx.upload(m0, [3], 'm');
      const v = ctx.upload(v0, [3], 'v');
      const factor = ctx.zeros([2], 'f32', 'factor');
      const { partials } = recordSumsOfSquares(ctx, [grad], [3]);
      clipFactor(ctx, { partials, factor }, { count: 1, maxNorm: 1 });
      adamwStep(ctx, { param, grad, m, v, factor }, { ...hp, n: 3, step: 4 });
      const f = await ctx.read(factor);
      expect(f[0]).toBe(0);
      expect(Number.isFinite(f[1])).toBe(false);
      expect(clipFactorRef([bad], 1).factor).toBe(0);
      expect(Array.from(await ctx.read(param))).toEqual(Array.from(p0));
      expect(Array.from(await ctx.read(m))).toEqual(Array.from(m0));
      expect(Array.from(await ctx.read(v))).toEqual(Array.from(v0));
      for (const t of [param, grad, m, v, partials, factor]) t.release();
    }
  });

  it('rejects bad hyperparameters and sizes, naming the kernel and field', async () => {
    const ctx = await gpu();
    const x = ctx.tensor([8], 'f32', 'x');
    const small = ctx.tensor([4], 'f32', 'small');
    const t = { param: x, grad: x, m: x, v: x, factor: small };
    expect(() => adamwStep(ctx, t, { ...hp, n: 8, step: 0 })).toThrow(/adamw_step.*step=0/);
    expect(() => adamwStep(ctx, t, { ...hp, n: 8, step: 1, beta2: 1 })).toThrow(/beta2=1 must be finite and in \[0, 1\)/);
    expect(() => adamwStep(ctx, t, { ...hp, n: 8, step: 1, eps: 0 })).toThrow(/eps=0/);
    expect(() => adamwStep(ctx, { ...t, m: small }, { ...hp, n: 8, step: 1 })).toThrow(
      /kernel "adamw_step": shape mismatch: m "small" has shape \[4\] \(4 values\) but n = 8 needs 8/,
    );
    expect(() => sumOfSquaresPartials(ctx, { x, partials: small }, { n: 8, first: 4 })).toThrow(KernelError);
    expect(() => sumOfSquaresPartials(ctx, { x, partials: small }, { n: 8, first: 4 })).toThrow(/sum_squares_partial.*partials "small".*first = 4/);
    expect(() => clipFactor(ctx, { partials: small, factor: small }, { count: 5, maxNorm: 1 })).toThrow(/clip_factor.*partials/);
    x.release();
    small.release();
  });
});
