// The layer kernels (shaders/{embedding,norms,rope,activations}.wgsl) against their f64
// references (src/ref/), on awkward shapes: one row, widths that are not multiples of the
// 256-thread workgroup (67, 172), a model-sized 300×576, a 4100-wide row, more rows than one
// dispatch can hold, and more elements than 65535 workgroups of 256 threads. The norms run in
// both variants (a workgroup per row at each fitted width 32 … 256, and a thread per row).
//
// Tolerances, in units of u = 2⁻²⁴ (f32 unit roundoff), per element relative to a magnitude
// that bounds the element's rounding error (not to the possibly cancelled result):
//   gathers, scatter-add, add_into   exact: a copy or one correctly rounded f32 add.
//   norms     |Δ| ≤ 32u·scale, scale the sum of the magnitudes of the terms of the element's
//             formula (e.g. r·|dy·w| + |x|·r³·Σ|dy·w·x|/dim). Each f32 sum makes dim/width +
//             log₂(width) roundings for a workgroup of width threads (a thread's strided run,
//             then the tree), ≤ 24 for dim = 4100, plus 2 ulp for inverseSqrt and a few for the
//             final products. A thread per row makes dim/8 + 3 (8 strided runs, then a tree):
//             more than 32 past dim ≈ 232 in the worst case, but the errors of a sum of many
//             rounded terms mostly cancel: measured worst 5u (RMSNorm y, 50×2048).
//   rope      |Δ| ≤ 4u·(|x_a| + |x_b|): two products and a sum (or one fused multiply-add);
//             apply-then-inverse returns x within 16u·(|x_a| + |x_b|) (two rotations, and
//             cos² + sin² of the f32-rounded table is 1 only to a few u).
//   SwiGLU, GELU  |Δ| ≤ (32 + 4·min(|z|, 88))·u·scale + floor, z the argument of exp: WGSL
//             allows exp 3 + 2|z| ulp, and σ adds a division (2.5 ulp) and a few products;
//             past |z| = 88, exp(−|z|) is subnormal or 0 and only the floor matters. The floor,
//             2⁻⁵²·(magnitude of the inputs' product), covers the f64 reference's own rounding
//             (1 + tanh(u) cancels for u ≪ 0) and subnormals flushed to zero.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import type { Tensor } from '../../src/gpu/tensor';
import { addInto, geluBackward, geluForward, swigluBackward, swigluForward } from '../../src/ops/activations';
import { embeddingGather, gatherRows, scatterAddRows } from '../../src/ops/embedding';
import { layernormBackward, layernormForward, NORM_VARIANTS, normGroupWidth, rmsnormBackward, rmsnormForward } from '../../src/ops/norms';
import { ropeApply, ropeTable } from '../../src/ops/rope';
import { addRef, geluBackwardRef, geluForwardRef, swigluBackwardRef, swigluForwardRef } from '../../src/ref/activations';
import { embeddingGatherRef, gatherRowsRef, scatterAddRowsRef } from '../../src/ref/embedding';
import { layernormBackwardRef, layernormForwardRef, rmsnormBackwardRef, rmsnormForwardRef } from '../../src/ref/norms';
import { ropeApplyRef } from '../../src/ref/rope';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';

const U = 2 ** -24;
const NORM_TOL = 32;

function randomF32(n: number, rng: Rng, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(lo, hi);
  return out;
}

/** n distinct indices below `bound`, in random order (a partial Fisher–Yates shuffle). */
function distinctIndices(n: number, bound: number, rng: Rng): Uint32Array {
  const all = Uint32Array.from({ length: bound }, (_, i) => i);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rng.nextFloat() * (bound - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, n);
}

/**
 * max_i |got_i − ref_i| / (u·scale_i + floor_i), so ≤ a tolerance in units of u passes;
 * Infinity for a non-finite value.
 */
function worstUlps(got: Float32Array, ref: ArrayLike<number>, scale: (i: number) => number, floor: (i: number) => number = () => 0): number {
  expect(got.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i]!)) return Infinity;
    const err = Math.abs(got[i]! - ref[i]!);
    if (err > 0) worst = Math.max(worst, err / (U * scale(i) + floor(i)));
  }
  return worst;
}

/** How many elements of got differ from ref rounded to f32 (bitwise, so −0 ≠ 0); 0 passes. */
function mismatches(got: Float32Array, ref: ArrayLike<number>): number {
  expect(got.length).toBe(ref.length);
  const want = new Uint32Array(Float32Array.from(ref).buffer);
  const have = new Uint32Array(got.buffer, got.byteOffset, got.length);
  let count = 0;
  for (let i = 0; i < want.length; i++) if (have[i] !== want[i]) count++;
  return count;
}

async function readAll(ctx: GpuContext, ...tensors: Tensor[]): Promise<Float32Array[]> {
  return Promise.all(tensors.map((t) => ctx.read(t)));
}

function releaseAll(...tensors: Tensor[]): void {
  for (const t of tensors) t.release();
}

// ---------------------------------------------------------------------------------------------

