// Launchers for shaders/embedding.wgsl: the embedding lookup, and a gather of selected rows
// with its backward (scatter-add). Index tensors are u32; an index past its table yields a
// zero row (gathers) or is skipped (scatter), never an out-of-bounds access.

import embeddingWgsl from '../../shaders/embedding.wgsl?raw';
import type { GpuContext } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { checkDims, checkTensor, ELEMENTWISE_GROUP, gridStrideWorkgroups } from './checks';
import { kernelsByKey } from './kernel-cache';

const kernel = kernelsByKey((entryPoint: string) => ({ name: entryPoint, code: embeddingWgsl, entryPoint, constants: { GROUP: ELEMENTWISE_GROUP } }));

/**
 * out[r, :] = table[ids[r], :], or += with `accumulate` (GPT-2 adds its learned positions
 * this way).   table (vocab×dim), ids (rows, u32), out (rows×dim)
 * No backward: embeddings are frozen base weights, and nothing before them needs a gradient.
 */
export function embeddingGather(
  ctx: GpuContext,
  t: { table: Tensor; ids: Tensor; out: Tensor },
  dims: { rows: number; dim: number; vocab: number; accumulate?: boolean },
): void {
  const name = 'embedding_gather';
  const { rows, dim, vocab } = dims;
  checkDims(name, { rows, dim, vocab });
  checkTensor(name, t.table, 'table', vocab * dim, `vocab×dim = ${vocab}×${dim}`);
  checkTensor(name, t.ids, 'ids', rows, `rows = ${rows}`, 'u32');
  checkTensor(name, t.out, 'out', rows * dim, `rows×dim = ${rows}×${dim}`);
  ctx.dispatch(
    kernel(ctx, name),
    { table: t.table, ids: t.ids, embOut: t.out },
    { rows, dim, vocab, accumulate: dims.accumulate ? 1 : 0 },
    [gridStrideWorkgroups(ctx, rows * dim)],
  );
}

/** The n of an (n×dim) tensor; dim must divide its size. */
function rowCount(name: string, t: Tensor, role: string, dim: number): number {
  if (dim === 0) return 0;
  if (t.size % dim !== 0) {
    throw new KernelError(name, `shape mismatch: ${role} "${t.label}" has ${t.size} values, not a whole number of rows of dim = ${dim}`);
  }
  return t.size / dim;
}

/** out[i, :] = src[index[i], :].   src (n×dim), index (m, u32), out (m×dim) */
export function gatherRows(ctx: GpuContext, t: { src: Tensor; index: Tensor; out: Tensor }, dims: { m: number; dim: number }): void {
  const name = 'gather_rows';
  const { m, dim } = dims;
  checkDims(name, { m, dim });
  checkTensor(name, t.src, 'src', 0, 'n×dim');
  checkTensor(name, t.index, 'index', m, `m = ${m}`, 'u32');
  checkTensor(name, t.out, 'out', m * dim, `m×dim = ${m}×${dim}`);
  const n = rowCount(name, t.src, 'src', dim);
  ctx.dispatch(kernel(ctx, name), { rowsIn: t.src, rowIndex: t.index, rowsOut: t.out }, { m, dim, n }, [gridStrideWorkgroups(ctx, m * dim)]);
}

/**
 * Backward of gatherRows: out[index[i], :] += src[i, :].   src (m×dim), index (m, u32), out (n×dim)
 * Precondition: the m indices are distinct (the caller guarantees it; it is not checked, since
 * the indices live on the GPU). Repeated indices would race, and their sum would be lost.
 */
export function scatterAddRows(ctx: GpuContext, t: { src: Tensor; index: Tensor; out: Tensor }, dims: { m: number; dim: number }): void {
  const name = 'scatter_add_rows';
  const { m, dim } = dims;
  checkDims(name, { m, dim });
  checkTensor(name, t.src, 'src', m * dim, `m×dim = ${m}×${dim}`);
  checkTensor(name, t.index, 'index', m, `m = ${m}`, 'u32');
  checkTensor(name, t.out, 'out', 0, 'n×dim');
  const n = rowCount(name, t.out, 'out', dim);
  ctx.dispatch(kernel(ctx, name), { rowsIn: t.src, rowIndex: t.index, rowsOut: t.out }, { m, dim, n }, [gridStrideWorkgroups(ctx, m * dim)]);
}
