// Cross-entropy over rows of logits, and the greedy argmax. One workgroup of THREADS threads
// (a power of two the launcher sets, src/ops/loss.ts) per row (rows taken in a grid-stride loop, so any row count fits); each thread strides over the
// vocabulary, then a fixed-order tree reduction in workgroup memory combines the threads, so
// results are deterministic. Numerically stable: exp is only taken of logit − row max.
//
//   logits (rows × vocab), targets (u32, rows), weights (rows)
//   losses_i  = logsumexp(logits_i) − logits_i[target_i]        (per-token NLL, unweighted)
//   dlogits_i = weights_i · (softmax(logits_i) − onehot(target_i))
// A target ≥ vocab (a caller's bug the host cannot see without a read-back) gives a NaN loss,
// which shows in the mean, and a zero gradient row.

struct LossParams { rows: u32, vocab: u32 }
@group(0) @binding(0) var<uniform> lp: LossParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;
@group(0) @binding(5) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(6) var<storage, read_write> argmaxOut: array<u32>;

override THREADS: u32; // threads of a row's workgroup (a power of two, for the reduction trees)
const LOWEST = -0x1.fffffep+127f; // the most negative finite f32
const NO_INDEX = 0xffffffffu;

var<workgroup> partF: array<f32, THREADS>;
var<workgroup> partI: array<u32, THREADS>;

// Tree reductions over the workgroup's THREADS values; every thread gets the result.
fn workgroupMax(tid: u32, x: f32) -> f32 {
  partF[tid] = x;
  for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (tid < stride) { partF[tid] = max(partF[tid], partF[tid + stride]); }
  }
  workgroupBarrier();
  let result = partF[0];
  workgroupBarrier(); // everyone has read partF[0] before it is reused
  return result;
}

fn workgroupSum(tid: u32, x: f32) -> f32 {
  partF[tid] = x;
  for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (tid < stride) { partF[tid] = partF[tid] + partF[tid + stride]; }
  }
  workgroupBarrier();
  let result = partF[0];
  workgroupBarrier();
  return result;
}

/** log Σ_c exp(logits[row, c]) = m + log Σ_c exp(logits[row, c] − m), m the row max. */
fn rowLogSumExp(row: u32, tid: u32) -> f32 {
  let base = row * lp.vocab;
  var m = LOWEST;
  for (var c = tid; c < lp.vocab; c += THREADS) { m = max(m, logits[base + c]); }
  let rowMax = workgroupMax(tid, m);
  var s = 0.0;
  for (var c = tid; c < lp.vocab; c += THREADS) { s += exp(logits[base + c] - rowMax); }
  return rowMax + log(workgroupSum(tid, s));
}

/** losses_row = lse − logits[row, tgt]; NaN for a target outside the vocabulary. */
fn writeLoss(row: u32, lse: f32) {
  let tgt = targets[row];
  // A quiet NaN with the bad target in its payload (built at run time: WGSL rejects a constant NaN).
  var loss = bitcast<f32>(0x7fc00000u | tgt);
  if (tgt < lp.vocab) { loss = lse - logits[row * lp.vocab + tgt]; }
  losses[row] = loss;
}

@compute @workgroup_size(THREADS)
fn cross_entropy_loss(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  for (var row = wid.x; row < lp.rows; row += nwg.x) {
    let lse = rowLogSumExp(row, tid);
    if (tid == 0u) { writeLoss(row, lse); }
  }
}

// Backward of loss_i = lse_i − logits_i[t]:  ∂loss_i/∂logits_ic = softmax_ic − [c = t],
// scaled by weights_i.
@compute @workgroup_size(THREADS)
fn cross_entropy_loss_grad(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  for (var row = wid.x; row < lp.rows; row += nwg.x) {
    let lse = rowLogSumExp(row, tid);
    if (tid == 0u) { writeLoss(row, lse); }
    let tgt = targets[row];
    let w = select(0.0, weights[row], tgt < lp.vocab);
    let base = row * lp.vocab;
    for (var c = tid; c < lp.vocab; c += THREADS) {
      let onehot = select(0.0, 1.0, c == tgt);
      dlogits[base + c] = w * (exp(logits[base + c] - lse) - onehot);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Greedy decoding: argmaxOut_i = the index of row i's largest logit, ties to the lowest index
// (as a plain CPU argmax). Each thread scans its stride in increasing order keeping the first
// maximum; the tree keeps the larger value, or on a tie the lower index.

/** (x, ix) beats (y, iy): a larger value, or an equal one at a lower index. */
fn beats(x: f32, ix: u32, y: f32, iy: u32) -> bool {
  return ix != NO_INDEX && (iy == NO_INDEX || x > y || (x == y && ix < iy));
}

@compute @workgroup_size(THREADS)
fn argmax_rows(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  for (var row = wid.x; row < lp.rows; row += nwg.x) {
    let base = row * lp.vocab;
    var best = LOWEST;
    var bestIndex = NO_INDEX;
    for (var c = tid; c < lp.vocab; c += THREADS) {
      let x = logits[base + c];
      if (beats(x, c, best, bestIndex)) {
        best = x;
        bestIndex = c;
      }
    }
    partF[tid] = best;
    partI[tid] = bestIndex;
    for (var stride = THREADS / 2u; stride > 0u; stride >>= 1u) {
      workgroupBarrier();
      if (tid < stride && beats(partF[tid + stride], partI[tid + stride], partF[tid], partI[tid])) {
        partF[tid] = partF[tid + stride];
        partI[tid] = partI[tid + stride];
      }
    }
    workgroupBarrier();
    if (tid == 0u) { argmaxOut[row] = partI[0]; }
    workgroupBarrier(); // partF, partI are reused by the next row
  }
}
