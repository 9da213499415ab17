// Inside an adapter: what training did to one adapted layer, from its factors and W0, without
// building ΔW (out×in). With ΔW = Uσ·D (U out×R, σ R, D R×in; see method.ts), per row j:
//
//   a_j = ‖W0_j‖² = c_j²                     the base row norm, squared
//   b_j = W0_j·ΔW_j = Σ_k (W0·Dᵀ)_jk σ_k U_jk   O(out·in·R) for W0·Dᵀ, the one product with W0
//   e_j = ‖ΔW_j‖²  = (Uσ)_j (D·Dᵀ) (Uσ)_jᵀ     D·Dᵀ is R×R
//   ‖V_j‖² = a_j + 2b_j + e_j,  V = W0 + ΔW
//
// and from these, by the method's weight form (docs/D2LORA.md):
//   additive (LoRA; D2-LoRA without projection)  W_eff_j = V_j
//   rescaled, D2-LoRA  g_j = c_j / n_j, n_j = sqrt(‖V_j‖² + ε),  W_eff_j = g_j V_j + ρ ΔW_j,
//                      ‖W_eff_j‖² = g²‖V_j‖² + 2gρ (b_j + e_j) + ρ² e_j
//   rescaled, DoRA     g_j = m_j / n_j, W_eff_j = g_j V_j (‖W_eff_j‖ = m_j ‖V_j‖ / n_j)
// The figures: ‖ΔW‖_F / ‖W0‖_F; for D2-LoRA each branch's ‖·‖_F (s·U₊D₊ and sτ·U₋D₋, from the
// same Gram blocks); the row rescale g_j; each row of W_eff's drift from its original norm,
// ‖W_eff_j‖ / c_j − 1; for DoRA the learned magnitude against the base row norm, m_j / c_j.
// Accumulated in f64 on the host.

import type { AdapterConfig } from './config';
import { baseWeightStrides, type AdapterParams, type RealArray, type WeightLayout } from './init';
import { METHOD_SPECS } from './methods';

export interface LayerAnatomy {
  /** ‖ΔW‖_F / ‖W0‖_F. */
  updateRatio: number;
  deltaNorm: number;
  baseNorm: number;
  /** D2-LoRA: ‖s·U₊D₊‖_F and ‖sτ·U₋D₋‖_F. */
  branches: { plus: number; minus: number } | null;
  /** Per row: the rescale g_j (D2-LoRA with projection: c/n; DoRA: m/n); null for additive forms. */
  rowScale: Float64Array | null;
  /** Per row: ‖W_eff_j‖ / c_j − 1. */
  rowDrift: Float64Array;
  /** DoRA: m_j / c_j per row. */
  magnitudeRatio: Float64Array | null;
}

