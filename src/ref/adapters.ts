// f64 CPU reference of the three adapter methods of docs/D2LORA.md: forward, backward, merge.
// It is the oracle the WGSL kernels are tested against, so it follows the spec's skinny
// products line by line and never forms an out×in ΔW in the forward or the backward; only
// mergeRef (whose output is out×in anyway) and denseEffectiveWeightRef (the cross-check) do.
// Inputs may be fp32 or f64; every product accumulates in f64.
//
// The three methods are one formula (spec, "Never materialise ΔW in the hot path"):
//
//   ΔW = s · Σ_b κ_b U_b D_b        D2-LoRA: (U₊, D₊, κ = 1), (U₋, D₋, κ = −τ);  LoRA, DoRA: (U, D, κ = 1)
//   P  = X W0ᵀ,   H_b = X D_bᵀ,   L = s · Σ_b κ_b H_b U_bᵀ = X ΔWᵀ
//   Y  = (P + L) ⊙ g + ρ·L          (g broadcast over rows)
//
//   D2-LoRA, project on:   g = c/n, ρ = readd; gradient through n unless detachNorm
//   D2-LoRA, project off:  g = 1,   ρ = 0     (W_eff = W0 + ΔW)
//   LoRA:                  g = 1,   ρ = 0
//   DoRA:                  g = m/n, ρ = 0;    n detached (see config.ts for why)
//
// with c_j = ‖W0_j‖ and n_j = sqrt(‖V_j‖² + ε), V = W0 + ΔW.

import { adapterScale, checkAdapterConfig, type AdapterConfig, type LayerShape } from '../adapters/config';
import {
  ADAPTER_TENSOR_NAMES,
  adapterTensorShapes,
  baseRowNorms,
  baseWeightStrides,
  type AdapterParams,
  type RealArray,
  type WeightLayout,
} from '../adapters/init';
import { shapeSize } from '../util/shape';

export interface AdapterRefOptions {
  /** How W0 is stored; default 'out_in'. */
  layout?: WeightLayout;
}

/** The row rescaling of the projected methods (D2-LoRA with project on, DoRA). */
export interface ColumnNormState {
  /** (out) c_j = ‖W0_j‖. */
  c: Float64Array;
  /** (out) n_j = sqrt(‖W0_j + ΔW_j‖² + ε). */
  n: Float64Array;
  /** (out) g_j = c_j/n_j (D2-LoRA) or m_j/n_j (DoRA). */
  g: Float64Array;
  /** (out, r) W0 D_bᵀ, keyed by the down factor's name ('dPlus', 'dMinus', 'd'). */
  W0Dt: Record<string, Float64Array>;
}

export interface AdapterForwardCache {
  /** The layout W0 was read with; the backward reads it the same way. */
  layout: WeightLayout;
  /** (N, out) P = X W0ᵀ. */
  P: Float64Array;
  /** (N, out) L = X ΔWᵀ. */
  L: Float64Array;
  /** (N, r) H_b = X D_bᵀ, keyed by the down factor's name. */
  H: Record<string, Float64Array>;
  /** null for the methods without a rescaling (LoRA, D2-LoRA with project off). */
  norm: ColumnNormState | null;
}

export interface AdapterGradients {
  /** (N, in) ∂loss/∂X. */
  dX: Float64Array;
  /** ∂loss/∂(each trainable tensor), same names and row-major shapes as params.tensors. */
  grads: Record<string, Float64Array>;
}

// ---------------------------------------------------------------------------------------------
// Strided matrix views: a transpose is a swap of strides, so W0 in either layout and every
// "ᵀ" of the spec are read in place.

interface Mat {
  data: RealArray;
  rows: number;
  cols: number;
  rowStride: number;
  colStride: number;
}

/** Row-major (rows, cols). */
function mat(data: RealArray, rows: number, cols: number): Mat {
  return { data, rows, cols, rowStride: cols, colStride: 1 };
}

function transpose(a: Mat): Mat {
  return { data: a.data, rows: a.cols, cols: a.rows, rowStride: a.colStride, colStride: a.rowStride };
}

/** a is (m, k), b is (k, n); returns a·b (m, n) row-major, accumulated in f64 in order of k. */
function matmul(a: Mat, b: Mat): Float64Array {
  if (a.cols !== b.rows) throw new RangeError(`matmul: inner dimensions ${a.cols} and ${b.rows} differ`);
  const C = new Float64Array(a.rows * b.cols);
  for (let i = 0; i < a.rows; i++) {
    for (let j = 0; j < b.cols; j++) {
      let sum = 0;
      for (let k = 0; k < a.cols; k++) sum += a.data[i * a.rowStride + k * a.colStride] * b.data[k * b.rowStride + j * b.colStride];
      C[i * b.cols + j] = sum;
    }
  }
  return C;
}

