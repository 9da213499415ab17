// AdamW over the adapter parameters, with global gradient-norm clipping decided on the GPU:
// each gradient's Σg² by block goes to its own range of `partials`, one clip_factor turns them all
// into the factor that adamw_step reads, so a whole step needs no read-back. Tensors kept in the
// model's arenas are updated a chunk at a time: the arena's padding is zero in the parameters,
// the gradients and the moments alike, and AdamW leaves zeros zero. A non-finite gradient norm makes the
// factor 0 and adamw_step leaves that step's parameters and moments untouched.

import type { GpuContext } from '../gpu/context';
import type { TensorArena } from '../gpu/arena';
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

/** Tensors one sum-of-squares and one AdamW dispatch update together: one tensor, or a chunk of the arenas. */
interface Slab {
  param: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
  /** Its first block in `partials`. */
  first: number;
}

export class AdamW {
  /** Each tensor's moments (views of a slab's, for tensors kept in an arena). */
  readonly m: Tensor[];
  readonly v: Tensor[];
  /** [clip factor, total gradient norm] of the last step. */
  readonly factor: Tensor;
  /** Σg² by block of every slab's gradient, slab after slab. */
  private readonly partials: Tensor;
  private readonly slabs: Slab[];
  /** The moment buffers this optimizer made (the slabs' own in an arena, else the tensors'). */
  private readonly owned: Tensor[];

  /**
   * With `arenas` (the model's: src/gpu/arena.ts), `tensors` must be every tensor of the
   * parameter arena with its gradient at the same place of the gradient arena: the update then
   * runs chunk by chunk, two dispatches a chunk and one more, whatever the number of tensors.
   * Without, two dispatches a tensor and one more.
   */
  constructor(
    readonly ctx: GpuContext,
    readonly tensors: readonly OptimizedTensor[],
    readonly config: AdamWConfig,
    arenas?: { params: TensorArena; grads: TensorArena },
  ) {
    if (tensors.length === 0) throw new Error('AdamW: no parameters to optimize');
    let blocks = 0;
    const slab = (param: Tensor, grad: Tensor, m: Tensor, v: Tensor): Slab => {
      const first = blocks;
      blocks += sumOfSquaresBlocks(grad.size);
      return { param, grad, m, v, first };
    };
    if (arenas) {
      const { params, grads } = arenas;
      const index = new Map(params.views.map(({ view }, i) => [view, i]));
      const placed = tensors.map((t) => index.get(t.param));
      const ok =
        params.complete && grads.complete && placed.length === params.views.length && new Set(placed).size === placed.length &&
        tensors.every((t, i) => {
          const at = placed[i];
          return at !== undefined && grads.views[at]!.view === t.grad && grads.views[at]!.chunk === params.views[at]!.chunk && t.grad.byteOffset === t.param.byteOffset;
        });
      if (!ok) throw new Error("AdamW: the tensors must be every tensor of the parameter arena, each with its gradient at the same place of the gradient arena");
      this.owned = params.chunks.flatMap((c, i) => [ctx.zeros(c.shape, 'f32', `exp_avg ${i + 1}`), ctx.zeros(c.shape, 'f32', `exp_avg_sq ${i + 1}`)]);
      this.slabs = params.chunks.map((c, i) => slab(c, grads.chunks[i]!, this.owned[2 * i]!, this.owned[2 * i + 1]!));
      const momentView = (t: OptimizedTensor, i: number, which: 'm' | 'v') =>
        ctx.view(this.slabs[params.views[placed[i]!]!.chunk]![which], t.param.byteOffset / 4, t.param.shape, `${t.name}.${which === 'm' ? 'exp_avg' : 'exp_avg_sq'}`);
      this.m = tensors.map((t, i) => momentView(t, i, 'm'));
      this.v = tensors.map((t, i) => momentView(t, i, 'v'));
    } else {
      this.m = tensors.map((t) => ctx.zeros(t.param.shape, 'f32', `${t.name}.exp_avg`));
      this.v = tensors.map((t) => ctx.zeros(t.param.shape, 'f32', `${t.name}.exp_avg_sq`));
      this.owned = [...this.m, ...this.v];
      this.slabs = tensors.map((t, i) => slab(t.param, t.grad, this.m[i]!, this.v[i]!));
    }
    this.factor = ctx.zeros([2], 'f32', 'clip factor');
    this.partials = ctx.zeros([Math.max(1, blocks)], 'f32', 'grad norm partials');
  }

  /** Records one update with learning rate `lr` as step t (1-based, for bias correction). */
  step(lr: number, t: number): void {
    const { ctx, config } = this;
    for (const s of this.slabs) sumOfSquaresPartials(ctx, { x: s.grad, partials: this.partials }, { n: s.grad.size, first: s.first });
    clipFactor(ctx, { partials: this.partials, factor: this.factor }, { count: this.partials.size, maxNorm: config.maxGradNorm });
    for (const s of this.slabs) {
      adamwStep(ctx, { param: s.param, grad: s.grad, m: s.m, v: s.v, factor: this.factor }, {
        n: s.param.size,
        lr,
        beta1: config.beta1,
        beta2: config.beta2,
        eps: config.eps,
        weightDecay: config.weightDecay,
        step: t,
      });
    }
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
    for (const t of [...this.m, ...this.v, ...this.owned, this.factor, this.partials]) t.release();
  }
}
