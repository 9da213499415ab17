// Checkpoints → {config, weights}: Hugging Face folders (config.json + model.safetensors, or
// shards listed in model.safetensors.index.json) and llama2.c .bin files; and llama2.c weights →
// a Hugging Face Llama checkpoint's tensors for export.
//
// Every tensor the config needs (expectedWeights) is checked for presence, shape and dtype in every
// file before any is converted, so an error leaves nothing half-loaded; each is checked finite as
// it is converted (src/io/finite.ts). Names are Hugging Face's;
// GPT-2 checkpoints saved from GPT2LMHeadModel carry a "transformer." prefix, dropped here, and
// its attention-mask buffers (attn.bias, attn.masked_bias) are not parameters and are skipped.
// Tensors the family does not use are reported as warnings, not errors.

import type { HostTensor, ModelConfig, WeightMap } from '../model/config';
import { validateModelConfig } from '../model/config';
import { expectedWeights } from '../model/names';
import { Llama2cTokenizer } from '../tokenizer/llama2c';
import { FormatError } from './errors';
import { checkFinite } from './finite';
import { LLAMA2C_READ_LIMIT, parseLlama2c, permuteQKForHalfRope, type Llama2cConfig } from './llama2c';
import { TEXT_FILE_LIMIT, type ReadLimit } from './read-limits';
import { parseSafetensors, parseSafetensorsIndex, SAFETENSORS_READ_LIMIT, type SafetensorsFile, type SafetensorsFloatDtype } from './safetensors';

export const CONFIG_FILE = 'config.json';
export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** The files of one checkpoint, by name (config.json, model.safetensors, shards …). */
export interface CheckpointFiles {
  /** The file's bytes within the limit (src/io/read-limits.ts; default ANY_FILE_LIMIT); null when the checkpoint has no such file. */
  read(name: string, limit?: ReadLimit): Promise<Uint8Array | null>;
  /** How messages name the file: its path, URL, or the name the user picked. */
  label(name: string): string;
}

/** How one weight sits in its checkpoint: the tensor's name there and its dtype. */
export interface StoredTensor {
  name: string;
  dtype: SafetensorsFloatDtype;
}

export interface LoadedWeights {
  weights: WeightMap;
  /** Each weight's name and dtype as stored, by Hugging Face name, so an export can write them back alike. */
  stored: Map<string, StoredTensor>;
  /** Tensors the checkpoint holds but the family does not use, and other harmless oddities. */
  warnings: string[];
}

/** The weights of `config` from model.safetensors.index.json and its shards, else model.safetensors. */
export async function readHfWeights(config: ModelConfig, files: CheckpointFiles): Promise<LoadedWeights> {
  const configLabel = files.label(CONFIG_FILE);
  const indexBytes = await files.read(SAFETENSORS_INDEX_FILE, TEXT_FILE_LIMIT);
  if (indexBytes === null) {
    const bytes = await requireFile(files, SAFETENSORS_FILE, `the weights (or ${SAFETENSORS_INDEX_FILE} and its shards)`, SAFETENSORS_READ_LIMIT);
    const file = parseSafetensors(bytes, files.label(SAFETENSORS_FILE));
    const located = new Map([...file.tensors.keys()].map((name) => [name, file]));
    return collectWeights(config, configLabel, located, file.fileName, []);
  }

  const indexLabel = files.label(SAFETENSORS_INDEX_FILE);
  const index = parseSafetensorsIndex(new TextDecoder().decode(indexBytes), indexLabel);
  const shards = new Map<string, SafetensorsFile>();
  for (const shard of index.shardFiles) {
    const bytes = await requireFile(files, shard, `a shard that ${indexLabel} lists`, SAFETENSORS_READ_LIMIT);
    shards.set(shard, parseSafetensors(bytes, files.label(shard)));
  }
  const located = new Map<string, SafetensorsFile>();
  for (const [name, shard] of index.weightMap) {
    const file = shards.get(shard)!;
    if (!file.tensors.has(name)) {
      throw new FormatError({
        file: file.fileName,
        field: `tensor "${name}"`,
        found: 'not in the file',
        expected: `the tensor, as ${indexLabel} says this shard holds it`,
      });
    }
    located.set(name, file);
  }
  const warnings: string[] = [];
  for (const file of shards.values()) {
    for (const name of file.tensors.keys()) {
      if (!index.weightMap.has(name)) warnings.push(`${file.fileName}: tensor "${name}" is not in ${indexLabel}; ignored`);
    }
  }
  return collectWeights(config, configLabel, located, indexLabel, warnings);
}

