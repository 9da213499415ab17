// Exports for use outside the playground, as file name → bytes (no fs: the browser offers them as
// downloads, the CLI writes them to a folder):
//
//   exportMergedCheckpoint  a folder transformers loads with AutoModelForCausalLM: model.safetensors
//                           (the merged weights under the base checkpoint's own tensor names, layout
//                           and dtypes), config.json and the tokenizer files;
//   exportAdapter           the trained factors alone: LoRA and DoRA in PEFT's format, so that
//                           PeftModel.from_pretrained loads them; D2-LoRA, which PEFT lacks, in our
//                           own format (below);
//   readAdapter             any of those adapter files back into factors, for `d2lora eval --adapter`.
//
// A llama2.c base (the only source with ropeStyle 'interleaved') is exported as a Hugging Face
// Llama: q/k rows permuted to rotate-half order by toHfLlamaFromLlama2c, and a tokenizer.json
// generated from the llama2.c vocabulary (llama2cTokenizerFiles). Its adapters are exported for
// that Hugging Face model too, so their q/k output rows (U, DoRA's m) take the same permutation;
// readAdapter undoes it for a model with interleaved RoPE.
//
// D2-LoRA adapter format (adapter_config.json "format": "d2lora", "format_version": 1): for each
// adapted module (the Hugging Face weight name without ".weight", e.g. model.layers.0.self_attn.q_proj),
// adapter_model.safetensors holds F32 tensors
//   <module>.d2lora.u_plus (out×r)   <module>.d2lora.d_plus (r×in)
//   <module>.d2lora.u_minus (out×r)  <module>.d2lora.d_minus (r×in)
// and adapter_config.json every AdapterConfig field under its own name (method, r, alpha, tau,
// readd, project, detachNorm, scaling, eps, init, seed), target_modules, each tensor's shape and
// the formula they define (docs/D2LORA.md), with s = alpha/r (alpha/√r when scaling is 'rslora').

import { ADAPTER_TENSOR_NAMES, adapterTensorShapes, type AdapterParams } from '../adapters/init';
import {
  ADAPTER_CONFIG_FIELDS,
  AdapterConfigError,
  checkAdapterConfig,
  type AdapterConfig,
  type AdapterMethod,
} from '../adapters/config';
import type { ModelConfig, WeightMap } from '../model/config';
import { expectedWeights, linearModules, targetMatches } from '../model/names';
import { Llama2cTokenizer, MIN_MERGE_SCORE } from '../tokenizer/llama2c';
import { CONFIG_FILE, SAFETENSORS_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, toHfLlamaFromLlama2c } from './checkpoint';
import { FormatError, failIn, type Fail } from './errors';
import { hfConfigJson, type HfTorchDtype } from './hf-config';
import { describeJson, isPlainObject, parseJsonObject } from './json';
import { permuteQKForHalfRope, unpermuteQKFromHalfRope } from './llama2c';
import type { LoadedModel } from './load';
import { parseSafetensors, writeSafetensors, type SafetensorsFloatDtype, type SafetensorsTensorInput } from './safetensors';

/** PEFT's file names (peft.utils.constants), used for every method. */
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';

/** What the exports read of a loaded model. */
export type ExportSource = Pick<LoadedModel, 'config' | 'stored' | 'files' | 'name'>;
export type AdapterSource = Pick<LoadedModel, 'config' | 'name'>;

export interface NamedAdapter {
  /** The adapted layer's base weight name without ".weight", as GpuModel.adapters() names it. */
  name: string;
  params: AdapterParams;
}

export interface AdapterFile {
  cfg: AdapterConfig;
  targets: string[];
  /** In the model's layer order; U rows in the model's own q/k order. */
  adapters: NamedAdapter[];
}

const TORCH_DTYPE: Record<SafetensorsFloatDtype, HfTorchDtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
/** transformers loads safetensors files saved with this metadata (or none) as PyTorch weights. */
const PT_METADATA = { format: 'pt' };

// ---------------------------------------------------------------------------------------------
// Merged checkpoint

