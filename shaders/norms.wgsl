// Row normalisations, forward beside backward: RMSNorm (Llama, Qwen2) and LayerNorm (GPT-2).
// x, y, dy, dx are (rows×dim); weight, bias are (dim); mean, rstd are (rows).
//
// Two variants of every kernel, chosen by the launcher (src/ops/norms.ts) from dim:
//
//   workgroup  (`*_forward`, `*_backward`) one workgroup of GROUP threads per row (looping over
//              rows when there are more than the dispatch allows), GROUP an override constant of
//              32, 64, 128 or 256 fitted to dim by the launcher: thread t sums columns t, t+GROUP, … in order,
//              then the GROUP partial sums are combined by a fixed binary tree in workgroup
//              memory. Any dim works (4096 and beyond: a thread then sums dim/GROUP values
//              before the tree). For wide rows.
//   thread     (`*_forward_rows`, `*_backward_rows`) one thread per row, ROW_GROUP rows a
//              workgroup: no workgroup memory and no barrier. The row's sums run over 8
//              interleaved partial sums (columns c ≡ 0 … 7 mod 8) joined by a fixed tree, which
//              keeps dim/8 + 3 roundings a sum. For narrow rows (small models), where a
//              workgroup a row would leave most of its threads idle through log₂(GROUP) barriers.
//
// The order of every addition depends only on dim and the variant, so results are bitwise
// reproducible run to run.
//
// The weights (and LayerNorm's bias) are frozen base weights: the backward gives dx only, and
// `accumulate` adds it into dx, which holds the residual stream's gradient.
//
// A forward can first add the residual branch into its input, in place (`hasResidual`: stream
// += residual, then the norm of the sum), so a block's residual add costs no dispatch of its own.
// The sum is one correctly rounded f32 add, as a separate add kernel would make, and the norm
// reads the same values either way: the fused and the separate forms agree bit for bit. The
// backward needs nothing new: the gradient of the sum reaches both addends unchanged.

override GROUP: u32;      // threads of a workgroup-per-row kernel (a power of two)
override ROW_GROUP: u32;  // rows (threads) of a workgroup of a thread-per-row kernel

var<workgroup> partial: array<vec2<f32>, GROUP>;

