// The adapted linear layers on the GPU (src/adapters/, shaders/adapters.wgsl) against the f64
// reference (src/ref/adapters.ts), forward and backward, for every method and ablation.
//
// Tolerance: for each output or gradient tensor T, max|T_gpu − T_ref| ≤ TOL · max|T_ref|, with
// TOL = 5e-6 — f32 products of length ≤ 576 accumulate a few 1e-7 relative error, and the norm
// terms (a_j = −dg·c/n³) add a few more roundings.

import { afterAll, describe, expect, it } from 'vitest';
import { createAdaptedLinear } from '../../src/adapters';
import { AdapterConfigError, type AdapterConfig } from '../../src/adapters/config';
import { defaultAdapterConfig } from '../../src/run/spec';
import { ADAPTER_TENSOR_NAMES, adapterTensorShapes, baseRowNorms, type AdapterParams, type WeightLayout } from '../../src/adapters/init';
import type { GpuContext } from '../../src/gpu/context';
import type { Tensor } from '../../src/gpu/tensor';
import { FrozenLinear, type LinearLayer } from '../../src/model/linear';
import { linearForward } from '../../src/ops/matmul';
import { adapterBackwardRef, adapterForwardRef, mergeRef } from '../../src/ref/adapters';
import { matmulRef } from '../../src/ref/matmul';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';

const TOL = 5e-6;

function uniform(n: number, rng: Rng, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(-scale, scale);
  return out;
}

/** Non-zero factors (the init's zeros would make half the gradients trivial). */
function randomParams(cfg: AdapterConfig, out: number, inF: number, W0: Float32Array, layout: WeightLayout, rng: Rng): AdapterParams {
  const shapes = adapterTensorShapes(cfg.method, cfg.r, { out, in: inF });
  const tensors: AdapterParams['tensors'] = {};
  const c = baseRowNorms(W0, { out, in: inF }, layout);
  for (const name of ADAPTER_TENSOR_NAMES[cfg.method]) {
    const shape = shapes[name]!;
    const size = shape.reduce((a, b) => a * b, 1);
    tensors[name] = {
      shape,
      data: name === 'm' ? Float32Array.from(c, (v) => v * rng.uniform(0.8, 1.2)) : uniform(size, rng, 0.3),
    };
  }
  return { method: cfg.method, r: cfg.r, out, in: inF, tensors };
}

function relErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  expect(got.length).toBe(ref.length);
  let err = 0;
  let mag = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(got[i]! - ref[i]!));
    mag = Math.max(mag, Math.abs(ref[i]!));
  }
  return mag === 0 ? err : err / mag;
}

interface Case {
  out: number;
  in: number;
  rows: number;
  layout?: WeightLayout;
  bias?: boolean;
}

async function compareWithReference(ctx: GpuContext, config: Partial<AdapterConfig>, c: Case, seed: number): Promise<Record<string, number>> {
  const layout = c.layout ?? 'out_in';
  const cfg = defaultAdapterConfig(config, c);
  const rng = new Rng(seed);
  const W0 = uniform(c.out * c.in, rng, 1 / Math.sqrt(c.in));
  const X = uniform(c.rows * c.in, rng);
  const G = uniform(c.rows * c.out, rng);
  const params = randomParams(cfg, c.out, c.in, W0, layout, rng);
  const weight = ctx.upload(W0, layout === 'out_in' ? [c.out, c.in] : [c.in, c.out], 'W0');
  const biasHost = c.bias ? uniform(c.out, rng) : undefined;
  const bias = biasHost ? ctx.upload(biasHost, [c.out], 'bias') : undefined;
  const layer = createAdaptedLinear(ctx, cfg, { weight, bias, out: c.out, in: c.in, layout, name: 'layer' }, { init: params });
  const x = ctx.upload(X, [c.rows, c.in], 'X');
  const dy = ctx.upload(G, [c.rows, c.out], 'G');
  const y = layer.forward(x, c.rows);
  const dx = layer.backward(dy);
  const grads = Object.fromEntries(await Promise.all(Object.entries(layer.grads).map(async ([k, t]) => [k, await ctx.read(t)] as const)));
  const gradParams = (await import('../../src/adapters')).METHOD_SPECS[cfg.method].unpack(
    { u: grads.U!, d: grads.D!, ...(grads.m ? { m: grads.m } : {}) },
    cfg,
    c,
  );

  const ref = adapterForwardRef(cfg, W0, params, X, { layout });
  if (biasHost) for (let i = 0; i < ref.Y.length; i++) ref.Y[i]! += biasHost[i % c.out]!;
  const refGrads = adapterBackwardRef(cfg, W0, params, X, G, ref.cache);
  const errors: Record<string, number> = { Y: relErr(await ctx.read(y), ref.Y), dX: relErr(await ctx.read(dx), refGrads.dX) };
  for (const name of ADAPTER_TENSOR_NAMES[cfg.method]) errors[name] = relErr(gradParams.tensors[name]!.data, refGrads.grads[name]!);
  for (const t of [y, dx, x, dy, weight, bias]) t?.release();
  layer.destroy();
  return errors;
}

