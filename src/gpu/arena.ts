// Tensors laid out back to back in a few buffers: each one a view (GpuContext.view) at an
// offset aligned for binding, the buffers ("chunks") as large as the device lets one binding be.
// The model keeps its trainable adapter tensors in one arena and their gradients in another, of
// the same layout, so that the optimizer updates a whole chunk in one dispatch (src/train/
// optimizer.ts) and a step clears every gradient at once: host work that does not grow with the
// number of adapted layers.

import type { GpuContext } from './context';
import { shapeSize, type Tensor } from './tensor';

interface Place {
  chunk: number;
  offset: number;
  shape: readonly number[];
}

export class TensorArena {
  /** The buffers, zeroed when made; views and padding between them stay zero until written. */
  readonly chunks: Tensor[];
  /** Every view taken so far, in order, and the chunk each lies in. */
  readonly views: { view: Tensor; chunk: number }[] = [];
  private readonly places: Place[] = [];

  /**
   * An arena for tensors of `shapes`, to be taken in that order (take()), in chunks of at most
   * `capacity` elements (default: the most one binding of this device holds).
   */
  constructor(
    readonly ctx: GpuContext,
    shapes: readonly (readonly number[])[],
    readonly label: string,
    capacity = Math.floor(Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize) / 4),
  ) {
    const align = ctx.limits.minStorageBufferOffsetAlignment / 4;
    const used = [0];
    for (const shape of shapes) {
      const n = shapeSize(shape);
      let chunk = used.length - 1;
      let offset = Math.ceil(used[chunk]! / align) * align;
      if (offset + n > capacity && used[chunk]! > 0) {
        used.push(0);
        chunk++;
        offset = 0;
      }
      // A tensor over the capacity gets a chunk of its own; binding it will say it is too large.
      this.places.push({ chunk, offset, shape: [...shape] });
      used[chunk] = offset + n;
    }
    this.chunks = used.map((n, i) => ctx.zeros([Math.max(1, n)], 'f32', used.length === 1 ? label : `${label} ${i + 1}/${used.length}`));
  }

  /** The next planned tensor's view; `shape` must be the one planned for it. */
  take(shape: readonly number[], label: string): Tensor {
    const place = this.places[this.views.length];
    if (place === undefined) throw new Error(`${this.label}: "${label}" is one tensor more than the ${this.places.length} planned`);
    if (place.shape.length !== shape.length || place.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${this.label}: "${label}" has shape [${shape.join(', ')}], but tensor ${this.views.length + 1} was planned as [${place.shape.join(', ')}]`);
    }
    const view = this.ctx.view(this.chunks[place.chunk]!, place.offset, shape, label);
    this.views.push({ view, chunk: place.chunk });
    return view;
  }

  /** Whether every planned tensor was taken. */
  get complete(): boolean {
    return this.views.length === this.places.length;
  }

  release(): void {
    for (const { view } of this.views) view.release();
    for (const c of this.chunks) c.release();
  }
}
