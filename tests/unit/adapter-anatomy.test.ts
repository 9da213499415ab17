// Inside the adapter (src/adapters/anatomy.ts), from the factors alone, against the literal
// computation: ΔW and W_eff built as full out×in matrices by the f64 reference
// (src/ref/adapters.ts denseEffectiveWeightRef) and their norms taken row by row. Every method,
// the D2-LoRA ablations that change the weight form, both weight layouts.

import { describe, expect, it } from 'vitest';
import { distribution, layerAnatomy } from '../../src/adapters/anatomy';
import type { AdapterConfig } from '../../src/adapters/config';
import { adapterTensorShapes, baseRowNorms, type AdapterParams, type WeightLayout } from '../../src/adapters/init';
import { denseEffectiveWeightRef } from '../../src/ref/adapters';
import { defaultAdapterConfig } from '../../src/run/spec';
import { Rng } from '../../src/util/rng';

const SHAPE = { out: 23, in: 17 };

function random(rng: Rng, n: number, lo = -0.5, hi = 0.5): Float32Array {
  return Float32Array.from({ length: n }, () => rng.uniform(lo, hi));
}

/** Non-zero factors everywhere (an init's zeros would hide terms); DoRA's m near the row norms. */
function params(cfg: AdapterConfig, W0: Float32Array, layout: WeightLayout, rng: Rng): AdapterParams {
  const tensors: AdapterParams['tensors'] = {};
  const c = baseRowNorms(W0, SHAPE, layout);
  for (const [name, shape] of Object.entries(adapterTensorShapes(cfg.method, cfg.r, SHAPE))) {
    const n = shape.reduce((a, b) => a * b, 1);
    tensors[name] = { shape, data: name === 'm' ? Float32Array.from(c, (x) => x * rng.uniform(0.7, 1.3)) : random(rng, n) };
  }
  return { method: cfg.method, r: cfg.r, out: SHAPE.out, in: SHAPE.in, tensors };
}

/** ‖row j‖ of a row-major out×in matrix. */
function rowNorm(m: Float64Array, j: number): number {
  let s = 0;
  for (let i = 0; i < SHAPE.in; i++) s += m[j * SHAPE.in + i]! ** 2;
  return Math.sqrt(s);
}

function frobenius(m: Float64Array): number {
  return Math.sqrt(m.reduce((s, x) => s + x * x, 0));
}

/** W0 (out, in) row-major from its stored layout. */
function asOutIn(W0: Float32Array, layout: WeightLayout): Float64Array {
  if (layout === 'out_in') return Float64Array.from(W0);
  return Float64Array.from({ length: SHAPE.out * SHAPE.in }, (_, k) => W0[(k % SHAPE.in) * SHAPE.out + Math.floor(k / SHAPE.in)]!);
}

const CASES: [string, Partial<AdapterConfig>][] = [
  ['LoRA', { method: 'lora', r: 3 }],
  ['DoRA', { method: 'dora', r: 3 }],
  ['D2-LoRA', { method: 'd2lora', r: 3, tau: 0.5 }],
  ['D2-LoRA ρ = 0', { method: 'd2lora', r: 2, readd: 0 }],
  ['D2-LoRA projection off', { method: 'd2lora', r: 2, project: false }],
  ['D2-LoRA τ = 1, rsLoRA', { method: 'd2lora', r: 4, tau: 1, scaling: 'rslora' }],
];

