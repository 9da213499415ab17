// Kernels of the adapted linear layers (src/adapters/), forward beside backward. Notation and
// equation numbers follow docs/D2LORA.md as quoted in src/adapters/lowrank.ts:
//
//   every method is a rank-R update ΔW = Uσ·D with U (out×R), D (R×in) and a per-rank scale σ:
//     LoRA      R = r,  σ = s
//     DoRA      R = r,  σ = s
//     D2-LoRA   R = 2r, U = [U₊ | U₋], D = [D₊; D₋], σ = [s … s, −sτ … −sτ]
//   Uσ = U·diag(σ) (out×R), Dσ = diag(σ)·D (R×in). Kernels that need Uσ form U[j,k]·σ_k as
//   they read U: the same f32 product a stored Uσ would hold, with no dispatch to store it.
//
// W0 is read through its layout: `inOut = 0` for the (out×in) PyTorch layout, 1 for GPT-2's
// Conv1D (in×out). Large element-wise passes use grid-stride loops so that any size fits the
// 65535-workgroup limit.
//
// Workgroup sizes are the launcher's (src/ops/adapters.ts), given as override constants.

override GROUP: u32;      // threads of the grid-stride kernels
override OUT_GROUP: u32;  // output rows j per workgroup of the kernels with a thread per row

// ---------------------------------------------------------------------------------------------
// Row norms of W0, once per layer: c_j = ‖W0_j‖ (accumulated in f32, Kahan-compensated).

struct RowNormParams { rows: u32, cols: u32, inOut: u32 }
@group(0) @binding(0) var<uniform> rn: RowNormParams;
@group(0) @binding(1) var<storage, read> w0: array<f32>;
@group(0) @binding(2) var<storage, read_write> normsOut: array<f32>;

@compute @workgroup_size(OUT_GROUP)
fn row_norms(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= rn.rows) { return; }
  var sum = 0.0;
  var comp = 0.0;
  for (var i = 0u; i < rn.cols; i++) {
    var w: f32;
    if (rn.inOut != 0u) { w = w0[i * rn.rows + j]; } else { w = w0[j * rn.cols + i]; }
    let y = w * w - comp;
    let t = sum + y;
    comp = (t - sum) - y;
    sum = t;
  }
  normsOut[j] = sqrt(sum);
}

// ---------------------------------------------------------------------------------------------
// Column-norm pass (forward), without materialising ΔW:
//   n_j² = c_j² + 2·ΔW_j·W0_j + ‖ΔW_j‖² + ε
//        = c_j² + 2·Σ_k Uσ[j,k]·A[j,k] + Σ_kl Uσ[j,k]·Mg[k,l]·Uσ[j,l] + ε,  Uσ[j,k] = U[j,k]·σ_k
// with A = W0·Dᵀ (out×R) and Mg = D·Dᵀ (R×R) computed by the matmul kernels beforehand, so the
// pass costs O(out·R²) on top of their O(out·in·R), and no out×in temporary exists.
//   g_j = mag_j / n_j    (mag = c for D2-LoRA, the trainable m for DoRA)

struct NormParams { outF: u32, rank: u32, eps: f32 }
@group(0) @binding(7) var<uniform> np: NormParams;
@group(0) @binding(8) var<storage, read> cNorm: array<f32>;      // c (out)
@group(0) @binding(9) var<storage, read> mag: array<f32>;        // c or m (out)
@group(0) @binding(10) var<storage, read> uFactor: array<f32>;   // U (out×R)
@group(0) @binding(28) var<storage, read> sigma: array<f32>;     // σ (R)
@group(0) @binding(11) var<storage, read> w0dT: array<f32>;      // A = W0·Dᵀ (out×R)
@group(0) @binding(12) var<storage, read> gram: array<f32>;      // Mg = D·Dᵀ (R×R)
@group(0) @binding(13) var<storage, read_write> nOut: array<f32>; // n (out)
@group(0) @binding(14) var<storage, read_write> gOut: array<f32>; // g (out)

@compute @workgroup_size(OUT_GROUP)
fn column_norm_pass(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= np.outF) { return; }
  let R = np.rank;
  let row = j * R;
  var cross = 0.0;
  var quad = 0.0;
  for (var k = 0u; k < R; k++) {
    let uk = uFactor[row + k] * sigma[k];
    cross += uk * w0dT[row + k];
    var mu = 0.0;
    for (var l = 0u; l < R; l++) { mu += gram[k * R + l] * (uFactor[row + l] * sigma[l]); }
    quad += uk * mu;
  }
  // Relative to c² so that at initialisation (ΔW = 0, mag = c) g is exactly 1 in f32 and the
  // adapted layer reproduces the base layer bit for bit: 1 + ε/c² rounds to 1.
  let c = cNorm[j];
  let delta = 2.0 * cross + quad + np.eps;
  var n: f32;
  var g: f32;
  if (c * c > 0.0) {
    let stretch = sqrt(max(1.0 + delta / (c * c), 0.0));
    n = c * stretch;
    g = (mag[j] / c) / stretch;
  } else {
    n = sqrt(max(delta, 0.0));
    g = mag[j] / n;
  }
  nOut[j] = n;
  gOut[j] = g;
}

