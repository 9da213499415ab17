// Launchers for shaders/activations.wgsl: SwiGLU, GELU (tanh approximation) and the residual
// adds, each over n elements of flat f32 tensors.

import activationsWgsl from '../../shaders/activations.wgsl?raw';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { checkDims, checkTensor, ELEMENTWISE_GROUP, gridStrideWorkgroups } from './checks';
import { kernelsByKey } from './kernel-cache';

const kernel = kernelsByKey((entryPoint: string) => ({ name: entryPoint, code: activationsWgsl, entryPoint, constants: { GROUP: ELEMENTWISE_GROUP } }));

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

