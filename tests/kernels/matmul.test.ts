// shaders/matmul.wgsl against src/ref/matmul.ts on awkward shapes, for every rung of the
// ladder and every transpose combination the linear layer uses.
//
// Tolerance: per element, γ_(K+2)·Σ_k|a·b| + 4u·|c| with u = 2⁻²⁴ (matmulTolerance) — the
// textbook bound on f32 summation error in any order, relative to the magnitude of the
// products rather than of the (possibly cancelled) result.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import type { Tensor } from '../../src/gpu/tensor';
import { defaultRung, linearBackwardInput, linearBackwardWeight, linearForward, matmul, matmulRung, MATMUL_VARIANTS, vec4Readable, type MatmulArgs, type MatmulVariant } from '../../src/ops/matmul';
import { matmulRef, matmulTolerance } from '../../src/ref/matmul';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';

function randomF32(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(-1, 1);
  return out;
}

/** Max over elements of |gpu − ref| / tolerance; ≤ 1 passes. */
function worstRatio(got: Float32Array, ref: { c: Float64Array; absDot: Float64Array }, K: number): number {
  expect(got.length).toBe(ref.c.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i]! - ref.c[i]!);
    worst = Math.max(worst, err / matmulTolerance(K, ref.absDot[i]!, ref.c[i]!));
    if (!Number.isFinite(got[i]!)) return Infinity;
  }
  return worst;
}

const SHAPES: [string, number, number, number][] = [
  ['1×1×1', 1, 1, 1],
  ['primes 67×131×37', 67, 131, 37],
  ['tall-skinny 2048×8 (K=8)', 2048, 8, 8],
  ['wide-skinny 8×2048 (K=2048)', 8, 2048, 2048],
  ['k=1 outer product 65×63', 65, 63, 1],
  ['512³', 512, 512, 512],
  ['ragged 128-tiles 129×257×135', 129, 257, 135],
  ['multiples of 4, ragged tiles 132×68×36 (vec4-readable)', 132, 68, 36],
];

describe.each<MatmulVariant>(MATMUL_VARIANTS)('matmul_%s', (variant) => {
  for (const [label, M, N, K] of SHAPES) {
    for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      if (label === '512³' && (transA || transB) && variant === 'naive') continue; // slow rung, one layout suffices
      it(`${label} transA=${transA} transB=${transB}`, async () => {
        const ctx = await gpu();
        const a = randomF32(M * K, M * 7 + K);
        const b = randomF32(K * N, N * 13 + K);
        const ta = ctx.upload(a, transA ? [K, M] : [M, K], 'A');
        const tb = ctx.upload(b, transB ? [N, K] : [K, N], 'B');
        const tc = ctx.tensor([M, N], 'f32', 'C');
        matmul(ctx, { a: ta, b: tb, c: tc, M, N, K, transA, transB, variant });
        const got = await ctx.read(tc);
        const ref = matmulRef({ a, b, M, N, K, transA, transB });
        expect(worstRatio(got, ref, K)).toBeLessThanOrEqual(1);
        for (const t of [ta, tb, tc]) t.release();
      });
    }
  }

  it('batched with a broadcast operand, alpha, bias and accumulate', async () => {
    const ctx = await gpu();
    const [batch, M, N, K] = [3, 19, 70, 33];
    const a = randomF32(batch * M * K, 1);
    const w = randomF32(N * K, 2); // shared over the batch: stride 0
    const bias = randomF32(N, 3);
    const c0 = randomF32(batch * M * N, 4);
    const ta = ctx.upload(a, [batch, M, K], 'A');
    const tw = ctx.upload(w, [N, K], 'W');
    const tbias = ctx.upload(bias, [N], 'bias');
    const tc = ctx.upload(c0, [batch, M, N], 'C');
    matmul(ctx, { a: ta, b: tw, c: tc, M, N, K, transB: true, batch, batchStrideB: 0, alpha: -0.5, bias: tbias, accumulate: true, variant });
    const got = await ctx.read(tc);
    const ref = matmulRef({ a, b: w, M, N, K, transB: true, batch, batchStrideB: 0, alpha: -0.5, bias, c: c0 });
    expect(worstRatio(got, ref, K)).toBeLessThanOrEqual(1);
  });

  it('scales the product by column before bias and accumulate, on awkward shapes', async () => {
    const ctx = await gpu();
    for (const [M, N, K, transA, transB] of [[37, 5, 131, false, true], [16, 67, 9, true, false], [1, 130, 64, false, false]] as const) {
      const a = randomF32(M * K, 21);
      const b = randomF32(K * N, 22);
      // Signed scales of mixed magnitude, as D2-LoRA's σ = (s, …, −sτ, …).
      const scale = Float32Array.from({ length: N }, (_, n) => (n % 2 === 0 ? 2 : -0.25) * (1 + n / N));
      const bias = randomF32(N, 23);
      const c0 = randomF32(M * N, 24);
      const ta = ctx.upload(a, transA ? [K, M] : [M, K], 'A');
      const tb = ctx.upload(b, transB ? [N, K] : [K, N], 'B');
      const ts = ctx.upload(scale, [N], 'scale');
      const tbias = ctx.upload(bias, [N], 'bias');
      const tc = ctx.upload(c0, [M, N], 'C');
      matmul(ctx, { a: ta, b: tb, c: tc, M, N, K, transA, transB, alpha: 0.5, scale: ts, bias: tbias, accumulate: true, variant });
      const ref = matmulRef({ a, b, M, N, K, transA, transB, alpha: 0.5, scale, bias, c: c0 });
      expect(ref.c[1]).not.toBeCloseTo(matmulRef({ a, b, M, N, K, transA, transB, alpha: 0.5, bias, c: c0 }).c[1]!, 3);
      expect(worstRatio(await ctx.read(tc), ref, K)).toBeLessThanOrEqual(1);
      for (const t of [ta, tb, ts, tbias, tc]) t.release();
    }
  });
});

