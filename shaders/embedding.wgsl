// Row gathers: the token-embedding lookup (and GPT-2's learned positions, accumulated onto it),
// and a gather of selected rows with its backward, a scatter-add. Grid-stride loops over
// (row, column) so consecutive threads read consecutive columns of one row.
//
// Indices come from the host (token ids, chosen positions); the launcher cannot see them. An
// index past the end of its table reads nothing: the gather writes a zero row and the scatter
// skips the row, so a bad id never reads or writes another buffer's memory.

override GROUP: u32; // threads per workgroup (the launchers' ELEMENTWISE_GROUP, src/ops/checks.ts)

// ---------------------------------------------------------------------------------------------
// Embedding lookup: out[r, :] (+)= table[ids[r], :]       table (vocab×dim), ids (rows), out (rows×dim)
// Embeddings are frozen in adapter training (base weights never change, and the input of the
// first layer needs no gradient), so there is no backward.

struct EmbeddingParams { rows: u32, dim: u32, vocab: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> em: EmbeddingParams;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> embOut: array<f32>;

@compute @workgroup_size(GROUP)
fn embedding_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = em.rows * em.dim;
  for (var idx = gid.x; idx < total; idx += nwg.x * GROUP) {
    let id = ids[idx / em.dim];
    var v = 0.0;
    if (id < em.vocab) { v = table[id * em.dim + idx % em.dim]; }
    if (em.accumulate != 0u) { embOut[idx] += v; } else { embOut[idx] = v; }
  }
}

// ---------------------------------------------------------------------------------------------
// Gather rows:       out[i, :] = src[index[i], :]           src (n×dim), index (m), out (m×dim)
// Its backward:      dsrc[index[i], :] += dout[i, :]        dout (m×dim), dsrc (n×dim)
// Precondition of the scatter: the m indices are distinct, so no two threads add into the same
// element and the result is deterministic without atomics. The caller guarantees it.

struct RowsParams { m: u32, dim: u32, n: u32 }
@group(0) @binding(4) var<uniform> rp: RowsParams;
@group(0) @binding(5) var<storage, read> rowIndex: array<u32>;
@group(0) @binding(6) var<storage, read> rowsIn: array<f32>;
@group(0) @binding(7) var<storage, read_write> rowsOut: array<f32>;

@compute @workgroup_size(GROUP)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = rp.m * rp.dim;
  for (var idx = gid.x; idx < total; idx += nwg.x * GROUP) {
    let row = rowIndex[idx / rp.dim];
    var v = 0.0;
    if (row < rp.n) { v = rowsIn[row * rp.dim + idx % rp.dim]; }
    rowsOut[idx] = v;
  }
}

@compute @workgroup_size(GROUP)
fn scatter_add_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = rp.m * rp.dim;
  for (var idx = gid.x; idx < total; idx += nwg.x * GROUP) {
    let row = rowIndex[idx / rp.dim];
    if (row < rp.n) { rowsOut[row * rp.dim + idx % rp.dim] += rowsIn[idx]; }
  }
}