/** target += alpha · source (same length). */
function addScaled(target: Float64Array, source: Float64Array, alpha: number): void {
  for (let k = 0; k < target.length; k++) target[k] += alpha * source[k];
}

/** A is (rows, cols) row-major; returns diag(v)·A. */
function scaleRows(A: RealArray, v: Float64Array, cols: number): Float64Array {
  return Float64Array.from(A, (x, k) => x * v[Math.floor(k / cols)]);
}

// ---------------------------------------------------------------------------------------------
// Each method as the one formula's parameters.

interface Branch {
  /** Names of U_b (out, r) and D_b (r, in) in params.tensors. */
  up: string;
  down: string;
  /** κ_b: ΔW = s Σ_b κ_b U_b D_b. */
  coef: number;
}

interface MethodForm {
  scale: number;
  branches: Branch[];
  /** g = 1, c/n or m/n. */
  gain: 'none' | 'baseNorm' | 'magnitude';
  /** ρ. */
  readd: number;
  /** Whether the backward differentiates n (the a_j term); false when g is treated as a constant. */
  normGradient: boolean;
}

function methodForm(cfg: AdapterConfig): MethodForm {
  const scale = adapterScale(cfg);
  switch (cfg.method) {
    case 'd2lora': {
      const branches = [
        { up: 'uPlus', down: 'dPlus', coef: 1 },
        { up: 'uMinus', down: 'dMinus', coef: -cfg.tau },
      ];
      return cfg.project
        ? { scale, branches, gain: 'baseNorm', readd: cfg.readd, normGradient: !cfg.detachNorm }
        : { scale, branches, gain: 'none', readd: 0, normGradient: false };
    }
    case 'lora':
      return { scale, branches: [{ up: 'u', down: 'd', coef: 1 }], gain: 'none', readd: 0, normGradient: false };
    case 'dora':
      return { scale, branches: [{ up: 'u', down: 'd', coef: 1 }], gain: 'magnitude', readd: 0, normGradient: false };
  }
}

/** Everything a reference entry point needs once the operands are checked. */
interface Operands {
  cfg: AdapterConfig;
  form: MethodForm;
  layer: LayerShape;
  layout: WeightLayout;
  /** (out, in) view of W0 in its layout; W0.data is the caller's array. */
  W0: Mat;
  /** Row-major view of a named factor: U (out, r), D (r, in). */
  factor: (name: string) => Mat;
}

function checkOperands(cfg: AdapterConfig, W0: RealArray, params: AdapterParams<RealArray>, layout: WeightLayout): Operands {
  const layer = { out: params.out, in: params.in };
  const checked = checkAdapterConfig(cfg, layer);
  if (checked.method !== params.method || checked.r !== params.r) {
    throw new RangeError(`adapter ref: config is ${checked.method} r=${checked.r} but params are ${params.method} r=${params.r}`);
  }
  const shapes = adapterTensorShapes(params.method, params.r, layer);
  for (const name of ADAPTER_TENSOR_NAMES[params.method]) {
    const tensor = params.tensors[name];
    const shape = shapes[name];
    const size = shapeSize(shape);
    if (tensor === undefined || tensor.shape.join() !== shape.join() || tensor.data.length !== size) {
      throw new RangeError(`adapter ref: tensor ${name} must have shape [${shape.join(', ')}]`);
    }
  }
  if (W0.length !== layer.out * layer.in) {
    throw new RangeError(`adapter ref: W0 has ${W0.length} elements; expected out·in = ${layer.out}·${layer.in}`);
  }
  const { row, col } = baseWeightStrides(layout, layer);
  return {
    cfg: checked,
    form: methodForm(checked),
    layer,
    layout,
    W0: { data: W0, rows: layer.out, cols: layer.in, rowStride: row, colStride: col },
    factor: (name) => {
      const { shape, data } = params.tensors[name];
      return mat(data, shape[0], shape[1]);
    },
  };
}

function rowCount(A: RealArray, cols: number, what: string): number {
  if (A.length % cols !== 0) throw new RangeError(`adapter ref: ${what} has ${A.length} elements, not a multiple of ${cols}`);
  return A.length / cols;
}

