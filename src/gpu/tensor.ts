// A GPU tensor: one storage buffer, a row-major shape and an element type. The buffer may be
// larger than the tensor (it comes from the context's pool, sizes rounded up to 256 bytes).
// A view (ctx.view) is a tensor over a range of another tensor's buffer, at a byte offset: it
// owns nothing, and is valid while its parent is.

import { shapeSize } from '../util/shape';
import type { GpuContext } from './context';

/** The one shape product (src/util/shape.ts), re-exported for the GPU code that sizes buffers. */
export { shapeSize };

export type DType = 'f32' | 'u32' | 'i32';

export const BYTES_PER_ELEMENT: Record<DType, number> = { f32: 4, u32: 4, i32: 4 };


export class Tensor {
  private released = false;
  /** Number of elements (product of the shape; 1 for a scalar). */
  readonly size: number;
  readonly byteLength: number;

  constructor(
    readonly ctx: GpuContext,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly label: string,
    /** The context's number for `buffer`: bind groups are cached by it, with no lookup per binding. */
    readonly bufferId: number,
    /** Where the tensor starts in its buffer (0 but for a view). */
    readonly byteOffset = 0,
    /** The tensor whose buffer a view lies in; null for a tensor that owns its buffer. */
    readonly parent: Tensor | null = null,
  ) {
    this.size = shapeSize(shape);
    this.byteLength = this.size * BYTES_PER_ELEMENT[dtype];
  }

  get isReleased(): boolean {
    return this.released || (this.parent?.isReleased ?? false);
  }

  /** Returns the buffer to the context's pool (a view: only ends the view); the tensor must not be used afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.parent === null) this.ctx.recycle(this.buffer);
  }
}

export function checkShape(shape: readonly number[], what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${what}: shape [${shape.join(', ')}] must hold non-negative integers`);
    }
  }
}