/** Largest relative error seen per tensor kind, printed after the suite (figures for the README). */
const worst: Record<string, number> = {};
afterAll(() => console.log(`adapters, GPU vs f64 reference, worst relative error: ${JSON.stringify(worst, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(2)) : v))}`));

function expectAllWithin(errors: Record<string, number>): void {
  for (const [name, err] of Object.entries(errors)) {
    worst[name] = Math.max(worst[name] ?? 0, err);
    expect(err, `${name} relative error`).toBeLessThanOrEqual(TOL);
  }
}

const SHAPES: [string, Case & { r: number }][] = [
  ['out=in=64 r=4 N=37', { out: 64, in: 64, rows: 37, r: 4 }],
  ["out=172 in=64 r=8 N=70 (stories260K's FFN)", { out: 172, in: 64, rows: 70, r: 8 }],
  ['out=64 in=172 r=1 N=9', { out: 64, in: 172, rows: 9, r: 1 }],
  ['out=33 in=20 r=3 N=1', { out: 33, in: 20, rows: 1, r: 3 }],
];

const D2_VARIANTS: Partial<AdapterConfig>[] = [];
for (const readd of [0, 1]) for (const detachNorm of [false, true]) for (const tau of [0, 0.5, 1]) D2_VARIANTS.push({ method: 'd2lora', readd, detachNorm, tau });
const OTHER_VARIANTS: Partial<AdapterConfig>[] = [
  { method: 'd2lora', project: false, tau: 0.5 },
  { method: 'd2lora', scaling: 'rslora' },
  { method: 'lora' },
  { method: 'lora', scaling: 'rslora' },
  { method: 'dora' },
];

describe.each(SHAPES)('GPU vs reference, %s', (_label, shape) => {
  for (const variant of [...D2_VARIANTS, ...OTHER_VARIANTS]) {
    it(JSON.stringify(variant), async () => {
      const ctx = await gpu();
      expectAllWithin(await compareWithReference(ctx, { ...variant, r: shape.r, alpha: 2 * shape.r }, shape, shape.out + shape.rows));
    });
  }
});

describe('GPU vs reference, large and special layouts', () => {
  const big: Case = { out: 576, in: 576, rows: 300 };
  for (const variant of [{ method: 'd2lora' }, { method: 'd2lora', detachNorm: true }, { method: 'lora' }, { method: 'dora' }] as Partial<AdapterConfig>[]) {
    it(`out=in=576 r=8 N=300 ${variant.method}${variant.detachNorm ? ' detachNorm' : ''}`, async () => {
      const ctx = await gpu();
      expectAllWithin(await compareWithReference(ctx, { ...variant, r: 8, alpha: 16 }, big, 5));
    });
  }
  for (const method of ['d2lora', 'lora', 'dora'] as const) {
    it(`GPT-2 Conv1D layout (in×out) with bias, ${method}`, async () => {
      const ctx = await gpu();
      expectAllWithin(await compareWithReference(ctx, { method, r: 4, alpha: 8 }, { out: 96, in: 40, rows: 21, layout: 'in_out', bias: true }, 9));
    });
  }
  it('bias with the projection (Qwen2-style q/k/v), d2lora and dora', async () => {
    const ctx = await gpu();
    for (const method of ['d2lora', 'dora'] as const) {
      expectAllWithin(await compareWithReference(ctx, { method, r: 2, alpha: 4 }, { out: 30, in: 18, rows: 5, bias: true }, 3));
    }
  });
});

