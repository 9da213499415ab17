// The matmul family over row-major f32, batched over a leading dimension:
//
//   C[b] (M×N) = alpha · (op(A[b]) · op(B[b]) + A2 · op(B2)) · diag(scale)  (+ bias[n])  (+ C[b] when accumulate)
//
//   scale (length N, when hasScale) multiplies column n of the product: an adapter's
//   X·(diag(σ)·D)ᵀ is X·Dᵀ·diag(σ), so its scaled factors need no dispatch of their own.
//   A2·op(B2), when K2 > 0 (batch 1 only), is a second product of depth K2 summed into the same
//   accumulators: A2 stored M×K2, B2 stored K2×N or, with transB2, N×K2. An adapter's low-rank
//   path rides on its frozen product this way: X·W0ᵀ + Hs·Uᵀ, G·W0 + Ts·D.
//
//   op(A) is A (M×K) or, with TRANS_A, the transpose of A stored K×M.
//   op(B) is B (K×N) or, with TRANS_B, the transpose of B stored N×K.
//
// The three products training needs are all of this form (W stored out×in):
//   forward          Y  = X·Wᵀ   A = X (M×K), B = W (N×K), TRANS_B
//   input gradient   dX = G·W    A = G (M×K), B = W (K×N)
//   weight gradient  dW = Gᵀ·X   A = G (K×M), B = X (K×N), TRANS_A
//
// A batch stride of 0 broadcasts one operand (a shared weight) over the batch.
// The rungs of the ladder live here; src/ops/matmul.ts picks one:
//   matmul_naive     one thread per output element (the reference rung);
//   matmul_regblock  4×4 outputs per thread in registers, operands read straight from memory:
//                    no workgroup memory and no barrier (what CPU drivers run fastest, where
//                    workgroup memory is ordinary memory and a barrier is a costly context switch);
//   matmul_tiled     64×64 output tile per 16×16 workgroup, 4×4 outputs per thread in registers,
//                    16-deep K slices of A and B staged in workgroup memory (GPUs);
//                    'tiled8' is the same entry point compiled with REG = 8: a 128×128 tile,
//                    8-deep slices (large products on GPUs);
//   matmul_tiled_vec4  matmul_tiled with vectorised memory traffic ('tiledv' at REG = 4,
//                    'tiled8v' at REG = 8): each thread loads whole vec4s of each operand along
//                    its contiguous dimension, owns a REG×REG block of adjacent rows and columns,
//                    and reads its operands from workgroup memory as REG/4 vec4s of op(A) and of
//                    op(B) per k. Each output is the same chain of fma over k as matmul_tiled's
//                    at the same REG and TK, so the two agree bit for bit. It needs every
//                    contiguous extent and batch stride to be a multiple of 4 (elsewhere the
//                    launcher runs matmul_tiled).
//
// The geometry (the sizes above are those the launcher sets) comes from src/ops/matmul.ts as
// override constants: THREADS, the workgroup edge of each rung, and TK, the K depth of
// matmul_tiled's slices. Only the register block REG is a const, because it sizes each thread's
// accumulator array, which WGSL allows only for constants; the launcher reads it from this file,
// and sets it for a rung with another block.

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batchStrideA: u32,
  batchStrideB: u32,
  batchStrideC: u32,
  alpha: f32,
  accumulate: u32,
  hasBias: u32,
  hasScale: u32,
  K2: u32,
  transB2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> scale: array<f32>;
@group(0) @binding(6) var<storage, read> a2: array<f32>;
@group(0) @binding(7) var<storage, read> b2: array<f32>;

override TRANS_A: bool;
override TRANS_B: bool;
override THREADS: u32;   // workgroup edge: THREADS×THREADS threads
const REG = 4u;          // register block: REG×REG outputs per thread (regblock, tiled)

// op(A)[m, k] of batch base `base`, zero outside the matrix.
fn loadA(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (TRANS_A) { return a[base + k * p.M + m]; }
  return a[base + m * p.K + k];
}

// op(B)[k, n] of batch base `base`, zero outside the matrix.
fn loadB(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (TRANS_B) { return b[base + n * p.K + k]; }
  return b[base + k * p.N + n];
}