export function layerAnatomy(cfg: AdapterConfig, W0: RealArray, params: AdapterParams, layout: WeightLayout = 'out_in'): LayerAnatomy {
  const spec = METHOD_SPECS[cfg.method];
  const { out, in: inF } = params;
  const packed = spec.pack(params, cfg);
  const R = spec.packedRank(cfg);
  const { u, d, sigma } = packed;
  const form = spec.form(cfg);
  const strides = baseWeightStrides(layout, params);

  // D·Dᵀ (R×R) and W0·Dᵀ (out×R), in f64.
  const gram = new Float64Array(R * R);
  for (let k = 0; k < R; k++) {
    for (let l = k; l < R; l++) {
      let acc = 0;
      for (let i = 0; i < inF; i++) acc += d[k * inF + i]! * d[l * inF + i]!;
      gram[k * R + l] = gram[l * R + k] = acc;
    }
  }
  const a = new Float64Array(out);
  const b = new Float64Array(out);
  const e = new Float64Array(out);
  const us = new Float64Array(R);
  // Each branch's Σ_j e_j over its own block of ranks (D2-LoRA: ranks [0, r) plus, [r, 2r) minus).
  const blocks = cfg.method === 'd2lora' ? [[0, cfg.r], [cfg.r, 2 * cfg.r]] : [[0, R]];
  const blockNorm2 = blocks.map(() => 0);
  const w0d = new Float64Array(R);
  for (let j = 0; j < out; j++) {
    w0d.fill(0);
    let aj = 0;
    for (let i = 0; i < inF; i++) {
      const w = W0[j * strides.row + i * strides.col]!;
      aj += w * w;
      for (let k = 0; k < R; k++) w0d[k]! += w * d[k * inF + i]!;
    }
    for (let k = 0; k < R; k++) us[k] = u[j * R + k]! * sigma[k]!;
    let bj = 0;
    for (let k = 0; k < R; k++) bj += w0d[k]! * us[k]!;
    let ej = 0;
    for (let k = 0; k < R; k++) for (let l = 0; l < R; l++) ej += us[k]! * gram[k * R + l]! * us[l]!;
    blocks.forEach(([lo, hi], n) => {
      let part = 0;
      for (let k = lo!; k < hi!; k++) for (let l = lo!; l < hi!; l++) part += us[k]! * gram[k * R + l]! * us[l]!;
      blockNorm2[n]! += part;
    });
    a[j] = aj;
    b[j] = bj;
    e[j] = ej;
  }

  const rowScale = form.kind === 'rescaled' ? new Float64Array(out) : null;
  const rowDrift = new Float64Array(out);
  const magnitudeRatio = form.kind === 'rescaled' && form.magnitude === 'trainable' ? new Float64Array(out) : null;
  for (let j = 0; j < out; j++) {
    const c = Math.sqrt(a[j]!);
    const v2 = Math.max(0, a[j]! + 2 * b[j]! + e[j]!);
    let w2: number;
    if (form.kind === 'additive') {
      w2 = v2;
    } else {
      const n = Math.sqrt(v2 + cfg.eps);
      const mag = form.magnitude === 'trainable' ? packed.m![j]! : c;
      const g = mag / n;
      rowScale![j] = g;
      const rho = form.rho;
      w2 = Math.max(0, g * g * v2 + 2 * g * rho * (b[j]! + e[j]!) + rho * rho * e[j]!);
      if (magnitudeRatio !== null) magnitudeRatio[j] = c === 0 ? NaN : mag / c;
    }
    rowDrift[j] = c === 0 ? NaN : Math.sqrt(w2) / c - 1;
  }
  const deltaNorm = Math.sqrt(e.reduce((s, x) => s + x, 0));
  const baseNorm = Math.sqrt(a.reduce((s, x) => s + x, 0));
  return {
    updateRatio: baseNorm === 0 ? NaN : deltaNorm / baseNorm,
    deltaNorm,
    baseNorm,
    branches: cfg.method === 'd2lora' ? { plus: Math.sqrt(blockNorm2[0]!), minus: Math.sqrt(blockNorm2[1]!) } : null,
    rowScale,
    rowDrift,
    magnitudeRatio,
  };
}

/** A distribution in a few numbers: the quantiles a report prints and a histogram of `bins` bins. */
export interface Distribution {
  min: number;
  p05: number;
  median: number;
  p95: number;
  max: number;
  mean: number;
  histogram: { from: number; to: number; counts: number[] };
}

export function distribution(values: Float64Array, bins = 20): Distribution {
  const xs = Float64Array.from(values.filter(Number.isFinite)).sort();
  if (xs.length === 0) return { min: NaN, p05: NaN, median: NaN, p95: NaN, max: NaN, mean: NaN, histogram: { from: NaN, to: NaN, counts: [] } };
  const q = (p: number) => xs[Math.min(xs.length - 1, Math.floor(p * (xs.length - 1) + 0.5))]!;
  const from = xs[0]!;
  const to = xs[xs.length - 1]!;
  const counts = new Array<number>(bins).fill(0);
  const width = (to - from) / bins;
  for (const x of xs) counts[width === 0 ? 0 : Math.min(bins - 1, Math.floor((x - from) / width))]!++;
  return { min: from, p05: q(0.05), median: q(0.5), p95: q(0.95), max: to, mean: xs.reduce((s, x) => s + x, 0) / xs.length, histogram: { from, to, counts } };
}
