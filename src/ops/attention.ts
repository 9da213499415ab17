// Launchers for shaders/attention.wgsl: causal grouped-query self-attention over a right-padded
// batch (flash-attention style: online softmax forward saving only the row log-sum-exp, and a
// backward that recomputes the probabilities), and inference against a KV cache.
//
//   q, out, dOut, dq  (batch·seq) × (numHeads·headDim)
//   k, v, dk, dv      (batch·seq) × (numKvHeads·headDim)
//   lse               batch × numHeads × seq
//   lengths (u32)     batch — the real length of each sequence; later positions are padding
//
// The tile geometry below is the only copy: the WGSL declares it as `override` constants without
// defaults, and every kernel is built with the values it uses (attentionKernel()).
//
// Two variants (see the WGSL): 'tiled', workgroups of 8 query (or key) rows of one head that
// stage tiles of q, k, v and dOut in workgroup memory, and 'thread', one invocation per (row,
// head) reading straight from global memory, with no barrier. Unless asked for one, a launcher
// takes 'thread' for headDim ≤ THREAD_MAX_HEAD_DIM: at the tiny heads of small models most of a
// tiled workgroup's threads have no dim to work on and wait at its barriers (stories260K,
// batch 16 × seq 56, headDim 8, on lavapipe: forward 73 → 9 ms, backward 129 → 10 ms). Wider
// heads keep the tiled kernels: an invocation of 'thread' holds two to four rows of headDim
// values in registers, too many for a GPU past 32, where the tiles also share each k and v row
// among 8 query rows. ('thread' is correct for every headDim up to ATTENTION_MAX_HEAD_DIM, and
// on lavapipe it is faster at every size, e.g. 3× at headDim 64.)

import attentionWgsl from '../../shaders/attention.wgsl?raw';
import type { GpuContext, Kernel } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { checkDims, checkTensor, gridStrideWorkgroups } from './checks';
import { kernelsByKey } from './kernel-cache';

export interface AttentionDims {
  batch: number;
  seq: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Usually 1/√headDim. */
  scale: number;
}

/** `rows` query rows of one sequence at positions offset … offset + rows − 1, against a KV cache. */
export interface AttentionDecodeDims {
  rows: number;
  offset: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Usually 1/√headDim. */
  scale: number;
}

/** A `const NAME = <n>u;` of shaders/attention.wgsl: sizes WGSL requires to be constants, read rather than repeated. */
function wgslConstant(name: string): number {
  const m = new RegExp(`^const ${name} = (\\d+)u;`, 'm').exec(attentionWgsl);
  if (!m) throw new Error(`shaders/attention.wgsl: expected a line "const ${name} = <integer>u;" (src/ops/attention.ts reads it)`);
  return Number(m[1]);
}

/** Largest head dimension the kernels stage in workgroup memory (D_MAX in the WGSL). */
export const ATTENTION_MAX_HEAD_DIM = wgslConstant('D_MAX');

// Tile geometry, the WGSL's override constants (see attentionKernel()).
/** Query rows per workgroup of attention_forward (F_ROWS). */
const FORWARD_ROWS = 8;
/** Query rows and keys of a backward tile (ROWS = KEYS). */
const BACKWARD_TILE = 8;
/** Invocations per workgroup of attention_backward_delta (STATS_GROUP). */
const STATS_GROUP = 256;
/** Invocations per workgroup of the thread-per-row kernels (ROW_GROUP). */
const ROW_GROUP = 64;
// Each backward thread accumulates the dims x + KEYS·t in a private array of B_DIMS slots.
if (BACKWARD_TILE * wgslConstant('B_DIMS') < ATTENTION_MAX_HEAD_DIM) {
  throw new Error(`src/ops/attention.ts: backward tiles of ${BACKWARD_TILE} keys leave dims of a ${ATTENTION_MAX_HEAD_DIM}-wide head without an accumulator (B_DIMS in shaders/attention.wgsl)`);
}

/** The override constants each entry point uses (a pipeline is given only its own). */
const TILE_CONSTANTS: Record<string, Record<string, number>> = {
  attention_forward: { F_ROWS: FORWARD_ROWS },
  attention_backward_delta: { STATS_GROUP },
  attention_backward_dq: { ROWS: BACKWARD_TILE },
  attention_backward_dkdv: { ROWS: BACKWARD_TILE },
  attention_forward_rows: { ROW_GROUP },
  attention_backward_dq_rows: { ROW_GROUP },
  attention_backward_dkdv_rows: { ROW_GROUP },
  attention_decode_rows: { ROW_GROUP },
  attention_decode: {},
};