/**
 * Norm pass (spec): n_j² = c_j² + 2s Σ_b κ_b (W0D_bᵀ)_j·U_b,j + s² u_jᵀ M u_j + ε, with
 * u_j = [κ_b U_b,j]_b and M = [D_b]_b [D_b]_bᵀ, i.e. s² Σ_b Σ_k κ_b κ_k U_b,jᵀ (D_b D_kᵀ) U_k,j.
 * O(out·in·r); no out×in temporary. W0 is (out, in), U_b (out, r), D_b (r, in).
 */
function columnNormPass(ops: Operands, magnitude: RealArray | null): ColumnNormState {
  const { form, layer, W0, factor, cfg } = ops;
  const { scale: s, branches } = form;
  const r = cfg.r;
  const c = baseRowNorms(W0.data, layer, ops.layout);
  const W0Dt: Record<string, Float64Array> = {};
  for (const b of branches) W0Dt[b.down] = matmul(W0, transpose(factor(b.down)));
  const gram = (b: Branch, k: Branch) => matmul(factor(b.down), transpose(factor(k.down))); // D_b D_kᵀ (r, r)
  const grams = branches.map((b) => branches.map((k) => gram(b, k)));
  const n = new Float64Array(layer.out);
  const g = new Float64Array(layer.out);
  for (let j = 0; j < layer.out; j++) {
    let cross = 0;
    let quadratic = 0;
    branches.forEach((b, bi) => {
      const Ub = factor(b.up).data;
      for (let p = 0; p < r; p++) cross += b.coef * W0Dt[b.down][j * r + p] * Ub[j * r + p];
      branches.forEach((k, ki) => {
        const Uk = factor(k.up).data;
        for (let p = 0; p < r; p++) {
          for (let q = 0; q < r; q++) quadratic += b.coef * k.coef * Ub[j * r + p] * grams[bi][ki][p * r + q] * Uk[j * r + q];
        }
      });
    });
    n[j] = Math.sqrt(c[j] * c[j] + 2 * s * cross + s * s * quadratic + cfg.eps);
    g[j] = (magnitude === null ? c[j] : magnitude[j]) / n[j];
  }
  return { c, n, g, W0Dt };
}

/** g = c/n (D2-LoRA) or m/n (DoRA); null for the methods that do not rescale rows. */
function normState(ops: Operands, params: AdapterParams<RealArray>): ColumnNormState | null {
  switch (ops.form.gain) {
    case 'none':
      return null;
    case 'baseNorm':
      return columnNormPass(ops, null);
    case 'magnitude':
      return columnNormPass(ops, params.tensors.m.data);
  }
}

// ---------------------------------------------------------------------------------------------
// Forward and backward.

/**
 * X is (N, in), W0 is (out, in) stored in opts.layout, factors as in params; returns Y (N, out)
 * and what the backward needs.
 */
export function adapterForwardRef(
  cfg: AdapterConfig,
  W0: RealArray,
  params: AdapterParams<RealArray>,
  X: RealArray,
  opts: AdapterRefOptions = {},
): { Y: Float64Array; cache: AdapterForwardCache } {
  const layout = opts.layout ?? 'out_in';
  const ops = checkOperands(cfg, W0, params, layout);
  const { form, layer, factor } = ops;
  const N = rowCount(X, layer.in, 'X');
  const x = mat(X, N, layer.in);

  const P = matmul(x, transpose(ops.W0)); // P = X W0ᵀ
  const H: Record<string, Float64Array> = {};
  const L = new Float64Array(N * layer.out);
  for (const b of form.branches) {
    H[b.down] = matmul(x, transpose(factor(b.down))); // H_b = X D_bᵀ
    addScaled(L, matmul(mat(H[b.down], N, ops.cfg.r), transpose(factor(b.up))), form.scale * b.coef); // L = s Σ_b κ_b H_b U_bᵀ
  }
  const norm = normState(ops, params);

  // Y = (P + L) ⊙ g + ρ·L
  const Y = new Float64Array(N * layer.out);
  for (let t = 0; t < N; t++) {
    for (let j = 0; j < layer.out; j++) {
      const k = t * layer.out + j;
      Y[k] = (P[k] + L[k]) * (norm === null ? 1 : norm.g[j]) + form.readd * L[k];
    }
  }
  return { Y, cache: { layout, P, L, H, norm } };
}

/**
 * X is (N, in), G = ∂loss/∂Y is (N, out), W0 is (out, in) stored in cache.layout, cache from
 * adapterForwardRef on the same operands. Returns dX (N, in) and one gradient per tensor.
 */
