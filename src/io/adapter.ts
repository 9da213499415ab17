// An adapter folder's files (src/io/adapter-format.ts) back into factors, for
// `d2lora eval --adapter`: the format recognised by its configuration file, every value checked
// against the model it adapts, every factor finite. Bad input is a FormatError naming the file and field.

import { ADAPTER_TENSOR_NAMES, adapterTensorShapes, type AdapterParams } from '../adapters/init';
import { ADAPTER_CONFIG_FIELDS, AdapterConfigError, checkAdapterConfig, type AdapterConfig } from '../adapters/config';
import type { ModelConfig } from '../model/config';
import { linearModules } from '../model/names';
import {
  D2LORA_CONFIG_FILE,
  D2LORA_FORMAT,
  D2LORA_FORMAT_VERSION,
  D2LORA_WEIGHTS_FILE,
  PEFT_CONFIG_FILE,
  PEFT_WEIGHTS_FILE,
  reorderRows,
  targetedModules,
  tensorKey,
  type NamedAdapter,
} from './adapter-format';
import { FormatError, failIn, type Fail } from './errors';
import { checkFinite } from './finite';
import { describeJson, isPlainObject, parseJsonObject } from './json';
import { parseSafetensors } from './safetensors';

export interface LoadedAdapter {
  cfg: AdapterConfig;
  targets: string[];
  /** In the model's layer order; U rows in the model's own q/k order. */
  adapters: NamedAdapter[];
}

/**
 * The adapter in `files` (an adapter folder's files by name; others are ignored), checked against
 * the model it adapts: every targeted layer's factors present in their shapes, nothing else.
 * d2lora_config.json makes it a D2-LoRA adapter; adapter_config.json a PEFT LoRA or DoRA one (or a
 * D2-LoRA adapter of format version 1 saved under PEFT's names, before D2-LoRA had its own).
 */
export function readAdapter(files: ReadonlyMap<string, Uint8Array>, config: ModelConfig, folder?: string): LoadedAdapter {
  /** A file as messages name it: in the folder it was read from, when the caller says which. */
  const label = (name: string) => (folder === undefined ? name : `${folder.replace(/[\\/]+$/, '')}/${name}`);
  const configName = configFileOf(files, label);
  const configFile = label(configName);
  const json = parseJsonObject(files.get(configName)!, configFile);
  const fail: Fail = failIn(configFile);
  let cfg: AdapterConfig;
  let weightsFile: string;
  if (configName === D2LORA_CONFIG_FILE || json.format === D2LORA_FORMAT) {
    if (json.format !== D2LORA_FORMAT) fail('field "format"', describeJson(json.format), `"${D2LORA_FORMAT}"`);
    cfg = readD2loraConfig(json, configFile);
    weightsFile = configName === D2LORA_CONFIG_FILE ? D2LORA_WEIGHTS_FILE : PEFT_WEIGHTS_FILE;
  } else if (json.peft_type === 'LORA') {
    cfg = readPeftConfig(json, configFile);
    weightsFile = PEFT_WEIGHTS_FILE;
  } else {
    fail(
      undefined,
      `format ${describeJson(json.format)} and peft_type ${describeJson(json.peft_type)}`,
      `peft_type "LORA" (PEFT's LoRA or DoRA; a D2-LoRA adapter is ${D2LORA_CONFIG_FILE})`,
    );
  }
  const targets = json.target_modules;
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t): t is string => typeof t === 'string')) {
    fail('field "target_modules"', describeJson(targets), 'a list of module names');
  }
  const modules = targetedModules(config, targets);
  if (modules.size === 0) {
    const known = linearModules(config, 0).map((m) => m.module);
    fail('field "target_modules"', JSON.stringify(targets), `names of ${config.family} layers (${known.join(', ')})`);
  }

  const weightsBytes = files.get(weightsFile);
  if (weightsBytes === undefined) throw new FormatError({ file: label(weightsFile), found: 'no such file', expected: `the adapter weights, beside ${configName}` });
  const weights = parseSafetensors(weightsBytes, label(weightsFile));
  const weightsFail: Fail = failIn(label(weightsFile));
  const read = new Set<string>();
  const adapters: NamedAdapter[] = [];
  for (const [name, module] of modules) {
    const shapes = adapterTensorShapes(cfg.method, cfg.r, module);
    const tensors: AdapterParams['tensors'] = {};
    for (const tensor of ADAPTER_TENSOR_NAMES[cfg.method]) {
      const key = tensorKey(config, cfg.method, name, tensor);
      const info = weights.tensors.get(key);
      if (info === undefined) weightsFail(`tensor "${key}"`, 'not present', `the ${cfg.method} factors of every layer ${configName} targets`);
      if (info.shape.join() !== shapes[tensor].join()) {
        const expected = `[${shapes[tensor].join(', ')}] for r = ${cfg.r} on a ${module.out}×${module.in} layer`;
        weightsFail(`tensor "${key}"`, `shape [${info.shape.join(', ')}]`, expected);
      }
      const stored = weights.getF32(key);
      checkFinite(stored, info.shape, label(weightsFile), `tensor "${key}"`);
      const data = reorderRows(module, tensor, stored, info.shape, config.headDim, 'from-file');
      tensors[tensor] = { shape: shapes[tensor], data };
      read.add(key);
    }
    adapters.push({ name, params: { method: cfg.method, r: cfg.r, out: module.out, in: module.in, tensors } });
  }
  const extra = [...weights.tensors.keys()].find((key) => !read.has(key));
  if (extra !== undefined) {
    weightsFail(`tensor "${extra}"`, 'a tensor of no targeted layer', `only the ${cfg.method} factors of the layers ${configName} targets`);
  }
  if (cfg.method === 'd2lora') {
    // The listed shapes say what the weights file holds; a file edited apart from them is refused.
    const listed = json.shapes;
    if (!isPlainObject(listed) || Object.keys(listed).length !== weights.tensors.size) {
      fail('field "shapes"', describeJson(listed), `an object of the ${weights.tensors.size} tensors of ${weightsFile} and their shapes`);
    }
    for (const [key, info] of weights.tensors) {
      const shape = listed[key];
      if (!Array.isArray(shape) || shape.join() !== info.shape.join()) {
        fail(`field "shapes": "${key}"`, describeJson(shape), `[${info.shape.join(', ')}], as ${weightsFile} holds it`);
      }
    }
  }
  return { cfg, targets, adapters };
}

