// A trainer state as a small file pair: `state.safetensors` (adapter factors under the spec's
// names and the AdamW moments) and `state.json` (step, configs, loss history). Written after
// any step, read back into a fresh trainer, it resumes to the same result bit for bit.

import type { AdapterParams } from '../adapters/init';
import { FormatError } from '../io/errors';
import { parseSafetensors, writeSafetensors } from '../io/safetensors';
import type { TrainerState } from './trainer';

export const STATE_FORMAT_VERSION = 1;

interface StateJson {
  format: 'd2lora-trainer-state';
  version: number;
  step: number;
  config: TrainerState['config'];
  adapters: { name: string; method: AdapterParams['method']; r: number; out: number; in: number; tensors: string[] }[];
  moments: string[];
  history: TrainerState['history'];
}

export function encodeTrainerState(state: TrainerState): { tensors: Uint8Array; json: string } {
  const tensors: Parameters<typeof writeSafetensors>[0][number][] = [];
  const adapters: StateJson['adapters'] = [];
  for (const { name, params } of state.adapters) {
    adapters.push({ name, method: params.method, r: params.r, out: params.out, in: params.in, tensors: Object.keys(params.tensors) });
    for (const [k, t] of Object.entries(params.tensors)) tensors.push({ name: `adapter.${name}.${k}`, dtype: 'F32', shape: t.shape, data: t.data });
  }
  for (const [name, { m, v }] of state.moments) {
    tensors.push({ name: `optimizer.${name}.exp_avg`, dtype: 'F32', shape: [m.length], data: m });
    tensors.push({ name: `optimizer.${name}.exp_avg_sq`, dtype: 'F32', shape: [v.length], data: v });
  }
  const json: StateJson = {
    format: 'd2lora-trainer-state',
    version: STATE_FORMAT_VERSION,
    step: state.step,
    config: state.config,
    adapters,
    moments: [...state.moments.keys()],
    history: state.history,
  };
  return { tensors: writeSafetensors(tensors), json: JSON.stringify(json, null, 1) };
}

export function decodeTrainerState(tensorBytes: Uint8Array, jsonText: string, names = { tensors: 'state.safetensors', json: 'state.json' }): TrainerState {
  let json: StateJson;
  try {
    json = JSON.parse(jsonText) as StateJson;
  } catch (e) {
    throw new FormatError({ file: names.json, expected: 'JSON', found: (e as Error).message });
  }
  if (json.format !== 'd2lora-trainer-state') throw new FormatError({ file: names.json, field: 'format', expected: '"d2lora-trainer-state"', found: String(json.format) });
  if (json.version !== STATE_FORMAT_VERSION) throw new FormatError({ file: names.json, field: 'version', expected: String(STATE_FORMAT_VERSION), found: String(json.version) });
  const file = parseSafetensors(tensorBytes, names.tensors);
  const get = (name: string) => {
    if (!file.tensors.has(name)) throw new FormatError({ file: names.tensors, field: `tensor "${name}"`, expected: 'present (listed in the state JSON)', found: 'missing' });
    return { shape: file.tensors.get(name)!.shape, data: file.getF32(name) };
  };
  const adapters = json.adapters.map((a) => ({
    name: a.name,
    params: { method: a.method, r: a.r, out: a.out, in: a.in, tensors: Object.fromEntries(a.tensors.map((k) => [k, get(`adapter.${a.name}.${k}`)])) },
  }));
  const moments = new Map(json.moments.map((n) => [n, { m: get(`optimizer.${n}.exp_avg`).data, v: get(`optimizer.${n}.exp_avg_sq`).data }] as const));
  return { step: json.step, config: json.config, adapters, moments, history: json.history };
}