/** Every entry point of shaders/attention.wgsl. */
export const ATTENTION_ENTRY_POINTS: readonly string[] = Object.keys(TILE_CONSTANTS);

/** How the kernels map work to threads: tiles of rows per workgroup, or a thread per row. */
export type AttentionVariant = 'tiled' | 'thread';
export const ATTENTION_VARIANTS: readonly AttentionVariant[] = ['tiled', 'thread'];

export interface AttentionOptions {
  /** Default: 'thread' for headDim ≤ THREAD_MAX_HEAD_DIM, else 'tiled'. */
  variant?: AttentionVariant;
}

/** Widest head the automatic choice gives the thread-per-row kernels. */
const THREAD_MAX_HEAD_DIM = 32;

/** The variant asked for, else 'thread' for small heads or on CPU drivers (faster there at any size), else 'tiled'. */
function chooseVariant(ctx: GpuContext, name: string, dims: AttentionDims, options: AttentionOptions): AttentionVariant {
  const variant = options.variant ?? (dims.headDim <= THREAD_MAX_HEAD_DIM || ctx.adapter.isCpu ? 'thread' : 'tiled');
  if (!ATTENTION_VARIANTS.includes(variant)) {
    throw new KernelError(name, `variant "${String(variant)}" is not one of ${ATTENTION_VARIANTS.join(', ')}`);
  }
  return variant;
}

/**
 * An entry point of shaders/attention.wgsl built with its tile constants; the thread-per-row
 * kernels (`…_rows`) also get HEAD_DIM = headDim, which fixes their loops over dims.
 */
export function attentionKernel(ctx: GpuContext, entryPoint: string, headDim?: number): Kernel {
  if (!TILE_CONSTANTS[entryPoint]) throw new KernelError(entryPoint, `no such entry point in shaders/attention.wgsl; it has ${ATTENTION_ENTRY_POINTS.join(', ')}`);
  return entryPoint.endsWith('_rows') && headDim !== undefined ? rowsKernel(ctx, `${entryPoint} ${headDim}`) : tiledKernel(ctx, entryPoint);
}

const tiledKernel = kernelsByKey((entryPoint: string) => ({ name: entryPoint, code: attentionWgsl, entryPoint, constants: TILE_CONSTANTS[entryPoint] }));

/** Keyed `${entry point} ${headDim}`. */
const rowsKernel = kernelsByKey((key: string) => {
  const [entryPoint, headDim] = key.split(' ') as [string, string];
  return { name: entryPoint, code: attentionWgsl, entryPoint, constants: { ...TILE_CONSTANTS[entryPoint], HEAD_DIM: Number(headDim) } };
});

/** The thread-per-row kernel `${base}_rows`, its loops over dims fixed at headDim. */
function rowKernel(ctx: GpuContext, base: string, headDim: number): Kernel {
  return attentionKernel(ctx, `${base}_rows`, headDim);
}

function checkAttentionDims(name: string, dims: AttentionDims): void {
  checkDims(name, { batch: dims.batch, seq: dims.seq });
  checkHeads(name, dims);
}

function checkHeads(name: string, dims: { numHeads: number; numKvHeads: number; headDim: number; scale: number }): void {
  const { numHeads, numKvHeads, headDim, scale } = dims;
  checkDims(name, { numHeads, numKvHeads, headDim }, 1);
  if (numHeads % numKvHeads !== 0) {
    throw new KernelError(name, `numHeads=${numHeads} must be a multiple of numKvHeads=${numKvHeads} (grouped-query attention)`);
  }
  if (headDim > ATTENTION_MAX_HEAD_DIM) {
    throw new KernelError(name, `headDim=${headDim} exceeds the largest supported head dimension, ${ATTENTION_MAX_HEAD_DIM}`);
  }
  if (!Number.isFinite(scale)) throw new KernelError(name, `scale=${scale} must be finite`);
}

type Operand = [elements: number, dims: string];

/** Element counts of the operands, each with where it comes from: q-like, kv-like, lse-like and lengths. */
function sizes(dims: AttentionDims): { q: Operand; kv: Operand; lse: Operand; lengths: Operand } {
  const { batch, seq, numHeads, numKvHeads, headDim } = dims;
  const rows = batch * seq;
  return {
    q: [rows * numHeads * headDim, `(batch·seq)×(numHeads·headDim) = (${batch}·${seq})×(${numHeads}·${headDim})`],
    kv: [rows * numKvHeads * headDim, `(batch·seq)×(numKvHeads·headDim) = (${batch}·${seq})×(${numKvHeads}·${headDim})`],
    lse: [batch * numHeads * seq, `batch×numHeads×seq = ${batch}×${numHeads}×${seq}`],
    lengths: [batch, `batch = ${batch}`],
  };
}

