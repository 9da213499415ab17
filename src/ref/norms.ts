// CPU reference of shaders/norms.wgsl in f64: the oracle of the kernel tests. x, y, dy, dx are
// (rows×dim); weight, bias (dim); mean, rstd (rows). The backwards return dx alone (the weights
// are frozen) and take the forward's saved statistics, as the kernels do.

export interface NormDims {
  rows: number;
  dim: number;
}

/** y = x·r ⊙ w,  r = 1/sqrt(mean(x²) + eps). */
export function rmsnormForwardRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  dims: NormDims & { eps: number },
): { y: Float64Array; rstd: Float64Array } {
  const { rows, dim, eps } = dims;
  const y = new Float64Array(rows * dim);
  const rstd = new Float64Array(rows);
  for (let row = 0; row < rows; row++) {
    const base = row * dim;
    let squares = 0;
    for (let c = 0; c < dim; c++) squares += x[base + c]! ** 2;
    const r = 1 / Math.sqrt(squares / dim + eps);
    for (let c = 0; c < dim; c++) y[base + c] = x[base + c]! * r * weight[c]!;
    rstd[row] = r;
  }
  return { y, rstd };
}

/**
 * Backward of y = x·r ⊙ w, r = (mean(x²) + eps)^(−1/2), ∂r/∂x_k = −r³·x_k/dim:
 *   dx = r·(dy⊙w) − x·r³·Σ(dy⊙w⊙x)/dim
 */
export function rmsnormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  rstd: ArrayLike<number>,
  dims: NormDims,
): Float64Array {
  const { rows, dim } = dims;
  const dx = new Float64Array(rows * dim);
  for (let row = 0; row < rows; row++) {
    const base = row * dim;
    const r = rstd[row]!;
    let weighted = 0;
    for (let c = 0; c < dim; c++) weighted += dy[base + c]! * weight[c]! * x[base + c]!;
    for (let c = 0; c < dim; c++) dx[base + c] = r * dy[base + c]! * weight[c]! - (x[base + c]! * r ** 3 * weighted) / dim;
  }
  return dx;
}

/** y = (x − μ)·r ⊙ w + b,  μ = mean(x),  r = 1/sqrt(mean((x − μ)²) + eps). */
export function layernormForwardRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  dims: NormDims & { eps: number },
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const { rows, dim, eps } = dims;
  const y = new Float64Array(rows * dim);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let row = 0; row < rows; row++) {
    const base = row * dim;
    let sum = 0;
    for (let c = 0; c < dim; c++) sum += x[base + c]!;
    const mu = sum / dim;
    let squares = 0;
    for (let c = 0; c < dim; c++) squares += (x[base + c]! - mu) ** 2;
    const r = 1 / Math.sqrt(squares / dim + eps);
    for (let c = 0; c < dim; c++) y[base + c] = (x[base + c]! - mu) * r * weight[c]! + bias[c]!;
    mean[row] = mu;
    rstd[row] = r;
  }
  return { y, mean, rstd };
}

/**
 * Backward of y = x̂ ⊙ w + b, x̂ = (x − μ)·r, with g = dy⊙w:
 *   dx = r·(g − mean(g) − x̂·mean(g⊙x̂))
 */
export function layernormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  mean: ArrayLike<number>,
  rstd: ArrayLike<number>,
  dims: NormDims,
): Float64Array {
  const { rows, dim } = dims;
  const dx = new Float64Array(rows * dim);
  const g = new Float64Array(dim);
  const xhat = new Float64Array(dim);
  for (let row = 0; row < rows; row++) {
    const base = row * dim;
    const r = rstd[row]!;
    let meanG = 0;
    let meanGx = 0;
    for (let c = 0; c < dim; c++) {
      g[c] = dy[base + c]! * weight[c]!;
      xhat[c] = (x[base + c]! - mean[row]!) * r;
      meanG += g[c]! / dim;
      meanGx += (g[c]! * xhat[c]!) / dim;
    }
    for (let c = 0; c < dim; c++) dx[base + c] = r * (g[c]! - meanG - xhat[c]! * meanGx);
  }
  return dx;
}
