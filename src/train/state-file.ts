// A trainer state as a small file pair: `state.safetensors` (adapter factors under the spec's
// names and the AdamW moments) and `state.json` (step, configs, loss history, the divergence
// watch). Written after any step, read back into a fresh trainer, it resumes to the same result
// bit for bit.

import { z } from 'zod';
import type { AdapterParams } from '../adapters/init';
import { FormatError } from '../io/errors';
import { parseJsonFile } from '../io/json';
import { parseSafetensors, writeSafetensors, type SafetensorsFile } from '../io/safetensors';
import { checkTrainConfig, type TrainConfig } from './config';
import type { TrainerState } from './trainer';

export const STATE_FORMAT_VERSION = 1;

const COUNT = z.number().int().nonnegative();
const STEP_RECORD = z.object({ step: COUNT, epoch: COUNT, loss: z.number(), lr: z.number(), gradNorm: z.number(), tokens: COUNT });
const ADAPTER_LIST = z.array(z.object({ name: z.string(), method: z.enum(['lora', 'dora', 'd2lora']), r: COUNT, out: COUNT, in: COUNT, tensors: z.array(z.string()) }));
const STATE_JSON = z.object({
  format: z.literal('d2lora-trainer-state'),
  version: z.literal(STATE_FORMAT_VERSION),
  step: COUNT,
  // The trainer's own config, written by it; checked field by field by checkTrainConfig.
  config: z.record(z.string(), z.unknown()),
  adapters: ADAPTER_LIST,
  moments: z.array(z.string()),
  history: z.array(STEP_RECORD),
  watch: z.object({ aboveCeiling: COUNT, zeroGradient: COUNT }),
});

/** The list of adapters a safetensors file holds under `prefix.<adapter>.<tensor>` (for its JSON beside it). */
export type AdapterList = z.output<typeof ADAPTER_LIST>;

export function encodeTrainerState(state: TrainerState): { tensors: Uint8Array; json: string } {
  const { tensors, list } = adapterTensors(state.adapters, 'adapter');
  for (const [name, { m, v }] of state.moments) {
    tensors.push({ name: `optimizer.${name}.exp_avg`, dtype: 'F32', shape: [m.length], data: m });
    tensors.push({ name: `optimizer.${name}.exp_avg_sq`, dtype: 'F32', shape: [v.length], data: v });
  }
  const json: z.input<typeof STATE_JSON> = {
    format: 'd2lora-trainer-state',
    version: STATE_FORMAT_VERSION,
    step: state.step,
    config: { ...state.config },
    adapters: list,
    moments: [...state.moments.keys()],
    history: state.history,
    watch: state.watch,
  };
  return { tensors: writeSafetensors(tensors), json: JSON.stringify(json, null, 1) };
}

export function decodeTrainerState(tensorBytes: Uint8Array, jsonText: string, names = { tensors: 'state.safetensors', json: 'state.json' }): TrainerState {
  const json = parseJsonFile(jsonText, names.json, STATE_JSON);
  const file = parseSafetensors(tensorBytes, names.tensors);
  const get = tensorGetter(file, names.tensors);
  const moments = new Map(json.moments.map((n) => [n, { m: get(`optimizer.${n}.exp_avg`).data, v: get(`optimizer.${n}.exp_avg_sq`).data }] as const));
  return {
    step: json.step,
    config: checkTrainConfig(json.config as unknown as TrainConfig),
    adapters: readAdapterTensors(file, names.tensors, json.adapters, 'adapter'),
    moments,
    history: json.history,
    watch: json.watch,
  };
}

/** Adapters as safetensors entries named `prefix.<adapter>.<tensor>`, with the list to write beside them. */
export function adapterTensors(adapters: readonly { name: string; params: AdapterParams }[], prefix: string): { tensors: Parameters<typeof writeSafetensors>[0][number][]; list: AdapterList } {
  const tensors: Parameters<typeof writeSafetensors>[0][number][] = [];
  const list: AdapterList = [];
  for (const { name, params } of adapters) {
    list.push({ name, method: params.method, r: params.r, out: params.out, in: params.in, tensors: Object.keys(params.tensors) });
    for (const [k, t] of Object.entries(params.tensors)) tensors.push({ name: `${prefix}.${name}.${k}`, dtype: 'F32', shape: t.shape, data: t.data });
  }
  return { tensors, list };
}

/** The adapters `list` names, read from `file` (written by adapterTensors with the same prefix). */
export function readAdapterTensors(file: SafetensorsFile, fileName: string, list: AdapterList, prefix: string): { name: string; params: AdapterParams }[] {
  const get = tensorGetter(file, fileName);
  return list.map((a) => ({
    name: a.name,
    params: { method: a.method, r: a.r, out: a.out, in: a.in, tensors: Object.fromEntries(a.tensors.map((k) => [k, get(`${prefix}.${a.name}.${k}`)])) },
  }));
}

function tensorGetter(file: SafetensorsFile, fileName: string) {
  return (name: string) => {
    if (!file.tensors.has(name)) throw new FormatError({ file: fileName, field: `tensor "${name}"`, expected: 'present (listed in the state JSON)', found: 'missing' });
    return { shape: file.tensors.get(name)!.shape, data: file.getF32(name) };
  };
}
