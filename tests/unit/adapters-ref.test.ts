import { describe, expect, it } from 'vitest';
import {
  adapterScale,
  AdapterConfigError,
  type AdapterConfig,
  type AdapterMethod,
  type LayerShape,
} from '../../src/adapters/config';
import { defaultAdapterConfig } from '../../src/run/spec';
import {
  adapterTensorShapes,
  baseRowNorms,
  initAdapterParams,
  type AdapterParams,
  type WeightLayout,
} from '../../src/adapters/init';
import {
  adapterBackwardRef,
  adapterForwardRef,
  denseEffectiveWeightRef,
  mergeRef,
  type AdapterGradients,
} from '../../src/ref/adapters';
import { Rng } from '../../src/util/rng';

// ---------------------------------------------------------------------------------------------
// Helpers: plain row-major f64 linear algebra, independent of the reference's strided views.

interface Problem extends LayerShape {
  r: number;
  N: number;
}

/** The awkward shapes every check runs on: non-square, r = 1, a single token row. */
const SHAPES: Problem[] = [
  { out: 7, in: 5, r: 2, N: 3 },
  { out: 3, in: 11, r: 1, N: 1 },
];

function randomArray(rng: Rng, length: number, lo = -1, hi = 1): Float64Array {
  return Float64Array.from({ length }, () => rng.uniform(lo, hi));
}

/** A is (m, k), B is (k, n), both row-major; returns A·B (m, n). */
function matmul(A: Float64Array, B: Float64Array, m: number, k: number, n: number): Float64Array {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += A[i * k + p] * B[p * n + j];
      C[i * n + j] = sum;
    }
  }
  return C;
}

/** A is (rows, cols) row-major; returns Aᵀ (cols, rows) row-major. */
function transposed(A: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const T = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) T[j * rows + i] = A[i * cols + j];
  return T;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((acc, v, k) => acc + v * b[k], 0);
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** max|a − b| / max(|a|∞, |b|∞); 0 when both are zero. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  const scale = Math.max(maxAbs(a), maxAbs(b));
  const diff = Array.from(a).reduce((m, v, k) => Math.max(m, Math.abs(v - b[k])), 0);
  return scale === 0 ? diff : diff / scale;
}

function config(partial: Partial<AdapterConfig>): AdapterConfig {
  return defaultAdapterConfig(partial);
}

/** Random non-zero factors (f64, so finite differences are not rounded to fp32); DoRA's m > 0. */
function randomParams(method: AdapterMethod, p: Problem, rng: Rng): AdapterParams<Float64Array> {
  const tensors: AdapterParams<Float64Array>['tensors'] = {};
  for (const [name, shape] of Object.entries(adapterTensorShapes(method, p.r, p))) {
    const length = shape.reduce((a, b) => a * b, 1);
    tensors[name] = { shape, data: name === 'm' ? randomArray(rng, length, 0.5, 2) : randomArray(rng, length) };
  }
  return { method, r: p.r, out: p.out, in: p.in, tensors };
}

interface Case {
  cfg: AdapterConfig;
  p: Problem;
  W0: Float64Array;
  params: AdapterParams<Float64Array>;
  X: Float64Array;
  /** Upstream gradient; also the weights of the scalar loss Σ Y⊙R. */
  R: Float64Array;
}

function randomCase(partial: Partial<AdapterConfig>, p: Problem, seed: number): Case {
  const cfg = config({ alpha: 2, ...partial, r: p.r });
  const rng = new Rng(seed);
  return {
    cfg,
    p,
    W0: randomArray(rng, p.out * p.in),
    params: randomParams(cfg.method, p, rng),
    X: randomArray(rng, p.N * p.in),
    R: randomArray(rng, p.N * p.out),
  };
}

/** W0 (out, in) row-major stored in `layout`. */
function stored(W0: Float64Array, p: LayerShape, layout: WeightLayout): Float64Array {
  return layout === 'out_in' ? W0 : transposed(W0, p.out, p.in);
}

