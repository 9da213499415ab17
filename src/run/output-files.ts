// The output folder's fixed names and which of its files an export takes. It imports nothing, so
// the page can size its downloads without loading the engine.

export const RUN_SPEC_FILE = 'run.json';
export const METRICS_FILE = 'metrics.json';
export const ADAPTER_FOLDER = 'adapter';
/** The merged weights (the largest file by far): what the run history may leave out. */
export const MERGED_MODEL_FILE = 'model.safetensors';

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
