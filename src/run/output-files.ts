// The output folder's fixed names and which of its files an export takes. It imports nothing but
// names, so the page can size its downloads without loading the engine.

import { ONNX_FOLDER } from '../export/onnx-files';

export const RUN_SPEC_FILE = 'run.json';
export const METRICS_FILE = 'metrics.json';
export const ADAPTER_FOLDER = 'adapter';
export const REPORT_FILE = 'report.md';
export const LOSS_CURVE_FILE = 'loss-curve.svg';
/** The merged weights (the largest file by far, with the ONNX model's). */
export const MERGED_MODEL_FILE = 'model.safetensors';

/** The merged model's weights in either form, safetensors or onnx/ (its model and external data): what the run history may leave out. */
export function isMergedWeights(name: string): boolean {
  return name === MERGED_MODEL_FILE || name.startsWith(`${ONNX_FOLDER}/`);
}

/** Which of a finished run's files: all; the top level (the merged model, with the spec, metrics and report); the adapter folder; or by name. */
export type ArtifactSelection = 'all' | 'checkpoint' | 'adapter' | readonly string[];

/** The files of `what` among a run's artifacts: their bytes, or anything kept by name (the page has their sizes). */
export function selectArtifacts<T>(artifacts: ReadonlyMap<string, T>, what: ArtifactSelection): [string, T][] {
  const all = [...artifacts];
  if (what === 'all') return all;
  if (what === 'adapter') return all.filter(([name]) => name.startsWith(`${ADAPTER_FOLDER}/`));
  if (what === 'checkpoint') return all.filter(([name]) => !name.includes('/'));
  const missing = what.filter((name) => !artifacts.has(name));
  if (missing.length > 0) throw new RangeError(`the run has no file ${missing.join(', ')}; it has ${all.map(([n]) => n).join(', ')}`);
  return all.filter(([name]) => what.includes(name));
}

/**
 * The ONNX model's folder, as an onnx-community repository holds it: onnx/ and what transformers.js
 * reads beside it (config.json, generation_config.json, the tokenizer files): the output folder's
 * top level less the run's own files and the safetensors weights. None when the run has no onnx/.
 */
export function onnxFolderNames(names: readonly string[]): string[] {
  if (!names.some((n) => n.startsWith(`${ONNX_FOLDER}/`))) return [];
  const runOwn = new Set([RUN_SPEC_FILE, METRICS_FILE, REPORT_FILE, LOSS_CURVE_FILE, MERGED_MODEL_FILE]);
  return names.filter((n) => n.startsWith(`${ONNX_FOLDER}/`) || (!n.includes('/') && !runOwn.has(n)));
}