/** Whether the method's backward holds g constant (so the checked function must, too). */
function detachesNorm(cfg: AdapterConfig): boolean {
  return cfg.method === 'dora' || (cfg.method === 'd2lora' && cfg.project && cfg.detachNorm);
}

/**
 * The scalar Σ Y⊙R as the backward differentiates it: the real forward, except that with a
 * detached norm n stays at its value `n0` for the unperturbed operands, i.e.
 * Y = (P + L) ⊙ (c/n0 or m/n0) + ρL with P, L from the perturbed operands.
 */
function loss(c: Case, params: AdapterParams<Float64Array>, X: Float64Array, n0: Float64Array | null): number {
  const { Y, cache } = adapterForwardRef(c.cfg, c.W0, params, X);
  if (n0 === null || cache.norm === null) return dot(Y, c.R);
  const numerator = c.cfg.method === 'dora' ? params.tensors.m.data : cache.norm.c;
  const rho = c.cfg.method === 'dora' ? 0 : c.cfg.readd;
  let total = 0;
  for (let t = 0; t < c.p.N; t++) {
    for (let j = 0; j < c.p.out; j++) {
      const k = t * c.p.out + j;
      total += ((cache.P[k] + cache.L[k]) * (numerator[j] / n0[j]) + rho * cache.L[k]) * c.R[k];
    }
  }
  return total;
}

/** Central differences (h = 1e-6) of the loss w.r.t. every element of every tensor and of X. */
function finiteDifferenceGradients(c: Case): AdapterGradients {
  const h = 1e-6;
  const n0 = detachesNorm(c.cfg) ? adapterForwardRef(c.cfg, c.W0, c.params, c.X).cache.norm!.n : null;
  const differentiate = (data: Float64Array) =>
    data.map((_, k) => {
      const original = data[k];
      data[k] = original + h;
      const plus = loss(c, c.params, c.X, n0);
      data[k] = original - h;
      const minus = loss(c, c.params, c.X, n0);
      data[k] = original;
      return (plus - minus) / (2 * h);
    });
  const grads: Record<string, Float64Array> = {};
  for (const [name, tensor] of Object.entries(c.params.tensors)) grads[name] = differentiate(tensor.data);
  return { dX: differentiate(c.X), grads };
}

function analyticGradients(c: Case, layout: WeightLayout = 'out_in'): AdapterGradients {
  const W0 = stored(c.W0, c.p, layout);
  const { cache } = adapterForwardRef(c.cfg, W0, c.params, c.X, { layout });
  return adapterBackwardRef(c.cfg, W0, c.params, c.X, c.R, cache);
}

/** Largest relative error of each gradient of `actual` against `expected`, keyed 'X' and by tensor name. */
function gradientErrors(actual: AdapterGradients, expected: AdapterGradients): Record<string, number> {
  const errors: Record<string, number> = { X: relativeError(actual.dX, expected.dX) };
  for (const name of Object.keys(expected.grads)) errors[name] = relativeError(actual.grads[name], expected.grads[name]);
  expect(Object.keys(actual.grads).sort()).toEqual(Object.keys(expected.grads).sort());
  return errors;
}

/**
 * Gradients by the literal chain rule through the dense effective weight:
 * Y = X W_effᵀ, so dX = G W_eff and dW_eff = Gᵀ X, then back through W_eff's definition to
 * ΔW = s Σ κ_b U_b D_b: dU_b = sκ_b dΔW D_bᵀ, dD_b = sκ_b U_bᵀ dΔW.
 */