export function adapterBackwardRef(
  cfg: AdapterConfig,
  W0: RealArray,
  params: AdapterParams<RealArray>,
  X: RealArray,
  G: RealArray,
  cache: AdapterForwardCache,
): AdapterGradients {
  const ops = checkOperands(cfg, W0, params, cache.layout);
  const { form, layer, factor } = ops;
  const { scale: s, readd: rho } = form;
  const r = ops.cfg.r;
  const N = rowCount(X, layer.in, 'X');
  if (G.length !== N * layer.out) throw new RangeError(`adapter ref: G has ${G.length} elements; expected N·out = ${N}·${layer.out}`);
  const { P, L, H, norm } = cache;
  const x = mat(X, N, layer.in);

  // Gs = G ⊙ g,  Gl = G ⊙ (g + ρ)
  const Gs = new Float64Array(N * layer.out);
  const Gl = new Float64Array(N * layer.out);
  for (let t = 0; t < N; t++) {
    for (let j = 0; j < layer.out; j++) {
      const k = t * layer.out + j;
      const g = norm === null ? 1 : norm.g[j];
      Gs[k] = G[k] * g;
      Gl[k] = G[k] * (g + rho);
    }
  }

  // For the methods that rescale rows:
  //   dg_j = Σ_n G[n,j]·(P + L)[n,j]
  //   a_j  = −dg_j · c_j / n_j³, null (a = 0) when g is treated as a constant (detachNorm, DoRA)
  //   DoRA: g_j = m_j/n_j with n detached, so dm_j = dg_j / n_j = Σ_n G[n,j]·(P + L)[n,j] / n_j
  let a: Float64Array | null = null;
  let dm: Float64Array | null = null;
  if (norm !== null) {
    const dg = new Float64Array(layer.out);
    for (let t = 0; t < N; t++) {
      for (let j = 0; j < layer.out; j++) dg[j] += G[t * layer.out + j] * (P[t * layer.out + j] + L[t * layer.out + j]);
    }
    if (form.normGradient) a = dg.map((d, j) => (-d * norm.c[j]) / norm.n[j] ** 3);
    if (form.gain === 'magnitude') dm = dg.map((d, j) => d / norm.n[j]);
  }

  // dX = Gs W0 + s Σ_b κ_b (Gl U_b) D_b
  const dX = matmul(mat(Gs, N, layer.out), ops.W0);
  const GlU: Record<string, Float64Array> = {};
  for (const b of form.branches) {
    GlU[b.up] = matmul(mat(Gl, N, layer.out), factor(b.up)); // (N, r)
    addScaled(dX, matmul(mat(GlU[b.up], N, r), factor(b.down)), s * b.coef);
  }

  // dΔW = Glᵀ X + diag(a)·V is never built; for each branch (κ₊ = 1, κ₋ = −τ):
  //   dU_b = sκ_b · dΔW D_bᵀ = sκ_b [Glᵀ H_b + diag(a)(W0D_bᵀ + ΔW D_bᵀ)],  ΔW D_bᵀ = s Σ_k κ_k U_k (D_k D_bᵀ)
  //   dD_b = sκ_b · U_bᵀ dΔW = sκ_b [(Gl U_b)ᵀ X + (diag(a)U_b)ᵀ V],
  //          (diag(a)U_b)ᵀ V = (diag(a)U_b)ᵀ W0 + s Σ_k κ_k ((diag(a)U_b)ᵀ U_k) D_k
  const grads: Record<string, Float64Array> = {};
  for (const b of form.branches) {
    const dU = matmul(transpose(mat(Gl, N, layer.out)), mat(H[b.down], N, r)); // Glᵀ H_b (out, r)
    const dD = matmul(transpose(mat(GlU[b.up], N, r)), x); // (Gl U_b)ᵀ X (r, in)
    if (a !== null && norm !== null) {
      const radialU = Float64Array.from(norm.W0Dt[b.down]); // W0D_bᵀ + ΔW D_bᵀ (out, r)
      const aU = scaleRows(factor(b.up).data, a, r); // diag(a)U_b (out, r)
      const radialD = matmul(transpose(mat(aU, layer.out, r)), ops.W0); // (diag(a)U_b)ᵀ V (r, in)
      for (const k of form.branches) {
        const gram = matmul(factor(k.down), transpose(factor(b.down))); // D_k D_bᵀ (r, r)
        addScaled(radialU, matmul(factor(k.up), mat(gram, r, r)), s * k.coef);
        const aUtUk = matmul(transpose(mat(aU, layer.out, r)), factor(k.up)); // (diag(a)U_b)ᵀ U_k (r, r)
        addScaled(radialD, matmul(mat(aUtUk, r, r), factor(k.down)), s * k.coef);
      }
      addScaled(dU, scaleRows(radialU, a, r), 1);
      addScaled(dD, radialD, 1);
    }
    grads[b.up] = dU.map((v) => s * b.coef * v);
    grads[b.down] = dD.map((v) => s * b.coef * v);
  }
  if (dm !== null) grads.m = dm;
  return { dX, grads };
}