// A2[m, k] of the second product, zero outside the matrix (k < K2 by the callers' loops).
fn loadA2(m: u32, k: u32) -> f32 {
  if (m >= p.M) { return 0.0; }
  return a2[m * p.K2 + k];
}

// op(B2)[k, n] of the second product, zero outside the matrix.
fn loadB2(k: u32, n: u32) -> f32 {
  if (n >= p.N) { return 0.0; }
  if (p.transB2 != 0u) { return b2[n * p.K2 + k]; }
  return b2[k * p.N + n];
}

fn store(batch: u32, m: u32, n: u32, acc: f32) {
  let idx = batch * p.batchStrideC + m * p.N + n;
  var v = p.alpha * acc;
  if (p.hasScale != 0u) { v *= scale[n]; }
  if (p.hasBias != 0u) { v += bias[n]; }
  if (p.accumulate != 0u) { v += c[idx]; }
  c[idx] = v;
}

@compute @workgroup_size(THREADS, THREADS)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let m = gid.y;
  let batch = gid.z;
  if (m >= p.M || n >= p.N) { return; }
  let baseA = batch * p.batchStrideA;
  let baseB = batch * p.batchStrideB;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc += loadA(baseA, m, k) * loadB(baseB, k, n);
  }
  for (var k = 0u; k < p.K2; k++) {
    acc += loadA2(m, k) * loadB2(k, n);
  }
  store(batch, m, n, acc);
}

