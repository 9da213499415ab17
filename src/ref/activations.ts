// CPU reference of shaders/activations.wgsl in f64: the oracle of the kernel tests. Each
// backward quotes the forward line it differentiates. Inputs may be f32 or f64.

/** σ(z) = 1/(1 + e^(−z)). */
function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** out = silu(gate)·up, silu(g) = g·σ(g). */
export function swigluForwardRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: gate.length }, (_, i) => gate[i]! * sigmoid(gate[i]!) * up[i]!);
}

/**
 * Backward of out = g·σ(g)·u:
 *   dgate = dout·u·(σ(g) + g·σ(g)·(1 − σ(g))),   dup = dout·g·σ(g)
 */
export function swigluBackwardRef(
  dout: ArrayLike<number>,
  gate: ArrayLike<number>,
  up: ArrayLike<number>,
): { dgate: Float64Array; dup: Float64Array } {
  const n = gate.length;
  const dgate = new Float64Array(n);
  const dup = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    const s = sigmoid(g);
    dgate[i] = dout[i]! * up[i]! * (s + g * s * (1 - s));
    dup[i] = dout[i]! * g * s;
  }
  return { dgate, dup };
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

/** out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), literally. */
export function geluForwardRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => {
    const v = x[i]!;
    return 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v ** 3)));
  });
}

/**
 * Backward of out = 0.5·x·(1 + tanh(u)), u = √(2/π)·(x + 0.044715·x³):
 *   dx = dout·(0.5·(1 + tanh u) + 0.5·x·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·x²))
 */
export function geluBackwardRef(dout: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => {
    const v = x[i]!;
    const th = Math.tanh(SQRT_2_OVER_PI * (v + GELU_CUBIC * v ** 3));
    const du = SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * v * v);
    return dout[i]! * (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * du);
  });
}

/** a + b (the add and add_into kernels; their backward passes the gradient through unchanged). */
export function addRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i]! + b[i]!);
}