/**
 * The merged model as a Hugging Face folder: model.safetensors, config.json and the tokenizer
 * files. `merged` holds every weight of model.config (GpuModel.mergedWeights: the base's names,
 * shapes and layout, GPT-2's Conv1D still in×out). Each tensor keeps the base checkpoint's name
 * and dtype unless opts.dtype says otherwise; config.json's torch_dtype is the dtype holding most
 * values.
 */
export function exportMergedCheckpoint(model: ExportSource, merged: WeightMap, opts: { dtype?: SafetensorsFloatDtype } = {}): Map<string, Uint8Array> {
  checkWeights(model.config, merged);
  const llama2c = model.config.ropeStyle === 'interleaved';
  const { config, weights } = llama2c ? toHfLlamaFromLlama2c(model.config, merged) : { config: model.config, weights: merged };
  const tensors: SafetensorsTensorInput[] = [];
  for (const [name, w] of weights) {
    const stored = model.stored.get(name);
    if (stored === undefined) throw new RangeError(`exportMergedCheckpoint: no stored name and dtype for "${name}" in the model`);
    tensors.push({ name: stored.name, dtype: opts.dtype ?? stored.dtype, shape: w.shape, data: w.data });
  }
  const files = new Map<string, Uint8Array>([
    [CONFIG_FILE, utf8(hfConfigJson(config, TORCH_DTYPE[dominantDtype(tensors)]))],
    [SAFETENSORS_FILE, writeSafetensors(tensors, PT_METADATA)],
  ]);
  if (llama2c) {
    const vocabularies = Object.entries(model.files);
    if (vocabularies.length !== 1) {
      throw new RangeError(`exportMergedCheckpoint: a llama2.c model has one vocabulary file; found ${vocabularies.length}`);
    }
    const [[name, bytes]] = vocabularies;
    for (const [file, content] of llama2cTokenizerFiles(bytes, name, config)) files.set(file, content);
    files.set(name, bytes);
  } else {
    for (const [name, bytes] of Object.entries(model.files)) if (name !== CONFIG_FILE) files.set(name, bytes);
  }
  return files;
}

/** `weights` holds exactly the tensors of `config`, in their shapes. */
function checkWeights(config: ModelConfig, weights: WeightMap): void {
  const expected = expectedWeights(config);
  for (const [name, shape] of expected) {
    const w = weights.get(name);
    if (w === undefined) throw new RangeError(`exportMergedCheckpoint: the merged weights lack "${name}"`);
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]) || w.data.length !== count(shape)) {
      throw new RangeError(`exportMergedCheckpoint: "${name}" has shape [${w.shape}] (${w.data.length} values); expected [${shape}]`);
    }
  }
  for (const name of weights.keys()) {
    if (!expected.has(name)) throw new RangeError(`exportMergedCheckpoint: "${name}" is not a weight of this ${config.family} model`);
  }
}

/** The dtype that holds the most values. */
function dominantDtype(tensors: readonly SafetensorsTensorInput[]): SafetensorsFloatDtype {
  const values = new Map<SafetensorsFloatDtype, number>();
  for (const t of tensors) values.set(t.dtype, (values.get(t.dtype) ?? 0) + t.data.length);
  return [...values].reduce((best, next) => (next[1] > best[1] ? next : best))[0];
}

// ---------------------------------------------------------------------------------------------
// llama2.c vocabulary → tokenizer.json
//
// The tokenizer.json that transformers' LlamaConverter would write for the sentencepiece model the
// llama2.c vocabulary was exported from, which encodes as run.c does:
//   vocab       the pieces with ' ' back to '▁' (llama2.c's export turned '▁' into ' '); ids 0..2
//               as <unk>, <s>, </s> (llama2.c stores BOS and EOS as "\n<s>\n" and "\n</s>\n");
//   merges      generate_merges of transformers' convert_slow_tokenizer.py: for each piece, every
//               split into two pieces of the vocabulary (ordered by the parts' ids), all ordered by
//               the piece's score, highest first (then longer left part, then longer right part;
//               a stable sort otherwise). Applying the lowest-ranked merge first is run.c's "merge
//               the pair whose piece scores highest", except between different pieces of equal
//               score, which run.c takes leftmost first and the ranks order by id. Pieces run.c
//               never merges into (score ≤ −1e10, and the control tokens 0..2) get no merge;
//   normalizer  Prepend('▁') then Replace(' ', '▁'): run.c's dummy-prefix space, which both skip
//               for empty text; byte_fallback spells other characters as <0xHH> tokens, like run.c.
// Known differences from run.c's encoder: the added tokens' text ("<unk>", "<s>", "</s>") in the
// input encodes as the special token (run.c spells it out), and a '▁' in the input acts as a space.

