// CPU reference of shaders/embedding.wgsl in f64: the oracle of the kernel tests. Unlike the
// kernels, which write zeros for an out-of-range index, the reference throws: in a test, such
// an index is a bug of the test.

function checkIndex(what: string, i: number, index: number, bound: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= bound) {
    throw new RangeError(`${what}: index ${index} at position ${i} is outside [0, ${bound})`);
  }
}

/**
 * out[r, :] = table[ids[r], :] (+ init[r, :] when given: the accumulate mode).
 * table (vocab×dim), ids (rows), init and result (rows×dim). No backward: embeddings are frozen.
 */
export function embeddingGatherRef(
  table: ArrayLike<number>,
  ids: ArrayLike<number>,
  dims: { rows: number; dim: number; vocab: number },
  init?: ArrayLike<number>,
): Float64Array {
  const { rows, dim, vocab } = dims;
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    checkIndex('embeddingGatherRef', r, ids[r]!, vocab);
    for (let c = 0; c < dim; c++) out[r * dim + c] = table[ids[r]! * dim + c]! + (init ? init[r * dim + c]! : 0);
  }
  return out;
}

/** out[i, :] = src[index[i], :].   src (n×dim), index (m), result (m×dim) */
export function gatherRowsRef(src: ArrayLike<number>, index: ArrayLike<number>, dims: { m: number; dim: number }): Float64Array {
  const { m, dim } = dims;
  const n = src.length / dim;
  const out = new Float64Array(m * dim);
  for (let i = 0; i < m; i++) {
    checkIndex('gatherRowsRef', i, index[i]!, n);
    for (let c = 0; c < dim; c++) out[i * dim + c] = src[index[i]! * dim + c]!;
  }
  return out;
}

/**
 * Backward of out[i, :] = src[index[i], :]:  dsrc[index[i], :] += dout[i, :].
 * dout (m×dim), index (m), init (n×dim, the gradient so far); returns init + the scatter. Rows
 * with repeated indices would add up here; the GPU kernel requires distinct indices.
 */
export function scatterAddRowsRef(
  dout: ArrayLike<number>,
  index: ArrayLike<number>,
  init: ArrayLike<number>,
  dims: { m: number; dim: number },
): Float64Array {
  const { m, dim } = dims;
  const out = Float64Array.from(init);
  const n = out.length / dim;
  for (let i = 0; i < m; i++) {
    checkIndex('scatterAddRowsRef', i, index[i]!, n);
    for (let c = 0; c < dim; c++) out[index[i]! * dim + c] += dout[i * dim + c]!;
  }
  return out;
}
