// The run's inputs in the browser worker: the embedded stories260K from the site itself, other
// presets from the mirror the build was given (VITE_D2LORA_MIRROR) or their public URLs, Hugging
// Face repositories and URLs downloaded through the Cache API, and the user's picked files, each
// checked against the sha256 the spec pins (and pinned when the spec names none yet). Loaded models are kept, so that a run, the
// generation from the base model and the next run of the same model load it once.

import type { GpuContext } from '../gpu/context';
import { BrowserByteCache } from '../io/browser-cache';
import { ChecksumError, sha256Hex, type ByteCache } from '../io/fetch-cache';
import { loadModel, type LoadedModel, type LoadOptions, type PickedFile } from '../io/load';
import { browserEmbeddedBase } from '../io/embedded';
import { browserMirrorBase } from '../io/mirror';
import { FilePins } from '../io/pinning';
import type { LoadHooks, RunEnvironment } from '../run/run';
import { remoteModelSource, userTaskSource } from '../run/sources';
import { storyOptionsOf, type FileRef, type ModelSpec, type TaskSpec } from '../run/spec';
import { loadTask } from '../tasks/load';
import type { TaskData } from '../tasks/types';
import type { WireFile } from './protocol';

/** Loaded models by spec, kept while the worker lives (the page disposes what it no longer needs). */
export class ModelShelf {
  private readonly models = new Map<string, Promise<{ model: LoadedModel; files?: FileRef[] }>>();

  /** The model a spec names, loaded once; picked files come with a files-kind spec. */
  get(spec: ModelSpec, files: readonly WireFile[], hooks: LoadHooks): Promise<{ model: LoadedModel; files?: FileRef[] }> {
    const key = JSON.stringify(spec);
    let entry = this.models.get(key);
    if (entry === undefined) {
      entry = loadSpecModel(spec, files, hooks);
      this.models.set(key, entry);
      // A failed load is not kept: the next request tries again.
      entry.catch(() => this.models.delete(key));
      if (spec.kind === 'files' && spec.files.length === 0) {
        // Picked files not yet pinned: the load pins them, and the spec that names those pins is
        // this model (the page pins its spec next). Unpinned, the same name may be other files.
        const pinned = entry;
        entry.then((r) => {
          if (this.models.get(key) === pinned) this.models.delete(key);
          if (r.files !== undefined) this.models.set(JSON.stringify({ ...spec, files: r.files }), pinned);
        }, () => undefined);
      }
    }
    return entry;
  }

  clear(): void {
    this.models.clear();
  }
}

export function browserRunEnvironment(ctx: GpuContext, shelf: ModelShelf, files: readonly WireFile[]): RunEnvironment {
  return {
    ctx,
    loadModel: (spec, hooks) => shelf.get(spec, files, hooks),
    loadTask: (spec, hooks) => loadSpecTask(spec, files, hooks),
  };
}

/** The mirror (absolute, so messages name the whole URL) and the download cache of this page. */
function browserLoadOptions(hooks: LoadHooks): LoadOptions {
  const mirror = browserMirrorBase();
  return {
    // Absolute, so that messages name the whole URL.
    embeddedModels: new URL(browserEmbeddedBase(), self.location.href).href,
    mirror: mirror === null ? undefined : new URL(mirror, self.location.href).href,
    cache: downloadCache(),
    onProgress: hooks.onProgress,
    signal: hooks.signal,
  };
}

async function loadSpecModel(spec: ModelSpec, files: readonly WireFile[], hooks: LoadHooks): Promise<{ model: LoadedModel; files?: FileRef[] }> {
  const options = browserLoadOptions(hooks);
  if (spec.kind !== 'files') return { model: await loadModel(remoteModelSource(spec), options) };
  if (files.length === 0) throw new Error(`the run's model is local files ("${spec.name}"): pick its files (config.json, model.safetensors, tokenizer.json, or a llama2.c .bin and its vocabulary)`);
  const pins = new FilePins(spec.files, spec.name);
  const picked = pins.picked(files.map(toPicked));
  const model = await loadModel({ kind: 'files', files: picked, name: spec.name }, options);
  return { model, files: pins.files() };
}

async function loadSpecTask(spec: TaskSpec, files: readonly WireFile[], hooks: LoadHooks): Promise<TaskData> {
  const options = browserLoadOptions(hooks);
  switch (spec.kind) {
    case 'story':
      return loadTask('story', { story: storyOptionsOf(spec) });
    case 'catalog':
      return loadTask(spec.name, options);
    case 'file': {
      const test = await pickedTaskFile(spec.test, files);
      const train = spec.train === undefined ? undefined : await pickedTaskFile(spec.train, files);
      return loadTask(userTaskSource(spec, { test, train }), options);
    }
  }
}

/** The picked file a spec names, checked against its sha256. */
async function pickedTaskFile(ref: FileRef, files: readonly WireFile[]): Promise<PickedFile> {
  const file = files.find((f) => f.name === ref.name || f.name.endsWith(`/${ref.name}`));
  if (file === undefined) throw new Error(`the run's task needs the file ${ref.name}: pick it (sha256 ${ref.sha256.slice(0, 12)}…)`);
  const bytes = new Uint8Array(file.bytes);
  const found = await sha256Hex(bytes);
  if (found !== ref.sha256) throw new ChecksumError(file.name, ref.sha256, found);
  return { name: file.name, bytes: async () => bytes };
}

function toPicked(f: WireFile): PickedFile {
  return { name: f.name, bytes: () => Promise.resolve(new Uint8Array(f.bytes)) };
}

/** The Cache API download cache; none where the page is not a secure context (no `caches`). */
function downloadCache(): ByteCache | undefined {
  return typeof caches === 'undefined' ? undefined : new BrowserByteCache(caches);
}