function denseGradients(c: Case): AdapterGradients {
  const { cfg, p, params } = c;
  const s = adapterScale(cfg);
  const W = denseEffectiveWeightRef(cfg, c.W0, params);
  const dX = matmul(c.R, W, p.N, p.out, p.in);
  const dW = matmul(transposed(c.R, p.N, p.out), c.X, p.out, p.N, p.in);
  const branches =
    cfg.method === 'd2lora'
      ? [
          { up: 'uPlus', down: 'dPlus', coef: 1 },
          { up: 'uMinus', down: 'dMinus', coef: -cfg.tau },
        ]
      : [{ up: 'u', down: 'd', coef: 1 }];
  const deltaW = new Float64Array(p.out * p.in);
  for (const b of branches) {
    const product = matmul(params.tensors[b.up].data, params.tensors[b.down].data, p.out, p.r, p.in);
    product.forEach((v, k) => (deltaW[k] += s * b.coef * v));
  }
  const V = deltaW.map((v, k) => v + c.W0[k]);
  const row = (A: Float64Array, j: number) => A.subarray(j * p.in, (j + 1) * p.in);
  const n = Float64Array.from({ length: p.out }, (_, j) => Math.sqrt(dot(row(V, j), row(V, j)) + cfg.eps));
  const grads: Record<string, Float64Array> = {};

  let dDeltaW: Float64Array;
  if (cfg.method === 'dora') {
    // W_eff = diag(m/n) V, n constant
    const m = params.tensors.m.data;
    dDeltaW = dW.map((v, k) => (m[Math.floor(k / p.in)] / n[Math.floor(k / p.in)]) * v);
    grads.m = Float64Array.from({ length: p.out }, (_, j) => dot(row(dW, j), row(V, j)) / n[j]);
  } else if (cfg.method === 'd2lora' && cfg.project) {
    // W_eff = diag(c/n) V + ρΔW; through n: ∂n_j/∂V_j = V_j/n_j
    const base = baseRowNorms(c.W0, p);
    dDeltaW = dW.map((v, k) => {
      const j = Math.floor(k / p.in);
      const radial = cfg.detachNorm ? 0 : ((-dot(row(dW, j), row(V, j)) * base[j]) / n[j] ** 3) * V[k];
      return (base[j] / n[j]) * v + radial + cfg.readd * v;
    });
  } else {
    dDeltaW = dW; // W_eff = W0 + ΔW
  }
  for (const b of branches) {
    const U = params.tensors[b.up].data;
    const D = params.tensors[b.down].data;
    grads[b.up] = matmul(dDeltaW, transposed(D, p.r, p.in), p.out, p.in, p.r).map((v) => s * b.coef * v);
    grads[b.down] = matmul(transposed(U, p.out, p.r), dDeltaW, p.r, p.out, p.in).map((v) => s * b.coef * v);
  }
  return { dX, grads };
}

const D2LORA_VARIANTS: Partial<AdapterConfig>[] = [];
for (const project of [true, false]) {
  for (const detachNorm of [false, true]) {
    for (const readd of [1, 0]) {
      for (const tau of [0, 0.5, 1]) D2LORA_VARIANTS.push({ method: 'd2lora', project, detachNorm, readd, tau });
    }
  }
}
const ALL_VARIANTS: Partial<AdapterConfig>[] = [
  ...D2LORA_VARIANTS,
  { method: 'd2lora', scaling: 'rslora', alpha: 3 },
  { method: 'lora' },
  { method: 'lora', scaling: 'rslora' },
  { method: 'dora' },
];
const label = (v: Partial<AdapterConfig>) => JSON.stringify(v);

// ---------------------------------------------------------------------------------------------