/** The one configuration file in `files`: D2-LoRA's or PEFT's, not both. */
function configFileOf(files: ReadonlyMap<string, Uint8Array>, label: (name: string) => string): string {
  const d2lora = files.has(D2LORA_CONFIG_FILE);
  const peft = files.has(PEFT_CONFIG_FILE);
  const which = `${PEFT_CONFIG_FILE} for LoRA and DoRA (PEFT's format) or ${D2LORA_CONFIG_FILE} for D2-LoRA`;
  if (d2lora && peft) throw new FormatError({ file: label(D2LORA_CONFIG_FILE), found: `beside ${PEFT_CONFIG_FILE}`, expected: `one adapter per folder: ${which}` });
  if (!d2lora && !peft) throw new FormatError({ file: label(PEFT_CONFIG_FILE), found: `no such file, nor ${D2LORA_CONFIG_FILE}`, expected: `the adapter configuration: ${which}` });
  return d2lora ? D2LORA_CONFIG_FILE : PEFT_CONFIG_FILE;
}

/** D2-LoRA's format: every AdapterConfig field under its own name. */
function readD2loraConfig(json: Record<string, unknown>, file: string): AdapterConfig {
  const fail: Fail = failIn(file);
  if (json.format_version !== D2LORA_FORMAT_VERSION) fail('field "format_version"', describeJson(json.format_version), `${D2LORA_FORMAT_VERSION}`);
  const partial: Record<string, unknown> = {};
  for (const field of ADAPTER_CONFIG_FIELDS) {
    if (json[field] === undefined) fail(`field "${field}"`, 'nothing', 'every adapter setting of the d2lora format');
    partial[field] = json[field];
  }
  if (partial.method !== 'd2lora') fail('field "method"', describeJson(partial.method), `"d2lora" (LoRA and DoRA use PEFT's format, ${PEFT_CONFIG_FILE})`);
  return resolveIn(file, json, partial, (field) => field);
}

/**
 * What PEFT's LoRA format does not carry, because LoRA and DoRA do not read it (DoRA's ε is the
 * engine's own: PEFT's DoRA adds none to the row norms; 1e-12 under an f32 norm changes nothing).
 */
const PEFT_UNREAD_FIELDS = { tau: 0, project: false, readd: 0, detachNorm: false, init: 'paper', seed: 0, eps: 1e-12 } as const;

/** PEFT's LoRA config: use_dora picks DoRA, use_rslora the scaling. */
function readPeftConfig(json: Record<string, unknown>, file: string): AdapterConfig {
  const fail: Fail = failIn(file);
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
  return resolveIn(file, json, partial, (field) => (field === 'alpha' ? 'lora_alpha' : field));
}

/** checkAdapterConfig, its errors as FormatErrors on the JSON field of `file` (`jsonField` maps names). */
function resolveIn(file: string, json: Record<string, unknown>, partial: Record<string, unknown>, jsonField: (field: string) => string): AdapterConfig {
  try {
    return checkAdapterConfig(partial as unknown as AdapterConfig);
  } catch (e) {
    if (!(e instanceof AdapterConfigError)) throw e;
    const field = jsonField(e.field);
    throw new FormatError({ file, field: `field "${field}"`, found: describeJson(json[field]), expected: e.expected });
  }
}