describe.each<MatmulVariant>(MATMUL_VARIANTS)('matmul_%s with a second product (plus)', (variant) => {
  // An adapter's shapes (rank 8 or 16 beside a frozen product) and awkward ones: K2 = 1, ragged tiles.
  const CASES: [string, number, number, number, number][] = [
    ['adapter forward 67×131×37 + K2=8', 67, 131, 37, 8],
    ['ragged 129×257×135 + K2=16', 129, 257, 135, 16],
    ['K2=1 outer product 65×63×5', 65, 63, 5, 1],
    ['K=1, K2=33 13×70', 13, 70, 1, 33],
    ['vec4-readable 68×132×36 + K2=8', 68, 132, 36, 8],
  ];
  for (const [label, M, N, K, K2] of CASES) {
    for (const [transB, transB2] of [[false, false], [true, true], [false, true], [true, false]] as const) {
      it(`${label} transB=${transB} transB2=${transB2}, with scale, bias and accumulate`, async () => {
        const ctx = await gpu();
        const a = randomF32(M * K, M + K);
        const b = randomF32(K * N, N + K);
        const a2 = randomF32(M * K2, 31 + K2);
        const b2 = randomF32(K2 * N, 37 + K2);
        const scale = Float32Array.from({ length: N }, (_, n) => (n % 3 === 0 ? -1.5 : 0.75));
        const bias = randomF32(N, 41);
        const c0 = randomF32(M * N, 43);
        const t = {
          a: ctx.upload(a, [M, K], 'A'),
          b: ctx.upload(b, transB ? [N, K] : [K, N], 'B'),
          a2: ctx.upload(a2, [M, K2], 'A2'),
          b2: ctx.upload(b2, transB2 ? [N, K2] : [K2, N], 'B2'),
          scale: ctx.upload(scale, [N], 'scale'),
          bias: ctx.upload(bias, [N], 'bias'),
          c: ctx.upload(c0, [M, N], 'C'),
        };
        const plus = { a: t.a2, b: t.b2, K: K2, transB: transB2 };
        matmul(ctx, { a: t.a, b: t.b, c: t.c, M, N, K, transB, alpha: 0.5, scale: t.scale, bias: t.bias, accumulate: true, plus, variant });
        const ref = matmulRef({ a, b, M, N, K, transB, alpha: 0.5, scale, bias, c: c0, plus: { a: a2, b: b2, K: K2, transB: transB2 } });
        const without = matmulRef({ a, b, M, N, K, transB, alpha: 0.5, scale, bias, c: c0 });
        let moved = 0;
        for (let i = 0; i < M * N; i++) moved = Math.max(moved, Math.abs(ref.c[i]! - without.c[i]!));
        expect(moved).toBeGreaterThan(0.1); // the second product counts
        expect(worstRatio(await ctx.read(t.c), ref, K + K2)).toBeLessThanOrEqual(1);
        for (const x of Object.values(t)) x.release();
      });
    }
  }

  it('rejects a batched product and a short second operand, naming the kernel', async () => {
    const ctx = await gpu();
    const a = ctx.tensor([4, 8], 'f32', 'A');
    const b = ctx.tensor([8, 6], 'f32', 'B');
    const c = ctx.tensor([2, 4, 6], 'f32', 'C');
    const a2 = ctx.tensor([4, 3], 'f32', 'A2');
    const short = ctx.tensor([5], 'f32', 'B2');
    expect(() => matmul(ctx, { a, b, c, M: 4, N: 6, K: 8, batch: 2, batchStrideB: 0, batchStrideA: 0, plus: { a: a2, b: short, K: 3 }, variant })).toThrow(
      /matmul_\w+_nn.*second product \(plus\) needs batch 1, got 2/,
    );
    expect(() => matmul(ctx, { a, b, c, M: 4, N: 6, K: 8, plus: { a: a2, b: short, K: 3 }, variant })).toThrow(/matmul_\w+_nn.*B2.*K2×N = 3×6/);
    for (const x of [a, b, c, a2, short]) x.release();
  });
});

