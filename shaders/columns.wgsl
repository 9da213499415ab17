// Column blocks of a row-major matrix, for fused projections (GPT-2's c_attn computes q, k and v
// in one product of width 3·d):
//   copy_columns:        out (rows×width)  = src[:, offset : offset + width]      (forward split)
//   copy_columns_back:   dst[:, offset : offset + width] = part (rows×width)      (backward join)
// The backward of a split writes each part's gradient into its block of the fused gradient.

struct ColumnParams { rows: u32, srcCols: u32, width: u32, offset: u32 }
@group(0) @binding(0) var<uniform> cp: ColumnParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<storage, read> partIn: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

override GROUP: u32; // threads per workgroup (the launchers' ELEMENTWISE_GROUP, src/ops/checks.ts)

@compute @workgroup_size(GROUP)
fn copy_columns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = cp.rows * cp.width;
  for (var idx = gid.x; idx < total; idx += nwg.x * GROUP) {
    let r = idx / cp.width;
    part[idx] = src[r * cp.srcCols + cp.offset + idx % cp.width];
  }
}

@compute @workgroup_size(GROUP)
fn copy_columns_back(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = cp.rows * cp.width;
  for (var idx = gid.x; idx < total; idx += nwg.x * GROUP) {
    let r = idx / cp.width;
    dst[r * cp.srcCols + cp.offset + idx % cp.width] = partIn[idx];
  }
}