const SPIECE_SPACE = '▁';
const CONTROL_PIECES = ['<unk>', '<s>', '</s>'];

function llama2cTokenizerFiles(bytes: Uint8Array, fileName: string, config: ModelConfig): Map<string, Uint8Array> {
  const { pieces, scores } = readVocabulary(bytes, fileName, config.vocabSize);
  const fail: Fail = failIn(fileName);
  const vocab = pieces.map((piece, id) => (id < CONTROL_PIECES.length ? CONTROL_PIECES[id] : piece.replaceAll(' ', SPIECE_SPACE)));
  const ids = new Map<string, number>();
  vocab.forEach((piece, id) => {
    const earlier = ids.get(piece);
    if (earlier !== undefined) {
      fail(`token ${id}`, `piece ${JSON.stringify(piece)}, as token ${earlier} is`, 'distinct pieces (a tokenizer.json vocabulary maps each to one id)');
    }
    ids.set(piece, id);
  });

  const merges: { left: string; right: string; score: number; leftLength: number; rightLength: number }[] = [];
  vocab.forEach((piece, id) => {
    if (id < CONTROL_PIECES.length || !(scores[id] > MIN_MERGE_SCORE)) return;
    const chars = Array.from(piece);
    const splits: { left: string; right: string; leftLength: number; rightLength: number }[] = [];
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join('');
      const right = chars.slice(k).join('');
      if (ids.has(left) && ids.has(right)) splits.push({ left, right, leftLength: k, rightLength: chars.length - k });
    }
    splits.sort((a, b) => ids.get(a.left)! - ids.get(b.left)! || ids.get(a.right)! - ids.get(b.right)!);
    for (const split of splits) merges.push({ ...split, score: scores[id] });
  });
  merges.sort((a, b) => b.score - a.score || b.leftLength - a.leftLength || b.rightLength - a.rightLength);

  const bos = { SpecialToken: { id: '<s>', type_id: 0 } };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: CONTROL_PIECES.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPIECE_SPACE },
        { type: 'Replace', pattern: { String: ' ' }, content: SPIECE_SPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPIECE_SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      // fromEntries, not assignment: a piece named "__proto__" must stay a key.
      vocab: Object.fromEntries(vocab.map((piece, id) => [piece, id])),
      // "left right" strings, which every tokenizers version reads; no piece holds a ' ' any more.
      merges: merges.map((m) => `${m.left} ${m.right}`),
    },
  };
  const tokenizerConfig = {
    tokenizer_class: 'LlamaTokenizerFast',
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    add_bos_token: true,
    add_eos_token: false,
    legacy: true,
    clean_up_tokenization_spaces: false,
    model_max_length: config.maxPositions,
  };
  return new Map([
    [TOKENIZER_FILE, utf8(JSON.stringify(tokenizer))],
    [TOKENIZER_CONFIG_FILE, utf8(`${JSON.stringify(tokenizerConfig, null, 2)}\n`)],
  ]);
}

/** Each token's piece as text and its score, from the validated vocabulary. */
function readVocabulary(bytes: Uint8Array, fileName: string, vocabSize: number): { pieces: string[]; scores: Float32Array } {
  const tokenizer = Llama2cTokenizer.parse(bytes, fileName, vocabSize);
  const fail: Fail = failIn(fileName);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  const scores = new Float32Array(vocabSize);
  for (let id = 0; id < vocabSize; id++) {
    scores[id] = tokenizer.score(id);
    try {
      pieces.push(decoder.decode(tokenizer.pieceBytes(id)));
    } catch {
      fail(`token ${id}`, 'a piece that is not UTF-8', 'UTF-8 text, as sentencepiece pieces are');
    }
  }
  return { pieces, scores };
}

// ---------------------------------------------------------------------------------------------
// Adapters