describe('initialisation and merge', () => {
  it('at init every method reproduces the base layer bit for bit', async () => {
    const ctx = await gpu();
    const [out, inF, rows] = [172, 64, 23];
    const rng = new Rng(1);
    const W0 = uniform(out * inF, rng, 0.125);
    const X = uniform(rows * inF, rng);
    const weight = ctx.upload(W0, [out, inF], 'W0');
    const x = ctx.upload(X, [rows, inF], 'X');
    const yBase = ctx.tensor([rows, out], 'f32', 'Ybase');
    linearForward(ctx, x, weight, yBase, { rows, in: inF, out });
    const base = await ctx.read(yBase);
    for (const config of [{ method: 'd2lora' }, { method: 'd2lora', readd: 0 }, { method: 'lora' }, { method: 'dora' }] as Partial<AdapterConfig>[]) {
      const layer = createAdaptedLinear(ctx, defaultAdapterConfig({ ...config, r: 8 }), { weight, out, in: inF, layout: 'out_in', name: 'q_proj' }, { w0Host: W0 });
      const y = layer.infer(x, rows);
      expect(Array.from(await ctx.read(y)), config.method).toEqual(Array.from(base));
      y.release();
      layer.destroy();
    }
  });

  // Merge tolerance: |x·Ŵᵀ − Y_unmerged| ≤ 2e-5·max|Y| — both are f32 computations of the
  // same f64 quantity, each within ~1e-6 relative of the reference.
  for (const [method, layout] of [['d2lora', 'out_in'], ['d2lora', 'in_out'], ['lora', 'out_in'], ['dora', 'in_out']] as const) {
    it(`${method} (${layout}): x·Ŵᵀ equals the unmerged forward after random updates`, async () => {
      const ctx = await gpu();
      const [out, inF, rows] = [96, 80, 17];
      const rng = new Rng(7);
      const cfg = defaultAdapterConfig({ method, r: 4, alpha: 8 });
      const W0 = uniform(out * inF, rng, 0.1);
      const params = randomParams(cfg, out, inF, W0, layout, rng);
      const X = uniform(rows * inF, rng);
      const weight = ctx.upload(W0, layout === 'out_in' ? [out, inF] : [inF, out], 'W0');
      const layer = createAdaptedLinear(ctx, cfg, { weight, out, in: inF, layout, name: 'c_attn' }, { init: params });
      const x = ctx.upload(X, [rows, inF], 'X');
      const y = layer.infer(x, rows);
      const merged = layer.merge();
      expect(merged.shape).toEqual(weight.shape);
      const mergedHost = await ctx.read(merged);
      const yMerged = matmulRef({ a: X, b: mergedHost, M: rows, N: out, K: inF, transB: layout === 'out_in' }).c;
      expect(relErr(await ctx.read(y), yMerged)).toBeLessThanOrEqual(2e-5);
      expect(relErr(mergedHost, mergeRef(cfg, W0, params, { layout }))).toBeLessThanOrEqual(2e-6);
      layer.destroy();
    });
  }
});