// ---------------------------------------------------------------------------------------------
// Fused output combine (forward):  Y = Q⊙g + ρ·L (+ b, the frozen bias, unscaled), Q = P + L
// Q = X·W0ᵀ + Hs·Uᵀ comes from one matmul (its second product summed into the frozen one) and
// is kept for the backward's dg. L = Hs·Uᵀ (Hs = X·Dσᵀ, N×R) is formed again here when ρ ≠ 0:
// R multiply-adds an element, in the matmul's order, so no N×out tensor holds it.
// Backward of it (output-gradient scaling):  Gs = G⊙g,  Gl = G⊙(g + ρ)

struct CombineParams { rows: u32, outF: u32, rho: f32, hasBias: u32, rank: u32 }
@group(0) @binding(15) var<uniform> cp: CombineParams;
@group(0) @binding(16) var<storage, read> gScale: array<f32>;    // g (out)
@group(0) @binding(17) var<storage, read> hsIn: array<f32>;      // Hs (N×R)
@group(0) @binding(18) var<storage, read_write> yBuf: array<f32>; // Y (N×out)
@group(0) @binding(34) var<storage, read> combineBias: array<f32>; // b (out), when hasBias

@compute @workgroup_size(GROUP)
fn combine_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = cp.rows * cp.outF;
  let R = cp.rank;
  for (var idx = gid.x; idx < total; idx += nwg.x * GROUP) {
    let j = idx % cp.outF;
    var y = qSaved[idx] * gScale[j];
    if (cp.rho != 0.0) {
      let hs = (idx / cp.outF) * R;
      var l = 0.0;
      for (var k = 0u; k < R; k++) { l = fma(hsIn[hs + k], uFactor[j * R + k], l); }
      y += cp.rho * l;
    }
    if (cp.hasBias != 0u) { y += combineBias[j]; }
    yBuf[idx] = y;
  }
}

@group(0) @binding(19) var<storage, read> gradOut: array<f32>;       // G (N×out)
@group(0) @binding(20) var<storage, read_write> gradS: array<f32>;   // Gs (N×out)
@group(0) @binding(21) var<storage, read_write> gradL: array<f32>;   // Gl (N×out)

@compute @workgroup_size(GROUP)
fn combine_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = cp.rows * cp.outF;
  for (var idx = gid.x; idx < total; idx += nwg.x * GROUP) {
    let g = gScale[idx % cp.outF];
    let go = gradOut[idx];
    gradS[idx] = go * g;
    gradL[idx] = go * (g + cp.rho);
  }
}

// ---------------------------------------------------------------------------------------------
// Gradient of the norm scale (backward):  dg_j = Σ_n G[n,j]·Q[n,j]
// Two deterministic stages. The first is the combine's backward above, fused with partial sums
// of dg over blocks of ROWS_PER_BLOCK rows (OUT_GROUP columns × ROW_LANES row-lanes per
// workgroup, the lanes added in order in workgroup memory): it reads each G once for Gs, Gl and
// dg. The second is a fixed-order sum of the partials fused with the coefficient the method needs:
//   mode 0, D2-LoRA:  a_j = −dg_j·c_j / n_j³        (written to coeff)
//   mode 1, DoRA:     dm_j += dg_j / n_j             (accumulated into coeff = dm)

override ROWS_PER_BLOCK: u32;
override ROW_LANES: u32;

struct ColDotParams { rows: u32, outF: u32, blocks: u32, mode: u32, rho: f32 }
@group(0) @binding(22) var<uniform> cd: ColDotParams;
@group(0) @binding(23) var<storage, read> qSaved: array<f32>;        // Q (N×out)
@group(0) @binding(24) var<storage, read_write> partials: array<f32>; // blocks×out
@group(0) @binding(25) var<storage, read> nSaved: array<f32>;        // n (out)
@group(0) @binding(26) var<storage, read_write> coeff: array<f32>;   // a or dm (out)

var<workgroup> lanes: array<f32, OUT_GROUP * ROW_LANES>;

