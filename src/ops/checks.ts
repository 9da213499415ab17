// Checks shared by the launchers in src/ops/, run before anything is recorded: the integer
// sizes a kernel is given, the element type and length of every tensor it binds, and the
// workgroup count of a grid-stride loop. Each failure raises KernelError naming the kernel,
// the size or tensor, and what was expected against what was found:
//
//   checkDims('gelu_forward', { n: 2.5 })
//     kernel "gelu_forward": n=2.5 must be a non-negative integer
//   checkTensor('embedding_gather', ids, 'ids', rows, `rows = ${rows}`, 'u32')
//     kernel "embedding_gather": ids "ids" holds f32 values, needs u32
//   checkTensor('rmsnorm_forward', weight, 'weight', dim, `dim = ${dim}`)
//     kernel "rmsnorm_forward": shape mismatch: weight "w" has shape [7] (7 values) but dim = 8 needs 8

import type { GpuContext } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { DType, Tensor } from '../gpu/tensor';

/**
 * Threads per workgroup of the element-wise grid-stride kernels, given to their WGSL as the
 * override constant GROUP (`constants: { GROUP: ELEMENTWISE_GROUP }`).
 */
export const ELEMENTWISE_GROUP = 256;

/** Whether n is an integer ≥ least: a size a kernel can be given. */
export function isCount(n: number, least: 0 | 1 = 0): boolean {
  return Number.isInteger(n) && n >= least;
}

/**
 * Raises KernelError unless every size in `dims` (name → value) is an integer ≥ `least`:
 * 0 (the default) for sizes that may be empty, 1 for those that may not (heads, vocab).
 * Sizes are checked in the order given; the first bad one is reported.
 */
export function checkDims(kernel: string, dims: Record<string, number>, least: 0 | 1 = 0): void {
  for (const what in dims) {
    const v = dims[what]!;
    if (!isCount(v, least)) {
      throw new KernelError(kernel, `${what}=${v} must be a ${least === 0 ? 'non-negative' : 'positive'} integer`);
    }
  }
}

/**
 * Raises KernelError unless tensor `t`, bound as `role`, holds `dtype` values and at least
 * `elements` of them. `dims` says where `elements` comes from, as the message shows it (e.g.
 * `rows×dim = 4×8`). `dtype` null skips the element-type check (for kernels that never made it).
 * The tensor may be longer than needed: buffers are reused, and a kernel reads only its prefix.
 */
export function checkTensor(
  kernel: string,
  t: Tensor,
  role: string,
  elements: number,
  dims: string,
  dtype: DType | null = 'f32',
): void {
  if (dtype !== null && t.dtype !== dtype) {
    throw new KernelError(kernel, `${role} "${t.label}" holds ${t.dtype} values, needs ${dtype}`);
  }
  if (t.size < elements) {
    throw new KernelError(
      kernel,
      `shape mismatch: ${role} "${t.label}" has shape [${t.shape.join(', ')}] (${t.size} values) but ${dims} needs ${elements}`,
    );
  }
}

/**
 * Workgroups (x only) for a grid-stride loop over `total` items, `group` items per workgroup:
 * enough to cover them, capped at the device's maxComputeWorkgroupsPerDimension (the kernel
 * loops over the rest). `group` is the workgroup's thread count for element-wise kernels, or 1
 * for kernels that give each row a whole workgroup.
 */
export function gridStrideWorkgroups(ctx: GpuContext, total: number, group: number = ELEMENTWISE_GROUP): number {
  return Math.min(Math.ceil(total / group), ctx.limits.maxComputeWorkgroupsPerDimension);
}