describe('embedding gathers', () => {
  for (const [rows, dim, vocab] of [[1, 67, 5], [300, 576, 1000], [172, 172, 3]] as const) {
    it(`embedding_gather rows=${rows} dim=${dim} vocab=${vocab}, then += (accumulate), exactly`, async () => {
      const ctx = await gpu();
      const rng = new Rng(rows + dim);
      const table = randomF32(vocab * dim, rng);
      const ids = Uint32Array.from({ length: rows }, () => Math.floor(rng.nextFloat() * vocab));
      const positions = randomF32(rows * dim, rng); // a second table, added on (GPT-2's wpe)
      const [tTable, tIds, tOut] = [ctx.upload(table, [vocab, dim], 'wte'), ctx.upload(ids, [rows], 'ids'), ctx.tensor([rows, dim], 'f32', 'h')];
      embeddingGather(ctx, { table: tTable, ids: tIds, out: tOut }, { rows, dim, vocab });
      const [gathered] = await readAll(ctx, tOut);
      expect(mismatches(gathered, embeddingGatherRef(table, ids, { rows, dim, vocab }))).toBe(0);
      const tPos = ctx.upload(positions, [rows, dim], 'wpe');
      const identity = Uint32Array.from({ length: rows }, (_, r) => r);
      const tIdentity = ctx.upload(identity, [rows], 'positions');
      embeddingGather(ctx, { table: tPos, ids: tIdentity, out: tOut }, { rows, dim, vocab: rows, accumulate: true });
      const [summed] = await readAll(ctx, tOut);
      expect(mismatches(summed, embeddingGatherRef(positions, identity, { rows, dim, vocab: rows }, gathered))).toBe(0);
      releaseAll(tTable, tIds, tOut, tPos, tIdentity);
    });
  }

  it('writes a zero row for an id outside the table (never reads past it)', async () => {
    const ctx = await gpu();
    const table = ctx.upload(Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2], 'wte');
    const ids = ctx.upload(Uint32Array.from([2, 3, 0xffffffff, 0]), [4], 'ids');
    const out = ctx.tensor([4, 2], 'f32', 'h');
    embeddingGather(ctx, { table, ids, out }, { rows: 4, dim: 2, vocab: 3 });
    expect([...(await ctx.read(out))]).toEqual([5, 6, 0, 0, 0, 0, 1, 2]);
    releaseAll(table, ids, out);
  });

  for (const [n, m, dim] of [[1, 1, 67], [9, 4, 172], [576, 300, 67]] as const) {
    it(`gather_rows and its backward scatter_add_rows, n=${n} m=${m} dim=${dim}, exactly`, async () => {
      const ctx = await gpu();
      const rng = new Rng(n * 7 + m);
      const src = randomF32(n * dim, rng);
      const index = distinctIndices(m, n, rng);
      const dout = randomF32(m * dim, rng);
      const dsrc0 = randomF32(n * dim, rng); // the gradient accumulated so far
      const tSrc = ctx.upload(src, [n, dim], 'hidden');
      const tIndex = ctx.upload(index, [m], 'index');
      const tOut = ctx.tensor([m, dim], 'f32', 'picked');
      const tDout = ctx.upload(dout, [m, dim], 'dpicked');
      const tDsrc = ctx.upload(dsrc0, [n, dim], 'dhidden');
      gatherRows(ctx, { src: tSrc, index: tIndex, out: tOut }, { m, dim });
      scatterAddRows(ctx, { src: tDout, index: tIndex, out: tDsrc }, { m, dim });
      const [picked, dsrc] = await readAll(ctx, tOut, tDsrc);
      expect(mismatches(picked, gatherRowsRef(src, index, { m, dim }))).toBe(0);
      expect(mismatches(dsrc, scatterAddRowsRef(dout, index, dsrc0, { m, dim }))).toBe(0);
      releaseAll(tSrc, tIndex, tOut, tDout, tDsrc);
    });
  }

  it('names the kernel and the problem on bad input', async () => {
    const ctx = await gpu();
    const table = ctx.tensor([10, 4], 'f32', 'wte');
    const floatIds = ctx.tensor([3], 'f32', 'ids');
    const out = ctx.tensor([3, 4], 'f32', 'h');
    expect(() => embeddingGather(ctx, { table, ids: floatIds, out }, { rows: 3, dim: 4, vocab: 10 })).toThrow(
      /kernel "embedding_gather": ids "ids" holds f32 values, needs u32/,
    );
    const ids = ctx.tensor([3], 'u32', 'ids');
    expect(() => embeddingGather(ctx, { table, ids, out }, { rows: 3, dim: 4, vocab: 11 })).toThrow(
      /kernel "embedding_gather": shape mismatch: table "wte" has shape \[10, 4\] \(40 values\) but vocab×dim = 11×4 needs 44/,
    );
    expect(() => gatherRows(ctx, { src: out, index: ids, out: table }, { m: 3, dim: 5 })).toThrow(
      /kernel "gather_rows": shape mismatch: src "h" has 12 values, not a whole number of rows of dim = 5/,
    );
    expect(() => scatterAddRows(ctx, { src: out, index: ids, out: table }, { m: 4, dim: 4 })).toThrow(/kernel "scatter_add_rows": shape mismatch: src "h"/);
    releaseAll(table, floatIds, out, ids);
  });
});

// ---------------------------------------------------------------------------------------------

// Widths of the workgroup variant: 32 (dim 40), 64 (dims 64, 67), 128 (172), 256 (576, 4100).
const NORM_SHAPES: [number, number][] = [
  [1, 64],
  [1, 67],
  [9, 40],
  [5, 172],
  [300, 576],
  [3, 4100],
];

