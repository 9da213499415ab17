// The merged model as a Hugging Face folder, as file name → bytes (no fs: the browser offers the
// files as downloads, the CLI writes them to a folder): model.safetensors (the merged weights
// under the base checkpoint's own tensor names, layout and dtypes), config.json and the tokenizer
// files, which transformers loads with AutoModelForCausalLM.from_pretrained.
//
// A llama2.c base (the only source with ropeStyle 'interleaved') is exported as a Hugging Face
// Llama: q/k rows permuted to rotate-half order by toHfLlamaFromLlama2c, and a tokenizer.json
// generated from the llama2.c vocabulary (src/tokenizer/llama2c-json.ts).

import { CONFIG_FILE, SAFETENSORS_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, toHfLlamaFromLlama2c } from '../io/checkpoint';
import { hfConfigJson, type HfTorchDtype } from '../io/hf-config';
import type { LoadedModel } from '../io/load';
import { writeSafetensors, type SafetensorsFloatDtype, type SafetensorsTensorInput } from '../io/safetensors';
import type { ModelConfig, WeightMap } from '../model/config';
import { expectedWeights } from '../model/names';
import { hfTokenizerFromLlama2c } from '../tokenizer/llama2c-json';
import { shapeSize } from '../util/shape';
import { PT_METADATA, utf8 } from './files';

/** What the export reads of a loaded model. */
export type ExportSource = Pick<LoadedModel, 'config' | 'stored' | 'files' | 'name' | 'weights'>;

const TORCH_DTYPE: Record<SafetensorsFloatDtype, HfTorchDtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/**
 * The merged model as a Hugging Face folder: model.safetensors, config.json and the tokenizer
 * files. `merged` holds every weight of model.config (GpuModel.mergedWeights: the base's names,
 * shapes and layout, GPT-2's Conv1D still in×out). Each tensor keeps the base checkpoint's name
 * and dtype unless opts.dtype says otherwise; config.json's torch_dtype is the dtype holding most
 * values.
 */
export function exportMergedCheckpoint(model: ExportSource, merged: WeightMap, opts: { dtype?: SafetensorsFloatDtype } = {}): Map<string, Uint8Array> {
  const { config, weights, tokenizerFiles } = hfCheckpointForm(model, merged);
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
  for (const [name, bytes] of tokenizerFiles) files.set(name, bytes);
  return files;
}

/**
 * The merged model in the form every Hugging Face export has (a llama2.c model converted: q/k
 * rows permuted to rotate-half RoPE), with the tokenizer files that go beside it (a llama2.c
 * vocabulary: tokenizer.json and tokenizer_config.json generated from it, and the vocabulary itself).
 */
export function hfCheckpointForm(model: ExportSource, merged: WeightMap): { config: ModelConfig; weights: WeightMap; tokenizerFiles: Map<string, Uint8Array> } {
  checkWeights(model.config, merged);
  const llama2c = model.config.ropeStyle === 'interleaved';
  const { config, weights } = llama2c ? toHfLlamaFromLlama2c(model.config, merged) : { config: model.config, weights: merged };
  const tokenizerFiles = new Map<string, Uint8Array>();
  if (llama2c) {
    const vocabularies = Object.entries(model.files);
    if (vocabularies.length !== 1) {
      throw new RangeError(`exportMergedCheckpoint: a llama2.c model has one vocabulary file; found ${vocabularies.length}`);
    }
    const [[name, bytes]] = vocabularies;
    const tokenizer = hfTokenizerFromLlama2c(bytes, name, config);
    tokenizerFiles.set(TOKENIZER_FILE, utf8(tokenizer.tokenizerJson));
    tokenizerFiles.set(TOKENIZER_CONFIG_FILE, utf8(tokenizer.tokenizerConfigJson));
    tokenizerFiles.set(name, bytes);
  } else {
    for (const [name, bytes] of Object.entries(model.files)) if (name !== CONFIG_FILE) tokenizerFiles.set(name, bytes);
  }
  return { config, weights, tokenizerFiles };
}

/** config.json's torch_dtype for the checkpoint as stored: the dtype that holds most of its values. */
export function storedTorchDtype(model: ExportSource): HfTorchDtype {
  return TORCH_DTYPE[dominantDtype([...model.stored].map(([name, s]) => ({ dtype: s.dtype, data: model.weights.get(name)?.data ?? [] })))];
}

/** `weights` holds exactly the tensors of `config`, in their shapes. */
function checkWeights(config: ModelConfig, weights: WeightMap): void {
  const expected = expectedWeights(config);
  for (const [name, shape] of expected) {
    const w = weights.get(name);
    if (w === undefined) throw new RangeError(`exportMergedCheckpoint: the merged weights lack "${name}"`);
    if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i]) || w.data.length !== shapeSize(shape)) {
      throw new RangeError(`exportMergedCheckpoint: "${name}" has shape [${w.shape}] (${w.data.length} values); expected [${shape}]`);
    }
  }
  for (const name of weights.keys()) {
    if (!expected.has(name)) throw new RangeError(`exportMergedCheckpoint: "${name}" is not a weight of this ${config.family} model`);
  }
}

/** The dtype that holds the most values. */
function dominantDtype(tensors: readonly { dtype: SafetensorsFloatDtype; data: ArrayLike<number> }[]): SafetensorsFloatDtype {
  const values = new Map<SafetensorsFloatDtype, number>();
  for (const t of tensors) values.set(t.dtype, (values.get(t.dtype) ?? 0) + t.data.length);
  return [...values].reduce((best, next) => (next[1] > best[1] ? next : best))[0];
}
