// shaders/loss.wgsl against src/ref/loss.ts: cross-entropy (losses and dlogits) on awkward
// vocabulary sizes up to Qwen2's 151936, with offset logits for stability, and the row argmax
// with many ties (exact).
//
// Tolerance, per row i with lse_i its log-sum-exp (f64):
//   |loss_gpu − loss_ref| ≤ TOL·(1 + |lse_i|)
//   max_c |dlogits_gpu − dlogits_ref| ≤ TOL·|w_i|·(1 + |lse_i|)
// with TOL = 2e-6: the f32 row max, a sum of up to 152k exponentials and its log are off by a
// few ulps of |lse|, and softmax = exp(x − lse) ≤ 1 turns that absolute error of lse into at
// most the same relative one. Measured worst: loss 1.2e-7, dlogits 6.3e-9 (printed after the
// suite).

import { afterAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { argmaxRows, crossEntropy } from '../../src/ops/loss';
import { argmaxRowsRef, crossEntropyRef } from '../../src/ref/loss';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';

const TOL = 2e-6;

const worst = { loss: 0, dlogits: 0 };
afterAll(() => console.log(`loss, GPU vs f64 reference, worst error / (1 + |lse|): loss ${worst.loss.toPrecision(2)}, dlogits ${worst.dlogits.toPrecision(2)} (× |w|)`));

interface Case {
  rows: number;
  vocab: number;
  /** Added to every logit (stability: exp of large logits must not overflow). */
  offset: number;
  spread: number;
}

function logitsFor(c: Case, rng: Rng): Float32Array {
  return Float32Array.from({ length: c.rows * c.vocab }, () => c.offset + rng.uniform(-c.spread, c.spread));
}

async function compare(ctx: GpuContext, c: Case, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const L = logitsFor(c, rng);
  const T = Uint32Array.from({ length: c.rows }, (_, i) => (i === 0 ? c.vocab - 1 : Math.floor(rng.uniform(0, c.vocab))));
  const W = Float32Array.from({ length: c.rows }, (_, i) => (i % 2 === 0 ? 1 / c.rows : rng.uniform(-2, 2)));
  const logits = ctx.upload(L, [c.rows, c.vocab], 'logits');
  const targets = ctx.upload(T, [c.rows], 'targets');
  const weights = ctx.upload(W, [c.rows], 'weights');
  const losses = ctx.tensor([c.rows], 'f32', 'losses');
  const dlogits = ctx.tensor([c.rows, c.vocab], 'f32', 'dlogits');
  crossEntropy(ctx, { logits, targets, weights, losses, dlogits }, { rows: c.rows, vocab: c.vocab, computeGrad: true });
  const gotLoss = await ctx.read(losses);
  const gotGrad = await ctx.read(dlogits);

  const ref = crossEntropyRef(L, T, W, c);
  for (let i = 0; i < c.rows; i++) {
    const lse = ref.losses[i]! + L[i * c.vocab + T[i]!]!;
    const scale = 1 + Math.abs(lse);
    const lossErr = Math.abs(gotLoss[i]! - ref.losses[i]!) / scale;
    worst.loss = Math.max(worst.loss, lossErr);
    expect(lossErr, `row ${i} loss ${gotLoss[i]} vs ${ref.losses[i]}`).toBeLessThanOrEqual(TOL);
    let gradErr = 0;
    for (let j = i * c.vocab; j < (i + 1) * c.vocab; j++) gradErr = Math.max(gradErr, Math.abs(gotGrad[j]! - ref.dlogits[j]!));
    gradErr /= Math.abs(W[i]!) * scale;
    worst.dlogits = Math.max(worst.dlogits, gradErr);
    expect(gradErr, `row ${i} dlogits`).toBeLessThanOrEqual(TOL);
  }

  // Without computeGrad: the same losses from the loss-only kernel; dlogits is not touched.
  ctx.write(dlogits, new Float32Array(c.rows * c.vocab).fill(7));
  crossEntropy(ctx, { logits, targets, losses }, { rows: c.rows, vocab: c.vocab, computeGrad: false });
  expect(await ctx.read(losses)).toEqual(gotLoss);
  expect((await ctx.read(dlogits)).every((x) => x === 7)).toBe(true);
  for (const t of [logits, targets, weights, losses, dlogits]) t.release();
}

const CASES: [string, Case][] = [
  ['vocab 1 (loss 0, gradient 0)', { rows: 3, vocab: 1, offset: 0, spread: 5 }],
  ['rows 7, vocab 300', { rows: 7, vocab: 300, offset: 0, spread: 4 }],
  ['rows 1, vocab 257, logits around +80 (exp would overflow unshifted)', { rows: 1, vocab: 257, offset: 80, spread: 30 }],
  ['rows 4, vocab 32000, logits around −1000', { rows: 4, vocab: 32000, offset: -1000, spread: 8 }],
  ['rows 3, vocab 151936 (Qwen2)', { rows: 3, vocab: 151936, offset: 0, spread: 10 }],
];

describe('cross-entropy, GPU vs reference', () => {
  CASES.forEach(([label, c], n) => {
    it(label, async () => {
      await compare(await gpu(), c, 200 + n);
    });
  });

  it('a peaked row: loss ≈ 0 at the peak, ≈ 40 elsewhere', async () => {
    const ctx = await gpu();
    const vocab = 1000;
    const L = new Float32Array(2 * vocab);
    L[123] = 40;
    L[vocab + 123] = 40;
    const logits = ctx.upload(L, [2, vocab], 'logits');
    const targets = ctx.upload(Uint32Array.from([123, 7]), [2], 'targets');
    const losses = ctx.tensor([2], 'f32', 'losses');
    crossEntropy(ctx, { logits, targets, losses }, { rows: 2, vocab, computeGrad: false });
    const ref = crossEntropyRef(L, [123, 7], [1, 1], { rows: 2, vocab });
    const got = await ctx.read(losses);
    expect(got[0]).toBeCloseTo(ref.losses[0]!, 10); // 999·e⁻⁴⁰ ≈ 4e-15
    expect(Math.abs(got[1]! - ref.losses[1]!)).toBeLessThanOrEqual(TOL * 41);
    for (const t of [logits, targets, losses]) t.release();
  });

  it('a target outside the vocabulary gives a NaN loss and a zero gradient row', async () => {
    const ctx = await gpu();
    const logits = ctx.upload(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], 'logits');
    const targets = ctx.upload(Uint32Array.from([3, 0]), [2], 'targets');
    const weights = ctx.upload(Float32Array.from([1, 1]), [2], 'weights');
    const losses = ctx.tensor([2], 'f32', 'losses');
    const dlogits = ctx.tensor([2, 3], 'f32', 'dlogits');
    crossEntropy(ctx, { logits, targets, weights, losses, dlogits }, { rows: 2, vocab: 3, computeGrad: true });
    const got = await ctx.read(losses);
    expect(got[0]).toBeNaN();
    expect(got[1]).toBeCloseTo(crossEntropyRef([4, 5, 6], [0], [1], { rows: 1, vocab: 3 }).losses[0]!, 5);
    expect(Array.from(await ctx.read(dlogits)).slice(0, 3)).toEqual([0, 0, 0]);
    for (const t of [logits, targets, weights, losses, dlogits]) t.release();
  });

  it('rejects bad sizes, a missing gradient tensor and f32 targets, naming the kernel', async () => {
    const ctx = await gpu();
    const logits = ctx.tensor([2, 5], 'f32', 'logits');
    const targets = ctx.tensor([2], 'u32', 'targets');
    const losses = ctx.tensor([2], 'f32', 'losses');
    expect(() => crossEntropy(ctx, { logits, targets, losses }, { rows: 2, vocab: 6, computeGrad: false })).toThrow(
      /kernel "cross_entropy_loss": shape mismatch: logits "logits" has shape \[2, 5\] \(10 values\) but rows×vocab = 2×6 needs 12/,
    );
    expect(() => crossEntropy(ctx, { logits, targets, losses }, { rows: 2, vocab: 5, computeGrad: true })).toThrow(
      /cross_entropy_loss_grad.*needs the weights and dlogits/,
    );
    expect(() => crossEntropy(ctx, { logits, targets: losses, losses }, { rows: 2, vocab: 5, computeGrad: false })).toThrow(
      /kernel "cross_entropy_loss": targets "losses" holds f32 values, needs u32/,
    );
    expect(() => argmaxRows(ctx, { logits, out: targets }, { rows: 2, vocab: 0 })).toThrow(/argmax_rows.*vocab=0/);
    for (const t of [logits, targets, losses]) t.release();
  });
});