describe('norms', () => {
  it('fit the workgroup to the row', () => {
    expect([1, 31, 40, 64, 67, 172, 576, 4100].map(normGroupWidth)).toEqual([32, 32, 32, 64, 64, 128, 256, 256]);
  });

  for (const [[rows, dim], variant] of NORM_SHAPES.flatMap((s) => NORM_VARIANTS.map((v) => [s, v] as const))) {
    const options = { variant };
    it(`rmsnorm forward and backward (set and accumulate), rows=${rows} dim=${dim}, ${variant} per row`, async () => {
      const ctx = await gpu();
      const rng = new Rng(rows * 31 + dim);
      const eps = 1e-5;
      const [x, w, dy, dx0] = [randomF32(rows * dim, rng, -2, 2), randomF32(dim, rng, 0.5, 1.5), randomF32(rows * dim, rng), randomF32(rows * dim, rng)];
      const ref = rmsnormForwardRef(x, w, { rows, dim, eps });
      const rstd32 = Float32Array.from(ref.rstd);
      const dxRef = rmsnormBackwardRef(dy, x, w, rstd32, { rows, dim });
      const [tx, tw, tdy] = [ctx.upload(x, [rows, dim], 'x'), ctx.upload(w, [dim], 'w'), ctx.upload(dy, [rows, dim], 'dy')];
      const [ty, trstd] = [ctx.tensor([rows, dim], 'f32', 'y'), ctx.tensor([rows], 'f32', 'rstd')];
      const [tSaved, tdx, tdxAcc] = [ctx.upload(rstd32, [rows], 'rstd saved'), ctx.tensor([rows, dim], 'f32', 'dx'), ctx.upload(dx0, [rows, dim], 'dx acc')];
      rmsnormForward(ctx, { x: tx, weight: tw, y: ty, rstd: trstd }, { rows, dim, eps }, options);
      rmsnormBackward(ctx, { dy: tdy, x: tx, weight: tw, rstd: tSaved, dx: tdx }, { rows, dim, accumulate: false }, options);
      rmsnormBackward(ctx, { dy: tdy, x: tx, weight: tw, rstd: tSaved, dx: tdxAcc }, { rows, dim, accumulate: true }, options);
      const [y, rstd, dx, dxAcc] = await readAll(ctx, ty, trstd, tdx, tdxAcc);

      const row = (i: number) => Math.floor(i / dim);
      expect(worstUlps(rstd, ref.rstd, (r) => ref.rstd[r]!)).toBeLessThanOrEqual(NORM_TOL);
      expect(worstUlps(y, ref.y, (i) => Math.abs(ref.y[i]!))).toBeLessThanOrEqual(NORM_TOL);
      const sumAbs = new Float64Array(rows); // Σ|dy·w·x| per row
      for (let i = 0; i < rows * dim; i++) sumAbs[row(i)] += Math.abs(dy[i]! * w[i % dim]! * x[i]!);
      const scale = (i: number) => {
        const r = rstd32[row(i)]!;
        return r * Math.abs(dy[i]! * w[i % dim]!) + (Math.abs(x[i]!) * r ** 3 * sumAbs[row(i)]!) / dim;
      };
      expect(worstUlps(dx, dxRef, scale)).toBeLessThanOrEqual(NORM_TOL);
      const accRef = addRef(dx0, dxRef);
      expect(worstUlps(dxAcc, accRef, (i) => scale(i) + Math.abs(accRef[i]!))).toBeLessThanOrEqual(NORM_TOL);
      releaseAll(tx, tw, tdy, ty, trstd, tSaved, tdx, tdxAcc);
    });

    it(`layernorm forward and backward (set and accumulate), rows=${rows} dim=${dim}, ${variant} per row`, async () => {
      const ctx = await gpu();
      const rng = new Rng(rows * 37 + dim);
      const eps = 1e-5;
      const x = randomF32(rows * dim, rng, -1, 3); // a mean well away from zero
      const [w, b, dy, dx0] = [randomF32(dim, rng, 0.5, 1.5), randomF32(dim, rng), randomF32(rows * dim, rng), randomF32(rows * dim, rng)];
      const ref = layernormForwardRef(x, w, b, { rows, dim, eps });
      const [mean32, rstd32] = [Float32Array.from(ref.mean), Float32Array.from(ref.rstd)];
      const dxRef = layernormBackwardRef(dy, x, w, mean32, rstd32, { rows, dim });
      const [tx, tw, tb, tdy] = [ctx.upload(x, [rows, dim], 'x'), ctx.upload(w, [dim], 'w'), ctx.upload(b, [dim], 'b'), ctx.upload(dy, [rows, dim], 'dy')];
      const [ty, tmean, trstd] = [ctx.tensor([rows, dim], 'f32', 'y'), ctx.tensor([rows], 'f32', 'mean'), ctx.tensor([rows], 'f32', 'rstd')];
      const tMeanSaved = ctx.upload(mean32, [rows], 'mean saved');
      const tRstdSaved = ctx.upload(rstd32, [rows], 'rstd saved');
      const [tdx, tdxAcc] = [ctx.tensor([rows, dim], 'f32', 'dx'), ctx.upload(dx0, [rows, dim], 'dx acc')];
      layernormForward(ctx, { x: tx, weight: tw, bias: tb, y: ty, mean: tmean, rstd: trstd }, { rows, dim, eps }, options);
      const saved = { dy: tdy, x: tx, weight: tw, mean: tMeanSaved, rstd: tRstdSaved };
      layernormBackward(ctx, { ...saved, dx: tdx }, { rows, dim, accumulate: false }, options);
      layernormBackward(ctx, { ...saved, dx: tdxAcc }, { rows, dim, accumulate: true }, options);
      const [y, mean, rstd, dx, dxAcc] = await readAll(ctx, ty, tmean, trstd, tdx, tdxAcc);

      const row = (i: number) => Math.floor(i / dim);
      const meanAbs = new Float64Array(rows); // mean|x| per row
      for (let i = 0; i < rows * dim; i++) meanAbs[row(i)] += Math.abs(x[i]!) / dim;
      expect(worstUlps(mean, ref.mean, (r) => meanAbs[r]!)).toBeLessThanOrEqual(NORM_TOL);
      expect(worstUlps(rstd, ref.rstd, (r) => ref.rstd[r]!)).toBeLessThanOrEqual(NORM_TOL);
      const yScale = (i: number) => Math.abs(w[i % dim]!) * ref.rstd[row(i)]! * (Math.abs(x[i]!) + meanAbs[row(i)]!) + Math.abs(b[i % dim]!);
      expect(worstUlps(y, ref.y, yScale)).toBeLessThanOrEqual(NORM_TOL);
      // dx = r·(g − mean(g) − x̂·mean(g·x̂)): the magnitudes of its terms.
      const meanAbsG = new Float64Array(rows);
      const meanAbsGx = new Float64Array(rows);
      const xhat = (i: number) => (x[i]! - mean32[row(i)]!) * rstd32[row(i)]!;
      for (let i = 0; i < rows * dim; i++) {
        const g = Math.abs(dy[i]! * w[i % dim]!);
        meanAbsG[row(i)] += g / dim;
        meanAbsGx[row(i)] += (g * (Math.abs(xhat(i)) + rstd32[row(i)]! * meanAbs[row(i)]!)) / dim;
      }
      const scale = (i: number) =>
        rstd32[row(i)]! *
        (Math.abs(dy[i]! * w[i % dim]!) + meanAbsG[row(i)]! + (Math.abs(xhat(i)) + rstd32[row(i)]! * meanAbs[row(i)]!) * meanAbsGx[row(i)]!);
      expect(worstUlps(dx, dxRef, scale)).toBeLessThanOrEqual(NORM_TOL);
      const accRef = addRef(dx0, dxRef);
      expect(worstUlps(dxAcc, accRef, (i) => scale(i) + Math.abs(accRef[i]!))).toBeLessThanOrEqual(NORM_TOL);
      releaseAll(tx, tw, tb, tdy, ty, tmean, trstd, tMeanSaved, tRstdSaved, tdx, tdxAcc);
    });

    // The residual add folded into the norm: x holds f32(x + residual) afterwards, exactly, and
    // y and the statistics are bit for bit those of an add kernel followed by the plain norm
    // (which the tests above hold to the f64 reference), as training's bitwise resume needs.
    it(`rmsnorm and layernorm forward with a residual added in place, rows=${rows} dim=${dim}, ${variant} per row`, async () => {
      const ctx = await gpu();
      const rng = new Rng(rows * 41 + dim);
      const eps = 1e-5;
      const [x, res, w, b] = [randomF32(rows * dim, rng, -1, 3), randomF32(rows * dim, rng, -2, 2), randomF32(dim, rng, 0.5, 1.5), randomF32(dim, rng)];
      const sum = Float32Array.from(x, (v, i) => v + res[i]!);
      const [tw, tb, tRes, tSum] = [ctx.upload(w, [dim], 'w'), ctx.upload(b, [dim], 'b'), ctx.upload(res, [rows, dim], 'residual'), ctx.upload(sum, [rows, dim], 'x + residual')];
      const fusedIn = [ctx.upload(x, [rows, dim], 'x (rms)'), ctx.upload(x, [rows, dim], 'x (layer)')];
      const outs = () => ({ y: ctx.tensor([rows, dim], 'f32', 'y'), mean: ctx.tensor([rows], 'f32', 'mean'), rstd: ctx.tensor([rows], 'f32', 'rstd') });
      const [fusedRms, plainRms, fusedLayer, plainLayer] = [outs(), outs(), outs(), outs()];
      rmsnormForward(ctx, { x: fusedIn[0]!, residual: tRes, weight: tw, y: fusedRms.y, rstd: fusedRms.rstd }, { rows, dim, eps }, options);
      rmsnormForward(ctx, { x: tSum, weight: tw, y: plainRms.y, rstd: plainRms.rstd }, { rows, dim, eps }, options);
      layernormForward(ctx, { x: fusedIn[1]!, residual: tRes, weight: tw, bias: tb, ...fusedLayer }, { rows, dim, eps }, options);
      layernormForward(ctx, { x: tSum, weight: tw, bias: tb, ...plainLayer }, { rows, dim, eps }, options);
      const [sumRms, sumLayer, resAfter] = await readAll(ctx, fusedIn[0]!, fusedIn[1]!, tRes);
      expect(mismatches(sumRms, sum)).toBe(0);
      expect(mismatches(sumLayer, sum)).toBe(0);
      expect(mismatches(resAfter, res)).toBe(0);
      const [yRms, rstdRms, yRms0, rstdRms0] = await readAll(ctx, fusedRms.y, fusedRms.rstd, plainRms.y, plainRms.rstd);
      expect(mismatches(yRms, yRms0)).toBe(0);
      expect(mismatches(rstdRms, rstdRms0)).toBe(0);
      const [yLayer, meanLayer, rstdLayer, yLayer0, meanLayer0, rstdLayer0] = await readAll(ctx, fusedLayer.y, fusedLayer.mean, fusedLayer.rstd, plainLayer.y, plainLayer.mean, plainLayer.rstd);
      expect(mismatches(yLayer, yLayer0)).toBe(0);
      expect(mismatches(meanLayer, meanLayer0)).toBe(0);
      expect(mismatches(rstdLayer, rstdLayer0)).toBe(0);
      const ref = rmsnormForwardRef(sum, w, { rows, dim, eps });
      expect(worstUlps(yRms, ref.y, (i) => Math.abs(ref.y[i]!))).toBeLessThanOrEqual(NORM_TOL);
      releaseAll(tw, tb, tRes, tSum, ...fusedIn, ...[fusedRms, plainRms, fusedLayer, plainLayer].flatMap((o) => [o.y, o.mean, o.rstd]));
    });
  }

  it.each(NORM_VARIANTS)('is bitwise reproducible run to run, %s per row', async (variant) => {
    const ctx = await gpu();
    const options = { variant };
    const [rows, dim] = [20, 1000];
    const rng = new Rng(99);
    const [tx, tw, tb, tdy] = [
      ctx.upload(randomF32(rows * dim, rng), [rows, dim], 'x'),
      ctx.upload(randomF32(dim, rng), [dim], 'w'),
      ctx.upload(randomF32(dim, rng), [dim], 'b'),
      ctx.upload(randomF32(rows * dim, rng), [rows, dim], 'dy'),
    ];
    const runOnce = async (): Promise<Float32Array[]> => {
      const [y1, r1, y2, m2, r2, dx1, dx2] = [
        ctx.tensor([rows, dim], 'f32', 'y'),
        ctx.tensor([rows], 'f32', 'rstd'),
        ctx.tensor([rows, dim], 'f32', 'y'),
        ctx.tensor([rows], 'f32', 'mean'),
        ctx.tensor([rows], 'f32', 'rstd'),
        ctx.tensor([rows, dim], 'f32', 'dx'),
        ctx.tensor([rows, dim], 'f32', 'dx'),
      ];
      rmsnormForward(ctx, { x: tx, weight: tw, y: y1, rstd: r1 }, { rows, dim, eps: 1e-6 }, options);
      rmsnormBackward(ctx, { dy: tdy, x: tx, weight: tw, rstd: r1, dx: dx1 }, { rows, dim, accumulate: false }, options);
      layernormForward(ctx, { x: tx, weight: tw, bias: tb, y: y2, mean: m2, rstd: r2 }, { rows, dim, eps: 1e-5 }, options);
      layernormBackward(ctx, { dy: tdy, x: tx, weight: tw, mean: m2, rstd: r2, dx: dx2 }, { rows, dim, accumulate: false }, options);
      const out = await readAll(ctx, y1, r1, dx1, y2, m2, r2, dx2);
      releaseAll(y1, r1, y2, m2, r2, dx1, dx2);
      return out;
    };
    const [first, second] = [await runOnce(), await runOnce()];
    second.forEach((run, k) => expect(mismatches(run, first[k]!)).toBe(0));
    releaseAll(tx, tw, tb, tdy);
  });

  // A workgroup per row runs out of workgroups past 65535 rows; a thread per row, 64 a workgroup,
  // past 64·65535.
  it.each(NORM_VARIANTS)('loops over rows beyond the dispatch limit, %s per row', async (variant) => {
    const ctx = await gpu();
    const rowsPerGroup = variant === 'thread' ? 64 : 1;
    const rows = ctx.limits.maxComputeWorkgroupsPerDimension * rowsPerGroup + 3;
    const dim = variant === 'thread' ? 1 : 3;
    const rng = new Rng(5);
    const [x, w] = [randomF32(rows * dim, rng), randomF32(dim, rng, 0.5, 1.5)];
    const [tx, tw] = [ctx.upload(x, [rows, dim], 'x'), ctx.upload(w, [dim], 'w')];
    const [ty, trstd] = [ctx.tensor([rows, dim], 'f32', 'y'), ctx.tensor([rows], 'f32', 'rstd')];
    rmsnormForward(ctx, { x: tx, weight: tw, y: ty, rstd: trstd }, { rows, dim, eps: 1e-5 }, { variant });
    const ref = rmsnormForwardRef(x, w, { rows, dim, eps: 1e-5 });
    expect(worstUlps(await ctx.read(ty), ref.y, (i) => Math.abs(ref.y[i]!))).toBeLessThanOrEqual(NORM_TOL);
    releaseAll(tx, tw, ty, trstd);
  });

  it('names the kernel and the problem on bad input', async () => {
    const ctx = await gpu();
    const [x, y] = [ctx.tensor([2, 8], 'f32', 'x'), ctx.tensor([2, 8], 'f32', 'y')];
    const [w, r] = [ctx.tensor([7], 'f32', 'w'), ctx.tensor([2], 'f32', 'rstd')];
    expect(() => rmsnormForward(ctx, { x, weight: w, y, rstd: r }, { rows: 2, dim: 8, eps: 1e-5 })).toThrow(
      /kernel "rmsnorm_forward": shape mismatch: weight "w" has shape \[7\] \(7 values\) but dim = 8 needs 8/,
    );
    expect(() => layernormBackward(ctx, { dy: y, x, weight: w, mean: r, rstd: r, dx: y }, { rows: 2, dim: 0, accumulate: false })).toThrow(
      /kernel "layernorm_backward": dim=0: a norm needs at least one feature/,
    );
    expect(() => rmsnormForward(ctx, { x, weight: w, y, rstd: r }, { rows: 2, dim: 7, eps: -1 })).toThrow(/kernel "rmsnorm_forward": eps=-1/);
    const w8 = ctx.tensor([8], 'f32', 'w8');
    expect(() => rmsnormForward(ctx, { x, weight: w8, y, rstd: r }, { rows: 2, dim: 8, eps: 1e-5 }, { variant: 'warp' as never })).toThrow(
      /kernel "rmsnorm_forward": variant "warp" is not one of workgroup, thread/,
    );
    const short = ctx.tensor([2, 7], 'f32', 'short');
    expect(() => rmsnormForward(ctx, { x, residual: short, weight: w8, y, rstd: r }, { rows: 2, dim: 8, eps: 1e-5 })).toThrow(
      /kernel "rmsnorm_forward": shape mismatch: residual "short" has shape \[2, 7\] \(14 values\) but rows×dim = 2×8 needs 16/,
    );
    expect(() => rmsnormForward(ctx, { x, residual: x, weight: w8, y, rstd: r }, { rows: 2, dim: 8, eps: 1e-5 })).toThrow(
      /kernel "rmsnorm_forward": residual "x" shares a buffer with x "x": the sum is written into x/,
    );
    releaseAll(w8, short, x, w, y, r);
  });
});

