// The two weight forms as GPU layers (see method.ts):
//   AdditiveLayer   W_eff = W0 + ΔW                            LoRA; D2-LoRA without projection
//   RescaledLayer   W_eff = diag(g)·(W0 + ΔW) + ρ·ΔW, g = mag/n D2-LoRA; DoRA (mag = m, ρ = 0)
// Forward beside backward; the equations are docs/D2LORA.md's, with ΔW = Uσ·D.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { columnNormPass, combineBackward, combineForward, mergeWeight, type NormScaleGrad, normGradTerms, rowNorms } from '../ops/adapters';
import { matmul } from '../ops/matmul';
import type { AdapterConfig } from './config';
import type { AdapterParams } from './init';
import type { AdaptedLinear, BaseLinear, TrainableStorage } from './layer';
import { LowRankFactors } from './lowrank';
import type { MethodSpec, WeightForm } from './method';

abstract class AdaptedLayerBase implements AdaptedLinear {
  readonly factors: LowRankFactors;
  readonly rank: number;

  constructor(
    readonly ctx: GpuContext,
    readonly spec: MethodSpec,
    readonly cfg: AdapterConfig,
    readonly base: BaseLinear,
    init: AdapterParams,
    storage: TrainableStorage,
  ) {
    this.rank = spec.packedRank(cfg);
    const packed = spec.pack(init, cfg);
    this.factors = new LowRankFactors(ctx, base, this.rank, packed.u, packed.d, packed.sigma, storage);
  }

  get method() {
    return this.spec.method;
  }

  get params(): Record<string, Tensor> {
    return { U: this.factors.u, D: this.factors.d };
  }

  get grads(): Record<string, Tensor> {
    return { U: this.factors.dU, D: this.factors.dD };
  }

  abstract forward(x: Tensor, rows: number): Tensor;
  abstract backward(dy: Tensor, into?: Tensor): Tensor;
  abstract discardCache(): void;
  abstract merge(): Tensor;

  infer(x: Tensor, rows: number): Tensor {
    const y = this.forward(x, rows);
    this.discardCache();
    return y;
  }

  zeroGrads(): void {
    this.factors.zeroGrads();
  }

  async readParams(): Promise<AdapterParams> {
    const [u, d] = await Promise.all([this.ctx.read(this.factors.u), this.ctx.read(this.factors.d)]);
    return this.spec.unpack({ u, d }, this.cfg, this.base);
  }

  writeParams(params: AdapterParams): void {
    const packed = this.spec.pack(params, this.cfg);
    this.ctx.write(this.factors.u, packed.u);
    this.ctx.write(this.factors.d, packed.d);
  }

  destroy(): void {
    this.discardCache();
    this.factors.destroy();
  }

  protected requireCache<T>(cache: T | null): T {
    if (!cache) throw new Error(`${this.base.name}: backward() without a forward() to differentiate`);
    return cache;
  }
}

// ---------------------------------------------------------------------------------------------

interface AdditiveCache {
  x: Tensor;
  rows: number;
  hs: Tensor;
}

export class AdditiveLayer extends AdaptedLayerBase {
  private cache: AdditiveCache | null = null;

  // Y = X·W0ᵀ + b + Hs·Uᵀ,  Hs = X·Dσᵀ
  forward(x: Tensor, rows: number): Tensor {
    this.discardCache();
    const f = this.factors;
    const hs = f.projectDown(x, rows);
    const y = this.ctx.tensor([rows, this.base.out], 'f32', `${this.base.name}.Y`);
    f.baseForwardPlusUp(x, hs, y, rows, this.base.bias);
    this.cache = { x, rows, hs };
    return y;
  }

  // With g = 1, ρ = 0: Gs = Gl = G, so dX = G·W0 + (G·Uσ)·D, dU += Gᵀ·Hs, dD += (G·Uσ)ᵀ·X
  backward(dy: Tensor, into?: Tensor): Tensor {
    const c = this.requireCache(this.cache);
    const { dx, ts } = this.factors.backward(dy, dy, c.x, c.hs, c.rows, into);
    ts.release();
    this.discardCache();
    return dx;
  }

  discardCache(): void {
    if (!this.cache) return;
    this.cache.hs.release();
    this.cache = null;
  }

  // Ŵ = W0 + Uσ·D (the merge kernel with g = 1, ρ = 0)
  merge(): Tensor {
    const ones = this.ctx.upload(new Float32Array(this.base.out).fill(1), [this.base.out], 'ones');
    const merged = mergeInto(this.ctx, this.factors, ones, 0);
    ones.release();
    return merged;
  }
}

// ---------------------------------------------------------------------------------------------