describe('backward into a given tensor', () => {
  // The model sums the input gradients of q, k and v (and of gate and up) by passing the first
  // one's dX as `into` to the others: into ← into + dX, with no dispatch of its own.
  const dims = { out: 40, in: 24, rows: 11 };
  type Make = (ctx: GpuContext, weight: Tensor, W0: Float32Array, rng: Rng) => LinearLayer;
  const cases: [string, Make][] = [
    ['frozen', (ctx, weight) => new FrozenLinear(ctx, { weight, out: dims.out, in: dims.in, layout: 'out_in', name: 'l' })],
    ...(['lora', 'dora', 'd2lora'] as const).map((method): [string, Make] => [
      method,
      (ctx, weight, W0, rng) => {
        const cfg = defaultAdapterConfig({ method, r: 3, alpha: 6 }, dims);
        const init = randomParams(cfg, dims.out, dims.in, W0, 'out_in', rng);
        return createAdaptedLinear(ctx, cfg, { weight, out: dims.out, in: dims.in, layout: 'out_in', name: 'l' }, { init });
      },
    ]),
  ];
  for (const [label, make] of cases) {
    it(`${label}: into + dX, and into is what it returns`, async () => {
      const ctx = await gpu();
      const rng = new Rng(5);
      const W0 = uniform(dims.out * dims.in, rng, 0.2);
      const weight = ctx.upload(W0, [dims.out, dims.in], 'W0');
      const layer = make(ctx, weight, W0, rng);
      const x = ctx.upload(uniform(dims.rows * dims.in, rng), [dims.rows, dims.in], 'X');
      const dy = ctx.upload(uniform(dims.rows * dims.out, rng), [dims.rows, dims.out], 'G');
      const start = uniform(dims.rows * dims.in, rng);
      const into = ctx.upload(start, [dims.rows, dims.in], 'into');
      layer.forward(x, dims.rows).release();
      const dxTensor = layer.backward(dy);
      const dx = await ctx.read(dxTensor);
      dxTensor.release();
      layer.forward(x, dims.rows).release();
      expect(layer.backward(dy, into)).toBe(into);
      const sum = await ctx.read(into);
      expect(relErr(sum, Array.from(start, (v, i) => v + dx[i]!))).toBeLessThanOrEqual(TOL);
      expect(relErr(sum, start)).toBeGreaterThan(1e-2);
      for (const t of [weight, x, dy, into]) t.release();
      if ('destroy' in layer && typeof layer.destroy === 'function') layer.destroy();
    });
  }
});