function params(dims: AttentionDims): Record<string, number> {
  const { batch, seq, numHeads, numKvHeads, headDim, scale } = dims;
  return { batch, seq, numHeads, numKvHeads, headDim, scale };
}

/** Records out = softmax(scale·q·kᵀ, causal and padding masked)·v, and lse per query row. */
export function attentionForward(
  ctx: GpuContext,
  t: { q: Tensor; k: Tensor; v: Tensor; lengths: Tensor; out: Tensor; lse: Tensor },
  dims: AttentionDims,
  options: AttentionOptions = {},
): void {
  const name = 'attention_forward';
  checkAttentionDims(name, dims);
  const variant = chooseVariant(ctx, name, dims, options);
  const { q, kv, lse, lengths } = sizes(dims);
  checkTensor(name, t.q, 'q', ...q);
  checkTensor(name, t.k, 'k', ...kv);
  checkTensor(name, t.v, 'v', ...kv);
  checkTensor(name, t.lengths, 'lengths', ...lengths, 'u32');
  checkTensor(name, t.out, 'out', ...q);
  checkTensor(name, t.lse, 'lse', ...lse);
  const bindings = { q: t.q, k: t.k, v: t.v, lengths: t.lengths, attnOut: t.out, lseOut: t.lse };
  if (variant === 'thread') {
    ctx.dispatch(rowKernel(ctx, name, dims.headDim), bindings, params(dims), [gridStrideWorkgroups(ctx, lse[0], ROW_GROUP)]);
  } else {
    ctx.dispatch(attentionKernel(ctx, name), bindings, params(dims), [Math.ceil(dims.seq / FORWARD_ROWS), dims.numHeads, dims.batch]);
  }
}

/**
 * Records dq, dk, dv (overwritten) from dOut, given the forward's out and lse. Rows of dOut at
 * padded positions are ignored. Three kernels: the row statistics (lse_i, D_i = dOut_i·out_i),
 * then dq per query row, then dk, dv per key row and kv head. Each binds at most 8 storage
 * buffers (WebGPU's default maxStorageBuffersPerShaderStage).
 */
export function attentionBackward(
  ctx: GpuContext,
  t: {
    q: Tensor;
    k: Tensor;
    v: Tensor;
    lengths: Tensor;
    out: Tensor;
    lse: Tensor;
    dOut: Tensor;
    dq: Tensor;
    dk: Tensor;
    dv: Tensor;
  },
  dims: AttentionDims,
  options: AttentionOptions = {},
): void {
  const names = ['attention_backward_delta', 'attention_backward_dq', 'attention_backward_dkdv'] as const;
  for (const name of names) checkAttentionDims(name, dims);
  const variant = chooseVariant(ctx, names[1], dims, options);
  const { q, kv, lse, lengths } = sizes(dims);
  checkTensor(names[0], t.lengths, 'lengths', ...lengths, 'u32');
  checkTensor(names[0], t.out, 'out', ...q);
  checkTensor(names[0], t.dOut, 'dOut', ...q);
  checkTensor(names[1], t.q, 'q', ...q);
  checkTensor(names[1], t.k, 'k', ...kv);
  checkTensor(names[1], t.v, 'v', ...kv);
  checkTensor(names[0], t.lse, 'lse', ...lse);
  checkTensor(names[1], t.dq, 'dq', ...q);
  checkTensor(names[2], t.dk, 'dk', ...kv);
  checkTensor(names[2], t.dv, 'dv', ...kv);

  const p = params(dims);
  // Row statistics (lse_i, D_i) (batch × numHeads × seq × 2).
  const stats = ctx.tensor([dims.batch, dims.numHeads, dims.seq, 2], 'f32', 'attention row stats');
  const statsGroups = gridStrideWorkgroups(ctx, lse[0], STATS_GROUP);
  ctx.dispatch(
    attentionKernel(ctx, names[0]),
    { lengths: t.lengths, outSaved: t.out, dOut: t.dOut, lseSaved: t.lse, statsOut: stats },
    p,
    [statsGroups],
  );
  const dqBindings = { q: t.q, k: t.k, v: t.v, lengths: t.lengths, dOut: t.dOut, stats, dq: t.dq };
  const dkdvBindings = { q: t.q, k: t.k, v: t.v, lengths: t.lengths, dOut: t.dOut, stats, dk: t.dk, dv: t.dv };
  if (variant === 'thread') {
    ctx.dispatch(rowKernel(ctx, names[1], dims.headDim), dqBindings, p, [gridStrideWorkgroups(ctx, lse[0], ROW_GROUP)]);
    const keyRows = dims.batch * dims.numKvHeads * dims.seq;
    ctx.dispatch(rowKernel(ctx, names[2], dims.headDim), dkdvBindings, p, [gridStrideWorkgroups(ctx, keyRows, ROW_GROUP)]);
  } else {
    ctx.dispatch(attentionKernel(ctx, names[1]), dqBindings, p, [Math.ceil(dims.seq / BACKWARD_TILE), dims.numHeads, dims.batch]);
    ctx.dispatch(attentionKernel(ctx, names[2]), dkdvBindings, p, [Math.ceil(dims.seq / BACKWARD_TILE), dims.numKvHeads, dims.batch]);
  }
  stats.release();
}