/** GPT-2's causal-mask buffers, saved by older transformers versions: not parameters. */
const GPT2_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;
const GPT2_PREFIX = 'transformer.';
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16']);

/**
 * Validates then converts: `located` maps each tensor name as stored to the file holding it;
 * `whereMissing` is the file a missing tensor should have been in (model.safetensors or the index).
 */
function collectWeights(
  config: ModelConfig,
  configLabel: string,
  located: Map<string, SafetensorsFile>,
  whereMissing: string,
  warnings: string[],
): LoadedWeights {
  const expected = expectedWeights(config);
  // Hugging Face name → (stored name, file).
  const found = new Map<string, { stored: string; file: SafetensorsFile }>();
  let tiedHead: { stored: string; file: SafetensorsFile } | null = null;
  for (const [stored, file] of located) {
    const name = config.family === 'gpt2' && stored.startsWith(GPT2_PREFIX) ? stored.slice(GPT2_PREFIX.length) : stored;
    if (config.family === 'gpt2' && GPT2_BUFFER.test(name)) continue;
    const earlier = found.get(name);
    if (earlier !== undefined) {
      throw new FormatError({
        file: file.fileName,
        field: `tensor "${stored}"`,
        found: `a second copy of "${name}" (also stored as "${earlier.stored}" in ${earlier.file.fileName})`,
        expected: 'each weight once',
      });
    }
    if (name === 'lm_head.weight' && config.tiedEmbeddings) tiedHead = { stored, file };
    else if (expected.has(name)) found.set(name, { stored, file });
    else warnings.push(`${file.fileName}: tensor "${stored}" is not a ${config.family} weight; ignored`);
  }

  const missing = [...expected.keys()].filter((name) => !found.has(name));
  if (missing.length > 0) {
    const others = missing.length > 1 ? ` (nor ${missing.length - 1} other tensors ${configLabel} requires, e.g. "${missing[1]}")` : '';
    throw new FormatError({
      file: whereMissing,
      field: `tensor "${missing[0]}"`,
      found: `not present${others}`,
      expected: `shape [${expected.get(missing[0])!.join(', ')}] for the model ${configLabel} describes`,
    });
  }
  const checks = [...found].map(([name, at]) => ({ ...at, shape: expected.get(name)! }));
  if (tiedHead !== null) checks.push({ ...tiedHead, shape: expected.get('model.embed_tokens.weight')! });
  for (const { stored, file, shape } of checks) {
    const info = file.tensors.get(stored)!;
    if (!FLOAT_DTYPES.has(info.dtype)) {
      throw new FormatError({ file: file.fileName, field: `tensor "${stored}"`, found: `dtype ${info.dtype}`, expected: 'F32, F16 or BF16' });
    }
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new FormatError({
        file: file.fileName,
        field: `tensor "${stored}"`,
        found: `shape [${info.shape.join(', ')}]`,
        expected: `[${shape.join(', ')}] as ${configLabel} implies`,
      });
    }
  }

  const weights: WeightMap = new Map();
  const storedAs = new Map<string, StoredTensor>();
  for (const [name, { stored, file }] of found) {
    const shape = expected.get(name)!;
    const data = file.getF32(stored);
    checkFinite(data, shape, file.fileName, `tensor "${stored}"`);
    weights.set(name, { shape, data });
    storedAs.set(name, { name: stored, dtype: file.tensors.get(stored)!.dtype as SafetensorsFloatDtype });
  }
  if (tiedHead !== null) {
    const head = tiedHead.file.getF32(tiedHead.stored);
    const embedding = weights.get('model.embed_tokens.weight')!.data;
    const same = head.every((v, i) => Object.is(v, embedding[i]));
    const note = same ? 'the same as' : 'DIFFERENT from';
    warnings.push(`${tiedHead.file.fileName}: tensor "${tiedHead.stored}" is ${note} model.embed_tokens.weight; ignored (tie_word_embeddings)`);
  }
  return { weights, stored: storedAs, warnings };
}