@compute @workgroup_size(THREADS, THREADS)
fn matmul_regblock(@builtin(global_invocation_id) gid: vec3<u32>) {
  // Thread (x, y) owns rows REG·y … REG·y + REG − 1 and columns REG·x … REG·x + REG − 1 of batch z.
  let batch = gid.z;
  let baseA = batch * p.batchStrideA;
  let baseB = batch * p.batchStrideB;
  let m0 = gid.y * REG;
  let n0 = gid.x * REG;
  if (m0 >= p.M || n0 >= p.N) { return; }
  var acc: array<array<f32, REG>, REG>;
  for (var i = 0u; i < REG; i++) {
    for (var j = 0u; j < REG; j++) { acc[i][j] = 0.0; }
  }
  for (var k = 0u; k < p.K; k++) {
    var av: array<f32, REG>;
    var bv: array<f32, REG>;
    for (var i = 0u; i < REG; i++) { av[i] = loadA(baseA, m0 + i, k); }
    for (var j = 0u; j < REG; j++) { bv[j] = loadB(baseB, k, n0 + j); }
    for (var i = 0u; i < REG; i++) {
      for (var j = 0u; j < REG; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
    }
  }
  for (var k = 0u; k < p.K2; k++) {
    var av: array<f32, REG>;
    var bv: array<f32, REG>;
    for (var i = 0u; i < REG; i++) { av[i] = loadA2(m0 + i, k); }
    for (var j = 0u; j < REG; j++) { bv[j] = loadB2(k, n0 + j); }
    for (var i = 0u; i < REG; i++) {
      for (var j = 0u; j < REG; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
    }
  }
  for (var i = 0u; i < REG; i++) {
    if (m0 + i >= p.M) { continue; }
    for (var j = 0u; j < REG; j++) {
      if (n0 + j < p.N) { store(batch, m0 + i, n0 + j, acc[i][j]); }
    }
  }
}

override TK: u32;                    // depth of one K slice
override TILE: u32 = THREADS * REG;  // output tile edge: each thread owns REG×REG outputs
override STAGED: u32 = TK * TILE;    // values of one slice of op(A), and of op(B)

var<workgroup> tileA: array<f32, STAGED>; // [TK][TILE]: tileA[k * TILE + m]
var<workgroup> tileB: array<f32, STAGED>; // [TK][TILE]: tileB[k * TILE + n]

@compute @workgroup_size(THREADS, THREADS)
fn matmul_tiled(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let batch = wid.z;
  let baseA = batch * p.batchStrideA;
  let baseB = batch * p.batchStrideB;
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;
  let tid = lid.y * THREADS + lid.x;

  // Thread (lx, ly) owns rows ly + THREADS·i and columns lx + THREADS·j, i, j < REG: strided so that a
  // warp's reads of one tile row hit consecutive workgroup-memory words.
  var acc: array<array<f32, REG>, REG>;
  for (var i = 0u; i < REG; i++) {
    for (var j = 0u; j < REG; j++) { acc[i][j] = 0.0; }
  }

  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    // Stage a TILE×TK slice of op(A) and a TK×TILE slice of op(B): STAGED values each (1024),
    // STAGED / THREADS² per thread (4; the launcher checks it divides). The element each thread
    // loads follows the memory layout of the operand so that neighbouring threads read
    // neighbouring addresses.
    for (var s = 0u; s < STAGED / (THREADS * THREADS); s++) {
      let e = tid + s * THREADS * THREADS;
      if (TRANS_A) {
        let m = e % TILE; let k = e / TILE;           // A stored K×M: m is contiguous
        tileA[k * TILE + m] = loadA(baseA, row0 + m, k0 + k);
      } else {
        let k = e % TK; let m = e / TK;               // A stored M×K: k is contiguous
        tileA[k * TILE + m] = loadA(baseA, row0 + m, k0 + k);
      }
      if (TRANS_B) {
        let k = e % TK; let n = e / TK;               // B stored N×K: k is contiguous
        tileB[k * TILE + n] = loadB(baseB, k0 + k, col0 + n);
      } else {
        let n = e % TILE; let k = e / TILE;           // B stored K×N: n is contiguous
        tileB[k * TILE + n] = loadB(baseB, k0 + k, col0 + n);
      }
    }
    workgroupBarrier();

    for (var k = 0u; k < TK; k++) {
      var av: array<f32, REG>;
      var bv: array<f32, REG>;
      for (var i = 0u; i < REG; i++) { av[i] = tileA[k * TILE + lid.y + i * THREADS]; }
      for (var j = 0u; j < REG; j++) { bv[j] = tileB[k * TILE + lid.x + j * THREADS]; }
      for (var i = 0u; i < REG; i++) {
        for (var j = 0u; j < REG; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  // The second product is shallow (an adapter's rank): read straight from memory, not staged.
  for (var k = 0u; k < p.K2; k++) {
    var av: array<f32, REG>;
    var bv: array<f32, REG>;
    for (var i = 0u; i < REG; i++) { av[i] = loadA2(row0 + lid.y + i * THREADS, k); }
    for (var j = 0u; j < REG; j++) { bv[j] = loadB2(k, col0 + lid.x + j * THREADS); }
    for (var i = 0u; i < REG; i++) {
      for (var j = 0u; j < REG; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
    }
  }

  for (var i = 0u; i < REG; i++) {
    let m = row0 + lid.y + i * THREADS;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < REG; j++) {
      let n = col0 + lid.x + j * THREADS;
      if (n < p.N) { store(batch, m, n, acc[i][j]); }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// matmul_tiled_vec4: the operands bound as vec4 arrays (the same buffers as a and b; a module
// may declare one binding twice when no entry point uses both). vec4 v of a4 holds a[4v … 4v+3].

@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;

const VEC = 4u;                              // values in a vec4 (the launcher reads it from here)
const QUADS_PER_THREAD = REG / VEC;          // vec4s across a thread's register block
override QUADS: u32 = TILE / VEC;            // vec4s across a tile edge
var<workgroup> tileA4: array<vec4<f32>, STAGED / VEC>; // [TK][QUADS]: rows 4q … 4q+3 of op(A) at depth k
var<workgroup> tileB4: array<vec4<f32>, STAGED / VEC>; // [TK][QUADS]: columns 4q … 4q+3 of op(B) at depth k

// The vec4 of a4 holding elements i … i+3 (i a multiple of 4), or zeros when `inside` is false.
fn quadA(inside: bool, i: u32) -> vec4<f32> {
  if (!inside) { return vec4(0.0); }
  return a4[i / VEC];
}

fn quadB(inside: bool, i: u32) -> vec4<f32> {
  if (!inside) { return vec4(0.0); }
  return b4[i / VEC];
}

@compute @workgroup_size(THREADS, THREADS)
fn matmul_tiled_vec4(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let batch = wid.z;
  let baseA = batch * p.batchStrideA;
  let baseB = batch * p.batchStrideB;
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;
  let tid = lid.y * THREADS + lid.x;

  // Thread (lx, ly) owns rows REG·ly … REG·ly + REG − 1 and columns REG·lx … REG·lx + REG − 1 of the
  // tile, as REG rows of QUADS_PER_THREAD vec4s: acc[i · QUADS_PER_THREAD + u] holds row i's
  // columns REG·lx + VEC·u … + VEC − 1.
  var acc: array<vec4<f32>, REG * QUADS_PER_THREAD>;
  for (var i = 0u; i < REG * QUADS_PER_THREAD; i++) { acc[i] = vec4(0.0); }

  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    // Stage the slices: STAGED / VEC vec4s of each operand, in equal shares (the launcher checks it).
    // A vec4 along the contiguous dimension; where that is k, its values go to VEC depths.
    for (var s = 0u; s < STAGED / (VEC * THREADS * THREADS); s++) {
      let e = tid + s * THREADS * THREADS;
      if (TRANS_A) {
        let q = e % QUADS; let k = e / QUADS;               // A stored K×M: rows m … m+3 at depth k
        let m = row0 + VEC * q;
        tileA4[k * QUADS + q] = quadA(m < p.M && k0 + k < p.K, baseA + (k0 + k) * p.M + m);
      } else {
        let kq = e % (TK / VEC); let m = e / (TK / VEC);   // A stored M×K: depths k … k+3 of row m
        let k = k0 + VEC * kq;
        let v = quadA(row0 + m < p.M && k < p.K, baseA + (row0 + m) * p.K + k);
        for (var d = 0u; d < VEC; d++) { tileA4[(VEC * kq + d) * QUADS + m / VEC][m % VEC] = v[d]; }
      }
      if (TRANS_B) {
        let kq = e % (TK / VEC); let n = e / (TK / VEC);   // B stored N×K: depths k … k+3 of column n
        let k = k0 + VEC * kq;
        let v = quadB(col0 + n < p.N && k < p.K, baseB + (col0 + n) * p.K + k);
        for (var d = 0u; d < VEC; d++) { tileB4[(VEC * kq + d) * QUADS + n / VEC][n % VEC] = v[d]; }
      } else {
        let q = e % QUADS; let k = e / QUADS;               // B stored K×N: columns n … n+3 at depth k
        let n = col0 + VEC * q;
        tileB4[k * QUADS + q] = quadB(n < p.N && k0 + k < p.K, baseB + (k0 + k) * p.N + n);
      }
    }
    workgroupBarrier();

    for (var k = 0u; k < TK; k++) {
      var av: array<vec4<f32>, QUADS_PER_THREAD>;
      var bv: array<vec4<f32>, QUADS_PER_THREAD>;
      for (var u = 0u; u < QUADS_PER_THREAD; u++) {
        av[u] = tileA4[k * QUADS + lid.y * QUADS_PER_THREAD + u];
        bv[u] = tileB4[k * QUADS + lid.x * QUADS_PER_THREAD + u];
      }
      for (var i = 0u; i < REG; i++) {
        let ai = vec4(av[i / VEC][i % VEC]);
        for (var u = 0u; u < QUADS_PER_THREAD; u++) { acc[i * QUADS_PER_THREAD + u] = fma(ai, bv[u], acc[i * QUADS_PER_THREAD + u]); }
      }
    }
    workgroupBarrier();
  }

  let m0 = row0 + REG * lid.y;
  let n0 = col0 + REG * lid.x;
  for (var k = 0u; k < p.K2; k++) {
    var bv: array<vec4<f32>, QUADS_PER_THREAD>;
    for (var j = 0u; j < REG; j++) { bv[j / VEC][j % VEC] = loadB2(k, n0 + j); }
    for (var i = 0u; i < REG; i++) {
      let ai = vec4(loadA2(m0 + i, k));
      for (var u = 0u; u < QUADS_PER_THREAD; u++) { acc[i * QUADS_PER_THREAD + u] = fma(ai, bv[u], acc[i * QUADS_PER_THREAD + u]); }
    }
  }

  for (var i = 0u; i < REG; i++) {
    if (m0 + i >= p.M) { continue; }
    for (var j = 0u; j < REG; j++) {
      if (n0 + j < p.N) { store(batch, m0 + i, n0 + j, acc[i * QUADS_PER_THREAD + j / VEC][j % VEC]); }
    }
  }
}
