// The trained factors alone, as an adapter folder's files by name (src/io/adapter-format.ts):
// LoRA and DoRA in PEFT's format, so that PeftModel.from_pretrained loads them; D2-LoRA, which
// PEFT lacks, in its own format under its own file names. src/io/adapter.ts reads them back.

import { adapterTensorShapes } from '../adapters/init';
import { checkAdapterConfig, type AdapterConfig } from '../adapters/config';
import {
  adapterFileNames,
  D2LORA_FORMAT,
  D2LORA_FORMAT_VERSION,
  D2LORA_FORMULA,
  reorderRows,
  targetedModules,
  tensorKey,
  type NamedAdapter,
} from '../io/adapter-format';
import type { LoadedModel } from '../io/load';
import { writeSafetensors, type SafetensorsTensorInput } from '../io/safetensors';
import { PT_METADATA, utf8 } from './files';

/** What the adapter export reads of a loaded model. */
export type AdapterSource = Pick<LoadedModel, 'config' | 'name'>;

/**
 * The config and F32 weights files of the adapters of every module that `targets` select (all of
 * them, no others), trained with `cfg`: adapter_config.json and adapter_model.safetensors for
 * LoRA and DoRA, d2lora_config.json and d2lora_model.safetensors for D2-LoRA.
 */
export function exportAdapter(model: AdapterSource, adapters: readonly NamedAdapter[], cfg: AdapterConfig, targets: string[]): Map<string, Uint8Array> {
  const where = 'exportAdapter';
  const resolved = checkAdapterConfig(cfg);
  const modules = targetedModules(model.config, targets);
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
    for (const [tensor, shape] of Object.entries(adapterTensorShapes(resolved.method, resolved.r, module))) {
      const t = params.tensors[tensor];
      if (t === undefined || t.shape.join() !== shape.join()) {
        throw new RangeError(`${where}: "${name}" tensor ${tensor} has shape [${t?.shape ?? 'none'}]; expected [${shape}]`);
      }
      const data = reorderRows(module, tensor, t.data, t.shape, model.config.headDim, 'to-file');
      tensors.push({ name: tensorKey(model.config, resolved.method, name, tensor), dtype: 'F32', shape: [...t.shape], data });
    }
  }
  const missing = [...modules.keys()].filter((name) => !seen.has(name));
  if (missing.length > 0) throw new RangeError(`${where}: no adapter for "${missing[0]}" (${missing.length} of ${modules.size} targeted layers missing)`);

  const config =
    resolved.method === 'd2lora'
      ? {
          format: D2LORA_FORMAT,
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
  const names = adapterFileNames(resolved.method);
  return new Map([
    [names.config, utf8(`${JSON.stringify(config, null, 2)}\n`)],
    [names.weights, writeSafetensors(tensors, PT_METADATA)],
  ]);
}
