// Launchers for shaders/activations.wgsl: SwiGLU, GELU (tanh approximation) and the residual
// adds, each over n elements of flat f32 tensors. Also the size checks and the grid-stride
// workgroup count that the other element-wise launchers (embedding, norms, rope) share.

import activationsWgsl from '../../shaders/activations.wgsl?raw';
import type { GpuContext, Kernel } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { DType, Tensor } from '../gpu/tensor';

/** Threads per workgroup of every grid-stride kernel (GROUP in the WGSL files). */
const ELEMENTWISE_GROUP = 256;

/** Workgroups for a grid-stride loop over `total` items: enough to cover it, capped at the device's limit. */
export function gridStrideWorkgroups(ctx: GpuContext, total: number): number {
  return Math.min(Math.ceil(total / ELEMENTWISE_GROUP), ctx.limits.maxComputeWorkgroupsPerDimension);
}

/** Raises KernelError unless every size is a non-negative integer. */
export function checkDims(kernel: string, dims: Record<string, number>): void {
  for (const [what, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 0) throw new KernelError(kernel, `${what}=${v} must be a non-negative integer`);
  }
}

/** Raises KernelError unless `t` has element type `dtype` and at least `elements` values (`dims` says which). */
export function checkTensor(kernel: string, t: Tensor, role: string, elements: number, dims: string, dtype: DType = 'f32'): void {
  if (t.dtype !== dtype) {
    throw new KernelError(kernel, `${role} "${t.label}" holds ${t.dtype} values, needs ${dtype}`);
  }
  if (t.size < elements) {
    throw new KernelError(
      kernel,
      `shape mismatch: ${role} "${t.label}" has shape [${t.shape.join(', ')}] (${t.size} values) but ${dims} needs ${elements}`,
    );
  }
}

function kernel(ctx: GpuContext, entryPoint: string): Kernel {
  return ctx.kernel({ name: entryPoint, code: activationsWgsl, entryPoint });
}

/** Checks n and every tensor (n values each), then records `entryPoint` over n elements. */
function elementwise(ctx: GpuContext, entryPoint: string, tensors: Record<string, [string, Tensor]>, n: number): void {
  checkDims(entryPoint, { n });
  const bindings: Record<string, Tensor> = {};
  for (const [binding, [role, t]] of Object.entries(tensors)) {
    checkTensor(entryPoint, t, role, n, `n = ${n}`);
    bindings[binding] = t;
  }
  ctx.dispatch(kernel(ctx, entryPoint), bindings, { n }, [gridStrideWorkgroups(ctx, n)]);
}

/** out = silu(gate)·up, silu(g) = g·σ(g).   gate, up, out: (n) */
export function swigluForward(ctx: GpuContext, t: { gate: Tensor; up: Tensor; out: Tensor }, dims: { n: number }): void {
  elementwise(ctx, 'swiglu_forward', { gate: ['gate', t.gate], up: ['up', t.up], actOut: ['out', t.out] }, dims.n);
}

/** dgate = dout·up·silu'(gate), dup = dout·silu(gate).   all (n) */
export function swigluBackward(
  ctx: GpuContext,
  t: { dout: Tensor; gate: Tensor; up: Tensor; dgate: Tensor; dup: Tensor },
  dims: { n: number },
): void {
  elementwise(
    ctx,
    'swiglu_backward',
    { dout: ['dout', t.dout], gate: ['gate', t.gate], up: ['up', t.up], dgate: ['dgate', t.dgate], dup: ['dup', t.dup] },
    dims.n,
  );
}

/** out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (GPT-2's gelu_new).   x, out: (n) */
export function geluForward(ctx: GpuContext, t: { x: Tensor; out: Tensor }, dims: { n: number }): void {
  elementwise(ctx, 'gelu_forward', { actIn: ['x', t.x], actOut: ['out', t.out] }, dims.n);
}

/** dx = dout·gelu'(x).   all (n) */
export function geluBackward(ctx: GpuContext, t: { dout: Tensor; x: Tensor; dx: Tensor }, dims: { n: number }): void {
  elementwise(ctx, 'gelu_backward', { dout: ['dout', t.dout], actIn: ['x', t.x], dx: ['dx', t.dx] }, dims.n);
}

/** acc += x (the residual stream, and its gradient).   acc, x: (n) */
export function addInto(ctx: GpuContext, t: { acc: Tensor; x: Tensor }, dims: { n: number }): void {
  elementwise(ctx, 'add_into', { acc: ['acc', t.acc], actIn: ['x', t.x] }, dims.n);
}

/** out = a + b.   a, b, out: (n) */
export function add(ctx: GpuContext, t: { a: Tensor; b: Tensor; out: Tensor }, dims: { n: number }): void {
  elementwise(ctx, 'add', { addA: ['a', t.a], addB: ['b', t.b], actOut: ['out', t.out] }, dims.n);
}
