// A linear layer of the model as the forward/backward graph sees it: either frozen (base weight
// only, y = x·W0ᵀ + b) or adapted (src/adapters). Both record work synchronously.

import type { AdaptedLinear, BaseLinear } from '../adapters/layer';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { linearBackwardInput, linearForward } from '../ops/matmul';

export interface LinearLayer {
  readonly base: BaseLinear;
  /** Y (rows×out); keeps what backward() needs. */
  forward(x: Tensor, rows: number): Tensor;
  /** Y (rows×out) without keeping anything. */
  infer(x: Tensor, rows: number): Tensor;
  /**
   * dX (rows×in) for dY; adapted layers also accumulate their parameter gradients. With `into`,
   * dX is added to it and `into` is returned.
   */
  backward(dy: Tensor, into?: Tensor): Tensor;
  discardCache(): void;
}

/** y = x·W0ᵀ (+ b), W0 frozen: the backward is dX = dY·W0 and nothing else. */
export class FrozenLinear implements LinearLayer {
  private rows: number | null = null;

  constructor(
    readonly ctx: GpuContext,
    readonly base: BaseLinear,
  ) {}

  forward(x: Tensor, rows: number): Tensor {
    this.rows = rows;
    return this.infer(x, rows);
  }

  infer(x: Tensor, rows: number): Tensor {
    const y = this.ctx.tensor([rows, this.base.out], 'f32', `${this.base.name}.Y`);
    linearForward(this.ctx, x, this.base.weight, y, { rows, ...this.base }, { bias: this.base.bias });
    return y;
  }

  backward(dy: Tensor, into?: Tensor): Tensor {
    if (this.rows === null) throw new Error(`${this.base.name}: backward() without a forward()`);
    const rows = this.rows;
    this.rows = null;
    const dx = into ?? this.ctx.tensor([rows, this.base.in], 'f32', `${this.base.name}.dX`);
    linearBackwardInput(this.ctx, dy, this.base.weight, dx, { rows, ...this.base }, { accumulate: into !== undefined });
    return dx;
  }

  discardCache(): void {
    this.rows = null;
  }
}

export function isAdapted(layer: LinearLayer): layer is LinearLayer & AdaptedLinear {
  return 'merge' in layer;
}
