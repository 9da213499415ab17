// Rotary position embedding: the host-computed angle table and the launcher of
// shaders/rope.wgsl. The table is computed once per model in f64 and rounded to f32, so every
// GPU, and the CPU reference (src/ref/rope.ts), rotate by the very same cos and sin.

import ropeWgsl from '../../shaders/rope.wgsl?raw';
import type { GpuContext } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { checkDims, checkTensor, ELEMENTWISE_GROUP, gridStrideWorkgroups } from './checks';
import { kernelsByKey } from './kernel-cache';

const kernel = kernelsByKey((name: string) => ({ name, code: ropeWgsl, entryPoint: name, constants: { GROUP: ELEMENTWISE_GROUP } }));

/**
 * How RoPE pairs the features of a head: 'interleaved' rotates adjacent pairs (2i, 2i+1), as
 * llama2.c does; 'half' rotates (i, i + D/2), as Hugging Face Llama/Qwen2 checkpoints do (their
 * q/k rows are permuted accordingly). GPT-2 has no RoPE (learned positions).
 */
export type RopeStyle = 'interleaved' | 'half';

/**
 * cos and sin of angle = pos·freq_i, freq_i = theta^(−2i/headDim), for pos < maxPositions and
 * i < headDim/2, computed in f64 and rounded once. Layout (maxPositions × headDim/2 × 2):
 * [(pos·headDim/2 + i)·2] is cos, the next value sin. (Math.cos and Math.sin may differ in the
 * last f64 bit between JavaScript engines; after rounding to f32 that almost never shows.)
 */
export function ropeTable(maxPositions: number, headDim: number, theta: number): Float32Array {
  if (!Number.isInteger(maxPositions) || maxPositions < 0) {
    throw new RangeError(`ropeTable: maxPositions=${maxPositions} must be a non-negative integer`);
  }
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw new RangeError(`ropeTable: headDim=${headDim} must be a positive even integer`);
  }
  if (!(theta > 0) || !Number.isFinite(theta)) throw new RangeError(`ropeTable: theta=${theta} must be a finite number > 0`);
  const half = headDim / 2;
  const freqs = Array.from({ length: half }, (_, i) => theta ** ((-2 * i) / headDim));
  const table = new Float32Array(maxPositions * headDim);
  for (let pos = 0; pos < maxPositions; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = pos * freqs[i]!;
      table[(pos * half + i) * 2] = Math.cos(angle);
      table[(pos * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}

/**
 * In place: rotates each pair of every head of q[r] and k[r] by the angles of position
 * positions[r], queries and keys in one dispatch; `inverse` rotates by −angle, which is the
 * backward (the transpose of a rotation).
 *   q (rows×qHeads×headDim), k (rows×kHeads×headDim; none when kHeads is 0),
 *   positions (rows, u32), table (maxPositions×headDim/2×2, from ropeTable)
 * A position ≥ maxPositions zeroes its row's pairs (see shaders/rope.wgsl).
 */
export function ropeApply(
  ctx: GpuContext,
  t: { q: Tensor; k?: Tensor; positions: Tensor; table: Tensor },
  dims: { rows: number; qHeads: number; kHeads: number; headDim: number; style: RopeStyle; inverse: boolean },
): void {
  const name = 'rope_apply';
  const { rows, qHeads, kHeads, headDim } = dims;
  checkDims(name, { rows, qHeads, kHeads, headDim });
  if (headDim === 0 || headDim % 2 !== 0) {
    throw new KernelError(name, `headDim=${headDim} must be positive and even (features rotate in pairs)`);
  }
  if (dims.style !== 'interleaved' && dims.style !== 'half') {
    throw new KernelError(name, `style "${String(dims.style)}" must be 'interleaved' or 'half'`);
  }
  checkTensor(name, t.q, 'q', rows * qHeads * headDim, `rows×qHeads×headDim = ${rows}×${qHeads}×${headDim}`);
  if (t.k) checkTensor(name, t.k, 'k', rows * kHeads * headDim, `rows×kHeads×headDim = ${rows}×${kHeads}×${headDim}`);
  else if (kHeads !== 0) throw new KernelError(name, `kHeads=${kHeads} needs k`);
  checkTensor(name, t.positions, 'positions', rows, `rows = ${rows}`, 'u32');
  checkTensor(name, t.table, 'table', headDim, `one position of headDim = ${headDim}`);
  if (t.table.size % headDim !== 0) {
    throw new KernelError(
      name,
      `shape mismatch: table "${t.table.label}" has ${t.table.size} values, not maxPositions×headDim/2×2 for headDim = ${headDim}`,
    );
  }
  ctx.dispatch(
    kernel(ctx, name),
    { q: t.q, k: t.k ?? ctx.empty, positions: t.positions, table: t.table },
    {
      rows,
      qHeads,
      kHeads,
      headDim,
      maxPositions: t.table.size / headDim,
      halfStyle: dims.style === 'half' ? 1 : 0,
      inverse: dims.inverse ? 1 : 0,
    },
    [gridStrideWorkgroups(ctx, (rows * (qHeads + kHeads) * headDim) / 2)],
  );
}