// ---------------------------------------------------------------------------------------------
// Merge and the dense cross-check.

/**
 * W0 is (out, in) stored in opts.layout; returns Ŵ (out, in) in the same layout, with
 * X Ŵᵀ = adapterForwardRef's Y (spec, "Merge"): Ŵ = diag(g)(W0 + ΔW) + ρ·ΔW, i.e.
 * D2-LoRA diag(c/n)(W0 + ΔW) + ρΔW (W0 + ΔW with project off), LoRA W0 + sUD,
 * DoRA diag(m/n)(W0 + sUD). g comes from the same f64 norm pass as the forward.
 */
export function mergeRef(cfg: AdapterConfig, W0: RealArray, params: AdapterParams<RealArray>, opts: AdapterRefOptions = {}): Float64Array {
  const layout = opts.layout ?? 'out_in';
  const ops = checkOperands(cfg, W0, params, layout);
  const { form, layer, factor } = ops;
  const deltaW = new Float64Array(layer.out * layer.in); // ΔW = s Σ_b κ_b U_b D_b (out, in)
  for (const b of form.branches) addScaled(deltaW, matmul(factor(b.up), factor(b.down)), form.scale * b.coef);
  const norm = normState(ops, params);

  const merged = new Float64Array(layer.out * layer.in);
  for (let j = 0; j < layer.out; j++) {
    const g = norm === null ? 1 : norm.g[j];
    for (let i = 0; i < layer.in; i++) {
      const at = j * ops.W0.rowStride + i * ops.W0.colStride;
      const dW = deltaW[j * layer.in + i];
      merged[at] = g * (W0[at] + dW) + form.readd * dW;
    }
  }
  return merged;
}

/**
 * W0 is (out, in) stored in opts.layout; returns W_eff (out, in) row-major ('out_in' whatever
 * W0's layout), built the literal way: ΔW and V = W0 + ΔW as full matrices and n_j from the
 * rows of V. O(out·in); only for cross-checking the skinny forward, backward and merge.
 */
export function denseEffectiveWeightRef(
  cfg: AdapterConfig,
  W0: RealArray,
  params: AdapterParams<RealArray>,
  opts: AdapterRefOptions = {},
): Float64Array {
  const layout = opts.layout ?? 'out_in';
  const ops = checkOperands(cfg, W0, params, layout);
  const { layer, factor } = ops;
  const conf = ops.cfg;
  const s = adapterScale(conf);
  const product = (up: string, down: string) => matmul(factor(up), factor(down));

  const deltaW = new Float64Array(layer.out * layer.in);
  if (conf.method === 'd2lora') {
    addScaled(deltaW, product('uPlus', 'dPlus'), s); // ΔW = s(U₊D₊ − τU₋D₋)
    addScaled(deltaW, product('uMinus', 'dMinus'), -s * conf.tau);
  } else {
    addScaled(deltaW, product('u', 'd'), s); // ΔW = sUD
  }
  const rowOf = (k: number) => Math.floor(k / layer.in);
  const V = deltaW.map((dW, k) => dW + W0[rowOf(k) * ops.W0.rowStride + (k % layer.in) * ops.W0.colStride]); // W0 + ΔW
  const n = new Float64Array(layer.out); // n_j = sqrt(‖V_j‖² + ε) from the rows of V
  V.forEach((v, k) => (n[rowOf(k)] += v * v));
  n.forEach((sumSquares, j) => (n[j] = Math.sqrt(sumSquares + conf.eps)));

  switch (conf.method) {
    case 'd2lora': {
      if (!conf.project) return V; // W_eff = W0 + ΔW
      const c = baseRowNorms(W0, layer, layout);
      return V.map((v, k) => (c[rowOf(k)] / n[rowOf(k)]) * v + conf.readd * deltaW[k]); // diag(c/n)V + ρΔW
    }
    case 'lora':
      return V; // W0 + sUD
    case 'dora': {
      const m = params.tensors.m.data;
      return V.map((v, k) => (m[rowOf(k)] / n[rowOf(k)]) * v); // diag(m/n)V
    }
  }
}