// matmul_tiled_vec4 runs each output's fma chain in matmul_tiled's order at the same register
// block: 'tiledv' and 'tiled8v' are held to 'tiled' and 'tiled8' bit for bit (and, through them,
// to the reference) on every layout, with every epilogue, where their operands are
// vec4-readable; elsewhere each is its twin itself.
/** The bytes of C after one product into a fresh C of `shape` (a copy of `c0` when given), and the rung that ran. */
async function productBytes(ctx: GpuContext, args: Omit<MatmulArgs, 'c'>, shape: number[], c0?: Tensor): Promise<{ bytes: Buffer; rung: MatmulVariant }> {
  const c = ctx.tensor(shape, 'f32', `C ${args.variant}`);
  if (c0) ctx.copy(c0, c, c.byteLength);
  const rung = matmulRung(ctx, { ...args, c });
  matmul(ctx, { ...args, c });
  const bytes = Buffer.from((await ctx.read(c)).buffer);
  c.release();
  return { bytes, rung };
}

const TWINS: [MatmulVariant, MatmulVariant][] = [
  ['tiledv', 'tiled'],
  ['tiled8v', 'tiled8'],
];

describe.each(TWINS)('matmul_%s beside matmul_%s', (vectorised, scalar) => {
  const readable: [string, number, number, number][] = [
    ['one vec4 each way 4×4×4', 4, 4, 4],
    ['ragged tiles 68×132×36', 68, 132, 36],
    ['deeper than a slice, not a multiple of it 20×28×52', 20, 28, 52],
    ['more than one tile each way 136×264×20', 136, 264, 20],
  ];
  for (const [label, M, N, K] of readable) {
    for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      it(`${label} transA=${transA} transB=${transB}, batched over a broadcast B, with every epilogue`, async () => {
        const ctx = await gpu();
        const batch = 2;
        const t = {
          a: ctx.upload(randomF32(batch * M * K, M + 3 * K), transA ? [batch, K, M] : [batch, M, K], 'A'),
          b: ctx.upload(randomF32(K * N, N + 5 * K), transB ? [N, K] : [K, N], 'B'),
          bias: ctx.upload(randomF32(N, 7), [N], 'bias'),
          scale: ctx.upload(randomF32(N, 11), [N], 'scale'),
          c0: ctx.upload(randomF32(batch * M * N, 13), [batch, M, N], 'C0'),
        };
        const args = { a: t.a, b: t.b, M, N, K, transA, transB, batch, batchStrideB: 0, alpha: -0.75, bias: t.bias, scale: t.scale, accumulate: true };
        const [vec, twin] = [await productBytes(ctx, { ...args, variant: vectorised }, [batch, M, N], t.c0), await productBytes(ctx, { ...args, variant: scalar }, [batch, M, N], t.c0)];
        expect([vec.rung, twin.rung]).toEqual([vectorised, scalar]);
        expect(vec.bytes.equals(twin.bytes)).toBe(true);
        for (const x of Object.values(t)) x.release();
      });
    }
  }

  it('with a second product: bit for bit its twin', async () => {
    const ctx = await gpu();
    const [M, N, K, K2] = [36, 140, 44, 8];
    const t = {
      a: ctx.upload(randomF32(M * K, 1), [M, K], 'A'),
      b: ctx.upload(randomF32(N * K, 2), [N, K], 'B'),
      a2: ctx.upload(randomF32(M * K2, 3), [M, K2], 'A2'),
      b2: ctx.upload(randomF32(K2 * N, 4), [K2, N], 'B2'),
    };
    const args = { a: t.a, b: t.b, M, N, K, transB: true, plus: { a: t.a2, b: t.b2, K: K2 } };
    const [vec, twin] = [await productBytes(ctx, { ...args, variant: vectorised }, [M, N]), await productBytes(ctx, { ...args, variant: scalar }, [M, N])];
    expect([vec.rung, twin.rung]).toEqual([vectorised, scalar]);
    expect(vec.bytes.equals(twin.bytes)).toBe(true);
    for (const x of Object.values(t)) x.release();
  });

  it('runs its twin where an operand is not vec4-readable', async () => {
    const ctx = await gpu();
    const a = ctx.tensor([6, 8], 'f32', 'A');
    const b = ctx.tensor([8, 6], 'f32', 'B');
    const bt = ctx.tensor([6, 8], 'f32', 'Bᵀ');
    const c = ctx.tensor([6, 6], 'f32', 'C');
    const base = { a, b, c, M: 6, N: 6, K: 8, variant: vectorised };
    expect(vec4Readable(base)).toBe(false); // B's rows (N = 6) are not whole vec4s
    expect(matmulRung(ctx, base)).toBe(scalar);
    expect(matmulRung(ctx, { ...base, transB: true, b: bt })).toBe(vectorised);
    expect(matmulRung(ctx, { ...base, M: 8, K: 6, transA: true, transB: true })).toBe(scalar); // Aᵀ: M = 8, but Bᵀ: K = 6
    expect(matmulRung(ctx, { ...base, transB: true, b: bt, batch: 2, batchStrideA: 50 })).toBe(scalar); // a stride off the vec4 grid
    expect(matmulRung(ctx, { ...base, transB: true, b: bt, K: 0 })).toBe(scalar); // empty operands: no vec4 to bind
    for (const x of [a, b, bt, c]) x.release();
  });
});