/** Each factor's key suffix in adapter_model.safetensors, by AdapterParams tensor name. */
const TENSOR_KEYS: Record<AdapterMethod, Record<string, string>> = {
  // PEFT: lora_A is D (r×in) and lora_B is U (out×r) for nn.Linear and GPT-2's Conv1D alike
  // (fan_in_fan_out only transposes the base weight); saved files drop the adapter name and
  // DoRA's ".weight" of the magnitude.
  lora: { d: 'lora_A.weight', u: 'lora_B.weight' },
  dora: { d: 'lora_A.weight', u: 'lora_B.weight', m: 'lora_magnitude_vector' },
  d2lora: { uPlus: 'd2lora.u_plus', dPlus: 'd2lora.d_plus', uMinus: 'd2lora.u_minus', dMinus: 'd2lora.d_minus' },
};
/** Factors whose rows are the layer's output features (they follow a q/k row permutation). */
const OUTPUT_ROW_TENSORS = new Set(['u', 'm', 'uPlus', 'uMinus']);
const D2LORA_FORMAT_VERSION = 1;
const D2LORA_FORMULA = 'ΔW = s(U₊D₊ − τU₋D₋); W = diag(c/‖W0+ΔW‖)(W0+ΔW) + ρΔW';

/**
 * adapter_model.safetensors (F32) and adapter_config.json for the adapters of every module that
 * `targets` selects (all of them, no others), trained with `cfg`.
 */
export function exportAdapter(model: AdapterSource, adapters: readonly NamedAdapter[], cfg: AdapterConfig, targets: string[]): Map<string, Uint8Array> {
  const where = 'exportAdapter';
  const resolved = checkAdapterConfig(cfg);
  const modules = targetedModules(model.config, targets);
  const keyPrefix = modulePrefix(model.config, resolved.method);
  const tensors: SafetensorsTensorInput[] = [];
  const seen = new Set<string>();
  for (const { name, params } of adapters) {
    const module = modules.get(name);
    if (module === undefined) throw new RangeError(`${where}: "${name}" is not a layer that targets ${targets.join(', ')} select`);
    if (seen.has(name)) throw new RangeError(`${where}: "${name}" appears twice`);
    seen.add(name);
    if (params.method !== resolved.method || params.r !== resolved.r || params.out !== module.out || params.in !== module.in) {
      throw new RangeError(
        `${where}: "${name}" holds ${params.method} r=${params.r} for ${params.out}×${params.in}; ` +
          `expected ${resolved.method} r=${resolved.r} for ${module.out}×${module.in}`,
      );
    }
    const shapes = adapterTensorShapes(resolved.method, resolved.r, module);
    for (const [tensor, suffix] of Object.entries(TENSOR_KEYS[resolved.method])) {
      const t = params.tensors[tensor];
      if (t === undefined || t.shape.join() !== shapes[tensor].join()) {
        throw new RangeError(`${where}: "${name}" tensor ${tensor} has shape [${t?.shape ?? 'none'}]; expected [${shapes[tensor]}]`);
      }
      const data = reorderRows(module, tensor, t.data, t.shape, model.config.headDim, permuteQKForHalfRope);
      tensors.push({ name: `${keyPrefix}${name}.${suffix}`, dtype: 'F32', shape: [...t.shape], data });
    }
  }
  const missing = [...modules.keys()].filter((name) => !seen.has(name));
  if (missing.length > 0) throw new RangeError(`${where}: no adapter for "${missing[0]}" (${missing.length} of ${modules.size} targeted layers missing)`);

  const config =
    resolved.method === 'd2lora'
      ? {
          format: 'd2lora',
          format_version: D2LORA_FORMAT_VERSION,
          base_model_name_or_path: model.name,
          ...resolved,
          target_modules: targets,
          shapes: Object.fromEntries(tensors.map((t) => [t.name, t.shape])),
          formula: D2LORA_FORMULA,
        }
      : {
          peft_type: 'LORA',
          task_type: 'CAUSAL_LM',
          base_model_name_or_path: model.name,
          r: resolved.r,
          lora_alpha: resolved.alpha,
          target_modules: targets,
          lora_dropout: 0,
          bias: 'none',
          use_rslora: resolved.scaling === 'rslora',
          use_dora: resolved.method === 'dora',
          fan_in_fan_out: model.config.family === 'gpt2',
          init_lora_weights: true,
          inference_mode: true,
          modules_to_save: null,
        };
  return new Map([
    [ADAPTER_CONFIG_FILE, utf8(`${JSON.stringify(config, null, 2)}\n`)],
    [ADAPTER_WEIGHTS_FILE, writeSafetensors(tensors, PT_METADATA)],
  ]);
}

