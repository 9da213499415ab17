// CPU reference of shaders/rope.wgsl in f64, reading the same f32 cos/sin table as the kernel
// (ropeTable in src/ops/rope.ts), so the two differ only by the kernel's f32 arithmetic.
//   x (rows×heads×headDim), positions (rows), table (maxPositions×headDim/2×2)

import type { RopeStyle } from '../ops/rope';

export interface RopeRefDims {
  rows: number;
  heads: number;
  headDim: number;
  style: RopeStyle;
}

/** The indices of pair i of the head starting at `base`: (2i, 2i+1) interleaved, (i, i + D/2) half. */
function pairOf(style: RopeStyle, base: number, i: number, headDim: number): [number, number] {
  return style === 'half' ? [base + i, base + i + headDim / 2] : [base + 2 * i, base + 2 * i + 1];
}

/**
 * Rotates every pair (a, b) of x by the angle of its row's position: (a·cos − b·sin,
 * a·sin + b·cos), or by −angle with `inverse`. Returns a new array.
 */
export function ropeApplyRef(
  x: ArrayLike<number>,
  positions: ArrayLike<number>,
  table: ArrayLike<number>,
  dims: RopeRefDims & { inverse: boolean },
): Float64Array {
  const { rows, heads, headDim, style } = dims;
  const half = headDim / 2;
  const maxPositions = table.length / headDim;
  const out = Float64Array.from(x);
  for (let row = 0; row < rows; row++) {
    const pos = positions[row]!;
    if (!Number.isInteger(pos) || pos < 0 || pos >= maxPositions) {
      throw new RangeError(`ropeApplyRef: position ${pos} of row ${row} is outside the table [0, ${maxPositions})`);
    }
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < half; i++) {
        const [a, b] = pairOf(style, (row * heads + h) * headDim, i, headDim);
        const cos = table[(pos * half + i) * 2]!;
        const sin = dims.inverse ? -table[(pos * half + i) * 2 + 1]! : table[(pos * half + i) * 2 + 1]!;
        out[a] = x[a]! * cos - x[b]! * sin;
        out[b] = x[a]! * sin + x[b]! * cos;
      }
    }
  }
  return out;
}

/**
 * Backward of out = R·x, R the block-diagonal rotation [[cos, −sin], [sin, cos]] per pair:
 * dx = Rᵀ·dout, the rotation by −angle (exactly the transpose, even with rounded cos and sin).
 */
export function ropeBackwardRef(
  dout: ArrayLike<number>,
  positions: ArrayLike<number>,
  table: ArrayLike<number>,
  dims: RopeRefDims,
): Float64Array {
  return ropeApplyRef(dout, positions, table, { ...dims, inverse: true });
}