it('picks the register-blocked rung on CPU drivers, the vectorised ones on GPUs by the product\'s size', async () => {
  const ctx = await gpu();
  const onGpu = { adapter: { ...ctx.adapter, isCpu: false } } as GpuContext;
  const onCpu = { adapter: { ...ctx.adapter, isCpu: true } } as GpuContext;
  expect(defaultRung(onCpu, { M: 2048, N: 2048 })).toBe('regblock');
  expect(defaultRung(onGpu, { M: 2048, N: 576 })).toBe('tiled8v'); // a projection of the 135M model
  expect(defaultRung(onGpu, { M: 128, N: 128 })).toBe('tiled8v');
  expect(defaultRung(onGpu, { M: 2048, N: 8 })).toBe('tiledv'); // an adapter's X·Dᵀ at rank 8
  expect(defaultRung(onGpu, { M: 127, N: 4096 })).toBe('tiledv');
});

it('gives every rung an empty inner dimension (K = 0): C is the bias', async () => {
  const ctx = await gpu();
  const [M, N] = [5, 8];
  const bias = Float32Array.from({ length: N }, (_, n) => n - 2.5);
  const t = { a: ctx.tensor([M, 0], 'f32', 'A'), b: ctx.tensor([0, N], 'f32', 'B'), bias: ctx.upload(bias, [N], 'bias') };
  for (const variant of MATMUL_VARIANTS) {
    const { bytes } = await productBytes(ctx, { a: t.a, b: t.b, M, N, K: 0, bias: t.bias, variant }, [M, N]);
    expect(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, M * N)), variant).toEqual(Array.from({ length: M * N }, (_, i) => bias[i % N]!));
  }
  for (const x of Object.values(t)) x.release();
});