interface RescaledCache {
  x: Tensor;
  rows: number;
  hs: Tensor;
  /** Q = P + L (rows×out), for dg. */
  q: Tensor;
  norm: NormState;
}

/** Outputs of the column-norm pass, and its inputs the backward reuses. */
interface NormState {
  w0dT: Tensor;
  gram: Tensor;
  n: Tensor;
  g: Tensor;
}

type RescaledForm = Extract<WeightForm, { kind: 'rescaled' }>;

export class RescaledLayer extends AdaptedLayerBase {
  /** c_j = ‖W0_j‖, computed once (W0 never changes). */
  readonly c: Tensor;
  /** DoRA's trainable magnitude m and its gradient; null for D2-LoRA (mag = c). */
  readonly m: Tensor | null;
  readonly dm: Tensor | null;
  private readonly form: RescaledForm;
  private cache: RescaledCache | null = null;

  constructor(ctx: GpuContext, spec: MethodSpec, cfg: AdapterConfig, base: BaseLinear, init: AdapterParams, storage: TrainableStorage) {
    super(ctx, spec, cfg, base, init, storage);
    const form = spec.form(cfg);
    if (form.kind !== 'rescaled') throw new Error(`${spec.method}: not a rescaled weight form`);
    this.form = form;
    if (base.rowNorms) {
      this.c = ctx.upload(base.rowNorms, [base.out], `${base.name}.c`);
    } else {
      this.c = ctx.tensor([base.out], 'f32', `${base.name}.c`);
      rowNorms(ctx, base.weight, this.c, base);
    }
    if (form.magnitude === 'trainable') {
      const m = spec.pack(init, cfg).m;
      if (!m) throw new Error(`${spec.method}: the initial parameters carry no magnitude m`);
      ({ param: this.m, grad: this.dm } = storage.take([base.out], m, `${base.name}.m`));
    } else {
      this.m = null;
      this.dm = null;
    }
  }

  override get params(): Record<string, Tensor> {
    return this.m ? { ...super.params, m: this.m } : super.params;
  }

  override get grads(): Record<string, Tensor> {
    return this.dm ? { ...super.grads, m: this.dm } : super.grads;
  }

  // Column-norm pass (spec, "Norm pass, O(out·in·r), no out×in temporary"):
  //   n_j² = c_j² + 2·Uσ_j·(W0Dᵀ)_j + Uσ_j·(DDᵀ)·Uσ_jᵀ + ε,  g_j = mag_j / n_j
  private normPass(): NormState {
    const f = this.factors;
    const { w0dT, gram } = f.normProducts();
    const n = this.ctx.tensor([this.base.out], 'f32', `${this.base.name}.n`);
    const g = this.ctx.tensor([this.base.out], 'f32', `${this.base.name}.g`);
    columnNormPass(
      this.ctx,
      { c: this.c, mag: this.m ?? this.c, u: f.u, sigma: f.sigma, w0dT, gram, n, g },
      { out: this.base.out, rank: this.rank, eps: this.cfg.eps },
    );
    return { w0dT, gram, n, g };
  }

  // P = X·W0ᵀ, Hs = X·Dσᵀ, L = Hs·Uᵀ;  Y = (P + L)⊙g + ρ·L + b  (spec: "Y = (P + L) ⊙ g + ρ·L")
  // Q = P + L in one matmul (the low-rank path as its second product); the combine forms L
  // again from Hs for ρ·L.
  forward(x: Tensor, rows: number): Tensor {
    this.discardCache();
    const f = this.factors;
    const norm = this.normPass();
    const hs = f.projectDown(x, rows);
    const q = this.ctx.tensor([rows, this.base.out], 'f32', `${this.base.name}.Q`);
    f.baseForwardPlusUp(x, hs, q, rows);
    const y = this.ctx.tensor([rows, this.base.out], 'f32', `${this.base.name}.Y`);
    combineForward(this.ctx, { q, hs, u: f.u, g: norm.g, bias: this.base.bias, y }, { rows, out: this.base.out, rank: this.rank, rho: this.form.rho });
    this.cache = { x, rows, hs, q, norm };
    return y;
  }