describe('adapter config', () => {
  function expectConfigError(partial: Partial<AdapterConfig>, field: string, layer?: LayerShape): void {
    let error: unknown;
    try {
      defaultAdapterConfig(partial, layer);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AdapterConfigError);
    expect((error as AdapterConfigError).field).toBe(field);
    expect((error as Error).message).toContain(`${field}:`);
    expect((error as Error).message).toContain('expected');
  }

  it("fills the RunSpec's defaults", () => {
    expect(defaultAdapterConfig({})).toEqual({
      method: 'd2lora',
      r: 8,
      alpha: 16,
      tau: 0.5,
      project: true,
      readd: 1,
      detachNorm: false,
      scaling: 'standard',
      init: 'paper',
      seed: 0,
      eps: 1e-12,
    });
    expect(defaultAdapterConfig({ method: 'lora', r: 4, tau: 0 })).toMatchObject({ method: 'lora', r: 4, tau: 0, alpha: 16 });
  });

  it('rejects bad fields, naming the field', () => {
    expectConfigError({ r: 0 }, 'r');
    expectConfigError({ r: -2 }, 'r');
    expectConfigError({ r: 2.5 }, 'r');
    expectConfigError({ r: 6 }, 'r', { out: 7, in: 5 });
    expectConfigError({ tau: NaN }, 'tau');
    expectConfigError({ tau: Infinity }, 'tau');
    expectConfigError({ method: 'vera' as AdapterMethod }, 'method');
    expectConfigError({ alpha: 0 }, 'alpha');
    expectConfigError({ alpha: NaN }, 'alpha');
    expectConfigError({ scaling: 'pissa' as AdapterConfig['scaling'] }, 'scaling');
    expectConfigError({ readd: NaN }, 'readd');
    expectConfigError({ eps: 0 }, 'eps');
    expectConfigError({ eps: -1e-12 }, 'eps');
    expectConfigError({ seed: 1.5 }, 'seed');
    expectConfigError({ project: 1 as unknown as boolean }, 'project');
    expectConfigError({ rank: 4 } as Partial<AdapterConfig>, 'rank');
    expect(() => defaultAdapterConfig({ r: 5 }, { out: 7, in: 5 })).not.toThrow();
  });

  it('always detaches the norm for DoRA', () => {
    expect(defaultAdapterConfig({ method: 'dora' }).detachNorm).toBe(true);
  });

  it('scales by α/r, or α/√r with rsLoRA', () => {
    expect(adapterScale(config({ alpha: 16, r: 8 }))).toBe(2);
    expect(adapterScale(config({ alpha: 16, r: 4, scaling: 'rslora' }))).toBe(8);
  });
});