describe('inside the adapter, from the factors, equals the dense computation', () => {
  for (const layout of ['out_in', 'in_out'] as const) {
    for (const [name, partial] of CASES) {
      it(`${name} (${layout})`, () => {
        const rng = new Rng(name.length * 7 + (layout === 'out_in' ? 1 : 2));
        const cfg = defaultAdapterConfig({ alpha: 3, ...partial });
        const W0 = random(rng, SHAPE.out * SHAPE.in);
        const p = params(cfg, W0, layout, rng);
        const got = layerAnatomy(cfg, W0, p, layout);

        const w0 = asOutIn(W0, layout);
        const wEff = denseEffectiveWeightRef(cfg, W0, p, { layout });
        // ΔW: the additive form's effective weight less W0 (D2-LoRA unprojected, or LoRA with the same U, D).
        const additive = cfg.method === 'd2lora' ? { ...cfg, project: false } : { ...cfg, method: 'lora' as const };
        const additiveParams = cfg.method === 'dora' ? { ...p, method: 'lora' as const, tensors: { u: p.tensors.u!, d: p.tensors.d! } } : p;
        const V = denseEffectiveWeightRef(additive, W0, additiveParams, { layout });
        const dW = V.map((v, k) => v - w0[k]!);
        const tol = (x: number) => 1e-10 * Math.max(1, Math.abs(x));

        expect(got.deltaNorm).toBeCloseTo(frobenius(dW), 10);
        expect(Math.abs(got.updateRatio - frobenius(dW) / frobenius(w0))).toBeLessThanOrEqual(tol(got.updateRatio));
        for (let j = 0; j < SHAPE.out; j++) {
          const c = rowNorm(w0, j);
          expect(Math.abs(got.rowDrift[j]! - (rowNorm(wEff, j) / c - 1)), `drift row ${j}`).toBeLessThanOrEqual(1e-10);
          if (got.rowScale !== null) {
            const mag = cfg.method === 'dora' ? p.tensors.m!.data[j]! : c;
            expect(Math.abs(got.rowScale[j]! - mag / Math.sqrt(rowNorm(V, j) ** 2 + cfg.eps)), `scale row ${j}`).toBeLessThanOrEqual(1e-10);
          }
          if (got.magnitudeRatio !== null) expect(got.magnitudeRatio[j]!).toBeCloseTo(p.tensors.m!.data[j]! / c, 12);
        }
        expect(got.rowScale === null).toBe(cfg.method === 'lora' || (cfg.method === 'd2lora' && !cfg.project));
        if (cfg.method === 'd2lora') {
          // Each branch alone: the minus branch's factors zeroed, then the plus branch's.
          const only = (keep: 'plus' | 'minus') => {
            const zero = (n: string) => ({ ...p.tensors[n]!, data: new Float32Array(p.tensors[n]!.data.length) });
            const t = keep === 'plus' ? { ...p.tensors, uMinus: zero('uMinus') } : { ...p.tensors, uPlus: zero('uPlus') };
            const v = denseEffectiveWeightRef({ ...cfg, project: false }, W0, { ...p, tensors: t }, { layout });
            return frobenius(v.map((x, k) => x - w0[k]!));
          };
          expect(got.branches!.plus).toBeCloseTo(only('plus'), 10);
          expect(got.branches!.minus).toBeCloseTo(only('minus'), 10);
        } else {
          expect(got.branches).toBeNull();
        }
      });
    }
  }

  it('at initialisation every row keeps its norm and the update is zero', () => {
    const cfg = defaultAdapterConfig({ method: 'd2lora', r: 2 });
    const rng = new Rng(3);
    const W0 = random(rng, SHAPE.out * SHAPE.in);
    const p = params(cfg, W0, 'out_in', rng);
    p.tensors.uPlus!.data.fill(0);
    p.tensors.dMinus!.data.fill(0);
    const got = layerAnatomy(cfg, W0, p);
    expect(got.updateRatio).toBe(0);
    expect(got.branches).toEqual({ plus: 0, minus: 0 });
    for (const d of got.rowDrift) expect(Math.abs(d)).toBeLessThan(1e-12);
    for (const g of got.rowScale!) expect(Math.abs(g - 1)).toBeLessThan(1e-12);
  });
});

describe('distribution', () => {
  it('gives the quantiles and a histogram that counts every finite value', () => {
    const d = distribution(Float64Array.from([3, 1, 2, NaN, 4, 5]), 4);
    expect([d.min, d.median, d.max, d.mean]).toEqual([1, 3, 5, 3]);
    expect(d.histogram).toEqual({ from: 1, to: 5, counts: [1, 1, 1, 2] });
    expect(distribution(new Float64Array([2, 2, 2]), 3).histogram.counts).toEqual([3, 0, 0]);
  });
});
