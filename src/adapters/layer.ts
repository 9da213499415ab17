// The adapted linear layer on the GPU: one interface, three methods as variants (lora.ts,
// dora.ts, d2lora.ts), each with its own forward, backward and merge, composed from the
// shared low-rank products of lowrank.ts.
//
// Every method trains a rank-R update ΔW = U·diag(σ)·D = Uσ·D (see shaders/adapters.wgsl):
//   LoRA R = r, σ = s;  DoRA R = r, σ = s;  D2-LoRA R = 2r, U = [U₊ | U₋], D = [D₊; D₋],
//   σ = [s…, −sτ…]. The GPU keeps U (out×R) and D (R×in) packed; the spec's named factors
//   (uPlus, dPlus, …) are what goes in and out (AdapterParams).

import type { Tensor } from '../gpu/tensor';
import type { AdapterConfig, AdapterMethod } from './config';
import type { AdapterParams, WeightLayout } from './init';

/** The frozen linear layer an adapter wraps: y = x·W0ᵀ (+ bias). Uploaded once, never written. */
export interface BaseLinear {
  /** W0, (out×in) in `layout` ('in_out' for GPT-2's Conv1D, read as is, never transposed). */
  weight: Tensor;
  bias?: Tensor | undefined;
  out: number;
  in: number;
  layout: WeightLayout;
  /** For error messages and exported names, e.g. "model.layers.0.self_attn.q_proj". */
  name: string;
  /**
   * c_j = ‖W0_j‖ computed on the host in f64 (then rounded), when W0 is at hand there: it is
   * then bitwise the DoRA init's m, so that m/c is exactly 1 at step 0. Else a GPU kernel
   * computes c.
   */
  rowNorms?: Float32Array | undefined;
}

/**
 * Where an adapted layer keeps each trainable tensor and its gradient: by default a tensor of its
 * own each (ownTrainables); the model gives its layers views of two arenas (src/gpu/arena.ts).
 */
export interface TrainableStorage {
  /** The trainable tensor `label` of `shape`, holding `data`, and its gradient, zeroed. */
  take(shape: readonly number[], data: Float32Array, label: string): { param: Tensor; grad: Tensor };
}

export interface AdaptedLinear {
  readonly method: AdapterMethod;
  readonly cfg: AdapterConfig;
  readonly base: BaseLinear;
  /** Trainable tensors (packed: U, D and, for DoRA, m), what the optimizer updates. */
  readonly params: Readonly<Record<string, Tensor>>;
  /** Gradients, same names and shapes as params; backward() accumulates into them. */
  readonly grads: Readonly<Record<string, Tensor>>;
  /**
   * Y (rows×out) for X (rows×in). Records the work and keeps what the backward needs; X must
   * stay alive until backward() (or discardCache()). The caller releases Y.
   */
  forward(x: Tensor, rows: number): Tensor;
  /** Forward without keeping anything for a backward (evaluation). */
  infer(x: Tensor, rows: number): Tensor;
  /**
   * dX (rows×in) for G = ∂loss/∂Y; adds the parameter gradients into grads. With `into`, dX is
   * added to it and `into` is returned (a sum of input gradients needs no dispatch of its own);
   * else the caller releases dX.
   */
  backward(dy: Tensor, into?: Tensor): Tensor;
  /** Drops the saved forward state without a backward. */
  discardCache(): void;
  /** Ŵ in the base's shape and layout: the merged weight, a new tensor the caller owns. */
  merge(): Tensor;
  zeroGrads(): void;
  /** Reads the factors back under the spec's names (uPlus, dPlus, …). */
  readParams(): Promise<AdapterParams>;
  /** Replaces the factors (e.g. from a saved state). */
  writeParams(params: AdapterParams): void;
  destroy(): void;
}