describe('adapter init', () => {
  const layer = { out: 7, in: 5, key: 'model.layers.0.self_attn.q_proj' };
  const W0 = Float32Array.from(randomArray(new Rng(99), layer.out * layer.in));

  it('draws the spec init table: zeros, and Kaiming-uniform bounds 1/√in and 1/√r', () => {
    const cfg = config({ r: 3 });
    const { tensors, out, in: inFeatures, r } = initAdapterParams(cfg, layer);
    expect([out, inFeatures, r]).toEqual([7, 5, 3]);
    expect(tensors.uPlus.shape).toEqual([7, 3]);
    expect(tensors.dPlus.shape).toEqual([3, 5]);
    expect(tensors.uMinus.shape).toEqual([7, 3]);
    expect(tensors.dMinus.shape).toEqual([3, 5]);
    expect(tensors.uPlus.data.every((v) => v === 0)).toBe(true);
    expect(tensors.dMinus.data.every((v) => v === 0)).toBe(true);
    expect(maxAbs(tensors.dPlus.data)).toBeLessThanOrEqual(1 / Math.sqrt(5));
    expect(maxAbs(tensors.uMinus.data)).toBeLessThanOrEqual(1 / Math.sqrt(3));
    expect(maxAbs(tensors.uMinus.data)).toBeGreaterThan(1 / Math.sqrt(5)); // its own bound, not D₊'s
    expect(tensors.dPlus.data.every((v) => v !== 0)).toBe(true);
    expect(tensors.uMinus.data).toBeInstanceOf(Float32Array);
  });

  it('is deterministic in (seed, layer key) and differs across layers and seeds', () => {
    const cfg = config({ r: 2 });
    const a = initAdapterParams(cfg, layer);
    expect(initAdapterParams(cfg, layer)).toEqual(a);
    const nextLayer = { ...layer, key: 'model.layers.1.self_attn.q_proj' };
    expect(initAdapterParams(cfg, nextLayer).tensors.dPlus.data).not.toEqual(a.tensors.dPlus.data);
    expect(initAdapterParams(cfg, { ...layer, key: 3 }).tensors.dPlus.data).not.toEqual(a.tensors.dPlus.data);
    expect(initAdapterParams({ ...cfg, seed: 1 }, layer).tensors.dPlus.data).not.toEqual(a.tensors.dPlus.data);
  });

  it('gives LoRA and DoRA the same down factor as D2-LoRA for the same seed; DoRA m = c', () => {
    const d2lora = initAdapterParams(config({ r: 2 }), layer);
    const lora = initAdapterParams(config({ method: 'lora', r: 2 }), layer);
    expect(Object.keys(lora.tensors)).toEqual(['u', 'd']);
    expect(lora.tensors.d.data).toEqual(d2lora.tensors.dPlus.data);
    expect(lora.tensors.u.data.every((v) => v === 0)).toBe(true);
    for (const layout of ['out_in', 'in_out'] as const) {
      const dora = initAdapterParams(config({ method: 'dora', r: 2 }), layer, stored(Float64Array.from(W0), layer, layout), { layout });
      expect(Object.keys(dora.tensors)).toEqual(['u', 'd', 'm']);
      expect(dora.tensors.d.data).toEqual(d2lora.tensors.dPlus.data);
      expect(dora.tensors.m.shape).toEqual([7]);
      expect(dora.tensors.m.data).toEqual(Float32Array.from(baseRowNorms(W0, layer)));
    }
    expect(() => initAdapterParams(config({ method: 'dora', r: 2 }), layer)).toThrow(/needs W0/);
  });

  it('rejects a rank larger than the layer', () => {
    expect(() => initAdapterParams(config({ r: 6 }), layer)).toThrow(AdapterConfigError);
  });

  it('starts every method exactly at the base layer', () => {
    // X is (N, in), W0 is (out, in); base output P = X W0ᵀ computed here by plain loops.
    const p = { out: 7, in: 5, r: 4, N: 3 };
    const X = randomArray(new Rng(5), p.N * p.in);
    const P = matmul(X, transposed(W0, p.out, p.in), p.N, p.in, p.out);
    const run = (partial: Partial<AdapterConfig>) => {
      const cfg = config({ ...partial, r: p.r });
      return adapterForwardRef(cfg, W0, initAdapterParams(cfg, layer, W0), X).Y;
    };
    // ΔW = 0 exactly (a zero factor in each branch), so L = 0 exactly.
    expect(run({ method: 'lora' })).toEqual(P);
    expect(run({ method: 'd2lora', project: false })).toEqual(P);
    // Projected: g_j = c_j/sqrt(c_j² + ε) differs from 1 by ε/(2c_j²) only (ε = 1e-12).
    for (const readd of [1, 0]) expect(relativeError(run({ method: 'd2lora', readd }), P)).toBeLessThan(1e-12);
    expect(relativeError(run({ method: 'd2lora', detachNorm: true }), P)).toBeLessThan(1e-12);
    // DoRA: m = c rounded to fp32, so m/n = 1 within fp32 rounding (2⁻²⁴ ≈ 6e-8).
    expect(relativeError(run({ method: 'dora' }), P)).toBeLessThan(1e-7);
  });
});

