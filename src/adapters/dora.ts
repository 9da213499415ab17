// DoRA (Liu et al. 2024): W_eff = diag(m/n)·(W0 + s·U·D), n_j = ‖W0_j + s·U_j·D‖, m trainable
// and initialised to c = ‖W0_j‖. The norm is detached in the backward, as PEFT does: DoRA's
// §4.3 treats n as a constant to avoid differentiating through the full weight's row norms.

import { adapterScale } from './config';
import { filled, type MethodSpec } from './method';

export const dora: MethodSpec = {
  method: 'dora',
  packedRank: (cfg) => cfg.r,
  form: () => ({ kind: 'rescaled', magnitude: 'trainable', rho: 0, gradThroughNorm: false }),
  pack: (params, cfg) => ({
    u: params.tensors.u!.data,
    d: params.tensors.d!.data,
    sigma: filled(cfg.r, adapterScale(cfg)),
    m: params.tensors.m!.data,
  }),
  unpack: ({ u, d, m }, cfg, shape) => ({
    method: 'dora',
    r: cfg.r,
    out: shape.out,
    in: shape.in,
    tensors: {
      u: { shape: [shape.out, cfg.r], data: u },
      d: { shape: [cfg.r, shape.in], data: d },
      m: { shape: [shape.out], data: m! },
    },
  }),
};