// Every rung but the naive one sums each output as one chain of fma over k in order (then over
// the second product's k), so on one device they all give the same bits: which rung runs is a
// matter of speed alone, never of a training run's result.
it('every fma rung gives the same bits as every other', async () => {
  const ctx = await gpu();
  const rungs = MATMUL_VARIANTS.filter((v) => v !== 'naive');
  for (const [M, N, K, transA, transB] of [[68, 132, 36, false, true], [200, 64, 172, false, false], [64, 172, 200, true, false], [67, 131, 37, true, true]] as const) {
    const a = ctx.upload(randomF32(M * K, M), transA ? [K, M] : [M, K], 'A');
    const b = ctx.upload(randomF32(K * N, N), transB ? [N, K] : [K, N], 'B');
    const outs: Buffer[] = [];
    for (const variant of rungs) outs.push((await productBytes(ctx, { a, b, M, N, K, transA, transB, variant }, [M, N])).bytes);
    outs.forEach((o, i) => expect(o.equals(outs[0]!), `${rungs[i]} vs ${rungs[0]}, ${M}×${N}×${K}`).toBe(true));
    for (const x of [a, b]) x.release();
  }
});

describe('linear layer products', () => {
  it('forward, input gradient and weight gradient agree with the reference', async () => {
    const ctx = await gpu();
    const dims = { rows: 300, in: 96, out: 172 };
    const x = randomF32(dims.rows * dims.in, 11);
    const w = randomF32(dims.out * dims.in, 12);
    const g = randomF32(dims.rows * dims.out, 13);
    const tx = ctx.upload(x, [dims.rows, dims.in], 'X');
    const tw = ctx.upload(w, [dims.out, dims.in], 'W');
    const tg = ctx.upload(g, [dims.rows, dims.out], 'G');
    const ty = ctx.tensor([dims.rows, dims.out], 'f32', 'Y');
    const tdx = ctx.tensor([dims.rows, dims.in], 'f32', 'dX');
    const tdw = ctx.tensor([dims.out, dims.in], 'f32', 'dW');
    linearForward(ctx, tx, tw, ty, dims);
    linearBackwardInput(ctx, tg, tw, tdx, dims);
    linearBackwardWeight(ctx, tg, tx, tdw, dims);
    const y = matmulRef({ a: x, b: w, M: dims.rows, N: dims.out, K: dims.in, transB: true });
    const dx = matmulRef({ a: g, b: w, M: dims.rows, N: dims.in, K: dims.out });
    const dw = matmulRef({ a: g, b: x, M: dims.out, N: dims.in, K: dims.rows, transA: true });
    expect(worstRatio(await ctx.read(ty), y, dims.in)).toBeLessThanOrEqual(1);
    expect(worstRatio(await ctx.read(tdx), dx, dims.out)).toBeLessThanOrEqual(1);
    expect(worstRatio(await ctx.read(tdw), dw, dims.rows)).toBeLessThanOrEqual(1);
  });
});