describe('adapter reference: gradients', () => {
  for (const variant of ALL_VARIANTS) {
    it(`matches central finite differences: ${label(variant)}`, () => {
      SHAPES.forEach((p, shapeIndex) => {
        const c = randomCase(variant, p, 1000 + shapeIndex);
        const errors = gradientErrors(analyticGradients(c), finiteDifferenceGradients(c));
        for (const [name, error] of Object.entries(errors)) expect(error, `${name} on ${JSON.stringify(p)}`).toBeLessThan(1e-7);
      });
    });
  }

  for (const variant of ALL_VARIANTS) {
    it(`skinny backward equals the dense chain rule: ${label(variant)}`, () => {
      for (const p of SHAPES) {
        const c = randomCase(variant, p, 2000);
        const errors = gradientErrors(analyticGradients(c), denseGradients(c));
        for (const [name, error] of Object.entries(errors)) expect(error, name).toBeLessThan(1e-12);
      }
    });
  }

  it('differentiates through the norm unless detached (the radial term is not zero)', () => {
    const p = SHAPES[0];
    const through = analyticGradients(randomCase({ method: 'd2lora' }, p, 7));
    const detached = analyticGradients(randomCase({ method: 'd2lora', detachNorm: true }, p, 7));
    expect(relativeError(through.grads.uPlus, detached.grads.uPlus)).toBeGreaterThan(1e-3);
    expect(through.dX).toEqual(detached.dX); // dX does not involve the norm's gradient
  });
});

describe('adapter reference: W0 layout', () => {
  for (const variant of ALL_VARIANTS) {
    it(`gives identical results for W0 stored (out, in) and (in, out): ${label(variant)}`, () => {
      for (const p of SHAPES) {
        const c = randomCase(variant, p, 3000);
        const W0t = stored(c.W0, p, 'in_out');
        const rowMajor = adapterForwardRef(c.cfg, c.W0, c.params, c.X);
        const conv1d = adapterForwardRef(c.cfg, W0t, c.params, c.X, { layout: 'in_out' });
        expect(conv1d.Y).toEqual(rowMajor.Y);
        expect(analyticGradients(c, 'in_out')).toEqual(analyticGradients(c, 'out_in'));
        expect(mergeRef(c.cfg, W0t, c.params, { layout: 'in_out' })).toEqual(stored(mergeRef(c.cfg, c.W0, c.params), p, 'in_out'));
        expect(denseEffectiveWeightRef(c.cfg, W0t, c.params, { layout: 'in_out' })).toEqual(denseEffectiveWeightRef(c.cfg, c.W0, c.params));
      }
    });
  }
});

describe('adapter reference: merge', () => {
  for (const variant of ALL_VARIANTS) {
    it(`X Ŵᵀ equals the unmerged forward and Ŵ equals the dense W_eff: ${label(variant)}`, () => {
      for (const p of SHAPES) {
        for (const layout of ['out_in', 'in_out'] as const) {
          const c = randomCase(variant, p, 4000);
          const W0 = stored(c.W0, p, layout);
          const merged = mergeRef(c.cfg, W0, c.params, { layout });
          expect(merged.length).toBe(W0.length);
          const mergedOutIn = layout === 'out_in' ? merged : transposed(merged, p.in, p.out); // read back in the base's layout
          const Y = adapterForwardRef(c.cfg, W0, c.params, c.X, { layout }).Y;
          expect(relativeError(matmul(c.X, transposed(mergedOutIn, p.out, p.in), p.N, p.in, p.out), Y)).toBeLessThan(1e-12);
          expect(relativeError(mergedOutIn, denseEffectiveWeightRef(c.cfg, W0, c.params, { layout }))).toBeLessThan(1e-12);
        }
      }
    });
  }

  it('merges each method by its own formula', () => {
    const p = SHAPES[0];
    const c = randomCase({ method: 'lora' }, p, 5);
    const s = adapterScale(c.cfg);
    const UD = matmul(c.params.tensors.u.data, c.params.tensors.d.data, p.out, p.r, p.in);
    expect(relativeError(mergeRef(c.cfg, c.W0, c.params), UD.map((v, k) => c.W0[k] + s * v))).toBeLessThan(1e-15); // W0 + sUD
    const dora = randomCase({ method: 'dora' }, p, 5);
    const V = UD.map((v, k) => dora.W0[k] + s * v);
    const row = (j: number) => V.subarray(j * p.in, (j + 1) * p.in);
    const rowNorm = (j: number) => Math.sqrt(dot(row(j), row(j)) + dora.cfg.eps);
    const expected = V.map((v, k) => (dora.params.tensors.m.data[Math.floor(k / p.in)] / rowNorm(Math.floor(k / p.in))) * v); // diag(m/n)V
    expect(relativeError(mergeRef(dora.cfg, dora.W0, dora.params), expected)).toBeLessThan(1e-14);
  });
});