// ---------------------------------------------------------------------------------------------

describe('rope', () => {
  const theta = 10000;
  const shapes: [number, number, number][] = [
    [1, 1, 2],
    [7, 3, 18],
    [300, 9, 64],
    [5, 2, 128],
  ];
  for (const style of ['interleaved', 'half'] as const) {
    for (const [rows, heads, headDim] of shapes) {
      // Keys with fewer heads than the queries (grouped-query attention), rotated in the same dispatch.
      const kvHeads = Math.ceil(heads / 3);
      it(`${style}: forward of q and k, and inverse after it is the identity, rows=${rows} heads=${heads}/${kvHeads} headDim=${headDim}`, async () => {
        const ctx = await gpu();
        const maxPositions = 2048;
        const rng = new Rng(rows * heads + headDim);
        const table = ropeTable(maxPositions, headDim, theta);
        const xq = randomF32(rows * heads * headDim, rng, -3, 3);
        const xk = randomF32(rows * kvHeads * headDim, rng, -3, 3);
        // Positions in no particular order, including the first and the last of the table.
        const positions = Uint32Array.from({ length: rows }, (_, r) =>
          r === 0 ? maxPositions - 1 : r === 1 ? 0 : Math.floor(rng.nextFloat() * maxPositions),
        );
        const tq = ctx.upload(xq, [rows, heads, headDim], 'q');
        const tk = ctx.upload(xk, [rows, kvHeads, headDim], 'k');
        const tPos = ctx.upload(positions, [rows], 'positions');
        const tTable = ctx.upload(table, [maxPositions, headDim / 2, 2], 'rope');
        const dims = { rows, qHeads: heads, kHeads: kvHeads, headDim, style };
        ropeApply(ctx, { q: tq, k: tk, positions: tPos, table: tTable }, { ...dims, inverse: false });
        const rotated = [await ctx.read(tq), await ctx.read(tk)];
        ropeApply(ctx, { q: tq, k: tk, positions: tPos, table: tTable }, { ...dims, inverse: true });
        const restored = [await ctx.read(tq), await ctx.read(tk)];

        // The partner of element k in its pair, for the error scale |x_a| + |x_b|.
        const half = headDim / 2;
        const partner = (k: number) => {
          const j = k % headDim;
          if (style === 'half') return k + (j < half ? half : -half);
          return k + (j % 2 === 0 ? 1 : -1);
        };
        [xq, xk].forEach((x, t) => {
          const refDims = { rows, heads: t === 0 ? heads : kvHeads, headDim, style };
          const ref = ropeApplyRef(x, positions, table, { ...refDims, inverse: false });
          expect(worstUlps(rotated[t]!, ref, (k) => 4 * (Math.abs(x[k]!) + Math.abs(x[partner(k)]!)))).toBeLessThanOrEqual(1);
          const back = ropeApplyRef(rotated[t]!, positions, table, { ...refDims, inverse: true });
          expect(worstUlps(restored[t]!, back, (k) => 4 * (Math.abs(rotated[t]![k]!) + Math.abs(rotated[t]![partner(k)]!)))).toBeLessThanOrEqual(1);
          // Apply-then-inverse: x·(cos² + sin²) with rounded cos, sin and two f32 rotations.
          expect(worstUlps(restored[t]!, x, (k) => 16 * (Math.abs(x[k]!) + Math.abs(x[partner(k)]!)))).toBeLessThanOrEqual(1);
        });
        releaseAll(tq, tk, tPos, tTable);
      });
    }
  }

  it('zeroes the pairs of a position past the table (queries alone: no key heads)', async () => {
    const ctx = await gpu();
    const table = ctx.upload(ropeTable(4, 2, theta), [4, 1, 2], 'rope');
    const q = ctx.upload(Float32Array.from([1, 0, 1, 0]), [2, 1, 2], 'q');
    const positions = ctx.upload(Uint32Array.from([4, 0]), [2], 'positions');
    ropeApply(ctx, { q, positions, table }, { rows: 2, qHeads: 1, kHeads: 0, headDim: 2, style: 'interleaved', inverse: false });
    expect([...(await ctx.read(q))]).toEqual([0, 0, 1, 0]);
    releaseAll(table, q, positions);
  });

  it('names the kernel and the problem on bad input', async () => {
    const ctx = await gpu();
    const q = ctx.tensor([2, 1, 6], 'f32', 'q');
    const k = ctx.tensor([2, 1, 6], 'f32', 'k');
    const positions = ctx.tensor([2], 'u32', 'positions');
    const table = ctx.tensor([10, 3, 2], 'f32', 'rope');
    const dims = { rows: 2, qHeads: 1, kHeads: 1, headDim: 6, style: 'half', inverse: false } as const;
    expect(() => ropeApply(ctx, { q, k, positions, table }, { ...dims, headDim: 5 })).toThrow(/kernel "rope_apply": headDim=5 must be positive and even/);
    expect(() => ropeApply(ctx, { q, k, positions, table }, { ...dims, qHeads: 2 })).toThrow(
      /kernel "rope_apply": shape mismatch: q "q" has shape \[2, 1, 6\] \(12 values\) but rows×qHeads×headDim = 2×2×6 needs 24/,
    );
    expect(() => ropeApply(ctx, { q, k, positions, table }, { ...dims, kHeads: 3 })).toThrow(
      /kernel "rope_apply": shape mismatch: k "k" has shape \[2, 1, 6\] \(12 values\) but rows×kHeads×headDim = 2×3×6 needs 36/,
    );
    expect(() => ropeApply(ctx, { q, positions, table }, dims)).toThrow(/kernel "rope_apply": kHeads=1 needs k/);
    expect(() => ropeApply(ctx, { q, k, positions: q, table }, dims)).toThrow(/kernel "rope_apply": positions "q" holds f32 values, needs u32/);
    expect(() => ropeApply(ctx, { q, k, positions, table }, { ...dims, headDim: 8, rows: 1 })).toThrow(
      /kernel "rope_apply": shape mismatch: table "rope" has 60 values, not maxPositions×headDim\/2×2 for headDim = 8/,
    );
    releaseAll(q, k, positions, table);
  });
});