/**
 * Records out = causal attention of `rows` new query rows, at positions offset … offset+rows−1
 * of one sequence, against the keys and values 0 … offset−1 of a KV cache and the new rows'
 * own (kNew, vNew), which it also writes into the cache at positions offset … offset+rows−1.
 *
 *   q, out          rows × (numHeads·headDim)
 *   kNew, vNew      rows × (numKvHeads·headDim)
 *   kCache, vCache  positions × (numKvHeads·headDim), positions ≥ offset + rows
 *
 * Variants: 'thread' (attention_decode_rows, an invocation per (head, row), the forward's
 * arithmetic) and 'tiled' (attention_decode, a workgroup per (row, head) splitting the keys
 * over its invocations). Default: 'thread' on CPU drivers, 'tiled' elsewhere, where a single
 * new row would otherwise give the GPU only numHeads invocations to run.
 */
export function attentionDecode(
  ctx: GpuContext,
  t: { q: Tensor; kNew: Tensor; vNew: Tensor; kCache: Tensor; vCache: Tensor; out: Tensor },
  dims: AttentionDecodeDims,
  options: AttentionOptions = {},
): void {
  const { rows, offset, numHeads, numKvHeads, headDim } = dims;
  const variant = options.variant ?? (ctx.adapter.isCpu ? 'thread' : 'tiled');
  const name = variant === 'thread' ? 'attention_decode_rows' : 'attention_decode';
  if (!ATTENTION_VARIANTS.includes(variant)) {
    throw new KernelError(name, `variant "${String(variant)}" is not one of ${ATTENTION_VARIANTS.join(', ')}`);
  }
  checkDims(name, { rows, offset });
  checkHeads(name, dims);
  const qDims = `rows×(numHeads·headDim) = ${rows}×(${numHeads}·${headDim})`;
  const newDims = `rows×(numKvHeads·headDim) = ${rows}×(${numKvHeads}·${headDim})`;
  const cacheDims = `(offset+rows)×(numKvHeads·headDim) = (${offset}+${rows})×(${numKvHeads}·${headDim})`;
  checkTensor(name, t.q, 'q', rows * numHeads * headDim, qDims);
  checkTensor(name, t.kNew, 'kNew', rows * numKvHeads * headDim, newDims);
  checkTensor(name, t.vNew, 'vNew', rows * numKvHeads * headDim, newDims);
  checkTensor(name, t.kCache, 'kCache', (offset + rows) * numKvHeads * headDim, cacheDims);
  checkTensor(name, t.vCache, 'vCache', (offset + rows) * numKvHeads * headDim, cacheDims);
  checkTensor(name, t.out, 'out', rows * numHeads * headDim, qDims);
  const bindings = { q: t.q, kNew: t.kNew, vNew: t.vNew, kCache: t.kCache, vCache: t.vCache, attnOut: t.out };
  const p = { rows, offset, numHeads, numKvHeads, headDim, scale: dims.scale };
  if (variant === 'thread') {
    ctx.dispatch(rowKernel(ctx, 'attention_decode', headDim), bindings, p, [gridStrideWorkgroups(ctx, rows * numHeads, ROW_GROUP)]);
  } else {
    ctx.dispatch(attentionKernel(ctx, name), bindings, p, [rows, numHeads]);
  }
}
