// loadModel: any model source → {config, weights, tokenizer}, everything validated before it
// returns. Runs in the browser worker and in Node alike; local paths (folder and .bin sources, a
// mirror folder, the embedded models folder) need the `local` file access that only Node has
// (src/io/node-source.ts supplies it, with Node's defaults: the project's public/models/,
// $D2LORA_MIRROR and the cache folder).
//
// Sources:
//   preset   a name from src/model/registry.ts, from the first of: the embedded copy (a preset the
//            registry marks embedded, when `embeddedModels` is set), the mirror when one is set,
//            its public URLs through the cache; each file checked against the registry's sha256;
//   folder   a Hugging Face model folder (Node);
//   url      a Hugging Face model folder on the web, e.g. …/resolve/main/ (downloaded through the cache);
//   files    files the user picked in the browser: a Hugging Face folder's, or a llama2.c .bin and
//            its vocabulary;
//   llama2c  a .bin checkpoint (path or URL) and its vocabulary (by default tok<vocab>.bin or
//            tokenizer.bin beside it).
// Hugging Face sources read config.json and the tokenizer first, then the weights, so a wrong
// folder fails before a large download.

import type { ModelConfig, WeightMap } from '../model/config';
import type { ConfigSource } from '../model/model-size';
import { findPreset, getPreset, MODEL_PRESETS, presetFileUrl, type ModelPreset } from '../model/registry';
import { HfTokenizer } from '../tokenizer/hf';
import type { Tokenizer } from '../tokenizer/types';
import {
  CONFIG_FILE,
  readHfWeights,
  readLlama2cModel,
  requireFile,
  TOKENIZER_CONFIG_FILE,
  TOKENIZER_FILE,
  type CheckpointFiles,
  type StoredTensor,
} from './checkpoint';
import { FormatError } from './errors';
import { embeddedModelFile } from './embedded';
import { ChecksumError, fetchWithCache, HttpError, sha256Hex, type ByteCache, type FetchProgress } from './fetch-cache';
import { hfConfigSource, parseHfConfig } from './hf-config';
import { LLAMA2C_CONFIG_SOURCE_FIELDS } from './llama2c';
import { isHttpUrl, joinUrl, mirrorModelFile } from './mirror';
import { ANY_FILE_LIMIT, checkBytesWithinLimit, TEXT_FILE_LIMIT, type ReadLimit } from './read-limits';
import { nearestName } from '../util/suggest';

/**
 * A file the user picked (an <input type=file> or a dropped folder); `name` may include folders.
 * Its bytes are checked against the reading limits once read; to refuse an oversized File before
 * reading it, read it with readBlobWithinLimit (src/io/read-limits.ts).
 */
export interface PickedFile {
  name: string;
  bytes: () => Promise<Uint8Array>;
}

export type ModelSource =
  | { kind: 'preset'; name: string }
  | { kind: 'folder'; path: string }
  | { kind: 'url'; base: string }
  | { kind: 'files'; files: PickedFile[]; name?: string }
  | { kind: 'llama2c'; checkpoint: string; tokenizer?: string };

/** Local file access (Node's is nodeLocalFiles in src/io/node-source.ts). */
export interface LocalFiles {
  /** The file's bytes within the limit (default ANY_FILE_LIMIT), or null when there is no such file. */
  read(path: string, limit?: ReadLimit): Promise<Uint8Array | null>;
}

export interface LoadOptions {
  /**
   * Where the embedded presets' files are (src/io/embedded.ts): a folder (with `local`) or base URL
   * holding <preset>/<file>. A preset the registry marks embedded is read from there, before the
   * mirror and the network; without it, embedded presets load like the others.
   */
  embeddedModels?: string;
  /** A mirror folder (with `local`) or base URL: presets come from <mirror>/models/<preset>/. */
  mirror?: string;
  /** Where downloads are kept and resumed; without one, every load downloads again. */
  cache?: ByteCache;
  /** One event per chunk downloaded, and one per file read locally or from the cache. */
  onProgress?: (progress: FetchProgress) => void;
  signal?: AbortSignal;
  /** Reading local paths; without it, folder and path sources are refused. */
  local?: LocalFiles;
}

