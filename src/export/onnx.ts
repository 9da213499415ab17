// The merged model as an onnx-community folder, as file name → bytes: onnx/model.onnx (the
// decoder with its KV cache, src/onnx/decoder.ts; onnx/model_fp16.onnx for float16 weights),
// beside config.json, generation_config.json and the tokenizer files, which transformers.js loads
// with AutoModelForCausalLM.from_pretrained(folder) and onnxruntime runs as it is. A model whose
// weights pass the protobuf limit keeps them in onnx/model.onnx_data, which config.json's
// "transformers.js_config" tells transformers.js to load.

import { CONFIG_FILE } from '../io/checkpoint';
import { hfConfigJson } from '../io/hf-config';
import type { ModelConfig, WeightMap } from '../model/config';
import { buildDecoder } from '../onnx/decoder';
import { serializeGraph } from '../onnx/model-file';
import { hfCheckpointForm, storedTorchDtype, type ExportSource } from './checkpoint';
import { utf8 } from './files';
import { GENERATION_CONFIG_FILE, ONNX_FOLDER, ONNX_WEIGHT_TYPES, TRANSFORMERS_JS_CONFIG, onnxFileName, type OnnxWeightType } from './onnx-files';

export { GENERATION_CONFIG_FILE, ONNX_FOLDER, ONNX_WEIGHT_TYPES, TRANSFORMERS_JS_CONFIG, onnxFileName, type OnnxWeightType };

export interface OnnxExportOptions {
  /** One model file per weight type (default fp32 alone). */
  weightTypes?: readonly OnnxWeightType[];
  /** Weights in an external data file: always, never, or (default) past the protobuf limit. */
  externalData?: boolean | 'auto';
  /** The exporting program, recorded in the model file. */
  producer: { name: string; version: string };
}

export function exportOnnx(model: ExportSource, merged: WeightMap, opts: OnnxExportOptions): Map<string, Uint8Array> {
  const { config, weights, tokenizerFiles } = hfCheckpointForm(model, merged);
  const files = new Map<string, Uint8Array>();
  const external: Record<string, number> = {};
  for (const weightType of opts.weightTypes ?? ['fp32']) {
    const name = onnxFileName(weightType);
    const base = name.slice(ONNX_FOLDER.length + 1);
    const file = serializeGraph(buildDecoder(config, weights, { weightType }), { dataFile: `${base}_data`, externalData: opts.externalData, producer: opts.producer });
    files.set(name, file.model);
    if (file.data !== null) {
      files.set(`${name}_data`, file.data);
      external[base] = 1;
    }
  }
  files.set(CONFIG_FILE, utf8(onnxConfigJson(config, storedTorchDtype(model), external)));
  files.set(GENERATION_CONFIG_FILE, utf8(generationConfigJson(config)));
  for (const [name, bytes] of tokenizerFiles) files.set(name, bytes);
  return files;
}

/** The checkpoint's config.json; with external data, also which model files have it (transformers.js reads that). */
function onnxConfigJson(config: ModelConfig, torchDtype: ReturnType<typeof storedTorchDtype>, external: Record<string, number>): string {
  const json = hfConfigJson(config, torchDtype);
  if (Object.keys(external).length === 0) return json;
  return `${JSON.stringify({ ...JSON.parse(json), [TRANSFORMERS_JS_CONFIG]: { use_external_data_format: external } }, null, 2)}\n`;
}

/**
 * Greedy decoding that stops where our engine's generation stops (src/model/generate.ts: at EOS,
 * and at BOS re-emitted, llama2.c's end of a story), so that transformers.js writes the same text.
 */
export function generationConfigJson(config: ModelConfig): string {
  const stops = [...new Set([config.eosTokenId, config.bosTokenId].filter((id): id is number => id !== null))];
  const json = {
    ...(config.bosTokenId !== null ? { bos_token_id: config.bosTokenId } : {}),
    ...(stops.length > 0 ? { eos_token_id: stops.length === 1 ? stops[0] : stops } : {}),
    do_sample: false,
  };
  return `${JSON.stringify(json, null, 2)}\n`;
}