// ---------------------------------------------------------------------------------------------

/** Awkward inputs: random over [−12, 12] plus edge values (signed zero, tiny, clamp boundaries, huge). */
function activationInputs(n: number, rng: Rng): Float32Array {
  const edges = [0, -0, 1e-7, -1e-7, 10, -10, 20, -20, 25, -25, 90, -90, 1e4, -1e4, 1e30, -1e30];
  const x = randomF32(n, rng, -12, 12);
  edges.forEach((v, k) => {
    if (k < n) x[(k * 7919) % n] = v;
  });
  return x;
}

/** The exp argument of σ in the GELU kernel: 2·√(2/π)·(x + 0.044715x³), x clamped to ±20 as there. */
function geluZ(x: number): number {
  const xc = Math.min(Math.max(x, -20), 20);
  return 2 * Math.sqrt(2 / Math.PI) * (xc + 0.044715 * xc ** 3);
}

/** SwiGLU/GELU tolerance weight (see the header), z the argument of exp. */
const expWeight = (z: number) => 32 + 4 * Math.min(Math.abs(z), 88);
const F64_FLOOR = 2 ** -52;

describe('activations', () => {
  for (const n of [1, 67, 172, 576 * 300]) {
    it(`swiglu forward and backward, n=${n}`, async () => {
      const ctx = await gpu();
      const rng = new Rng(n);
      const [gate, up, dout] = [activationInputs(n, rng), randomF32(n, rng), randomF32(n, rng)];
      const [tg, tu, tdo] = [ctx.upload(gate, [n], 'gate'), ctx.upload(up, [n], 'up'), ctx.upload(dout, [n], 'dout')];
      const [tout, tdg, tdu] = [ctx.tensor([n], 'f32', 'out'), ctx.tensor([n], 'f32', 'dgate'), ctx.tensor([n], 'f32', 'dup')];
      swigluForward(ctx, { gate: tg, up: tu, out: tout }, { n });
      swigluBackward(ctx, { dout: tdo, gate: tg, up: tu, dgate: tdg, dup: tdu }, { n });
      const [out, dgate, dup] = await readAll(ctx, tout, tdg, tdu);
      const outRef = swigluForwardRef(gate, up);
      const back = swigluBackwardRef(dout, gate, up);
      const sig = (g: number) => 1 / (1 + Math.exp(-g));
      const w = (i: number) => expWeight(gate[i]!);
      const floor = (i: number) => F64_FLOOR * Math.abs(gate[i]! * up[i]!);
      const floorD = (i: number) => F64_FLOOR * Math.abs(dout[i]!) * (1 + Math.abs(gate[i]!)) * (1 + Math.abs(up[i]!));
      expect(worstUlps(out, outRef, (i) => w(i) * Math.abs(outRef[i]!), floor)).toBeLessThanOrEqual(1);
      expect(worstUlps(dup, back.dup, (i) => w(i) * Math.abs(back.dup[i]!), floorD)).toBeLessThanOrEqual(1);
      // dgate = dout·up·σ·(1 + g·(1 − σ)) cancels near g ≈ −1.28: scale by 1 + |g·(1 − σ)|.
      const dgScale = (i: number) => {
        const g = gate[i]!;
        return w(i) * Math.abs(dout[i]! * up[i]! * sig(g)) * (1 + Math.abs(g * (1 - sig(g))));
      };
      expect(worstUlps(dgate, back.dgate, dgScale, floorD)).toBeLessThanOrEqual(1);
      releaseAll(tg, tu, tdo, tout, tdg, tdu);
    });

    it(`gelu forward and backward, n=${n}`, async () => {
      const ctx = await gpu();
      const rng = new Rng(n + 1);
      const [x, dout] = [activationInputs(n, rng), randomF32(n, rng)];
      const [tx, tdo, tout, tdx] = [ctx.upload(x, [n], 'x'), ctx.upload(dout, [n], 'dout'), ctx.tensor([n], 'f32', 'out'), ctx.tensor([n], 'f32', 'dx')];
      geluForward(ctx, { x: tx, out: tout }, { n });
      geluBackward(ctx, { dout: tdo, x: tx, dx: tdx }, { n });
      const [out, dx] = await readAll(ctx, tout, tdx);
      const outRef = geluForwardRef(x);
      const dxRef = geluBackwardRef(dout, x);
      const w = (i: number) => expWeight(geluZ(x[i]!));
      // u' at x clamped to ±20: past it the reference's 1 − tanh² is exactly 0 in f64.
      const du = (v: number) => 2 * Math.sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * Math.min(v * v, 400));
      expect(worstUlps(out, outRef, (i) => w(i) * Math.abs(outRef[i]!), (i) => F64_FLOOR * Math.abs(x[i]!))).toBeLessThanOrEqual(1);
      // dx = dout·(σ + x·σ·(1 − σ)·2u'): the magnitudes of its two terms.
      const dxScale = (i: number) => {
        const v = x[i]!;
        const s = 1 / (1 + Math.exp(-geluZ(v)));
        return w(i) * Math.abs(dout[i]!) * (s + Math.abs(v) * s * (1 - s) * du(v));
      };
      const dxFloor = (i: number) => F64_FLOOR * Math.abs(dout[i]!) * (1 + Math.min(Math.abs(x[i]!), 20) * du(x[i]!));
      expect(worstUlps(dx, dxRef, dxScale, dxFloor)).toBeLessThanOrEqual(1);
      releaseAll(tx, tdo, tout, tdx);
    });

    it(`add_into, exactly, n=${n}`, async () => {
      const ctx = await gpu();
      const rng = new Rng(n + 2);
      const [a, b] = [randomF32(n, rng), randomF32(n, rng)];
      const [ta, tb] = [ctx.upload(a, [n], 'a'), ctx.upload(b, [n], 'b')];
      addInto(ctx, { acc: ta, x: tb }, { n });
      expect(mismatches(await ctx.read(ta), addRef(a, b))).toBe(0);
      releaseAll(ta, tb);
    });
  }

  it('covers more elements than one dispatch has threads (grid-stride)', async () => {
    const ctx = await gpu();
    const n = ctx.limits.maxComputeWorkgroupsPerDimension * 256 + 1000;
    const x = Float32Array.from({ length: n }, (_, i) => i % 1024);
    const [tAcc, tx] = [ctx.zeros([n], 'f32', 'acc'), ctx.upload(x, [n], 'x')];
    addInto(ctx, { acc: tAcc, x: tx }, { n });
    addInto(ctx, { acc: tAcc, x: tx }, { n });
    expect(mismatches(await ctx.read(tAcc), x.map((v) => 2 * v))).toBe(0);
    releaseAll(tAcc, tx);
  });

  it('names the kernel and the problem on bad input', async () => {
    const ctx = await gpu();
    const [a, b, out] = [ctx.tensor([10], 'f32', 'gate'), ctx.tensor([9], 'f32', 'up'), ctx.tensor([10], 'f32', 'out')];
    expect(() => swigluForward(ctx, { gate: a, up: b, out }, { n: 10 })).toThrow(
      /kernel "swiglu_forward": shape mismatch: up "up" has shape \[9\] \(9 values\) but n = 10 needs 10/,
    );
    expect(() => geluForward(ctx, { x: a, out }, { n: 2.5 })).toThrow(/kernel "gelu_forward": n=2.5 must be a non-negative integer/);
    expect(() => addInto(ctx, { acc: a, x: a }, { n: 10 })).toThrow(/kernel "add_into": binding "acc" is written but aliases "actIn"/);
    releaseAll(a, b, out);
  });
});
