// D2-LoRA (Fujisawa & Kondo 2026; docs/D2LORA.md): a signed two-branch update
//   ΔW = s·(U₊D₊ − τ·U₋D₋)                                   (spec: "ΔW = s · (U₊D₊ − τ·U₋D₋)")
// packed as one rank-2r update U = [U₊ | U₋], D = [D₊; D₋], σ = [s…, −sτ…], and trained
//   with projection:    W_eff = diag(g)·(W0 + ΔW) + ρ·ΔW, g_j = c_j/n_j   (spec Eq. 3, ρ = readd)
//   without (ablation): W_eff = W0 + ΔW, a LoRA of rank 2r with signed factors.
// Gradients flow through n_j unless detachNorm, which is what removes the radial component
// of the update (the paper's geometric argument).

import { adapterScale } from './config';
import { columnBlock, concatColumns, type MethodSpec } from './method';

export const d2lora: MethodSpec = {
  method: 'd2lora',
  packedRank: (cfg) => 2 * cfg.r,
  form: (cfg) =>
    cfg.project ? { kind: 'rescaled', magnitude: 'base-norm', rho: cfg.readd, gradThroughNorm: !cfg.detachNorm } : { kind: 'additive' },
  pack: (params, cfg) => {
    const { uPlus, dPlus, uMinus, dMinus } = params.tensors;
    const s = adapterScale(cfg);
    const sigma = new Float32Array(2 * cfg.r);
    sigma.fill(s, 0, cfg.r);
    sigma.fill(-s * cfg.tau, cfg.r);
    const d = new Float32Array(2 * cfg.r * params.in);
    d.set(dPlus!.data, 0);
    d.set(dMinus!.data, cfg.r * params.in);
    return { u: concatColumns(uPlus!.data, uMinus!.data, params.out, cfg.r, cfg.r), d, sigma };
  },
  unpack: ({ u, d }, cfg, shape) => {
    const r = cfg.r;
    const up = [shape.out, r];
    const down = [r, shape.in];
    return {
      method: 'd2lora',
      r,
      out: shape.out,
      in: shape.in,
      tensors: {
        uPlus: { shape: up, data: columnBlock(u, shape.out, 2 * r, 0, r) },
        dPlus: { shape: down, data: d.slice(0, r * shape.in) },
        uMinus: { shape: up, data: columnBlock(u, shape.out, 2 * r, r, r) },
        dMinus: { shape: down, data: d.slice(r * shape.in) },
      },
    };
  },
};
