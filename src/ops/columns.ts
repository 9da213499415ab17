// Launchers for shaders/columns.wgsl: splitting a fused projection's output into column blocks
// and joining their gradients back.

import columnsWgsl from '../../shaders/columns.wgsl?raw';
import type { GpuContext } from '../gpu/context';
import { KernelError } from '../gpu/errors';
import type { Tensor } from '../gpu/tensor';

interface ColumnBlock {
  rows: number;
  /** Width of the fused matrix. */
  cols: number;
  offset: number;
  width: number;
}

function check(name: string, fused: Tensor, part: Tensor, b: ColumnBlock): void {
  if (b.offset + b.width > b.cols) throw new KernelError(name, `columns [${b.offset}, ${b.offset + b.width}) exceed the fused width ${b.cols}`);
  if (fused.size < b.rows * b.cols) throw new KernelError(name, `fused "${fused.label}" has ${fused.size} values, needs ${b.rows}×${b.cols}`);
  if (part.size < b.rows * b.width) throw new KernelError(name, `part "${part.label}" has ${part.size} values, needs ${b.rows}×${b.width}`);
}

function groups(ctx: GpuContext, total: number): number {
  return Math.min(Math.ceil(total / 256), ctx.limits.maxComputeWorkgroupsPerDimension);
}

/** part (rows×width) = fused[:, offset : offset + width]. */
export function copyColumns(ctx: GpuContext, fused: Tensor, part: Tensor, b: ColumnBlock): void {
  const name = 'copy_columns';
  check(name, fused, part, b);
  const k = ctx.kernel({ name, code: columnsWgsl, entryPoint: name });
  ctx.dispatch(k, { src: fused, part }, { rows: b.rows, srcCols: b.cols, width: b.width, offset: b.offset }, [groups(ctx, b.rows * b.width)]);
}

/** fused[:, offset : offset + width] = part (rows×width). */
export function copyColumnsBack(ctx: GpuContext, part: Tensor, fused: Tensor, b: ColumnBlock): void {
  const name = 'copy_columns_back';
  check(name, fused, part, b);
  const k = ctx.kernel({ name, code: columnsWgsl, entryPoint: name });
  ctx.dispatch(k, { partIn: part, dst: fused }, { rows: b.rows, srcCols: b.cols, width: b.width, offset: b.offset }, [groups(ctx, b.rows * b.width)]);
}