/**
 * exportAdapter's files back (by file name; other files are ignored), checked against the model
 * they adapt: every targeted layer's factors present in their shapes, nothing else. Bad input is
 * a FormatError naming the file and field.
 */
export function readAdapter(files: ReadonlyMap<string, Uint8Array>, config: ModelConfig): AdapterFile {
  const json = parseJsonObject(requireEntry(files, ADAPTER_CONFIG_FILE, 'the adapter configuration'), ADAPTER_CONFIG_FILE);
  const fail: Fail = failIn(ADAPTER_CONFIG_FILE);
  let cfg: AdapterConfig;
  if (json.format === 'd2lora') {
    if (json.format_version !== D2LORA_FORMAT_VERSION) fail('field "format_version"', describeJson(json.format_version), `${D2LORA_FORMAT_VERSION}`);
    const partial: Record<string, unknown> = {};
    for (const field of ADAPTER_CONFIG_FIELDS) {
      if (json[field] === undefined) fail(`field "${field}"`, 'nothing', 'every adapter setting of the d2lora format');
      partial[field] = json[field];
    }
    if (partial.method !== 'd2lora') fail('field "method"', describeJson(partial.method), '"d2lora" (LoRA and DoRA use PEFT\'s format)');
    cfg = resolveIn(json, partial, (field) => field);
  } else if (json.peft_type === 'LORA') {
    const flag = (field: string) => {
      const v = json[field] ?? false;
      if (typeof v !== 'boolean') fail(`field "${field}"`, describeJson(v), 'true or false');
      return v;
    };
    const partial = {
      ...PEFT_UNREAD_FIELDS,
      method: flag('use_dora') ? 'dora' : 'lora',
      r: json.r,
      alpha: json.lora_alpha,
      scaling: flag('use_rslora') ? 'rslora' : 'standard',
    };
    cfg = resolveIn(json, partial, (field) => (field === 'alpha' ? 'lora_alpha' : field));
  } else {
    fail(undefined, `format ${describeJson(json.format)} and peft_type ${describeJson(json.peft_type)}`, 'format "d2lora" or peft_type "LORA"');
  }
  const targets = json.target_modules;
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t): t is string => typeof t === 'string')) {
    fail('field "target_modules"', describeJson(targets), 'a list of module names');
  }
  const modules = targetedModules(config, targets);
  if (modules.size === 0) {
    const names = linearModules(config, 0).map((m) => m.module);
    fail('field "target_modules"', JSON.stringify(targets), `names of ${config.family} layers (${names.join(', ')})`);
  }

  const weights = parseSafetensors(requireEntry(files, ADAPTER_WEIGHTS_FILE, 'the adapter weights'), ADAPTER_WEIGHTS_FILE);
  const weightsFail: Fail = failIn(ADAPTER_WEIGHTS_FILE);
  const keyPrefix = modulePrefix(config, cfg.method);
  const read = new Set<string>();
  const adapters: NamedAdapter[] = [];
  for (const [name, module] of modules) {
    const shapes = adapterTensorShapes(cfg.method, cfg.r, module);
    const tensors: AdapterParams['tensors'] = {};
    for (const tensor of ADAPTER_TENSOR_NAMES[cfg.method]) {
      const key = `${keyPrefix}${name}.${TENSOR_KEYS[cfg.method][tensor]}`;
      const info = weights.tensors.get(key);
      if (info === undefined) weightsFail(`tensor "${key}"`, 'not present', `the ${cfg.method} factors of every layer ${ADAPTER_CONFIG_FILE} targets`);
      if (info.shape.join() !== shapes[tensor].join()) {
        const expected = `[${shapes[tensor].join(', ')}] for r = ${cfg.r} on a ${module.out}×${module.in} layer`;
        weightsFail(`tensor "${key}"`, `shape [${info.shape.join(', ')}]`, expected);
      }
      const data = reorderRows(module, tensor, weights.getF32(key), info.shape, config.headDim, unpermuteQKFromHalfRope);
      tensors[tensor] = { shape: shapes[tensor], data };
      read.add(key);
    }
    adapters.push({ name, params: { method: cfg.method, r: cfg.r, out: module.out, in: module.in, tensors } });
  }
  const extra = [...weights.tensors.keys()].find((key) => !read.has(key));
  if (extra !== undefined) {
    weightsFail(`tensor "${extra}"`, 'a tensor of no targeted layer', `only the ${cfg.method} factors of the layers ${ADAPTER_CONFIG_FILE} targets`);
  }
  if (cfg.method === 'd2lora') {
    // The listed shapes say what the weights file holds; a file edited apart from them is refused.
    const listed = json.shapes;
    if (!isPlainObject(listed) || Object.keys(listed).length !== weights.tensors.size) {
      fail('field "shapes"', describeJson(listed), `an object of the ${weights.tensors.size} tensors of ${ADAPTER_WEIGHTS_FILE} and their shapes`);
    }
    for (const [key, info] of weights.tensors) {
      const shape = listed[key];
      if (!Array.isArray(shape) || shape.join() !== info.shape.join()) {
        fail(`field "shapes": "${key}"`, describeJson(shape), `[${info.shape.join(', ')}], as ${ADAPTER_WEIGHTS_FILE} holds it`);
      }
    }
  }
  return { cfg, targets, adapters };
}

