// Rotary position embedding, in place, forward and backward in one kernel, of a layer's queries
// and keys in one dispatch:
//   q (rows×qHeads×headDim), k (rows×kHeads×headDim), positions (rows, u32),
//   table (maxPositions×headDim/2×2)
//
// Pair i of a head at position p is rotated by the angle p·θ^(−2i/headDim), whose cos and sin
// the host computed once in f64 (ropeTable in src/ops/rope.ts): table[(p·headDim/2 + i)·2] is
// cos, the next value sin. Pairs are (2i, 2i+1) for the 'interleaved' style (llama2.c) and
// (i, i + headDim/2) for 'half' (Hugging Face).
//
//   forward (inverse = 0):   (a, b) ← (a·cos − b·sin, a·sin + b·cos)
//   backward (inverse = 1):  the rotation by −angle, i.e. the transpose of the forward's
//                            matrix: (da, db) ← (da·cos + db·sin, −da·sin + db·cos)
//
// A position past the table is a caller's error the launcher cannot see (positions live on the
// GPU); its pairs are set to zero rather than read outside the table.

override GROUP: u32; // threads per workgroup (the launchers' ELEMENTWISE_GROUP, src/ops/checks.ts)

// Binding names avoid x, y, z, w, r, g, b, a: the layout parser (src/gpu/wgsl-layout.ts) sees
// identifiers, so a swizzle such as `lid.x` would count as using a binding named x.
struct RopeParams { rows: u32, qHeads: u32, kHeads: u32, headDim: u32, maxPositions: u32, halfStyle: u32, inverse: u32 }
@group(0) @binding(0) var<uniform> rp: RopeParams;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> k: array<f32>;
@group(0) @binding(3) var<storage, read> positions: array<u32>;
@group(0) @binding(4) var<storage, read> table: array<f32>;

// Pair i of head h of row `row` in q (toK false) or k: its two values rotated in place.
fn rotate(toK: bool, row: u32, h: u32, heads: u32, i: u32) {
  let half = rp.headDim / 2u;
  let base = (row * heads + h) * rp.headDim;
  var a = base + 2u * i;
  var b = a + 1u;
  if (rp.halfStyle != 0u) {
    a = base + i;
    b = a + half;
  }
  let pos = positions[row];
  if (pos >= rp.maxPositions) {
    if (toK) { k[a] = 0.0; k[b] = 0.0; } else { q[a] = 0.0; q[b] = 0.0; }
    return;
  }
  let at = (pos * half + i) * 2u;
  let cosine = table[at];
  let sine = select(table[at + 1u], -table[at + 1u], rp.inverse != 0u);
  if (toK) {
    let xa = k[a];
    let xb = k[b];
    k[a] = xa * cosine - xb * sine;
    k[b] = xa * sine + xb * cosine;
  } else {
    let xa = q[a];
    let xb = q[b];
    q[a] = xa * cosine - xb * sine;
    q[b] = xa * sine + xb * cosine;
  }
}

@compute @workgroup_size(GROUP)
fn rope_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let half = rp.headDim / 2u;
  let heads = rp.qHeads + rp.kHeads;
  let total = rp.rows * heads * half;
  for (var idx = gid.x; idx < total; idx += nwg.x * GROUP) {
    let i = idx % half;
    let rowHead = idx / half; // row·(qHeads + kHeads) + h
    let row = rowHead / heads;
    let h = rowHead % heads;
    if (h < rp.qHeads) {
      rotate(false, row, h, rp.qHeads, i);
    } else {
      rotate(true, row, h - rp.qHeads, rp.kHeads, i);
    }
  }
}
