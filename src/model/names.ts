// Hugging Face tensor names of each family, and the adapter target modules they contain.
// GPT-2 checkpoints sometimes prefix every name with "transformer."; loaders strip it.

import type { ModelConfig, ModelFamily } from './config';

/** The linear modules of a layer, as linearModules names them (adapter targets select among them). */
export const LLAMA_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export const GPT2_MODULES = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'] as const;

/** Target modules adapted by default (the paper: the attention projections). */
export function defaultTargets(family: ModelFamily): string[] {
  return family === 'gpt2' ? ['c_attn', 'attn.c_proj'] : ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
}

/**
 * Whether a target name selects a module, PEFT-style: the whole name or a dotted suffix of it
 * ('c_proj' selects GPT-2's attn.c_proj and mlp.c_proj; 'attn.c_proj' only the first).
 */
export function targetMatches(target: string, module: string): boolean {
  return module === target || module.endsWith(`.${target}`);
}

/** Every linear layer of layer i: module name → weight tensor name (and its (out, in) shape). */
export function linearModules(c: ModelConfig, i: number): { module: string; weight: string; bias: string | null; out: number; in: number; layout: 'out_in' | 'in_out' }[] {
  const d = c.hiddenSize;
  const kv = c.numKvHeads * c.headDim;
  const q = c.numHeads * c.headDim;
  if (c.family === 'gpt2') {
    const p = `h.${i}`;
    return [
      { module: 'attn.c_attn', weight: `${p}.attn.c_attn.weight`, bias: `${p}.attn.c_attn.bias`, out: 3 * d, in: d, layout: 'in_out' },
      { module: 'attn.c_proj', weight: `${p}.attn.c_proj.weight`, bias: `${p}.attn.c_proj.bias`, out: d, in: d, layout: 'in_out' },
      { module: 'mlp.c_fc', weight: `${p}.mlp.c_fc.weight`, bias: `${p}.mlp.c_fc.bias`, out: c.intermediateSize, in: d, layout: 'in_out' },
      { module: 'mlp.c_proj', weight: `${p}.mlp.c_proj.weight`, bias: `${p}.mlp.c_proj.bias`, out: d, in: c.intermediateSize, layout: 'in_out' },
    ];
  }
  const p = `model.layers.${i}`;
  const b = (name: string) => (c.attentionBias ? `${p}.self_attn.${name}.bias` : null);
  return [
    { module: 'q_proj', weight: `${p}.self_attn.q_proj.weight`, bias: b('q_proj'), out: q, in: d, layout: 'out_in' },
    { module: 'k_proj', weight: `${p}.self_attn.k_proj.weight`, bias: b('k_proj'), out: kv, in: d, layout: 'out_in' },
    { module: 'v_proj', weight: `${p}.self_attn.v_proj.weight`, bias: b('v_proj'), out: kv, in: d, layout: 'out_in' },
    { module: 'o_proj', weight: `${p}.self_attn.o_proj.weight`, bias: null, out: d, in: q, layout: 'out_in' },
    { module: 'gate_proj', weight: `${p}.mlp.gate_proj.weight`, bias: null, out: c.intermediateSize, in: d, layout: 'out_in' },
    { module: 'up_proj', weight: `${p}.mlp.up_proj.weight`, bias: null, out: c.intermediateSize, in: d, layout: 'out_in' },
    { module: 'down_proj', weight: `${p}.mlp.down_proj.weight`, bias: null, out: d, in: c.intermediateSize, layout: 'out_in' },
  ];
}

/** Every tensor the family needs, with its shape: what a loader must find (and nothing else is read). */
export function expectedWeights(c: ModelConfig): Map<string, number[]> {
  const d = c.hiddenSize;
  const w = new Map<string, number[]>();
  if (c.family === 'gpt2') {
    w.set('wte.weight', [c.vocabSize, d]);
    w.set('wpe.weight', [c.maxPositions, d]);
    for (let i = 0; i < c.numLayers; i++) {
      for (const ln of ['ln_1', 'ln_2']) {
        w.set(`h.${i}.${ln}.weight`, [d]);
        w.set(`h.${i}.${ln}.bias`, [d]);
      }
      for (const m of linearModules(c, i)) {
        w.set(m.weight, [m.in, m.out]);
        w.set(m.bias!, [m.out]);
      }
    }
    w.set('ln_f.weight', [d]);
    w.set('ln_f.bias', [d]);
    return w;
  }
  w.set('model.embed_tokens.weight', [c.vocabSize, d]);
  for (let i = 0; i < c.numLayers; i++) {
    w.set(`model.layers.${i}.input_layernorm.weight`, [d]);
    w.set(`model.layers.${i}.post_attention_layernorm.weight`, [d]);
    for (const m of linearModules(c, i)) {
      w.set(m.weight, [m.out, m.in]);
      if (m.bias) w.set(m.bias, [m.out]);
    }
  }
  w.set('model.norm.weight', [d]);
  if (!c.tiedEmbeddings) w.set('lm_head.weight', [c.vocabSize, d]);
  return w;
}