export interface LoadedModel {
  config: ModelConfig;
  /** The file the config came from and its names for the size fields, for checkModelFitsDevice's messages. */
  configSource: ConfigSource;
  weights: WeightMap;
  /** Each weight's tensor name and dtype in the source checkpoint (llama2.c: its own name, F32). */
  stored: Map<string, StoredTensor>;
  tokenizer: Tokenizer;
  name: string;
  /** The tokenizer and config files as read (config.json, tokenizer.json, tok512.bin …), to re-export. */
  files: Record<string, Uint8Array>;
  /** Tensors ignored and other harmless oddities of the checkpoint. */
  warnings: string[];
}

export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<LoadedModel> {
  switch (source.kind) {
    case 'preset': {
      const preset = getPreset(source.name);
      const files = presetFiles(preset, options);
      if (preset.format === 'hf') return loadHf(preset.name, files);
      return loadLlama2c(preset.name, files, preset.checkpointFile, preset.tokenizerFile);
    }
    case 'folder':
      return loadHf(lastSegment(source.path), locatedFiles(options, (name) => ({ path: joinPath(source.path, name), sha256: null })), presetHint(source.path));
    case 'url':
      return loadHf(urlModelName(source.base), locatedFiles(options, (name) => ({ url: joinUrl(source.base, name), cached: true, sha256: null })));
    case 'files':
      return loadPicked(source.files, source.name);
    case 'llama2c': {
      const checkpoint = lastSegment(source.checkpoint);
      const tokenizer = source.tokenizer === undefined ? undefined : lastSegment(source.tokenizer);
      const files = locatedFiles(options, (name) => {
        const at = name === checkpoint ? source.checkpoint : name === tokenizer ? source.tokenizer! : sibling(source.checkpoint, name);
        return isHttpUrl(at) ? { url: at, cached: true, sha256: null } : { path: at, sha256: null };
      });
      return loadLlama2c(checkpoint.replace(/\.bin$/i, ''), files, checkpoint, tokenizer);
    }
  }
}

/**
 * The CLI's --model: a preset name, an http(s) URL of a Hugging Face folder, a .bin path or URL
 * (llama2.c; vocabulary beside it), else a folder path.
 */
