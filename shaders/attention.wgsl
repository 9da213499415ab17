// Causal, grouped-query self-attention over a right-padded batch, flash-attention style: the
// forward keeps an online softmax and stores only the row log-sum-exp; the backward recomputes
// the probabilities from it. No T×T matrix exists anywhere, no float atomics are used, and
// every sum runs in a fixed order, so results are bit-for-bit reproducible.
//
//   q, out  (batch·seq) × (numHeads·headDim)      row (b·seq + t), column h·headDim + d
//   k, v    (batch·seq) × (numKvHeads·headDim)    query head h reads kv head g = h / (numHeads/numKvHeads)
//   lse     batch × numHeads × seq
//   lengths (u32, batch): L_b, the real length; positions t ≥ L_b are padding
//
//   s_ij = scale · q_i·k_j  (j ≤ i < L),  lse_i = log Σ_j exp(s_ij),  P_ij = exp(s_ij − lse_i)
//   out_i = Σ_j P_ij v_j
// Padded query rows get out = 0 and lse = 0 (and dq = 0); padded keys get dk = dv = 0. Padded
// rows of q, k, v and dOut are never read, so whatever they hold cannot reach a real position.
//
// Workgroup memory stays under WebGPU's default 16 KiB for any headDim ≤ D_MAX: rows of q, k,
// v and dOut are staged in tiles of ROWS or KEYS rows at a stride of headDim. Each thread keeps
// its output dims in a private array of D_MAX / (threads along x) slots (F_DIMS, B_DIMS);
// loops over the slots run to the number in use, a runtime bound, so that compilers do not
// unroll them D_MAX-wide (fully unrolled, the backward took lavapipe over 20 s to compile; now
// under 1 s).
//
// Tile geometry the launchers also need (rows per workgroup, invocations per workgroup) is an
// `override` without a default, set by src/ops/attention.ts: one source, and a pipeline that
// was not given it fails to build instead of running with a stale copy. Sizes WGSL requires to
// be constants (private arrays: D_MAX, B_DIMS) stay `const`; the launcher reads them from here.
//
// Kernels:
//   attention_forward         one workgroup per (F_ROWS query rows, head, sequence), F_KEYS ×
//                             F_ROWS threads; keys in tiles of F_KEYS: K tile → scores (one per
//                             thread) → V tile over the K tile → online-softmax update of F_DIMS
//                             output dims a thread.
//   attention_backward_delta  row statistics (lse_i, D_i = dOut_i·out_i), one thread per
//                             (sequence, head, row).
//   attention_backward_dq     one workgroup per (ROWS query rows, head, sequence), KEYS × ROWS
//                             threads: dq_i = scale Σ_j dS_ij k_j over key tiles of KEYS.
//   attention_backward_dkdv   one workgroup per (KEYS keys, kv head, sequence), KEYS × ROWS
//                             threads: dk_j = scale Σ_h Σ_i dS_ij q_i, dv_j = Σ_h Σ_i P_ij dOut_i
//                             over the query heads of the group and query tiles of ROWS, i ≥ j.
//   …_rows                    the same, a thread per row (for small heads and CPU drivers).
//   attention_decode(_rows)   inference: new rows of one sequence against a KV cache (at the end).

const D_MAX = 128u;
/** Below any real score: a masked score never wins a max (and its exp is never taken); the
    running max starts here, so the rescaling exp(m − m_new) is 1 or 0 until a real score. */
const NEG = -1.0e30;

struct AttnParams { batch: u32, seq: u32, numHeads: u32, numKvHeads: u32, headDim: u32, scale: f32 }
@group(0) @binding(0) var<uniform> ap: AttnParams;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> lengths: array<u32>;

fn qIndex(b: u32, t: u32, h: u32, d: u32) -> u32 {
  return ((b * ap.seq + t) * ap.numHeads + h) * ap.headDim + d;
}

fn kvIndex(b: u32, t: u32, g: u32, d: u32) -> u32 {
  return ((b * ap.seq + t) * ap.numKvHeads + g) * ap.headDim + d;
}

fn lseIndex(b: u32, h: u32, t: u32) -> u32 {
  return (b * ap.numHeads + h) * ap.seq + t;
}

fn kvHead(h: u32) -> u32 {
  return h / (ap.numHeads / ap.numKvHeads);
}

fn realLength(b: u32) -> u32 {
  return min(lengths[b], ap.seq);
}

// ---------------------------------------------------------------------------------------------
// Forward.
//   out_i = Σ_j exp(s_ij − m_i) v_j / Σ_j exp(s_ij − m_i), accumulated tile by tile with the
//   running max m and sum l rescaled by exp(m_old − m_new) (online softmax); lse_i = m_i + log l_i.

