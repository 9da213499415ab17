// A GPU tensor: one storage buffer, a row-major shape and an element type. The buffer may be
// larger than the tensor (it comes from the context's pool, sizes rounded up to 256 bytes).

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
  ) {
    this.size = shapeSize(shape);
    this.byteLength = this.size * BYTES_PER_ELEMENT[dtype];
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** Returns the buffer to the context's pool; the tensor must not be used afterwards. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.ctx.recycle(this.buffer);
  }
}

export function checkShape(shape: readonly number[], what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${what}: shape [${shape.join(', ')}] must hold non-negative integers`);
    }
  }
}