export function resolveSourceString(s: string): ModelSource {
  if (findPreset(s) !== undefined) return { kind: 'preset', name: s };
  if (/\.bin$/i.test(s.replace(/[?#].*$/, ''))) return { kind: 'llama2c', checkpoint: s };
  if (isHttpUrl(s)) return { kind: 'url', base: s };
  return { kind: 'folder', path: s };
}

/** The download base of a Hugging Face model repository at a revision (a branch, tag or commit). */
export function huggingFaceUrl(repo: string, revision = 'main'): string {
  return `https://huggingface.co/${repo}/resolve/${revision}/`;
}

/** For a folder named like a preset ("Stories260k"): what to add when it has no config.json, else ''. */
function presetHint(path: string): string {
  const preset = nearestName(lastSegment(path), MODEL_PRESETS.map((p) => p.name));
  return preset === undefined ? '' : ` (did you mean the preset ${JSON.stringify(preset)}?)`;
}

async function loadHf(name: string, files: CheckpointFiles, missingHint = ''): Promise<LoadedModel> {
  const configBytes = await requireFile(files, CONFIG_FILE, `the model configuration (config.json)${missingHint}`, TEXT_FILE_LIMIT);
  const configLabel = files.label(CONFIG_FILE);
  const config = parseHfConfig(configBytes, configLabel);
  const tokenizerJson = await requireFile(files, TOKENIZER_FILE, 'the tokenizer (tokenizer.json)', TEXT_FILE_LIMIT);
  const tokenizerConfig = await files.read(TOKENIZER_CONFIG_FILE, TEXT_FILE_LIMIT);
  const tokenizer = HfTokenizer.fromFiles({
    tokenizerJson,
    tokenizerJsonName: files.label(TOKENIZER_FILE),
    tokenizerConfig: tokenizerConfig === null ? undefined : { bytes: tokenizerConfig, name: files.label(TOKENIZER_CONFIG_FILE) },
    modelIds: { bosTokenId: config.bosTokenId, eosTokenId: config.eosTokenId },
  });
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new FormatError({
      file: tokenizer.fileName,
      found: `token ids up to ${tokenizer.vocabSize - 1}`,
      expected: `ids below ${files.label(CONFIG_FILE)}'s vocab_size ${config.vocabSize} (the embedding's rows)`,
    });
  }
  const { weights, stored, warnings } = await readHfWeights(config, files);
  const raw: Record<string, Uint8Array> = { [CONFIG_FILE]: configBytes, [TOKENIZER_FILE]: tokenizerJson };
  if (tokenizerConfig !== null) raw[TOKENIZER_CONFIG_FILE] = tokenizerConfig;
  return { config, configSource: hfConfigSource(config.family, configLabel), weights, stored, tokenizer, name, files: raw, warnings };
}

async function loadLlama2c(name: string, files: CheckpointFiles, checkpoint: string, vocabulary?: string): Promise<LoadedModel> {
  const model = await readLlama2cModel(files, checkpoint, vocabulary);
  const { config, weights, tokenizer } = model;
  const stored = new Map([...weights.keys()].map((weight): [string, StoredTensor] => [weight, { name: weight, dtype: 'F32' }]));
  const configSource: ConfigSource = { file: files.label(checkpoint), fieldKind: 'header field', fields: LLAMA2C_CONFIG_SOURCE_FIELDS };
  return { config, configSource, weights, stored, tokenizer, name, files: { [model.vocabulary.name]: model.vocabulary.bytes }, warnings: [] };
}

/** A llama2.c pair (no config.json, a .bin that is not a vocabulary) or a Hugging Face folder. */
function loadPicked(picked: PickedFile[], givenName: string | undefined): Promise<LoadedModel> {
  const byName = new Map(picked.map((f) => [lastSegment(f.name), f]));
  const files: CheckpointFiles = {
    read: async (name, limit) => {
      const file = byName.get(name);
      return file === undefined ? null : checkBytesWithinLimit(file.name, await file.bytes(), limit ?? ANY_FILE_LIMIT);
    },
    label: (name) => byName.get(name)?.name ?? name,
  };
  if (byName.has(CONFIG_FILE)) return loadHf(givenName ?? pickedFolderName(picked), files);
  const checkpoints = [...byName.keys()].filter((n) => /\.bin$/i.test(n) && !/^(tok\d+|tokenizer)\.bin$/i.test(n));
  if (checkpoints.length !== 1) {
    const found = picked.length === 0 ? 'no files' : `${picked.map((f) => f.name).join(', ')}`;
    throw new FormatError({
      file: 'the picked files',
      found,
      expected: 'a Hugging Face folder (config.json, tokenizer.json, model.safetensors) or one llama2.c .bin with its tok<vocab>.bin / tokenizer.bin',
    });
  }
  return loadLlama2c(givenName ?? checkpoints[0].replace(/\.bin$/i, ''), files, checkpoints[0]);
}

/** The folder a picked folder's files share ("SmolLM2-135M/config.json"), else a generic name. */
function pickedFolderName(picked: PickedFile[]): string {
  const segments = picked[0].name.split(/[\\/]/);
  return segments.length > 1 ? segments[segments.length - 2] : 'picked model';
}

// ---------------------------------------------------------------------------------------------
// Where files are: local paths and URLs, with the sha256 each must have when known.

type Location = { path: string; sha256: string | null } | { url: string; cached: boolean; sha256: string | null };

/**
 * A preset's files (no others): from the embedded copy when the preset has one and
 * `embeddedModels` is set, else from the mirror when set, else from their URLs through the cache.
 * An embedded file that is missing is an error, not a reason to look elsewhere: the project ships
 * it, so its absence means a broken checkout or deployment, which a download would only hide.
 */
function presetFiles(preset: ModelPreset, options: LoadOptions): CheckpointFiles {
  const { embeddedModels, mirror } = options;
  const embedded = preset.embedded === true ? embeddedModels : undefined;
  const files = locatedFiles(options, (name) => {
    const file = preset.files.find((f) => f.name === name);
    if (file === undefined) return null;
    if (embedded !== undefined) return locationUnder(embedded, embeddedModelFile(preset.name, file.name), file.sha256, options);
    if (mirror !== undefined) return locationUnder(mirror, mirrorModelFile(preset.name, file.name), file.sha256, options);
    return { url: presetFileUrl(preset, file), cached: true, sha256: file.sha256 };
  });
  if (embedded === undefined) return files;
  return {
    label: files.label,
    read: async (name, limit) => {
      const bytes = await files.read(name, limit);
      if (bytes === null && preset.files.some((f) => f.name === name)) {
        throw new FormatError({
          file: files.label(name),
          found: 'no such file',
          expected: `the embedded copy of preset ${preset.name}'s ${name}, which ships with the project in public/models/${preset.name}/ (restore it from the repository, or deploy the whole build output)`,
        });
      }
      return bytes;
    },
  };
}

/** `relative` under a folder (with `local`) or base URL; read afresh, never through the download cache. */
function locationUnder(root: string, relative: string, sha256: string | null, options: LoadOptions): Location {
  if (options.local !== undefined && !isHttpUrl(root)) return { path: joinPath(root, relative), sha256 };
  return { url: joinUrl(root, relative), cached: false, sha256 };
}

function locatedFiles(options: LoadOptions, locate: (name: string) => Location | null): CheckpointFiles {
  return {
    label: (name) => {
      const at = locate(name);
      return at === null ? name : 'url' in at ? at.url : at.path;
    },
    read: async (name, limit) => {
      const at = locate(name);
      if (at === null) return null;
      return 'url' in at ? readUrl(at, name, options, limit) : readPath(at, name, options, limit);
    },
  };
}

async function readUrl(at: Extract<Location, { url: string }>, name: string, options: LoadOptions, limit: ReadLimit | undefined): Promise<Uint8Array | null> {
  try {
    return await fetchWithCache(at.url, {
      cache: at.cached ? options.cache : undefined,
      onProgress: options.onProgress,
      signal: options.signal,
      expectedSha256: at.sha256,
      file: name,
      limit,
    });
  } catch (e) {
    if (e instanceof HttpError && e.status === 404) return null;
    throw e;
  }
}

async function readPath(at: Extract<Location, { path: string }>, name: string, options: LoadOptions, limit: ReadLimit | undefined): Promise<Uint8Array | null> {
  if (options.local === undefined) {
    throw new Error(`${at.path}: a local path, but this environment cannot read local files (use a URL or picked files)`);
  }
  options.signal?.throwIfAborted();
  const bytes = await options.local.read(at.path, limit);
  if (bytes === null) return null;
  if (at.sha256 !== null) {
    const found = await sha256Hex(bytes);
    if (found !== at.sha256) throw new ChecksumError(at.path, at.sha256, found);
  }
  options.onProgress?.({ file: name, loaded: bytes.length, total: bytes.length });
  return bytes;
}

// Path and URL strings, without node:path (this module runs in the browser too). Node accepts '/'
// as a separator on every platform.

function joinPath(folder: string, relative: string): string {
  return `${folder.replace(/[\\/]+$/, '')}/${relative}`;
}

/** The last segment of a path or URL, ignoring trailing separators. */
function lastSegment(s: string): string {
  const trimmed = s.replace(/[?#].*$/, '').replace(/[\\/]+$/, '');
  return trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
}

/** `name` in the folder of the path or URL `file`. */
function sibling(file: string, name: string): string {
  if (isHttpUrl(file)) return new URL(name, file).href;
  const cut = Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'));
  return cut < 0 ? name : `${file.slice(0, cut)}/${name}`;
}

/** A Hub URL's repository name (…/<owner>/<repo>/resolve/<rev>/), else the last path segment. */
function urlModelName(base: string): string {
  const hub = /\/([^/]+)\/resolve\/[^/]+\/?/.exec(base);
  return hub !== null ? hub[1] : lastSegment(base);
}
