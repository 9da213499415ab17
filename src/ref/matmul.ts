// CPU reference of shaders/matmul.wgsl, accumulating in f64: the oracle of the kernel tests.
//
//   C[b] (M×N) = alpha · (op(A[b]) · op(B[b]) + A2 · op(B2)) · diag(scale) (+ bias[n]) (+ C[b] when accumulate)
//
// Besides C it returns, per element, Σ_k |op(A)[m,k]|·|op(B)[k,n]| — the magnitude that bounds
// the rounding error of any f32 summation order (see matmulTolerance).

export interface MatmulRefArgs {
  a: ArrayLike<number>;
  b: ArrayLike<number>;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
  batchStrideA?: number;
  batchStrideB?: number;
  alpha?: number;
  bias?: ArrayLike<number>;
  /** Multiplies column n of the product (length N). */
  scale?: ArrayLike<number>;
  /** Initial C for accumulate (batch·M·N values). */
  c?: ArrayLike<number>;
  /** A second product A2 (M×K2) · op(B2) (B2 K2×N, or N×K2 when transB), batch 1. */
  plus?: { a: ArrayLike<number>; b: ArrayLike<number>; K: number; transB?: boolean };
}

export interface MatmulRefResult {
  c: Float64Array;
  /** Σ_k |a·b| per output element (alpha and scale applied), for error bounds. */
  absDot: Float64Array;
}

export function matmulRef(args: MatmulRefArgs): MatmulRefResult {
  const { a, b, M, N, K } = args;
  const batch = args.batch ?? 1;
  const strideA = args.batchStrideA ?? M * K;
  const strideB = args.batchStrideB ?? K * N;
  const alpha = args.alpha ?? 1;
  const c = new Float64Array(batch * M * N);
  const absDot = new Float64Array(batch * M * N);
  const rowA = new Float64Array(K);
  for (let bt = 0; bt < batch; bt++) {
    const baseA = bt * strideA;
    const baseB = bt * strideB;
    for (let m = 0; m < M; m++) {
      for (let k = 0; k < K; k++) rowA[k] = args.transA ? a[baseA + k * M + m]! : a[baseA + m * K + k]!;
      for (let n = 0; n < N; n++) {
        let acc = 0;
        let mag = 0;
        for (let k = 0; k < K; k++) {
          const bv = args.transB ? b[baseB + n * K + k]! : b[baseB + k * N + n]!;
          const prod = rowA[k]! * bv;
          acc += prod;
          mag += Math.abs(prod);
        }
        const plus = args.plus;
        for (let k = 0; plus && k < plus.K; k++) {
          const prod = plus.a[m * plus.K + k]! * (plus.transB ? plus.b[n * plus.K + k]! : plus.b[k * N + n]!);
          acc += prod;
          mag += Math.abs(prod);
        }
        const idx = bt * M * N + m * N + n;
        const sn = args.scale ? args.scale[n]! : 1;
        let v = alpha * acc * sn;
        if (args.bias) v += args.bias[n]!;
        if (args.c) v += args.c[idx]!;
        c[idx] = v;
        absDot[idx] = Math.abs(alpha * sn) * mag;
      }
    }
  }
  return { c, absDot };
}

/**
 * Largest error an f32 kernel may make on one output element: the classic bound for a sum of
 * K products, γ_K·Σ|a·b| with γ_K = K·u/(1 − K·u) and u = 2⁻²⁴ (unit roundoff), plus the
 * roundings of alpha, bias and accumulate (a few u of the result), plus the rounding of the
 * inputs themselves when the caller's data were not already f32 (callers pass f32 data).
 */
export function matmulTolerance(K: number, absDot: number, result: number): number {
  const u = 2 ** -24;
  const gamma = ((K + 2) * u) / (1 - (K + 2) * u);
  return gamma * absDot + 4 * u * Math.abs(result) + 1e-30;
}
