// The optimizer step over the adapter parameters, with no read-back inside it:
//   1. sum_squares_partial (per tensor)   partials[first + b] = Σ grad² over block b of the tensor
//   2. clip_factor (once)                 total = sqrt(Σ partials), factor = min(1, maxNorm/(total + 1e-6))
//   3. adamw_step (per tensor)            AdamW on factor·grad, the factor read from the GPU buffer
// Every tensor's blocks have their own range of one partials buffer, so one clip_factor sums the
// whole model's: two dispatches per tensor, plus one.
// Every reduction is a fixed-shape tree, so results are bit-for-bit reproducible.
// The sizes are the launcher's (src/ops/optimizer.ts), given as override constants.

override THREADS: u32;                      // threads per workgroup (a power of two, for treeSum)
override PER_THREAD: u32;                   // elements each thread of sum_squares_partial squares
override BLOCK: u32 = THREADS * PER_THREAD; // elements per partial sum

var<workgroup> lanes: array<f32, THREADS>;

/** Σ of the THREADS values, in a fixed pairing; every thread gets the result. Called once per dispatch. */
fn treeSum(tid: u32, value: f32) -> f32 {
  lanes[tid] = value;
  for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (tid < stride) { lanes[tid] = lanes[tid] + lanes[tid + stride]; }
  }
  workgroupBarrier();
  return lanes[0];
}

// ---------------------------------------------------------------------------------------------
// Sums of squares by block: partials[first + b] = Σ x² over elements [b·BLOCK, (b + 1)·BLOCK).

struct SumSqParams { n: u32, first: u32 }
@group(0) @binding(0) var<uniform> sq: SumSqParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

@compute @workgroup_size(THREADS)
fn sum_squares_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let base = wid.x * BLOCK;
  var acc = 0.0;
  for (var k = 0u; k < PER_THREAD; k++) {
    let i = base + k * THREADS + tid;
    if (i < sq.n) {
      let xi = x[i];
      acc += xi * xi;
    }
  }
  let total = treeSum(tid, acc);
  if (tid == 0u) { partials[sq.first + wid.x] = total; }
}

// ---------------------------------------------------------------------------------------------
// Global-norm clipping factor (torch.nn.utils.clip_grad_norm_), one workgroup, over every
// tensor's partial sums:
//   total = sqrt(Σ_b partialSums[b]),  factor = maxNorm > 0 ? min(1, maxNorm / (total + 1e-6)) : 1
//   factorOut = [factor, total]

struct ClipParams { count: u32, maxNorm: f32 }
@group(0) @binding(3) var<uniform> cp: ClipParams;
@group(0) @binding(4) var<storage, read> partialSums: array<f32>;
@group(0) @binding(5) var<storage, read_write> factorOut: array<f32>;

@compute @workgroup_size(THREADS)
fn clip_factor(@builtin(local_invocation_index) tid: u32) {
  var acc = 0.0;
  for (var b = tid; b < cp.count; b += THREADS) { acc += partialSums[b]; }
  let total = sqrt(treeSum(tid, acc));
  if (tid == 0u) {
    var factor = 1.0;
    if (cp.maxNorm > 0.0) { factor = min(1.0, cp.maxNorm / (total + 1e-6)); }
    // A NaN or infinite gradient norm (exponent bits all ones): factor 0 tells adamw_step to
    // skip the step, so one diverged batch cannot poison the parameters or the moments.
    if ((bitcast<u32>(total) & 0x7f800000u) == 0x7f800000u) { factor = 0.0; }
    factorOut[0] = factor;
    factorOut[1] = total;
  }
}

// ---------------------------------------------------------------------------------------------
// AdamW (torch.optim.AdamW), step t, on g = factor·grad:
//   p ← p·(1 − lr·wd)                                  (decoupled weight decay: decay = 1 − lr·wd)
//   m ← β1 m + (1 − β1) g,   v ← β2 v + (1 − β2) g²
//   p ← p − stepSize · m / (sqrt(v) / bc2Sqrt + eps)   (stepSize = lr/(1 − β1ᵗ), bc2Sqrt = sqrt(1 − β2ᵗ))
// The host computes decay, 1 − β1, 1 − β2, stepSize and bc2Sqrt in f64: 1 − β2 formed in f32
// from β2 = 0.999 would be off by 1e-5.

struct AdamParams {
  n: u32,
  decay: f32,
  beta1: f32,
  oneMinusBeta1: f32,
  beta2: f32,
  oneMinusBeta2: f32,
  eps: f32,
  stepSize: f32,
  bc2Sqrt: f32,
}
@group(0) @binding(6) var<uniform> ad: AdamParams;
@group(0) @binding(7) var<storage, read_write> param: array<f32>;
@group(0) @binding(8) var<storage, read> grad: array<f32>;
@group(0) @binding(9) var<storage, read_write> expAvg: array<f32>;    // m
@group(0) @binding(10) var<storage, read_write> expAvgSq: array<f32>;  // v
@group(0) @binding(11) var<storage, read> factorIn: array<f32>;       // [clip factor, total norm]

@compute @workgroup_size(THREADS)
fn adamw_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let factor = factorIn[0];
  if (factor == 0.0) { return; } // clip_factor's verdict: a non-finite gradient, skip the step
  for (var i = gid.x; i < ad.n; i += nwg.x * THREADS) {
    let g = factor * grad[i];
    let m = ad.beta1 * expAvg[i] + ad.oneMinusBeta1 * g;
    let v = ad.beta2 * expAvgSq[i] + ad.oneMinusBeta2 * g * g;
    expAvg[i] = m;
    expAvgSq[i] = v;
    param[i] = param[i] * ad.decay - ad.stepSize * m / (sqrt(v) / ad.bc2Sqrt + ad.eps);
  }
}