// The sum over the workgroup of each thread's v, in a fixed order; every thread gets it. Two
// sums at once for the passes that need two (LayerNorm's backward). Leaves `partial` free.
fn workgroup_sum(t: u32, v: vec2<f32>) -> vec2<f32> {
  partial[t] = v;
  workgroupBarrier();
  for (var stride = GROUP / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) { partial[t] += partial[t + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

// Binding names avoid x, y, z, w, r, g, b, a: the layout parser (src/gpu/wgsl-layout.ts) sees
// identifiers, so a swizzle such as `lid.x` would count as using a binding named x.
struct NormForwardParams { rows: u32, dim: u32, eps: f32, hasResidual: u32 }
@group(0) @binding(0) var<uniform> nf: NormForwardParams;
struct NormBackwardParams { rows: u32, dim: u32, accumulate: u32 }
@group(0) @binding(1) var<uniform> nb: NormBackwardParams;

@group(0) @binding(2) var<storage, read> normIn: array<f32>;       // the backwards' x
@group(0) @binding(12) var<storage, read_write> stream: array<f32>; // the forwards' x (+= residual)
@group(0) @binding(13) var<storage, read> residual: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> normOut: array<f32>;
@group(0) @binding(6) var<storage, read_write> meanOut: array<f32>;
@group(0) @binding(7) var<storage, read_write> rstdOut: array<f32>;
@group(0) @binding(8) var<storage, read> dy: array<f32>;
@group(0) @binding(9) var<storage, read> meanSaved: array<f32>;
@group(0) @binding(10) var<storage, read> rstdSaved: array<f32>;
@group(0) @binding(11) var<storage, read_write> dx: array<f32>;

// x[i] of a forward's first pass over its row, the residual added in place when there is one.
// The later passes read stream[i] again: the same invocation wrote it.
fn first_read(i: u32) -> f32 {
  if (nf.hasResidual == 0u) { return stream[i]; }
  let v = stream[i] + residual[i];
  stream[i] = v;
  return v;
}

fn write_dx(i: u32, v: f32) {
  if (nb.accumulate != 0u) { dx[i] += v; } else { dx[i] = v; }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm:  r = 1/sqrt(mean(x²) + eps),  y = x·r ⊙ w                       (rstd[row] = r)

@compute @workgroup_size(GROUP)
fn rmsnorm_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let t = lid.x;
  for (var row = wid.x; row < nf.rows; row += nwg.x) {
    let base = row * nf.dim;
    var squares = 0.0;
    for (var c = t; c < nf.dim; c += GROUP) {
      let v = first_read(base + c);
      squares += v * v;
    }
    let r = inverseSqrt(workgroup_sum(t, vec2(squares, 0.0)).x / f32(nf.dim) + nf.eps);
    for (var c = t; c < nf.dim; c += GROUP) { normOut[base + c] = stream[base + c] * r * weight[c]; }
    if (t == 0u) { rstdOut[row] = r; }
  }
}

// Backward of y = x·r ⊙ w, with ∂r/∂x_k = −r³·x_k/dim:
//   dx = r·(dy⊙w − x·r²·Σ(dy⊙w⊙x)/dim)

@compute @workgroup_size(GROUP)
fn rmsnorm_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let t = lid.x;
  for (var row = wid.x; row < nb.rows; row += nwg.x) {
    let base = row * nb.dim;
    var weighted = 0.0;
    for (var c = t; c < nb.dim; c += GROUP) { weighted += dy[base + c] * weight[c] * normIn[base + c]; }
    let r = rstdSaved[row];
    let coef = workgroup_sum(t, vec2(weighted, 0.0)).x * r * r / f32(nb.dim);
    for (var c = t; c < nb.dim; c += GROUP) {
      write_dx(base + c, r * (dy[base + c] * weight[c] - normIn[base + c] * coef));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm:  μ = mean(x),  r = 1/sqrt(mean((x − μ)²) + eps),  y = (x − μ)·r ⊙ w + b
// Two passes over the row (mean, then squared deviations): no E[x²] − μ² cancellation.

@compute @workgroup_size(GROUP)
fn layernorm_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let t = lid.x;
  let dim = f32(nf.dim);
  for (var row = wid.x; row < nf.rows; row += nwg.x) {
    let base = row * nf.dim;
    var sum = 0.0;
    for (var c = t; c < nf.dim; c += GROUP) { sum += first_read(base + c); }
    let mu = workgroup_sum(t, vec2(sum, 0.0)).x / dim;
    var squares = 0.0;
    for (var c = t; c < nf.dim; c += GROUP) {
      let d = stream[base + c] - mu;
      squares += d * d;
    }
    let r = inverseSqrt(workgroup_sum(t, vec2(squares, 0.0)).x / dim + nf.eps);
    for (var c = t; c < nf.dim; c += GROUP) { normOut[base + c] = (stream[base + c] - mu) * r * weight[c] + bias[c]; }
    if (t == 0u) {
      meanOut[row] = mu;
      rstdOut[row] = r;
    }
  }
}

// Backward of y = x̂ ⊙ w + b, x̂ = (x − μ)·r, with g = dy⊙w:
//   dx = r·(g − mean(g) − x̂·mean(g⊙x̂))

@compute @workgroup_size(GROUP)
fn layernorm_backward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let t = lid.x;
  let dim = f32(nb.dim);
  for (var row = wid.x; row < nb.rows; row += nwg.x) {
    let base = row * nb.dim;
    let mu = meanSaved[row];
    let r = rstdSaved[row];
    var sums = vec2(0.0);
    for (var c = t; c < nb.dim; c += GROUP) {
      let g = dy[base + c] * weight[c];
      sums += vec2(g, g * (normIn[base + c] - mu) * r);
    }
    let means = workgroup_sum(t, sums) / dim;
    for (var c = t; c < nb.dim; c += GROUP) {
      let xhat = (normIn[base + c] - mu) * r;
      write_dx(base + c, r * (dy[base + c] * weight[c] - means.x - xhat * means.y));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Thread-per-row variant: the formulas above, one thread per row (ROW_GROUP rows a workgroup,
// looping over rows when there are more than the dispatch allows). Each sum over a row runs in
// LANES interleaved partial sums, lane k taking columns k, k+LANES, … in order, joined by
// sum_lanes; both sums of LayerNorm's backward at once, as in workgroup_sum. The partial sums
// are zeroed by an explicit initialiser: declared in the loop over rows without one, they kept
// the previous row's values on Dawn with lavapipe. LANES is a const: it sizes a function-scope
// array, which WGSL allows only for constants (the launcher does not need it).

const LANES = 8u;

// The LANES partial sums of a row, added in a fixed tree.
fn sum_lanes(s: array<vec2<f32>, LANES>) -> vec2<f32> {
  return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

@compute @workgroup_size(ROW_GROUP)
fn rmsnorm_forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let dim = nf.dim;
  for (var row = gid.x; row < nf.rows; row += nwg.x * ROW_GROUP) {
    let base = row * dim;
    var s = array<vec2<f32>, LANES>();
    for (var c0 = 0u; c0 < dim; c0 += LANES) {
      for (var k = 0u; k < LANES; k++) {
        let c = c0 + k;
        if (c < dim) {
          let v = first_read(base + c);
          s[k].x += v * v;
        }
      }
    }
    let r = inverseSqrt(sum_lanes(s).x / f32(dim) + nf.eps);
    for (var c = 0u; c < dim; c++) { normOut[base + c] = stream[base + c] * r * weight[c]; }
    rstdOut[row] = r;
  }
}

@compute @workgroup_size(ROW_GROUP)
fn rmsnorm_backward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let dim = nb.dim;
  for (var row = gid.x; row < nb.rows; row += nwg.x * ROW_GROUP) {
    let base = row * dim;
    var s = array<vec2<f32>, LANES>();
    for (var c0 = 0u; c0 < dim; c0 += LANES) {
      for (var k = 0u; k < LANES; k++) {
        let c = c0 + k;
        if (c < dim) { s[k].x += dy[base + c] * weight[c] * normIn[base + c]; }
      }
    }
    let r = rstdSaved[row];
    let coef = sum_lanes(s).x * r * r / f32(dim);
    for (var c = 0u; c < dim; c++) {
      write_dx(base + c, r * (dy[base + c] * weight[c] - normIn[base + c] * coef));
    }
  }
}

@compute @workgroup_size(ROW_GROUP)
fn layernorm_forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let dim = nf.dim;
  for (var row = gid.x; row < nf.rows; row += nwg.x * ROW_GROUP) {
    let base = row * dim;
    var s = array<vec2<f32>, LANES>();
    for (var c0 = 0u; c0 < dim; c0 += LANES) {
      for (var k = 0u; k < LANES; k++) {
        let c = c0 + k;
        if (c < dim) { s[k].x += first_read(base + c); }
      }
    }
    let mu = sum_lanes(s).x / f32(dim);
    s = array<vec2<f32>, LANES>();
    for (var c0 = 0u; c0 < dim; c0 += LANES) {
      for (var k = 0u; k < LANES; k++) {
        let c = c0 + k;
        if (c < dim) {
          let d = stream[base + c] - mu;
          s[k].x += d * d;
        }
      }
    }
    let r = inverseSqrt(sum_lanes(s).x / f32(dim) + nf.eps);
    for (var c = 0u; c < dim; c++) { normOut[base + c] = (stream[base + c] - mu) * r * weight[c] + bias[c]; }
    meanOut[row] = mu;
    rstdOut[row] = r;
  }
}

@compute @workgroup_size(ROW_GROUP)
fn layernorm_backward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let dim = nb.dim;
  for (var row = gid.x; row < nb.rows; row += nwg.x * ROW_GROUP) {
    let base = row * dim;
    let mu = meanSaved[row];
    let r = rstdSaved[row];
    var s = array<vec2<f32>, LANES>();
    for (var c0 = 0u; c0 < dim; c0 += LANES) {
      for (var k = 0u; k < LANES; k++) {
        let c = c0 + k;
        if (c < dim) {
          let g = dy[base + c] * weight[c];
          s[k] += vec2(g, g * (normIn[base + c] - mu) * r);
        }
      }
    }
    let means = sum_lanes(s) / f32(dim);
    for (var c = 0u; c < dim; c++) {
      let xhat = (normIn[base + c] - mu) * r;
      write_dx(base + c, r * (dy[base + c] * weight[c] - means.x - xhat * means.y));
    }
  }
}