describe('adapter reference: special cases', () => {
  it('D2-LoRA with τ = 0, projection on and ρ = 0 is DoRA with m frozen at c', () => {
    for (const p of SHAPES) {
      for (const detachNorm of [true, false]) {
        const d2 = randomCase({ method: 'd2lora', tau: 0, readd: 0, detachNorm }, p, 6000);
        const c = baseRowNorms(d2.W0, p);
        const doraParams: AdapterParams<Float64Array> = {
          method: 'dora',
          r: p.r,
          out: p.out,
          in: p.in,
          tensors: { u: d2.params.tensors.uPlus, d: d2.params.tensors.dPlus, m: { shape: [p.out], data: c } },
        };
        const dora: Case = { ...d2, cfg: config({ method: 'dora', alpha: 2, r: p.r }), params: doraParams };
        const yD2 = adapterForwardRef(d2.cfg, d2.W0, d2.params, d2.X).Y;
        const yDora = adapterForwardRef(dora.cfg, dora.W0, dora.params, dora.X).Y;
        expect(relativeError(yD2, yDora)).toBeLessThan(1e-14);
        expect(relativeError(mergeRef(d2.cfg, d2.W0, d2.params), mergeRef(dora.cfg, dora.W0, dora.params))).toBeLessThan(1e-14);
        if (!detachNorm) continue; // DoRA's backward detaches its norm; only the detached D2-LoRA matches it
        const gD2 = analyticGradients(d2);
        const gDora = analyticGradients(dora);
        expect(relativeError(gD2.dX, gDora.dX)).toBeLessThan(1e-14);
        expect(relativeError(gD2.grads.uPlus, gDora.grads.u)).toBeLessThan(1e-14);
        expect(relativeError(gD2.grads.dPlus, gDora.grads.d)).toBeLessThan(1e-14);
        expect(maxAbs(gD2.grads.uMinus) + maxAbs(gD2.grads.dMinus)).toBe(0);
      }
    }
  });

  it('D2-LoRA with projection off is LoRA of rank 2r with U = [U₊, −τU₋], D = [D₊; D₋]', () => {
    for (const p of SHAPES) {
      for (const tau of [0.5, 1, -0.3]) {
        const d2 = randomCase({ method: 'd2lora', project: false, tau }, p, 7000);
        const { uPlus, dPlus, uMinus, dMinus } = d2.params.tensors;
        const r2 = 2 * p.r;
        const u = new Float64Array(p.out * r2);
        for (let j = 0; j < p.out; j++) {
          for (let k = 0; k < p.r; k++) {
            u[j * r2 + k] = uPlus.data[j * p.r + k];
            u[j * r2 + p.r + k] = -tau * uMinus.data[j * p.r + k];
          }
        }
        const d = Float64Array.from([...dPlus.data, ...dMinus.data]);
        const loraParams: AdapterParams<Float64Array> = {
          method: 'lora',
          r: r2,
          out: p.out,
          in: p.in,
          tensors: { u: { shape: [p.out, r2], data: u }, d: { shape: [r2, p.in], data: d } },
        };
        // Same s: rank 2r needs α doubled (s = α/r).
        const lora: Case = { ...d2, cfg: config({ method: 'lora', r: r2, alpha: 2 * d2.cfg.alpha }), params: loraParams };
        const yD2 = adapterForwardRef(d2.cfg, d2.W0, d2.params, d2.X).Y;
        expect(relativeError(yD2, adapterForwardRef(lora.cfg, lora.W0, lora.params, lora.X).Y)).toBeLessThan(1e-14);
        expect(relativeError(mergeRef(d2.cfg, d2.W0, d2.params), mergeRef(lora.cfg, lora.W0, lora.params))).toBeLessThan(1e-15);
        const gD2 = analyticGradients(d2);
        const gLora = analyticGradients(lora);
        expect(relativeError(gD2.dX, gLora.dX)).toBeLessThan(1e-14);
        const du = gLora.grads.u;
        const dd = gLora.grads.d;
        const columns = (from: number, scale: number) =>
          Float64Array.from({ length: p.out * p.r }, (_, k) => scale * du[Math.floor(k / p.r) * r2 + from + (k % p.r)]);
        expect(relativeError(gD2.grads.uPlus, columns(0, 1))).toBeLessThan(1e-14);
        expect(relativeError(gD2.grads.uMinus, columns(p.r, -tau))).toBeLessThan(1e-14); // U₋ enters as −τU₋
        expect(relativeError(gD2.grads.dPlus, dd.subarray(0, p.r * p.in))).toBeLessThan(1e-14);
        expect(relativeError(gD2.grads.dMinus, dd.subarray(p.r * p.in))).toBeLessThan(1e-14);
      }
    }
  });
});