/** The file's bytes; a missing file is a FormatError saying what it should have held. */
export async function requireFile(files: CheckpointFiles, name: string, what: string, limit?: ReadLimit): Promise<Uint8Array> {
  const bytes = await files.read(name, limit);
  if (bytes === null) throw new FormatError({ file: files.label(name), found: 'no such file', expected: what });
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// llama2.c

/** run.c's constants: RoPE base 10000, RMSNorm ε 1e-5, BOS 1, EOS 2, adjacent-pair RoPE. */
export function llama2cModelConfig(c: Llama2cConfig, fileName: string): ModelConfig {
  return validateModelConfig(
    {
      family: 'llama',
      vocabSize: c.vocabSize,
      hiddenSize: c.dim,
      intermediateSize: c.hiddenDim,
      numLayers: c.nLayers,
      numHeads: c.nHeads,
      numKvHeads: c.nKvHeads,
      headDim: c.dim / c.nHeads,
      maxPositions: c.seqLen,
      normEps: 1e-5,
      ropeTheta: 10000,
      ropeStyle: 'interleaved',
      tiedEmbeddings: c.sharedClassifier,
      attentionBias: false,
      bosTokenId: 1,
      eosTokenId: 2,
    },
    fileName,
  );
}

/**
 * A llama2.c checkpoint and its vocabulary: `vocabularyName`, else the first of tok<vocab>.bin
 * (llama2.c's name for a custom vocabulary) and tokenizer.bin (Llama 2's) that `files` has.
 */
export async function readLlama2cModel(
  files: CheckpointFiles,
  checkpointName: string,
  vocabularyName?: string,
): Promise<{ config: ModelConfig; weights: WeightMap; tokenizer: Llama2cTokenizer; vocabulary: { name: string; bytes: Uint8Array } }> {
  const label = files.label(checkpointName);
  const parsed = parseLlama2c(await requireFile(files, checkpointName, 'a llama2.c checkpoint', LLAMA2C_READ_LIMIT), label);
  const config = llama2cModelConfig(parsed.config, label);
  const candidates = vocabularyName === undefined ? [`tok${config.vocabSize}.bin`, 'tokenizer.bin'] : [vocabularyName];
  for (const name of candidates) {
    const bytes = await files.read(name, TEXT_FILE_LIMIT);
    if (bytes === null) continue;
    const tokenizer = Llama2cTokenizer.parse(bytes, files.label(name), config.vocabSize);
    return { config, weights: parsed.weights, tokenizer, vocabulary: { name, bytes } };
  }
  throw new FormatError({
    file: files.label(candidates[0]),
    found: 'no such file',
    expected: `the vocabulary of ${label} (${candidates.join(' or ')}, ${config.vocabSize} tokens)`,
  });
}

/**
 * A llama2.c model as a Hugging Face Llama checkpoint: q/k rows permuted to rotate-half order
 * (permuteQKForHalfRope) and ropeStyle 'half', which leaves every attention score unchanged. The
 * other tensors are shared with `weights`, not copied.
 */
export function toHfLlamaFromLlama2c(config: ModelConfig, weights: WeightMap): { config: ModelConfig; weights: WeightMap } {
  if (config.family !== 'llama' || config.ropeStyle !== 'interleaved') {
    throw new RangeError(`toHfLlamaFromLlama2c: a llama model with interleaved RoPE; found ${config.family} with ropeStyle "${config.ropeStyle}"`);
  }
  const out: WeightMap = new Map(weights);
  for (let i = 0; i < config.numLayers; i++) {
    for (const [proj, heads] of [['q_proj', config.numHeads], ['k_proj', config.numKvHeads]] as const) {
      const name = `model.layers.${i}.self_attn.${proj}.weight`;
      const w: HostTensor | undefined = weights.get(name);
      if (w === undefined) throw new RangeError(`toHfLlamaFromLlama2c: no tensor "${name}"`);
      // w is (heads·headDim, hidden)
      out.set(name, { shape: [...w.shape], data: permuteQKForHalfRope(w.data, heads, config.headDim, config.hiddenSize) });
    }
  }
  return { config: { ...config, ropeStyle: 'half' }, weights: out };
}
