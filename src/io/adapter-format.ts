// The adapter folder's two formats, shared by their writer (src/export/adapter.ts) and their
// reader (src/io/adapter.ts): file names, tensor keys and the q/k row order.
//
// LoRA and DoRA: PEFT's format, so that PeftModel.from_pretrained(base, folder) loads them:
//   adapter_config.json        peft_type "LORA" (use_dora for DoRA, use_rslora, fan_in_fan_out
//                              for GPT-2's Conv1D), r, lora_alpha, target_modules;
//   adapter_model.safetensors  F32 base_model.model.<module>.lora_A.weight = D (r×in),
//                              .lora_B.weight = U (out×r), DoRA's .lora_magnitude_vector = m (out).
//
// D2-LoRA, which PEFT lacks, under its own file names, so that nothing takes it for a PEFT adapter
// (transformers with peft installed applies an adapter_config.json it finds beside a model):
//   d2lora_config.json         "format": "d2lora", "format_version": 1, base_model_name_or_path,
//                              every AdapterConfig field under its own name (method, r, alpha, tau,
//                              project, readd, detachNorm, scaling, init, seed, eps),
//                              target_modules, "shapes" (each tensor's shape) and "formula"
//                              (docs/D2LORA.md), with s = alpha/r (alpha/√r when scaling is 'rslora');
//   d2lora_model.safetensors   F32 <module>.d2lora.u_plus (out×r), .d2lora.d_plus (r×in),
//                              .d2lora.u_minus (out×r), .d2lora.d_minus (r×in).
// <module> is the Hugging Face weight name without ".weight", e.g. model.layers.0.self_attn.q_proj.
// Version 1 files written before the adapter had its own names (the same content as
// adapter_config.json and adapter_model.safetensors) are still read.
//
// A llama2.c base (the only source with ropeStyle 'interleaved') is exported as a Hugging Face
// Llama with q/k rows in rotate-half order; its adapters are stored for that model, so their q/k
// output rows (U, DoRA's m) take the same permutation, undone on reading.

import type { AdapterParams } from '../adapters/init';
import type { AdapterMethod } from '../adapters/config';
import type { ModelConfig } from '../model/config';
import { linearModules, targetMatches } from '../model/names';
import { shapeSize } from '../util/shape';
import { permuteQKForHalfRope, unpermuteQKFromHalfRope } from './llama2c';

/** PEFT's file names (peft.utils.constants): LoRA and DoRA. */
export const PEFT_CONFIG_FILE = 'adapter_config.json';
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';
/** D2-LoRA's own. */
export const D2LORA_CONFIG_FILE = 'd2lora_config.json';
export const D2LORA_WEIGHTS_FILE = 'd2lora_model.safetensors';
/** Every file an adapter folder may hold. */
export const ADAPTER_FILES = [PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, D2LORA_CONFIG_FILE, D2LORA_WEIGHTS_FILE] as const;

export interface AdapterFileNames {
  config: string;
  weights: string;
}

/** The files a method's adapter is written to. */
export function adapterFileNames(method: AdapterMethod): AdapterFileNames {
  return method === 'd2lora' ? { config: D2LORA_CONFIG_FILE, weights: D2LORA_WEIGHTS_FILE } : { config: PEFT_CONFIG_FILE, weights: PEFT_WEIGHTS_FILE };
}

export const D2LORA_FORMAT = 'd2lora';
export const D2LORA_FORMAT_VERSION = 1;
export const D2LORA_FORMULA = 'ΔW = s(U₊D₊ − τU₋D₋); W = diag(c/‖W0+ΔW‖)(W0+ΔW) + ρΔW';

export interface NamedAdapter {
  /** The adapted layer's base weight name without ".weight", as GpuModel.adapters() names it. */
  name: string;
  params: AdapterParams;
}

/** Each factor's key suffix in the weights file, by AdapterParams tensor name. */
const TENSOR_KEYS: Record<AdapterMethod, Record<string, string>> = {
  // PEFT: lora_A is D (r×in) and lora_B is U (out×r) for nn.Linear and GPT-2's Conv1D alike
  // (fan_in_fan_out only transposes the base weight); saved files drop the adapter name and
  // DoRA's ".weight" of the magnitude.
  lora: { d: 'lora_A.weight', u: 'lora_B.weight' },
  dora: { d: 'lora_A.weight', u: 'lora_B.weight', m: 'lora_magnitude_vector' },
  d2lora: { uPlus: 'd2lora.u_plus', dPlus: 'd2lora.d_plus', uMinus: 'd2lora.u_minus', dMinus: 'd2lora.d_minus' },
};

/**
 * The weights file's key of factor `tensor` (an AdapterParams tensor name) of `module`: PEFT's
 * keys start with its wrapper path (base_model.model.) and, for GPT-2, GPT2LMHeadModel's
 * "transformer." that the engine's names drop; D2-LoRA's with the module.
 */
export function tensorKey(config: ModelConfig, method: AdapterMethod, module: string, tensor: string): string {
  const prefix = method === 'd2lora' ? '' : config.family === 'gpt2' ? 'base_model.model.transformer.' : 'base_model.model.';
  return `${prefix}${module}.${TENSOR_KEYS[method][tensor]}`;
}

export interface TargetedModule {
  out: number;
  in: number;
  /** For q_proj / k_proj of a llama2.c model: its head count, for the row permutation to rotate-half order. */
  ropeHeads: number | null;
}

/** Every linear layer `targets` select, by base weight name without ".weight", in layer order. */
export function targetedModules(config: ModelConfig, targets: readonly string[]): Map<string, TargetedModule> {
  const out = new Map<string, TargetedModule>();
  for (let i = 0; i < config.numLayers; i++) {
    for (const m of linearModules(config, i)) {
      if (!targets.some((t) => targetMatches(t, m.module))) continue;
      const heads = m.module === 'q_proj' ? config.numHeads : m.module === 'k_proj' ? config.numKvHeads : null;
      out.set(m.weight.replace(/\.weight$/, ''), { out: m.out, in: m.in, ropeHeads: config.ropeStyle === 'interleaved' ? heads : null });
    }
  }
  return out;
}

/** Factors whose rows are the layer's output features (they follow a q/k row permutation). */
const OUTPUT_ROW_TENSORS = new Set(['u', 'm', 'uPlus', 'uMinus']);

/**
 * Factor `tensor` of `module` with its q/k output rows from the engine's order into the file's
 * ('to-file') or back ('from-file'); other factors, and every factor of a model with rotate-half
 * RoPE, as they are.
 */
export function reorderRows(
  module: TargetedModule,
  tensor: string,
  data: Float32Array,
  shape: readonly number[],
  headDim: number,
  direction: 'to-file' | 'from-file',
): Float32Array {
  if (module.ropeHeads === null || !OUTPUT_ROW_TENSORS.has(tensor)) return data;
  const permute = direction === 'to-file' ? permuteQKForHalfRope : unpermuteQKFromHalfRope;
  return permute(data, module.ropeHeads, headDim, shapeSize(shape.slice(1)));
}