describe('bad input names the kernel and the problem', () => {
  it('rejects a shape mismatch before dispatch', async () => {
    const ctx = await gpu();
    const a = ctx.tensor([4, 5], 'f32', 'X');
    const b = ctx.tensor([6, 4], 'f32', 'W');
    const c = ctx.tensor([4, 6], 'f32', 'Y');
    expect(() => matmul(ctx, { a, b, c, M: 4, N: 6, K: 5, transB: true, variant: 'tiled' })).toThrow(
      /kernel "matmul_tiled_nt": shape mismatch: B "W" has shape \[6, 4\] \(24 values\) but N×K = 6×5/,
    );
  });

  it('rejects a tensor larger than the device allows', async () => {
    const ctx = await gpu();
    const huge = Math.floor(ctx.limits.maxBufferSize / 4) + 1024;
    expect(() => ctx.tensor([huge], 'f32', 'activations')).toThrow(/tensor "activations".*maxBufferSize/);
  });

  it('rejects a binding over maxStorageBufferBindingSize, naming the kernel', async () => {
    const ctx = await gpu();
    const limit = ctx.limits.maxStorageBufferBindingSize;
    if (limit >= ctx.limits.maxBufferSize) return expect(limit).toBeGreaterThan(0); // no such buffer can exist here
    const n = limit / 4 + 64;
    const big = ctx.tensor([1, n], 'f32', 'big');
    const w = ctx.tensor([1, n], 'f32', 'w');
    const y = ctx.tensor([1, 1], 'f32', 'y');
    expect(() => matmul(ctx, { a: big, b: w, c: y, M: 1, N: 1, K: n, transB: true, variant: 'tiled' })).toThrow(
      /kernel "matmul_tiled_nt": binding "a" is \d+ bytes, over this device's maxStorageBufferBindingSize/,
    );
    for (const t of [big, w, y]) t.release();
    ctx.trimPool();
  });

  it('rejects too many workgroups', async () => {
    const ctx = await gpu();
    const a = ctx.tensor([1], 'f32', 'a');
    const kernel = ctx.kernel({
      name: 'fill_one',
      entryPoint: 'main',
      code: '@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1) fn main() { out[0] = 1.0; }',
    });
    expect(() => ctx.dispatch(kernel, { out: a }, {}, [ctx.limits.maxComputeWorkgroupsPerDimension + 1])).toThrow(
      /kernel "fill_one": workgroup count x=\d+ exceeds this device's maxComputeWorkgroupsPerDimension/,
    );
  });

  it('reports a WGSL compile error with the kernel name and line', async () => {
    const ctx = await gpu();
    ctx.kernel({
      name: 'broken_kernel',
      entryPoint: 'main',
      code: '@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = undefined_thing;\n}',
    });
    await expect(ctx.sync()).rejects.toThrow(/kernel "broken_kernel": WGSL does not compile:\n\s+line 3:\d+: .*undefined_thing/);
  });

  // The WGSL's sizes are override constants without defaults, so a launcher that forgets one
  // fails here, naming it, rather than running with a size of its own (tests/unit/wgsl-constants.test.ts).
  it('reports an override constant the kernel was not given, naming it', async () => {
    const ctx = await gpu();
    const code = (await import('../../shaders/matmul.wgsl?raw')).default;
    ctx.kernel({ name: 'matmul_tiled_no_tk', code, entryPoint: 'matmul_tiled', constants: { TRANS_A: 0, TRANS_B: 0, THREADS: 16 } });
    await expect(ctx.sync()).rejects.toThrow(/kernel "matmul_tiled_no_tk": pipeline creation failed: .*uninitialized pipeline overridable constants[^]*TK/);
  });

  it('names a missing binding and an unknown parameter', async () => {
    const ctx = await gpu();
    const a = ctx.tensor([4], 'f32', 'a');
    const b = ctx.tensor([4], 'f32', 'b');
    const c = ctx.tensor([1], 'f32', 'c');
    // Any workgroup edge compiles; the launcher's own is not needed here.
    const constants = { TRANS_A: 0, TRANS_B: 0, THREADS: 1 };
    const k = ctx.kernel({ name: 'matmul_naive_nn', code: (await import('../../shaders/matmul.wgsl?raw')).default, entryPoint: 'matmul_naive', constants });
    const params = { M: 1, N: 1, K: 4, batchStrideA: 0, batchStrideB: 0, batchStrideC: 0, alpha: 1, accumulate: 0, hasBias: 0, hasScale: 0, K2: 0, transB2: 0 };
    expect(() => ctx.dispatch(k, { a, b }, params, [1])).toThrow(/kernel "matmul_naive_nn": binding "bias" .* was not given/);
    expect(() => ctx.dispatch(k, { a, b, bias: ctx.empty, c, scale: ctx.empty, a2: ctx.empty, b2: ctx.empty }, { ...params, Q: 1 }, [1])).toThrow(
      /kernel "matmul_naive_nn": unknown parameter "Q"/,
    );
  });
});