describe('special cases agree with each other on the GPU', () => {
  async function run(ctx: GpuContext, config: Partial<AdapterConfig>, params: AdapterParams, W0: Float32Array, X: Float32Array, G: Float32Array, dims: { out: number; in: number; rows: number }) {
    const weight = ctx.upload(W0, [dims.out, dims.in], 'W0');
    const layer = createAdaptedLinear(ctx, defaultAdapterConfig(config), { weight, out: dims.out, in: dims.in, layout: 'out_in', name: 'l' }, { init: params });
    const x = ctx.upload(X, [dims.rows, dims.in], 'X');
    const dy = ctx.upload(G, [dims.rows, dims.out], 'G');
    const y = await ctx.read(layer.forward(x, dims.rows));
    const dx = await ctx.read(layer.backward(dy));
    const grads = await Promise.all([ctx.read(layer.grads.U!), ctx.read(layer.grads.D!)]);
    layer.destroy();
    return { y, dx, grads };
  }

  it('D2-LoRA τ=0, readd 0, detachNorm ≡ DoRA with m = c (frozen), forward and backward', async () => {
    const ctx = await gpu();
    const dims = { out: 40, in: 24, rows: 11 };
    const r = 3;
    const rng = new Rng(21);
    const W0 = uniform(dims.out * dims.in, rng, 0.2);
    const X = uniform(dims.rows * dims.in, rng);
    const G = uniform(dims.rows * dims.out, rng);
    const u = uniform(dims.out * r, rng, 0.3);
    const d = uniform(r * dims.in, rng, 0.3);
    const m = Float32Array.from(baseRowNorms(W0, dims));
    const d2 = await run(ctx, { method: 'd2lora', r, alpha: 2 * r, tau: 0, readd: 0, detachNorm: true }, {
      method: 'd2lora', r, out: dims.out, in: dims.in,
      tensors: { uPlus: { shape: [dims.out, r], data: u }, dPlus: { shape: [r, dims.in], data: d }, uMinus: { shape: [dims.out, r], data: uniform(dims.out * r, rng) }, dMinus: { shape: [r, dims.in], data: uniform(r * dims.in, rng) } },
    }, W0, X, G, dims);
    const dora = await run(ctx, { method: 'dora', r, alpha: 2 * r }, {
      method: 'dora', r, out: dims.out, in: dims.in,
      tensors: { u: { shape: [dims.out, r], data: u }, d: { shape: [r, dims.in], data: d }, m: { shape: [dims.out], data: m } },
    }, W0, X, G, dims);
    expect(relErr(d2.y, dora.y)).toBeLessThanOrEqual(1e-6);
    expect(relErr(d2.dx, dora.dx)).toBeLessThanOrEqual(1e-6);
    // dU₊, dD₊ are the first r columns / rows of the packed D2-LoRA gradients.
    const dUplus = d2.grads[0]!.filter((_, i) => i % (2 * r) < r);
    expect(relErr(dUplus, dora.grads[0]!)).toBeLessThanOrEqual(1e-6);
    expect(relErr(d2.grads[1]!.subarray(0, r * dims.in), dora.grads[1]!)).toBeLessThanOrEqual(1e-6);
  });

  it('D2-LoRA without projection ≡ LoRA of rank 2r with U = [U₊, −τU₋], D = [D₊; D₋]', async () => {
    const ctx = await gpu();
    const dims = { out: 40, in: 24, rows: 11 };
    const r = 3;
    const tau = 0.5;
    const rng = new Rng(22);
    const W0 = uniform(dims.out * dims.in, rng, 0.2);
    const X = uniform(dims.rows * dims.in, rng);
    const G = uniform(dims.rows * dims.out, rng);
    const [uP, uM] = [uniform(dims.out * r, rng, 0.3), uniform(dims.out * r, rng, 0.3)];
    const [dP, dM] = [uniform(r * dims.in, rng, 0.3), uniform(r * dims.in, rng, 0.3)];
    const d2 = await run(ctx, { method: 'd2lora', r, alpha: 2 * r, tau, project: false }, {
      method: 'd2lora', r, out: dims.out, in: dims.in,
      tensors: { uPlus: { shape: [dims.out, r], data: uP }, dPlus: { shape: [r, dims.in], data: dP }, uMinus: { shape: [dims.out, r], data: uM }, dMinus: { shape: [r, dims.in], data: dM } },
    }, W0, X, G, dims);
    const uLora = new Float32Array(dims.out * 2 * r);
    for (let j = 0; j < dims.out; j++) for (let k = 0; k < r; k++) {
      uLora[j * 2 * r + k] = uP[j * r + k]!;
      uLora[j * 2 * r + r + k] = -tau * uM[j * r + k]!;
    }
    const dLora = new Float32Array([...dP, ...dM]);
    // LoRA at rank 2r with α doubled keeps the same s = α/r.
    const lo = await run(ctx, { method: 'lora', r: 2 * r, alpha: 4 * r }, {
      method: 'lora', r: 2 * r, out: dims.out, in: dims.in,
      tensors: { u: { shape: [dims.out, 2 * r], data: uLora }, d: { shape: [2 * r, dims.in], data: dLora } },
    }, W0, X, G, dims);
    expect(relErr(d2.y, lo.y)).toBeLessThanOrEqual(1e-6);
    expect(relErr(d2.dx, lo.dx)).toBeLessThanOrEqual(1e-6);
  });
});

describe('bad configs are rejected naming the field', () => {
  const base = { out: 16, in: 8 };
  it.each([
    [{ r: 0 }, 'r'],
    [{ r: 9 }, 'r'],
    [{ tau: Number.NaN }, 'tau'],
    [{ method: 'qlora' as never }, 'method'],
  ])('%j', async (partial, field) => {
    const ctx = await gpu();
    const weight = ctx.tensor([16, 8], 'f32', 'W0');
    expect(() => createAdaptedLinear(ctx, { ...defaultAdapterConfig(), ...partial }, { ...base, weight, layout: 'out_in', name: 'l' })).toThrow(AdapterConfigError);
    expect(() => createAdaptedLinear(ctx, { ...defaultAdapterConfig(), ...partial }, { ...base, weight, layout: 'out_in', name: 'l' })).toThrow(new RegExp(`adapter config: ${field}:`));
    weight.release();
  });
});