/**
 * What PEFT's LoRA format does not carry, because LoRA and DoRA do not read it (DoRA's ε is the
 * engine's own: PEFT's DoRA adds none to the row norms; 1e-12 under an f32 norm changes nothing).
 */
const PEFT_UNREAD_FIELDS = { tau: 0, project: false, readd: 0, detachNorm: false, init: 'paper', seed: 0, eps: 1e-12 } as const;

/** checkAdapterConfig, its errors as FormatErrors on the JSON field (`jsonField` maps names). */
function resolveIn(json: Record<string, unknown>, partial: Record<string, unknown>, jsonField: (field: string) => string): AdapterConfig {
  try {
    return checkAdapterConfig(partial as unknown as AdapterConfig);
  } catch (e) {
    if (!(e instanceof AdapterConfigError)) throw e;
    const field = jsonField(e.field);
    throw new FormatError({ file: ADAPTER_CONFIG_FILE, field: `field "${field}"`, found: describeJson(json[field]), expected: e.expected });
  }
}

interface TargetedModule {
  out: number;
  in: number;
  /** For q_proj / k_proj of a llama2.c model: its head count, for the row permutation to rotate-half order. */
  ropeHeads: number | null;
}

/** Every linear layer `targets` select, by base weight name without ".weight", in layer order. */
function targetedModules(config: ModelConfig, targets: readonly string[]): Map<string, TargetedModule> {
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

/**
 * What precedes a module's name in the adapter keys: PEFT's wrapper path (base_model.model.) and,
 * for GPT-2, GPT2LMHeadModel's "transformer." that the engine's names drop; nothing for D2-LoRA.
 */
function modulePrefix(config: ModelConfig, method: AdapterMethod): string {
  if (method === 'd2lora') return '';
  return config.family === 'gpt2' ? 'base_model.model.transformer.' : 'base_model.model.';
}

/**
 * A factor with q/k output rows between the engine's order and the exported model's: `permute`
 * is permuteQKForHalfRope on export, unpermuteQKFromHalfRope on reading; other factors as they are.
 */
function reorderRows(
  module: TargetedModule,
  tensor: string,
  data: Float32Array,
  shape: readonly number[],
  headDim: number,
  permute: typeof permuteQKForHalfRope,
): Float32Array {
  if (module.ropeHeads === null || !OUTPUT_ROW_TENSORS.has(tensor)) return data;
  return permute(data, module.ropeHeads, headDim, count(shape.slice(1)));
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function requireEntry(files: ReadonlyMap<string, Uint8Array>, name: string, what: string): Uint8Array {
  const bytes = files.get(name);
  if (bytes === undefined) throw new FormatError({ file: name, found: 'no such file', expected: what });
  return bytes;
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