@compute @workgroup_size(OUT_GROUP, ROW_LANES)
fn combine_backward_dot(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let j = wid.x * OUT_GROUP + lid.x;
  let r0 = wid.y * ROWS_PER_BLOCK;
  let r1 = min(r0 + ROWS_PER_BLOCK, cd.rows);
  var acc = 0.0;
  if (j < cd.outF) {
    let g = gScale[j];
    for (var r = r0 + lid.y; r < r1; r += ROW_LANES) {
      let idx = r * cd.outF + j;
      let go = gradOut[idx];
      gradS[idx] = go * g;
      gradL[idx] = go * (g + cd.rho);
      acc += go * qSaved[idx];
    }
  }
  lanes[lid.y * OUT_GROUP + lid.x] = acc;
  workgroupBarrier();
  if (lid.y == 0u && j < cd.outF) {
    var sum = lanes[lid.x];
    for (var l = 1u; l < ROW_LANES; l++) { sum += lanes[l * OUT_GROUP + lid.x]; }
    partials[wid.y * cd.outF + j] = sum;
  }
}

@compute @workgroup_size(OUT_GROUP)
fn column_dot_finish(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= cd.outF) { return; }
  var dg = 0.0;
  for (var b = 0u; b < cd.blocks; b++) { dg += partials[b * cd.outF + j]; }
  let n = nSaved[j];
  if (cd.mode == 0u) {
    coeff[j] = -dg * cNorm[j] / (n * n * n);
  } else {
    coeff[j] += dg / n;
  }
}

// ---------------------------------------------------------------------------------------------
// The norm's share of the D2-LoRA backward (gradients through n), a thread per (j, k) of out×R,
// given a from column_dot_finish:
//   dU[j,k] += a_j·σ_k·(A[j,k] + (Uσ·Mg)[j,k])        (diag(a)·(W0Dᵀ + ΔW·Dᵀ), column-scaled by σ)
//   B[j,k]   = a_j·Uσ[j,k]                              (B = diag(a)·Uσ, for dD += Bᵀ·W0 + (Bᵀ·Uσ)·D)
//   UσOut[j,k] = Uσ[j,k]                                (the second factor of Bᵀ·Uσ)
// Eight storage bindings, WebGPU's default maxStorageBuffersPerShaderStage: a_j is not summed
// here from the partials, which would take three more.

@group(0) @binding(29) var<storage, read> aCoeff: array<f32>;           // a (out)
@group(0) @binding(30) var<storage, read_write> dU: array<f32>;          // dU (out×R)
@group(0) @binding(35) var<storage, read_write> bOut: array<f32>;        // B (out×R)
@group(0) @binding(36) var<storage, read_write> uSigmaOut: array<f32>;   // Uσ (out×R)

struct NormGradParams { outF: u32, rank: u32 }
@group(0) @binding(27) var<uniform> ng: NormGradParams;

@compute @workgroup_size(GROUP)
fn norm_grad_terms(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let R = ng.rank;
  let total = ng.outF * R;
  for (var idx = gid.x; idx < total; idx += nwg.x * GROUP) {
    let j = idx / R;
    let k = idx % R;
    let a = aCoeff[j];
    var ug = 0.0;
    for (var l = 0u; l < R; l++) { ug += (uFactor[j * R + l] * sigma[l]) * gram[l * R + k]; }
    dU[idx] += a * sigma[k] * (w0dT[idx] + ug);
    let us = uFactor[idx] * sigma[k];
    bOut[idx] = us * a;
    uSigmaOut[idx] = us;
  }
}

// ---------------------------------------------------------------------------------------------
// Merge (after training):  Ŵ = diag(g)·(W0 + ΔW) + ρ·ΔW, ΔW = Uσ·D
// (LoRA and unprojected D2-LoRA: g = 1, ρ = 0; DoRA: g = m/n, ρ = 0.) Each thread rebuilds its
// element of ΔW from the R-long row of Uσ (U's row times σ) and column of D, so the merged output is the only
// out×in buffer ever written. Ŵ is written in W0's own layout.

struct MergeParams { outF: u32, inF: u32, rank: u32, inOut: u32, rho: f32 }
@group(0) @binding(31) var<uniform> mp: MergeParams;
@group(0) @binding(32) var<storage, read> dFactor: array<f32>;      // D (R×in)
@group(0) @binding(33) var<storage, read_write> merged: array<f32>; // Ŵ, W0's layout

override MERGE_EDGE: u32; // workgroup edge of merge_weight

@compute @workgroup_size(MERGE_EDGE, MERGE_EDGE)
fn merge_weight(@builtin(global_invocation_id) gid: vec3<u32>) {
  // For out×in, x runs along in (contiguous); for in×out, along out (contiguous).
  var j: u32;
  var i: u32;
  if (mp.inOut != 0u) { j = gid.x; i = gid.y; } else { i = gid.x; j = gid.y; }
  if (j >= mp.outF || i >= mp.inF) { return; }
  var delta = 0.0;
  for (var k = 0u; k < mp.rank; k++) { delta += (uFactor[j * mp.rank + k] * sigma[k]) * dFactor[k * mp.inF + i]; }
  var idx: u32;
  if (mp.inOut != 0u) { idx = i * mp.outF + j; } else { idx = j * mp.inF + i; }
  merged[idx] = gScale[j] * (w0[idx] + delta) + mp.rho * delta;
}
