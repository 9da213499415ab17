// What distinguishes one adapter method from another, given the shared rank-R machinery:
// how its named factors pack into U (out×R), D (R×in) and σ (R), and which weight form it
// trains. lora.ts, dora.ts and d2lora.ts each export one MethodSpec.

import type { AdapterConfig, AdapterMethod } from './config';
import type { AdapterParams } from './init';

export interface PackedFactors {
  /** U (out×R), row-major. */
  u: Float32Array;
  /** D (R×in), row-major. */
  d: Float32Array;
  /** σ (R): the per-rank scale, signs included. */
  sigma: Float32Array;
  /** DoRA's magnitude m (out). */
  m?: Float32Array;
}

/**
 * The weight form a method trains:
 *   additive:  W_eff = W0 + ΔW                              (LoRA; D2-LoRA without projection)
 *   rescaled:  W_eff = diag(g)·(W0 + ΔW) + ρ·ΔW, g = mag/n   (D2-LoRA: mag = c; DoRA: mag = m, ρ = 0)
 */
export type WeightForm =
  | { kind: 'additive' }
  | { kind: 'rescaled'; magnitude: 'base-norm'; rho: number; gradThroughNorm: boolean }
  | { kind: 'rescaled'; magnitude: 'trainable'; rho: 0; gradThroughNorm: false };

export interface MethodSpec {
  method: AdapterMethod;
  /** R, the packed rank. */
  packedRank(cfg: AdapterConfig): number;
  form(cfg: AdapterConfig): WeightForm;
  pack(params: AdapterParams, cfg: AdapterConfig): PackedFactors;
  unpack(packed: { u: Float32Array; d: Float32Array; m?: Float32Array }, cfg: AdapterConfig, shape: { out: number; in: number }): AdapterParams;
}

/** Columns [c0, c0 + width) of a row-major (rows×cols) matrix, as a (rows×width) copy. */
export function columnBlock(m: Float32Array, rows: number, cols: number, c0: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let i = 0; i < rows; i++) out.set(m.subarray(i * cols + c0, i * cols + c0 + width), i * width);
  return out;
}

/** [A | B] for row-major A (rows×ca), B (rows×cb). */
export function concatColumns(a: Float32Array, b: Float32Array, rows: number, ca: number, cb: number): Float32Array {
  const out = new Float32Array(rows * (ca + cb));
  for (let i = 0; i < rows; i++) {
    out.set(a.subarray(i * ca, (i + 1) * ca), i * (ca + cb));
    out.set(b.subarray(i * cb, (i + 1) * cb), i * (ca + cb) + ca);
  }
  return out;
}

export function filled(n: number, v: number): Float32Array {
  return new Float32Array(n).fill(v);
}