describe('argmaxRows, GPU vs reference (exact)', () => {
  for (const [rows, vocab] of [[5, 1], [9, 300], [3, 151936]] as const) {
    it(`rows ${rows}, vocab ${vocab}, values on a coarse grid (many ties)`, async () => {
      const ctx = await gpu();
      const rng = new Rng(rows * vocab);
      // Integer logits in [−20, 3]: each row's maximum appears many times (for the large vocab).
      const L = Float32Array.from({ length: rows * vocab }, () => Math.floor(rng.uniform(-20, 4)));
      if (vocab > 1) L[vocab - 1] = 9; // a unique maximum at the last index of row 0
      const logits = ctx.upload(L, [rows, vocab], 'logits');
      const out = ctx.tensor([rows], 'u32', 'argmax');
      argmaxRows(ctx, { logits, out }, { rows, vocab });
      const got = new Uint32Array(await ctx.readBytes(out));
      expect(got).toEqual(argmaxRowsRef(L, { rows, vocab }));
      logits.release();
      out.release();
    });
  }

  it('all-equal and −∞ rows go to index 0', async () => {
    const ctx = await gpu();
    const L = new Float32Array(2 * 600).fill(-Infinity);
    L.fill(3, 600);
    const logits = ctx.upload(L, [2, 600], 'logits');
    const out = ctx.tensor([2], 'u32', 'argmax');
    argmaxRows(ctx, { logits, out }, { rows: 2, vocab: 600 });
    expect(Array.from(new Uint32Array(await ctx.readBytes(out)))).toEqual([0, 0]);
    logits.release();
    out.release();
  });
});
