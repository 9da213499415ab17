// LoRA (Hu et al. 2021): W_eff = W0 + s·U·D, one rank-r branch, U = 0 and D Kaiming-uniform
// at init (PEFT's init_lora_weights=True). "LoRA 2r" is this at rank 2r.

import { adapterScale } from './config';
import { filled, type MethodSpec } from './method';

export const lora: MethodSpec = {
  method: 'lora',
  packedRank: (cfg) => cfg.r,
  form: () => ({ kind: 'additive' }),
  pack: (params, cfg) => ({
    u: params.tensors.u!.data,
    d: params.tensors.d!.data,
    sigma: filled(cfg.r, adapterScale(cfg)),
  }),
  unpack: ({ u, d }, cfg, shape) => ({
    method: 'lora',
    r: cfg.r,
    out: shape.out,
    in: shape.in,
    tensors: { u: { shape: [shape.out, cfg.r], data: u }, d: { shape: [cfg.r, shape.in], data: d } },
  }),
};
