// Launchers for shaders/columns.wgsl: splitting a fused projection's output into column blocks
// and joining their gradients back.

import columnsWgsl from '../../shaders/columns.wgsl?raw';
import type { GpuContext } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';
import { checkTensor, ELEMENTWISE_GROUP, gridStrideWorkgroups } from './checks';
import { kernelsByKey } from './kernel-cache';

const kernel = kernelsByKey((name: string) => ({ name, code: columnsWgsl, entryPoint: name, constants: { GROUP: ELEMENTWISE_GROUP } }));

interface ColumnBlock {
  rows: number;
  /** Width of the fused matrix. */
  cols: number;
  offset: number;
  width: number;
}

/** Checks the block lies inside the fused width and both tensors' sizes (not their element types). */
function check(name: string, fused: Tensor, part: Tensor, b: ColumnBlock): void {
  if (b.offset + b.width > b.cols) throw new KernelError(name, `columns [${b.offset}, ${b.offset + b.width}) exceed the fused width ${b.cols}`);
  checkTensor(name, fused, 'fused', b.rows * b.cols, `rows×cols = ${b.rows}×${b.cols}`, null);
  checkTensor(name, part, 'part', b.rows * b.width, `rows×width = ${b.rows}×${b.width}`, null);
}

/** part (rows×width) = fused[:, offset : offset + width]. */
export function copyColumns(ctx: GpuContext, fused: Tensor, part: Tensor, b: ColumnBlock): void {
  const name = 'copy_columns';
  check(name, fused, part, b);
  const params = { rows: b.rows, srcCols: b.cols, width: b.width, offset: b.offset };
  ctx.dispatch(kernel(ctx, name), { src: fused, part }, params, [gridStrideWorkgroups(ctx, b.rows * b.width)]);
}

/** fused[:, offset : offset + width] = part (rows×width). */
export function copyColumnsBack(ctx: GpuContext, part: Tensor, fused: Tensor, b: ColumnBlock): void {
  const name = 'copy_columns_back';
  check(name, fused, part, b);
  const params = { rows: b.rows, srcCols: b.cols, width: b.width, offset: b.offset };
  ctx.dispatch(kernel(ctx, name), { partIn: part, dst: fused }, params, [gridStrideWorkgroups(ctx, b.rows * b.width)]);
}