describe('adapter reference: operand checks', () => {
  it('rejects params that do not match the config or the layer', () => {
    const c = randomCase({ method: 'd2lora' }, SHAPES[0], 1);
    expect(() => adapterForwardRef(config({ method: 'lora', r: 2 }), c.W0, c.params, c.X)).toThrow(/config is lora/);
    expect(() => adapterForwardRef(c.cfg, c.W0.subarray(1), c.params, c.X)).toThrow(/W0/);
    expect(() => adapterForwardRef(c.cfg, c.W0, c.params, c.X.subarray(1))).toThrow(/X/);
    const { cache } = adapterForwardRef(c.cfg, c.W0, c.params, c.X);
    expect(() => adapterBackwardRef(c.cfg, c.W0, c.params, c.X, c.R.subarray(1), cache)).toThrow(/G/);
    const bad = { ...c.params, tensors: { ...c.params.tensors, dMinus: { shape: [5, 2], data: new Float64Array(10) } } };
    expect(() => mergeRef(c.cfg, c.W0, bad)).toThrow(/dMinus/);
  });

  it('accepts fp32 operands and computes in f64', () => {
    const c = randomCase({ method: 'd2lora' }, SHAPES[0], 8);
    const W0 = Float32Array.from(c.W0);
    const X = Float32Array.from(c.X);
    type Real = Float32Array | Float64Array;
    const convert = <T extends Real>(from: AdapterParams<Real>, to: (d: ArrayLike<number>) => T): AdapterParams<T> => ({
      ...from,
      tensors: Object.fromEntries(Object.entries(from.tensors).map(([name, t]) => [name, { shape: t.shape, data: to(t.data) }])),
    });
    const params = convert(c.params, (d) => Float32Array.from(d));
    const asF64 = convert(params, (d) => Float64Array.from(d));
    const Y = adapterForwardRef(c.cfg, W0, params, X).Y;
    expect(Y).toBeInstanceOf(Float64Array);
    expect(Y).toEqual(adapterForwardRef(c.cfg, Float64Array.from(W0), asF64, Float64Array.from(X)).Y);
  });

  it('keeps the default config usable on a layer large enough for r = 8', () => {
    const p = { out: 12, in: 10, r: 8, N: 2 };
    const cfg = defaultAdapterConfig({}, p);
    expect(cfg).toEqual(defaultAdapterConfig());
    const c: Case = { ...randomCase({}, p, 9), cfg };
    const errors = gradientErrors(analyticGradients(c), finiteDifferenceGradients(c));
    for (const error of Object.values(errors)) expect(error).toBeLessThan(1e-7);
  });
});