override F_ROWS: u32;           // query rows per workgroup (threads along y); from the launcher
const F_KEYS = 16u;              // keys per tile (threads along x)
const F_DIMS = D_MAX / F_KEYS;   // output dims per thread: d = x + F_KEYS·t

@group(0) @binding(5) var<storage, read_write> attnOut: array<f32>; // out (like q)
@group(0) @binding(6) var<storage, read_write> lseOut: array<f32>;  // lse (batch × numHeads × seq)

var<workgroup> fQ: array<f32, F_ROWS * D_MAX>;   // F_ROWS × headDim
var<workgroup> fKV: array<f32, F_KEYS * D_MAX>;  // F_KEYS × headDim: the K tile, then the V tile
var<workgroup> fS: array<f32, F_ROWS * F_KEYS>;  // scores
var<workgroup> fP: array<f32, F_ROWS * F_KEYS>;  // exp(s − m_new)

@compute @workgroup_size(F_KEYS, F_ROWS)
fn attention_forward(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) flat: u32,
) {
  let D = ap.headDim;
  let b = wid.z;
  let h = wid.y;
  let g = kvHead(h);
  let len = realLength(b);
  let i0 = wid.x * F_ROWS;
  let c = lid.x;
  let r = lid.y;
  let i = i0 + r;

  for (var e = flat; e < F_ROWS * D; e += F_ROWS * F_KEYS) {
    let row = i0 + e / D;
    var x = 0.0;
    if (row < len) { x = q[qIndex(b, row, h, e % D)]; }
    fQ[e] = x;
  }

  var m = NEG;
  var l = 0.0;
  var o: array<f32, F_DIMS>;
  let slots = (D + F_KEYS - 1u) / F_KEYS; // of o in use
  // Causal: this block's rows attend to keys j ≤ i0 + F_ROWS − 1, and only real ones.
  let keyEnd = min(i0 + F_ROWS, len);
  for (var j0 = 0u; j0 < keyEnd; j0 += F_KEYS) {
    workgroupBarrier(); // fQ is staged; the previous tile's readers of fKV and fP are done
    for (var e = flat; e < F_KEYS * D; e += F_ROWS * F_KEYS) {
      let key = j0 + e / D;
      var x = 0.0;
      if (key < keyEnd) { x = k[kvIndex(b, key, g, e % D)]; }
      fKV[e] = x;
    }
    workgroupBarrier();
    let j = j0 + c;
    let live = i < len && j <= i;
    var s = NEG;
    if (live) {
      var dot = 0.0;
      for (var d = 0u; d < D; d++) { dot += fQ[r * D + d] * fKV[c * D + d]; }
      s = ap.scale * dot;
    }
    fS[r * F_KEYS + c] = s;
    workgroupBarrier(); // every score is in fS, so the K tile may be overwritten
    for (var e = flat; e < F_KEYS * D; e += F_ROWS * F_KEYS) {
      let key = j0 + e / D;
      var x = 0.0;
      if (key < keyEnd) { x = v[kvIndex(b, key, g, e % D)]; }
      fKV[e] = x;
    }
    var tileMax = NEG;
    for (var cc = 0u; cc < F_KEYS; cc++) { tileMax = max(tileMax, fS[r * F_KEYS + cc]); }
    let mNew = max(m, tileMax);
    fP[r * F_KEYS + c] = select(0.0, exp(s - mNew), live);
    workgroupBarrier();
    // Every thread of row r holds the same m and l: same inputs, same order.
    let alpha = exp(m - mNew);
    var rowSum = 0.0;
    for (var cc = 0u; cc < F_KEYS; cc++) { rowSum += fP[r * F_KEYS + cc]; }
    l = l * alpha + rowSum;
    m = mNew;
    for (var t = 0u; t < slots; t++) {
      let d = c + F_KEYS * t;
      if (d < D) {
        var acc = o[t] * alpha;
        for (var cc = 0u; cc < F_KEYS; cc++) { acc += fP[r * F_KEYS + cc] * fKV[cc * D + d]; }
        o[t] = acc;
      }
    }
  }

  if (i < ap.seq) {
    let real = i < len;
    let inv = select(0.0, 1.0 / l, real);
    for (var t = 0u; t < slots; t++) {
      let d = c + F_KEYS * t;
      if (d < D) { attnOut[qIndex(b, i, h, d)] = o[t] * inv; }
    }
    if (c == 0u) { lseOut[lseIndex(b, h, i)] = select(0.0, m + log(l), real); }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward, step 1:  D_i = Σ_d dOut_i·out_i  (= Σ_j P_ij dP_ij), packed with lse_i as the row
// statistics (lse_i, D_i) that steps 2 and 3 read with one load; both 0 on padded rows. (The
// packing also keeps step 3 within WebGPU's default of 8 storage buffers per stage.)

@group(0) @binding(7) var<storage, read> outSaved: array<f32>;       // out (like q)
@group(0) @binding(8) var<storage, read> dOut: array<f32>;           // dOut (like q)
@group(0) @binding(9) var<storage, read> lseSaved: array<f32>;       // lse (batch × numHeads × seq)
@group(0) @binding(10) var<storage, read_write> statsOut: array<vec2<f32>>; // (lse, D) (batch × numHeads × seq)

override STATS_GROUP: u32; // invocations per workgroup; from the launcher

@compute @workgroup_size(STATS_GROUP)
fn attention_backward_delta(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = ap.batch * ap.numHeads * ap.seq;
  for (var idx = gid.x; idx < total; idx += nwg.x * STATS_GROUP) {
    let t = idx % ap.seq;
    let h = (idx / ap.seq) % ap.numHeads;
    let b = idx / (ap.seq * ap.numHeads);
    var rowStats = vec2(0.0, 0.0);
    if (t < realLength(b)) {
      let base = qIndex(b, t, h, 0u);
      var acc = 0.0;
      for (var d = 0u; d < ap.headDim; d++) { acc += dOut[base + d] * outSaved[base + d]; }
      rowStats = vec2(lseSaved[idx], acc);
    }
    statsOut[idx] = rowStats;
  }
}

// ---------------------------------------------------------------------------------------------
// Backward, shared by steps 2 and 3 (recomputed, never stored):
//   P_ij = exp(s_ij − lse_i)            dP_ij = dOut_i·v_j
//   dS_ij = P_ij (dP_ij − D_i)          (softmax backward of P_i = softmax(s_i))

override ROWS: u32;              // query rows of a tile (threads along y); from the launcher
override KEYS = ROWS;            // keys of a tile (threads along x): as many, so that dkdv's
                                 // query tiles start at its key block, tile-aligned
/** Accumulated dims per thread (d = x + KEYS·t), a private array, so a constant: it covers
    every headDim ≤ D_MAX for tiles of KEYS ≥ D_MAX / B_DIMS keys (the launcher checks). */
const B_DIMS = 16u;

@group(0) @binding(11) var<storage, read> stats: array<vec2<f32>>; // (lse, D) (batch × numHeads × seq)

// Step 2:  dq_i = scale · Σ_j dS_ij k_j        (s_ij = scale · q_i·k_j)

@group(0) @binding(12) var<storage, read_write> dq: array<f32>;     // dq (like q)

var<workgroup> qQ: array<f32, ROWS * D_MAX>;   // ROWS × headDim of q
var<workgroup> qDO: array<f32, ROWS * D_MAX>;  // ROWS × headDim of dOut
var<workgroup> qKV: array<f32, KEYS * D_MAX>;  // KEYS × headDim: the V tile, then the K tile
var<workgroup> qDS: array<f32, ROWS * KEYS>;   // dS

@compute @workgroup_size(KEYS, ROWS)
fn attention_backward_dq(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) flat: u32,
) {
  let D = ap.headDim;
  let b = wid.z;
  let h = wid.y;
  let g = kvHead(h);
  let len = realLength(b);
  let i0 = wid.x * ROWS;
  let c = lid.x;
  let r = lid.y;
  let i = i0 + r;

  for (var e = flat; e < ROWS * D; e += ROWS * KEYS) {
    let row = i0 + e / D;
    var x = 0.0;
    var y = 0.0;
    if (row < len) {
      let at = qIndex(b, row, h, e % D);
      x = q[at];
      y = dOut[at];
    }
    qQ[e] = x;
    qDO[e] = y;
  }
  var rowStats = vec2(0.0, 0.0); // (lse_i, D_i)
  if (i < len) { rowStats = stats[lseIndex(b, h, i)]; }

  var acc: array<f32, B_DIMS>;
  let slots = (D + KEYS - 1u) / KEYS; // of acc in use
  let keyEnd = min(i0 + ROWS, len);
  for (var j0 = 0u; j0 < keyEnd; j0 += KEYS) {
    workgroupBarrier(); // q, dOut staged; the previous tile's readers of qKV and qDS are done
    for (var e = flat; e < KEYS * D; e += ROWS * KEYS) {
      let key = j0 + e / D;
      var x = 0.0;
      if (key < keyEnd) { x = v[kvIndex(b, key, g, e % D)]; }
      qKV[e] = x;
    }
    workgroupBarrier();
    let live = i < len && j0 + c <= i;
    var dp = 0.0;
    if (live) {
      for (var d = 0u; d < D; d++) { dp += qDO[r * D + d] * qKV[c * D + d]; }
    }
    workgroupBarrier(); // done with the V tile
    for (var e = flat; e < KEYS * D; e += ROWS * KEYS) {
      let key = j0 + e / D;
      var x = 0.0;
      if (key < keyEnd) { x = k[kvIndex(b, key, g, e % D)]; }
      qKV[e] = x;
    }
    workgroupBarrier();
    var ds = 0.0;
    if (live) {
      var s = 0.0;
      for (var d = 0u; d < D; d++) { s += qQ[r * D + d] * qKV[c * D + d]; }
      ds = exp(ap.scale * s - rowStats.x) * (dp - rowStats.y);
    }
    qDS[r * KEYS + c] = ds;
    workgroupBarrier();
    for (var t = 0u; t < slots; t++) {
      let d = c + KEYS * t;
      if (d < D) {
        var a = acc[t];
        for (var cc = 0u; cc < KEYS; cc++) { a += qDS[r * KEYS + cc] * qKV[cc * D + d]; }
        acc[t] = a;
      }
    }
  }

  if (i < ap.seq) {
    for (var t = 0u; t < slots; t++) {
      let d = c + KEYS * t;
      if (d < D) { dq[qIndex(b, i, h, d)] = ap.scale * acc[t]; }
    }
  }
}

// Step 3, per key j of kv head g, over the query heads h of its group and the rows i ≥ j:
//   dv_j = Σ_h Σ_i P_ij dOut_i          (out_i = Σ_j P_ij v_j)
//   dk_j = scale · Σ_h Σ_i dS_ij q_i    (s_ij = scale · q_i·k_j)
// The tile of query rows is staged three times in one buffer (q → dOut → q) so that the
// workgroup holds k, v and one row tile within 16 KiB at headDim 128.

@group(0) @binding(13) var<storage, read_write> dk: array<f32>;     // dk (like k)
@group(0) @binding(14) var<storage, read_write> dv: array<f32>;     // dv (like v)

var<workgroup> kK: array<f32, KEYS * D_MAX>;    // KEYS × headDim of this block's k
var<workgroup> kV: array<f32, KEYS * D_MAX>;    // KEYS × headDim of this block's v
var<workgroup> kRows: array<f32, ROWS * D_MAX>; // ROWS × headDim: q, then dOut, then q again
var<workgroup> kP: array<f32, ROWS * KEYS>;     // P
var<workgroup> kDS: array<f32, ROWS * KEYS>;    // dS
var<workgroup> kStats: array<vec2<f32>, ROWS>;  // (lse, D) of the tile's rows

/** Stages rows i0 … i0 + ROWS − 1 of q (or dOut when `grad`) for head h; zeros past len. */
fn stageRows(b: u32, h: u32, i0: u32, len: u32, flat: u32, grad: bool) {
  let D = ap.headDim;
  for (var e = flat; e < ROWS * D; e += ROWS * KEYS) {
    let row = i0 + e / D;
    var x = 0.0;
    if (row < len) {
      let at = qIndex(b, row, h, e % D);
      if (grad) { x = dOut[at]; } else { x = q[at]; }
    }
    kRows[e] = x;
  }
}

@compute @workgroup_size(KEYS, ROWS)
fn attention_backward_dkdv(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) flat: u32,
) {
  let D = ap.headDim;
  let b = wid.z;
  let g = wid.y;
  let len = realLength(b);
  let j0 = wid.x * KEYS;
  // Score phase: thread (x, y) = (key c, query row r). Accumulation phase: thread (x, y) =
  // (dim lane, key kj), owning dims d = x + KEYS·t of key j0 + y.
  let c = lid.x;
  let r = lid.y;
  let kj = lid.y;

  for (var e = flat; e < KEYS * D; e += ROWS * KEYS) {
    let key = j0 + e / D;
    var x = 0.0;
    var y = 0.0;
    if (key < len) {
      let at = kvIndex(b, key, g, e % D);
      x = k[at];
      y = v[at];
    }
    kK[e] = x;
    kV[e] = y;
  }

  var dkAcc: array<f32, B_DIMS>;
  var dvAcc: array<f32, B_DIMS>;
  let slots = (D + KEYS - 1u) / KEYS; // of dkAcc, dvAcc in use
  let group = ap.numHeads / ap.numKvHeads;
  for (var hh = 0u; hh < group; hh++) {
    let h = g * group + hh;
    // Causal: rows i < j0 never see these keys; ROWS = KEYS keeps i0 tile-aligned.
    for (var i0 = j0; i0 < len; i0 += ROWS) {
      workgroupBarrier(); // k, v staged; the previous tile's readers of kRows, kP, kDS are done
      stageRows(b, h, i0, len, flat, false);
      if (flat < ROWS) {
        let row = i0 + flat;
        var rowStats = vec2(0.0, 0.0);
        if (row < len) { rowStats = stats[lseIndex(b, h, row)]; }
        kStats[flat] = rowStats;
      }
      workgroupBarrier();
      let i = i0 + r;
      let live = i < len && j0 + c <= i;
      var p = 0.0;
      if (live) {
        var s = 0.0;
        for (var d = 0u; d < D; d++) { s += kRows[r * D + d] * kK[c * D + d]; }
        p = exp(ap.scale * s - kStats[r].x);
      }
      workgroupBarrier(); // done with q
      stageRows(b, h, i0, len, flat, true);
      workgroupBarrier();
      var ds = 0.0;
      if (live) {
        var dp = 0.0;
        for (var d = 0u; d < D; d++) { dp += kRows[r * D + d] * kV[c * D + d]; }
        ds = p * (dp - kStats[r].y);
      }
      kP[r * KEYS + c] = p;
      kDS[r * KEYS + c] = ds;
      workgroupBarrier();
      for (var t = 0u; t < slots; t++) {
        let d = lid.x + KEYS * t;
        if (d < D) {
          var a = dvAcc[t];
          for (var rr = 0u; rr < ROWS; rr++) { a += kP[rr * KEYS + kj] * kRows[rr * D + d]; }
          dvAcc[t] = a;
        }
      }
      workgroupBarrier(); // done with dOut
      stageRows(b, h, i0, len, flat, false);
      workgroupBarrier();
      for (var t = 0u; t < slots; t++) {
        let d = lid.x + KEYS * t;
        if (d < D) {
          var a = dkAcc[t];
          for (var rr = 0u; rr < ROWS; rr++) { a += kDS[rr * KEYS + kj] * kRows[rr * D + d]; }
          dkAcc[t] = a;
        }
      }
    }
  }

  let j = j0 + kj;
  if (j < ap.seq) {
    for (var t = 0u; t < slots; t++) {
      let d = lid.x + KEYS * t;
      if (d < D) {
        let at = kvIndex(b, j, g, d);
        dk[at] = ap.scale * dkAcc[t];
        dv[at] = dvAcc[t];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Thread-per-row variant, for small heads: the formulas above with one invocation per (query
// row, head), or per (key row, kv head) for dk and dv, reading q, k, v and dOut straight from
// global memory: no workgroup memory and no barrier. The tiled kernels above spread a row's
// dims over 8 or 16 threads and meet at five or more barriers per tile of keys; at headDim 8
// most of those threads have no dim to work on. Here the loop over keys (or query rows) runs
// one at a time, the running softmax updated per key, and HEAD_DIM (an override constant equal
// to headDim) bounds every loop over dims, so the compiler unrolls them and keeps the private
// rows (sized for the largest head, D_MAX) in registers. Invocation idx of the query-row
// kernels is lseIndex(b, h, i): consecutive invocations take consecutive rows of one head.
// Accumulators are zeroed by an explicit initialiser: declared in the loop over rows without
// one, they kept the previous row's values on Dawn with lavapipe.
//
//   attention_forward_rows         one invocation per (sequence, head, query row)
//   attention_backward_dq_rows     one invocation per (sequence, head, query row)
//   attention_backward_dkdv_rows   one invocation per (sequence, kv head, key row)
// attention_backward_delta, already one thread per row, serves both variants.

override HEAD_DIM: u32 = 8u;
override ROW_GROUP: u32; // invocations per workgroup; from the launcher

// Forward: for j = 0 … i, with m the running max and l, o the running sum and output:
//   m' = max(m, s_ij),  l' = l·exp(m − m') + exp(s_ij − m'),  o' = o·exp(m − m') + exp(s_ij − m')·v_j
// One exp a key: exp(−|s_ij − m|) is exp(m − m') when s_ij is the new max, else exp(s_ij − m').

@compute @workgroup_size(ROW_GROUP)
fn attention_forward_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = ap.batch * ap.numHeads * ap.seq;
  for (var idx = gid.x; idx < total; idx += nwg.x * ROW_GROUP) {
    let i = idx % ap.seq;
    let h = (idx / ap.seq) % ap.numHeads;
    let b = idx / (ap.seq * ap.numHeads);
    let g = kvHead(h);
    let real = i < realLength(b);
    var m = NEG;
    var l = 0.0;
    var qi: array<f32, D_MAX>;
    var o = array<f32, D_MAX>();
    if (real) {
      let qAt = qIndex(b, i, h, 0u);
      for (var d = 0u; d < HEAD_DIM; d++) { qi[d] = q[qAt + d]; }
      for (var j = 0u; j <= i; j++) {
        let kvAt = kvIndex(b, j, g, 0u);
        var dot = 0.0;
        for (var d = 0u; d < HEAD_DIM; d++) { dot += qi[d] * k[kvAt + d]; }
        let s = ap.scale * dot;
        let e = exp(-abs(s - m));
        let alpha = select(1.0, e, s > m);
        let p = select(e, 1.0, s > m);
        l = l * alpha + p;
        m = max(m, s);
        for (var d = 0u; d < HEAD_DIM; d++) { o[d] = o[d] * alpha + p * v[kvAt + d]; }
      }
    }
    let inv = select(0.0, 1.0 / l, real);
    let outAt = qIndex(b, i, h, 0u);
    for (var d = 0u; d < HEAD_DIM; d++) { attnOut[outAt + d] = o[d] * inv; }
    lseOut[idx] = select(0.0, m + log(l), real);
  }
}

// Backward, step 2:  dq_i = scale · Σ_{j ≤ i} dS_ij k_j.

@compute @workgroup_size(ROW_GROUP)
fn attention_backward_dq_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = ap.batch * ap.numHeads * ap.seq;
  for (var idx = gid.x; idx < total; idx += nwg.x * ROW_GROUP) {
    let i = idx % ap.seq;
    let h = (idx / ap.seq) % ap.numHeads;
    let b = idx / (ap.seq * ap.numHeads);
    let g = kvHead(h);
    let at = qIndex(b, i, h, 0u);
    var acc = array<f32, D_MAX>();
    if (i < realLength(b)) {
      let rowStats = stats[idx]; // (lse_i, D_i)
      var qi: array<f32, D_MAX>;
      var gi: array<f32, D_MAX>; // dOut_i
      for (var d = 0u; d < HEAD_DIM; d++) {
        qi[d] = q[at + d];
        gi[d] = dOut[at + d];
      }
      for (var j = 0u; j <= i; j++) {
        let kvAt = kvIndex(b, j, g, 0u);
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HEAD_DIM; d++) {
          s += qi[d] * k[kvAt + d];
          dp += gi[d] * v[kvAt + d];
        }
        let ds = exp(ap.scale * s - rowStats.x) * (dp - rowStats.y);
        for (var d = 0u; d < HEAD_DIM; d++) { acc[d] += ds * k[kvAt + d]; }
      }
    }
    for (var d = 0u; d < HEAD_DIM; d++) { dq[at + d] = ap.scale * acc[d]; }
  }
}

// Backward, step 3, per key j of kv head g, over the query heads h of its group and rows i ≥ j:
//   dv_j = Σ_h Σ_i P_ij dOut_i,   dk_j = scale · Σ_h Σ_i dS_ij q_i.

@compute @workgroup_size(ROW_GROUP)
fn attention_backward_dkdv_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = ap.batch * ap.numKvHeads * ap.seq;
  let group = ap.numHeads / ap.numKvHeads;
  for (var idx = gid.x; idx < total; idx += nwg.x * ROW_GROUP) {
    let j = idx % ap.seq;
    let g = (idx / ap.seq) % ap.numKvHeads;
    let b = idx / (ap.seq * ap.numKvHeads);
    let len = realLength(b);
    let at = kvIndex(b, j, g, 0u);
    var dkAcc = array<f32, D_MAX>();
    var dvAcc = array<f32, D_MAX>();
    if (j < len) {
      var kj: array<f32, D_MAX>;
      var vj: array<f32, D_MAX>;
      for (var d = 0u; d < HEAD_DIM; d++) {
        kj[d] = k[at + d];
        vj[d] = v[at + d];
      }
      for (var hh = 0u; hh < group; hh++) {
        let h = g * group + hh;
        for (var i = j; i < len; i++) {
          let rowStats = stats[lseIndex(b, h, i)]; // (lse_i, D_i)
          let qAt = qIndex(b, i, h, 0u);
          var qi: array<f32, D_MAX>;
          var gi: array<f32, D_MAX>; // dOut_i
          var s = 0.0;
          var dp = 0.0;
          for (var d = 0u; d < HEAD_DIM; d++) {
            qi[d] = q[qAt + d];
            gi[d] = dOut[qAt + d];
            s += qi[d] * kj[d];
            dp += gi[d] * vj[d];
          }
          let p = exp(ap.scale * s - rowStats.x);
          let ds = p * (dp - rowStats.y);
          for (var d = 0u; d < HEAD_DIM; d++) {
            dvAcc[d] += p * gi[d];
            dkAcc[d] += ds * qi[d];
          }
        }
      }
    }
    for (var d = 0u; d < HEAD_DIM; d++) {
      dk[at + d] = ap.scale * dkAcc[d];
      dv[at + d] = dvAcc[d];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Inference against a KV cache (one sequence): `rows` new query rows at positions
// offset … offset + rows − 1 attend to the keys and values 0 … offset + r, causally. The new
// rows' keys and values come in kNew, vNew; the kernel also writes them into the cache at their
// positions (so that no copy splits the pass), and reads them from kNew, vNew, never from the
// rows it writes, so no invocation depends on another's write.
//
//   q, out          rows × (numHeads·headDim)
//   kNew, vNew      rows × (numKvHeads·headDim)
//   kCache, vCache  positions × (numKvHeads·headDim): rows < offset are read, rows offset …
//                   offset + rows − 1 written, later rows never touched
//
//   i = offset + r:  s_rj = scale · q_r·k_j (j ≤ i),  out_r = Σ_j softmax_j(s_r) v_j
// No lse: nothing differentiates through inference.
//
//   attention_decode_rows   one invocation per (head, query row), as attention_forward_rows:
//                           the same online softmax, one key at a time, so the same bits as
//                           the forward for the same rows (fastest on CPU drivers).
//   attention_decode        one workgroup of DECODE_KEYS invocations per (query row, head):
//                           keys split over the invocations in tiles of DECODE_KEYS, so that a
//                           single new row of a long context still spreads over a GPU.
// In both, the first query head of each kv group writes that group's new row into the cache.

struct DecodeParams { rows: u32, offset: u32, numHeads: u32, numKvHeads: u32, headDim: u32, scale: f32 }
@group(0) @binding(0) var<uniform> dp: DecodeParams;
@group(0) @binding(15) var<storage, read> kNew: array<f32>;             // rows × (numKvHeads·headDim)
@group(0) @binding(16) var<storage, read> vNew: array<f32>;             // rows × (numKvHeads·headDim)
@group(0) @binding(17) var<storage, read_write> kCache: array<f32>;     // positions × (numKvHeads·headDim)
@group(0) @binding(18) var<storage, read_write> vCache: array<f32>;     // positions × (numKvHeads·headDim)

/** Element offset of row r, head h, dim 0 of q or out. */
fn decodeQIndex(r: u32, h: u32) -> u32 {
  return (r * dp.numHeads + h) * dp.headDim;
}

/** Element offset of position j, kv head g, dim 0 of the cache (j < offset) or of kNew, vNew (j ≥ offset). */
fn decodeKvIndex(j: u32, g: u32) -> u32 {
  let row = select(j, j - dp.offset, j >= dp.offset);
  return (row * dp.numKvHeads + g) * dp.headDim;
}

/** Element `at` (from decodeKvIndex) of key j: a cached one, or one of the new rows. */
fn decodeKey(j: u32, at: u32) -> f32 {
  if (j < dp.offset) { return kCache[at]; }
  return kNew[at];
}

fn decodeValue(j: u32, at: u32) -> f32 {
  if (j < dp.offset) { return vCache[at]; }
  return vNew[at];
}

/** Writes dims d0, d0 + stride, … of new row r, kv head g into the cache at position offset + r. */
fn storeNewRow(r: u32, g: u32, d0: u32, stride: u32) {
  let newAt = (r * dp.numKvHeads + g) * dp.headDim;
  let cacheAt = ((dp.offset + r) * dp.numKvHeads + g) * dp.headDim;
  for (var d = d0; d < dp.headDim; d += stride) {
    kCache[cacheAt + d] = kNew[newAt + d];
    vCache[cacheAt + d] = vNew[newAt + d];
  }
}

@compute @workgroup_size(ROW_GROUP)
fn attention_decode_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = dp.numHeads * dp.rows;
  let group = dp.numHeads / dp.numKvHeads;
  for (var idx = gid.x; idx < total; idx += nwg.x * ROW_GROUP) {
    let r = idx % dp.rows;
    let h = idx / dp.rows;
    let g = h / group;
    let i = dp.offset + r;
    var m = NEG;
    var l = 0.0;
    var qi: array<f32, D_MAX>;
    var o = array<f32, D_MAX>();
    let qAt = decodeQIndex(r, h);
    for (var d = 0u; d < HEAD_DIM; d++) { qi[d] = q[qAt + d]; }
    for (var j = 0u; j <= i; j++) {
      let kvAt = decodeKvIndex(j, g);
      var dot = 0.0;
      for (var d = 0u; d < HEAD_DIM; d++) { dot += qi[d] * decodeKey(j, kvAt + d); }
      let s = dp.scale * dot;
      let e = exp(-abs(s - m));
      let alpha = select(1.0, e, s > m);
      let p = select(e, 1.0, s > m);
      l = l * alpha + p;
      m = max(m, s);
      for (var d = 0u; d < HEAD_DIM; d++) { o[d] = o[d] * alpha + p * decodeValue(j, kvAt + d); }
    }
    let inv = 1.0 / l;
    for (var d = 0u; d < HEAD_DIM; d++) { attnOut[qAt + d] = o[d] * inv; }
    if (h % group == 0u) { storeNewRow(r, g, 0u, 1u); }
  }
}

// Split keys: invocation t scores key j0 + t of each tile (a dot over the staged q row), the
// tile's max and sum are reduced by every invocation alike (same inputs, same order, so all
// hold the same m and l), and invocation t then owns dims d = t + DECODE_KEYS·u of the output.
//   m' = max(m, max_t s_t),  l' = l·exp(m − m') + Σ_t exp(s_t − m'),  o' = o·exp(m − m') + Σ_t exp(s_t − m')·v_t

const DECODE_KEYS = 64u;                 // keys per tile = invocations per workgroup
const DECODE_DIMS = D_MAX / DECODE_KEYS; // output dims per invocation

var<workgroup> decQ: array<f32, D_MAX>;        // the query row
var<workgroup> decS: array<f32, DECODE_KEYS>;  // the tile's scores
var<workgroup> decP: array<f32, DECODE_KEYS>;  // exp(s − m')

@compute @workgroup_size(DECODE_KEYS)
fn attention_decode(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let D = dp.headDim;
  let r = wid.x;
  let h = wid.y;
  let group = dp.numHeads / dp.numKvHeads;
  let g = h / group;
  let keys = dp.offset + r + 1u; // keys 0 … i
  let qAt = decodeQIndex(r, h);
  for (var d = t; d < D; d += DECODE_KEYS) { decQ[d] = q[qAt + d]; }

  var m = NEG;
  var l = 0.0;
  var o = array<f32, DECODE_DIMS>();
  let slots = (D + DECODE_KEYS - 1u) / DECODE_KEYS; // of o in use
  for (var j0 = 0u; j0 < keys; j0 += DECODE_KEYS) {
    workgroupBarrier(); // decQ is staged; the previous tile's readers of decS and decP are done
    let j = j0 + t;
    let live = j < keys;
    var s = NEG;
    if (live) {
      let kvAt = decodeKvIndex(j, g);
      var dot = 0.0;
      for (var d = 0u; d < D; d++) { dot += decQ[d] * decodeKey(j, kvAt + d); }
      s = dp.scale * dot;
    }
    decS[t] = s;
    workgroupBarrier();
    var tileMax = NEG;
    for (var c = 0u; c < DECODE_KEYS; c++) { tileMax = max(tileMax, decS[c]); }
    let mNew = max(m, tileMax);
    decP[t] = select(0.0, exp(s - mNew), live);
    workgroupBarrier();
    let alpha = exp(m - mNew);
    let count = min(DECODE_KEYS, keys - j0);
    var tileSum = 0.0;
    for (var c = 0u; c < count; c++) { tileSum += decP[c]; }
    l = l * alpha + tileSum;
    m = mNew;
    for (var u = 0u; u < slots; u++) {
      let d = t + DECODE_KEYS * u;
      if (d < D) {
        var acc = o[u] * alpha;
        for (var c = 0u; c < count; c++) { acc += decP[c] * decodeValue(j0 + c, decodeKvIndex(j0 + c, g) + d); }
        o[u] = acc;
      }
    }
  }

  let inv = 1.0 / l;
  for (var u = 0u; u < slots; u++) {
    let d = t + DECODE_KEYS * u;
    if (d < D) { attnOut[qAt + d] = o[u] * inv; }
  }
  if (h % group == 0u) { storeNewRow(r, g, t, DECODE_KEYS); }
}
