// The parts every adapter method shares: the packed factors U (out×R), D (R×in) and scale σ
// (R), their gradients, and the skinny products of the forward and backward. The methods in
// lora.ts, dora.ts and d2lora.ts compose these with their own rescaling.
//
// Equations (docs/D2LORA.md, "Never materialise ΔW in the hot path"), with Uσ = U·diag(σ),
// Dσ = diag(σ)·D, so that ΔW = Uσ·D and L = X·ΔWᵀ:
//   forward   P  = X·W0ᵀ                 (N×out)   the frozen product
//             Hs = X·Dσᵀ = (X·Dᵀ)·diag(σ) (N×R)    the spec's s·H± with signs folded in
//             L  = Hs·Uᵀ                 (N×out)
//   backward  dX = Gs·W0 + Ts·D,  Ts = Gl·Uσ = (Gl·U)·diag(σ)   (N×in, N×R)
// (σ scales the skinny products' columns as the matmul stores them: no Uσ or Dσ is formed for
// them; a low-rank product beside a frozen one, Hs·Uᵀ or Ts·D, is the matmul's second product,
// summed in the same dispatch)
//             dU += Glᵀ·Hs                (out×R)   = s·Glᵀ H₊ and −sτ·Glᵀ H₋
//             dD += Tsᵀ·X                 (R×in)    = s·(Gl U₊)ᵀ X and −sτ·(Gl U₋)ᵀ X

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { linearBackwardInput, linearForward, matmul } from '../ops/matmul';
import type { BaseLinear, TrainableStorage } from './layer';

export class LowRankFactors {
  readonly u: Tensor;
  readonly d: Tensor;
  readonly sigma: Tensor;
  readonly dU: Tensor;
  readonly dD: Tensor;

  constructor(
    readonly ctx: GpuContext,
    readonly base: BaseLinear,
    /** R: the packed rank (2r for D2-LoRA). */
    readonly rank: number,
    u: Float32Array,
    d: Float32Array,
    sigma: Float32Array,
    storage: TrainableStorage,
  ) {
    const { out, in: inF } = base;
    ({ param: this.u, grad: this.dU } = storage.take([out, rank], u, `${base.name}.U`));
    ({ param: this.d, grad: this.dD } = storage.take([rank, inF], d, `${base.name}.D`));
    this.sigma = ctx.upload(sigma, [rank], `${base.name}.σ`);
  }

  /** Hs = X·Dσᵀ = (X·Dᵀ)·diag(σ) (rows×R): σ scales the product's columns as it is stored. */
  projectDown(x: Tensor, rows: number): Tensor {
    const hs = this.ctx.tensor([rows, this.rank], 'f32', `${this.base.name}.Hs`);
    matmul(this.ctx, { a: x, b: this.d, c: hs, M: rows, N: this.rank, K: this.base.in, transB: true, scale: this.sigma });
    return hs;
  }

  /** out = X·W0ᵀ + Hs·Uᵀ (+ bias when given) in one dispatch, through W0's layout: every method's P + L. */
  baseForwardPlusUp(x: Tensor, hs: Tensor, out: Tensor, rows: number, bias?: Tensor): void {
    linearForward(this.ctx, x, this.base.weight, out, { rows, ...this.base }, { bias, plus: { a: hs, b: this.u, K: this.rank, transB: true } });
  }

  /**
   * The shared backward: given Gs (scales the frozen path) and Gl (scales the low-rank path),
   * returns dX = Gs·W0 + Ts·D with Ts = Gl·Uσ = (Gl·U)·diag(σ), and accumulates dU += Glᵀ·Hs,
   * dD += Tsᵀ·X. Returns Ts too (rows×R); the caller releases both. With `into`, dX is added to
   * it and `into` is returned as dx.
   */
  backward(gs: Tensor, gl: Tensor, x: Tensor, hs: Tensor, rows: number, into?: Tensor): { dx: Tensor; ts: Tensor } {
    const { ctx, rank, base } = this;
    const ts = ctx.tensor([rows, rank], 'f32', `${base.name}.Ts`);
    matmul(ctx, { a: gl, b: this.u, c: ts, M: rows, N: rank, K: base.out, scale: this.sigma });
    const dx = into ?? ctx.tensor([rows, base.in], 'f32', `${base.name}.dX`);
    linearBackwardInput(ctx, gs, base.weight, dx, { rows, ...base }, { accumulate: into !== undefined, plus: { a: ts, b: this.d, K: rank } });
    matmul(ctx, { a: gl, b: hs, c: this.dU, M: base.out, N: rank, K: rows, transA: true, accumulate: true });
    matmul(ctx, { a: ts, b: x, c: this.dD, M: rank, N: base.in, K: rows, transA: true, accumulate: true });
    return { dx, ts };
  }

  /** A = W0·Dᵀ (out×R) and Mg = D·Dᵀ (R×R): the inputs of the column-norm pass. */
  normProducts(): { w0dT: Tensor; gram: Tensor } {
    const { ctx, rank, base } = this;
    const w0dT = ctx.tensor([base.out, rank], 'f32', `${base.name}.W0Dᵀ`);
    matmul(ctx, { a: base.weight, b: this.d, c: w0dT, M: base.out, N: rank, K: base.in, transA: base.layout === 'in_out', transB: true });
    const gram = ctx.tensor([rank, rank], 'f32', `${base.name}.DDᵀ`);
    matmul(ctx, { a: this.d, b: this.d, c: gram, M: rank, N: rank, K: base.in, transB: true });
    return { w0dT, gram };
  }

  zeroGrads(): void {
    this.ctx.clear(this.dU);
    this.ctx.clear(this.dD);
  }

  destroy(): void {
    for (const t of [this.u, this.d, this.sigma, this.dU, this.dD]) t.release();
  }
}
