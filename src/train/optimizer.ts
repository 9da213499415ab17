// AdamW over the adapter parameters, with global gradient-norm clipping decided on the GPU:
// each gradient's Σg² by block goes to its own range of `partials`, one clip_factor turns them all
// into the factor that adamw_step reads, so a whole step needs no read-back. A non-finite gradient norm makes the
// factor 0 and adamw_step leaves that step's parameters and moments untouched.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { adamwStep, clipFactor, sumOfSquaresBlocks, sumOfSquaresPartials } from '../ops/optimizer';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global gradient-norm clip; 0 disables clipping. */
  maxGradNorm: number;
}

export interface OptimizedTensor {
  /** Stable name, used in saved states. */
  name: string;
  param: Tensor;
  grad: Tensor;
}

export class AdamW {
  readonly m: Tensor[];
  readonly v: Tensor[];
  /** [clip factor, total gradient norm] of the last step. */
  readonly factor: Tensor;
  /** Σg² by block of every gradient, tensor after tensor (`firsts`: where each tensor's start). */
  private readonly partials: Tensor;
  private readonly firsts: number[];

  constructor(
    readonly ctx: GpuContext,
    readonly tensors: readonly OptimizedTensor[],
    readonly config: AdamWConfig,
  ) {
    if (tensors.length === 0) throw new Error('AdamW: no parameters to optimize');
    this.m = tensors.map((t) => ctx.zeros(t.param.shape, 'f32', `${t.name}.exp_avg`));
    this.v = tensors.map((t) => ctx.zeros(t.param.shape, 'f32', `${t.name}.exp_avg_sq`));
    this.factor = ctx.zeros([2], 'f32', 'clip factor');
    let blocks = 0;
    this.firsts = tensors.map((t) => {
      const first = blocks;
      blocks += sumOfSquaresBlocks(t.grad.size);
      return first;
    });
    this.partials = ctx.zeros([Math.max(1, blocks)], 'f32', 'grad norm partials');
  }

  /** Records one update with learning rate `lr` as step t (1-based, for bias correction). */
  step(lr: number, t: number): void {
    const { ctx, config } = this;
    this.tensors.forEach((p, i) => sumOfSquaresPartials(ctx, { x: p.grad, partials: this.partials }, { n: p.grad.size, first: this.firsts[i]! }));
    clipFactor(ctx, { partials: this.partials, factor: this.factor }, { count: this.partials.size, maxNorm: config.maxGradNorm });
    this.tensors.forEach((p, i) =>
      adamwStep(ctx, { param: p.param, grad: p.grad, m: this.m[i]!, v: this.v[i]!, factor: this.factor }, {
        n: p.param.size,
        lr,
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
        weightDecay: config.weightDecay,
        step: t,
      }),
    );
  }

  /** The moments, by tensor name, for a saved state. */
  async readMoments(): Promise<Map<string, { m: Float32Array; v: Float32Array }>> {
    const out = new Map<string, { m: Float32Array; v: Float32Array }>();
    for (let i = 0; i < this.tensors.length; i++) {
      out.set(this.tensors[i]!.name, { m: await this.ctx.read(this.m[i]!), v: await this.ctx.read(this.v[i]!) });
    }
    return out;
  }

  writeMoments(moments: Map<string, { m: Float32Array; v: Float32Array }>): void {
    this.tensors.forEach((t, i) => {
      const saved = moments.get(t.name);
      if (!saved) throw new Error(`optimizer state: moments of "${t.name}" are missing`);
      this.ctx.write(this.m[i]!, saved.m);
      this.ctx.write(this.v[i]!, saved.v);
    });
  }

  destroy(): void {
    for (const t of [...this.m, ...this.v, this.factor, this.partials]) t.release();
  }
}
