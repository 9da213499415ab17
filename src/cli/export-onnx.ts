// `d2lora export-onnx <folder>`: a model as an ONNX decoder (src/export/onnx.ts) in the layout of
// an onnx-community repository. Without --model, <folder> is a model folder (the output folder of
// `d2lora train`, or any Hugging Face folder) and onnx/ is added to it (replaced whole), with
// generation_config.json unless the folder has one, and transformers.js's external-data switch in
// its config.json when the weights go to external data; nothing else there is touched. With
// --model, that model is exported into <folder> as a folder of its own (written whole): config.json,
// generation_config.json, the tokenizer files and onnx/.

import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GENERATION_CONFIG_FILE, ONNX_FOLDER, ONNX_WEIGHT_TYPES, TRANSFORMERS_JS_CONFIG, exportOnnx, type OnnxWeightType } from '../export/onnx';
import { CONFIG_FILE } from '../io/checkpoint';
import { resolveSourceString } from '../io/load';
import { loadModelInNode } from '../io/node-source';
import { ENGINE_VERSION } from '../run/run';
import { UsageError, type FlagSpec, type FlagValues } from './args';
import { checkOutputFolder, replaceFile, writeOutputFolder } from './output';
import { downloadProgress } from './progress';

export const exportOnnxFlags: Record<string, FlagSpec> = {
  model: { type: 'string', help: 'export this model (preset, Hugging Face folder or URL, llama2.c .bin) into <folder> instead of the model in <folder>' },
  'onnx-dtype': { type: 'string', help: `weight types, comma-separated: ${ONNX_WEIGHT_TYPES.join(', ')} (fp16: onnx/model_fp16.onnx)`, default: 'fp32' },
  'external-data': { type: 'boolean', help: 'keep the weights in onnx/model.onnx_data even under the 2 GB protobuf limit (always done past it)' },
};

/** The --onnx-dtype list, checked. */
export function parseOnnxWeightTypes(raw: string, flag = '--onnx-dtype'): OnnxWeightType[] {
  const types = raw.split(',').map((t) => t.trim());
  const unknown = types.filter((t) => !(ONNX_WEIGHT_TYPES as readonly string[]).includes(t));
  if (unknown.length > 0 || types.length === 0) throw new UsageError(`${flag} ${raw}: expected ${ONNX_WEIGHT_TYPES.join(', ')} or a comma-separated list of them`);
  return [...new Set(types)] as OnnxWeightType[];
}

export async function exportOnnxCommand(flags: FlagValues): Promise<number> {
  const folder = flags.folder;
  if (typeof folder !== 'string') throw new UsageError('export-onnx needs the folder: d2lora export-onnx <folder> [--model <model>]');
  const weightTypes = parseOnnxWeightTypes(String(flags['onnx-dtype']));
  const inPlace = typeof flags.model !== 'string';
  if (!inPlace) await checkOutputFolder(folder, '<folder>');
  const model = await loadModelInNode(resolveSourceString(inPlace ? resolve(folder) : String(flags.model)), { onProgress: downloadProgress() });
  for (const w of model.warnings) process.stderr.write(`warning: ${w}\n`);
  const files = exportOnnx(model, model.weights, {
    weightTypes,
    externalData: flags['external-data'] === true ? true : 'auto',
    producer: { name: 'd2lora-playground', version: ENGINE_VERSION },
  });
  if (inPlace) {
    const inner = new Map([...files].filter(([name]) => name.startsWith(`${ONNX_FOLDER}/`)).map(([name, bytes]) => [name.slice(ONNX_FOLDER.length + 1), bytes]));
    await writeOutputFolder(join(folder, ONNX_FOLDER), inner, '<folder>');
    const generationConfig = join(folder, GENERATION_CONFIG_FILE);
    if (await stat(generationConfig).catch(() => null)) process.stderr.write(`${generationConfig}: kept as it is (the model's own)\n`);
    else await replaceFile(generationConfig, files.get(GENERATION_CONFIG_FILE)!, '<folder>');
    const switchOn = (JSON.parse(new TextDecoder().decode(files.get(CONFIG_FILE))) as Record<string, unknown>)[TRANSFORMERS_JS_CONFIG];
    if (switchOn !== undefined) {
      const path = join(folder, CONFIG_FILE);
      const existing = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      await replaceFile(path, new TextEncoder().encode(`${JSON.stringify({ ...existing, [TRANSFORMERS_JS_CONFIG]: switchOn }, null, 2)}\n`), '<folder>');
    }
  } else {
    await writeOutputFolder(folder, files, '<folder>');
  }
  for (const [name, bytes] of files) if (name.startsWith(`${ONNX_FOLDER}/`)) console.log(`${join(folder, name)}  ${sizeOf(bytes.byteLength)}`);
  console.log(`${model.name} as ONNX (opset 17, ${weightTypes.join(' and ')} weights) in ${folder}/: load it with transformers.js's AutoModelForCausalLM.from_pretrained`);
  return 0;
}

function sizeOf(bytes: number): string {
  return bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1048576).toFixed(1)} MiB`;
}