  // Gs = G⊙g, Gl = G⊙(g + ρ);  dX = Gs·W0 + (Gl·Uσ)·D;  dU += Glᵀ·Hs;  dD += (Gl·Uσ)ᵀ·X
  // through the norm (D2-LoRA unless detachNorm):
  //   dg_j = Σ_n G[n,j]·Q[n,j],  a_j = −dg_j·c_j/n_j³
  //   dU += diag(a)·(W0Dᵀ + Uσ·DDᵀ)·diag(σ)            (spec: dU₊ = s[… + diag(a)(W0D₊ᵀ + ΔW D₊ᵀ)])
  //   dD += Bᵀ·W0 + (Bᵀ·Uσ)·D,  B = diag(a)·Uσ           (spec: dD₊ = s[… + (diag(a)U₊)ᵀ V])
  // DoRA (m trainable, norm detached): dm_j += dg_j / n_j
  backward(dy: Tensor, into?: Tensor): Tensor {
    const c = this.requireCache(this.cache);
    const { ctx, base, rank } = this;
    const { out } = base;
    const { norm, rows } = c;
    const gs = ctx.tensor([rows, out], 'f32', `${base.name}.Gs`);
    const gl = ctx.tensor([rows, out], 'f32', `${base.name}.Gl`);
    // dg rides on the pass over G that forms Gs and Gl: DoRA's dm, or D2-LoRA's a (through n).
    const a = !this.dm && this.form.gradThroughNorm ? ctx.tensor([out], 'f32', `${base.name}.a`) : null;
    const scaleGrad: NormScaleGrad | undefined = this.dm
      ? { q: c.q, c: this.c, n: norm.n, coeff: this.dm, mode: 'dora-dm' }
      : a
        ? { q: c.q, c: this.c, n: norm.n, coeff: a, mode: 'd2lora-a' }
        : undefined;
    combineBackward(ctx, { dy, g: norm.g, gs, gl }, { rows, out, rho: this.form.rho }, scaleGrad);
    const { dx, ts } = this.factors.backward(gs, gl, c.x, c.hs, rows, into);
    ts.release();
    gs.release();
    gl.release();

    if (a) {
      const f = this.factors;
      const b = ctx.tensor([out, rank], 'f32', `${base.name}.B`);
      const uSigma = ctx.tensor([out, rank], 'f32', `${base.name}.Uσ`);
      normGradTerms(ctx, { a, u: f.u, sigma: f.sigma, w0dT: norm.w0dT, gram: norm.gram, dU: f.dU, b, uSigma }, { out, rank });
      const bu = ctx.tensor([rank, rank], 'f32', `${base.name}.BᵀUσ`);
      matmul(ctx, { a: b, b: uSigma, c: bu, M: rank, N: rank, K: out, transA: true });
      // dD += Bᵀ·W0 + (Bᵀ·Uσ)·D: the second term as the matmul's second product, one dispatch.
      const plus = { a: bu, b: f.d, K: rank };
      matmul(ctx, { a: b, b: base.weight, c: f.dD, M: rank, N: base.in, K: out, transA: true, transB: base.layout === 'in_out', accumulate: true, plus });
      for (const t of [a, b, uSigma, bu]) t.release();
    }
    this.discardCache();
    return dx;
  }

  discardCache(): void {
    if (!this.cache) return;
    const { hs, q, norm } = this.cache;
    for (const t of [hs, q, norm.w0dT, norm.gram, norm.n, norm.g]) t.release();
    this.cache = null;
  }

  // Ŵ = diag(g)·(W0 + ΔW) + ρ·ΔW  (spec, "Merge"); DoRA: diag(m/n)·(W0 + ΔW)
  merge(): Tensor {
    const norm = this.normPass();
    const merged = mergeInto(this.ctx, this.factors, norm.g, this.form.rho);
    for (const t of [norm.w0dT, norm.gram, norm.n, norm.g]) t.release();
    return merged;
  }

  override zeroGrads(): void {
    super.zeroGrads();
    if (this.dm) this.ctx.clear(this.dm);
  }

  override async readParams(): Promise<AdapterParams> {
    const [u, d, m] = await Promise.all([
      this.ctx.read(this.factors.u),
      this.ctx.read(this.factors.d),
      this.m ? this.ctx.read(this.m) : Promise.resolve(undefined),
    ]);
    return this.spec.unpack(m ? { u, d, m } : { u, d }, this.cfg, this.base);
  }

  override writeParams(params: AdapterParams): void {
    super.writeParams(params);
    const m = this.spec.pack(params, this.cfg).m;
    if (this.m && m) this.ctx.write(this.m, m);
  }

  override destroy(): void {
    super.destroy();
    this.c.release();
    this.m?.release();
    this.dm?.release();
  }
}

/** Ŵ (W0's shape and layout) = diag(g)·(W0 + Uσ·D) + ρ·Uσ·D; the only out×in buffer written. */
function mergeInto(ctx: GpuContext, f: LowRankFactors, g: Tensor, rho: number): Tensor {
  const { base } = f;
  const merged = ctx.tensor(base.weight.shape, 'f32', `${base.name}.merged`);
  mergeWeight(ctx, { w0: base.weight, u: f.u, sigma: f.sigma, d: f.d, g, merged }, { out: base.out, in: base.in, rank: f.rank, layout: base.layout, rho });
  return merged;
}
