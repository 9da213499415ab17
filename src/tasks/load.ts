// loadTask: a catalog name or the user's files → TaskData, every item checked. Runs in the browser
// worker and in Node alike; local paths (a mirror folder, file paths) need the `local` file access
// that only Node has (src/tasks/node.ts supplies Node's defaults: $D2LORA_MIRROR and the cache).
//
// Sources:
//   a catalog name   downloaded tasks come from <mirror>/data/qa/<task>/<file> when a mirror is
//                    set (nothing is downloaded then), else from their public URLs through the
//                    cache; either way checked against the catalog's sha256. `story` is generated.
//                    hellaswag and commonsense_qa need the user's files.
//   the user's files {files: {train?, test}, name?, format?, kind?, mapping?, template?}: paths,
//                    URLs or picked files; the format from the file name unless given. A catalog
//                    name lends its template and column mapping. Without a train file the test
//                    file is a dev split, which the protocol splits.

import { FormatError } from '../io/errors';
import { ChecksumError, fetchWithCache, sha256Hex, type ByteCache, type FetchProgress } from '../io/fetch-cache';
import type { LocalFiles, PickedFile } from '../io/load';
import { TEXT_FILE_LIMIT } from '../io/read-limits';
import { isHttpUrl, joinUrl, MIRROR_ENV, mirrorDataFile } from '../io/mirror';
import { catalogFileUrl, findCatalogEntry, getCatalogEntry, type CatalogFile, type DownloadedTask } from './catalog';
import {
  detectTaskFileFormat,
  fileBaseName,
  parseGenerativeTable,
  parseLlmAdaptersJson,
  parseMultipleChoiceTable,
  TASK_FILE_FORMATS,
  type ColumnMapping,
  type TaskFileFormat,
} from './formats';
import { generateStoryTask, type StoryOptions } from './story';
import type { TemplateId } from './templates';
import type { GenerativeItem, MultipleChoiceItem, TaskData, TaskKind } from './types';

export interface TaskLoadOptions {
  /** A mirror folder (with `local`) or base URL: catalog files come from <mirror>/data/qa/<task>/. */
  mirror?: string;
  /** Where downloads are kept and resumed. */
  cache?: ByteCache;
  /** One event per chunk downloaded, and one per file read locally, from the cache or picked. */
  onProgress?: (progress: FetchProgress) => void;
  signal?: AbortSignal;
  /** Reading local paths; without it, path sources are refused and a mirror is a base URL. */
  local?: LocalFiles;
  /** The built-in story task's options (complete: the RunSpec's story task, src/run/spec.ts). */
  story?: StoryOptions;
}

/** A task file: a local path (Node), an http(s) URL, or a file the user picked. */
export type TaskFile = string | PickedFile;

export interface UserTaskSource {
  /** The task's name in reports; a catalog name also lends its template and mapping. Default: the test file's name. */
  name?: string;
  /** Without `train`, `test` is a dev split that the protocol splits into training and held-out parts. */
  files: { train?: TaskFile; test: TaskFile };
  /** Default: from each file's name (.json LLM-Adapters, .jsonl, .csv). */
  format?: TaskFileFormat;
  /** Default 'multiple-choice'; 'generative' reads prompt/target columns from JSONL or CSV. */
  kind?: TaskKind;
  /** JSONL/CSV field names; default: the catalog entry's, else the ColumnMapping defaults. */
  mapping?: ColumnMapping;
  /** Default: the catalog entry's, else 'question-answer'. */
  template?: TemplateId;
}

export type TaskSource = string | UserTaskSource;

export async function loadTask(source: TaskSource, options: TaskLoadOptions = {}): Promise<TaskData> {
  if (typeof source !== 'string') return loadUserFiles(source, options);
  const entry = getCatalogEntry(source);
  switch (entry.source) {
    case 'builtin':
      if (options.story === undefined) throw new Error(`task ${entry.name} is generated: its options are needed (the RunSpec's story task)`);
      return generateStoryTask(options.story);
    case 'user':
      throw new Error(
        `task ${entry.name} is not distributed with the playground: supply its files ({name: '${entry.name}', files: {train, test}}). ` +
          `Expected: ${entry.expectedFiles}`,
      );
    case 'download':
      return loadDownloaded(entry, options);
  }
}

async function loadDownloaded(entry: DownloadedTask, options: TaskLoadOptions): Promise<TaskData> {
  const { mirror } = options;
  const localMirror = mirror !== undefined && options.local !== undefined && !isHttpUrl(mirror);
  /** Where a file of the task is: its public URL, or its place in the mirror (a path or a URL). */
  const locate = (name: string): string => {
    if (mirror === undefined) return catalogFileUrl(entry, name);
    const relative = mirrorDataFile(entry.name, name);
    return localMirror ? joinPath(mirror, relative) : joinUrl(mirror, relative);
  };
  const splits: Record<CatalogFile['split'], MultipleChoiceItem[]> = { train: [], test: [] };
  for (const file of entry.files) {
    const label = locate(file.name);
    let bytes: Uint8Array;
    if (localMirror) {
      bytes = await readLocal(label, file.name, options, `not in the mirror (${MIRROR_ENV}=${mirror}); with a mirror set nothing is downloaded`);
      const found = await sha256Hex(bytes);
      if (found !== file.sha256) throw new ChecksumError(label, file.sha256, found);
    } else {
      // Downloads go through the cache; a mirror URL is read afresh, like a mirror folder.
      const cache = mirror === undefined ? options.cache : undefined;
      bytes = await fetchWithCache(label, { cache, onProgress: options.onProgress, signal: options.signal, expectedSha256: file.sha256, file: file.name, limit: TEXT_FILE_LIMIT });
    }
    splits[file.split] = parseLlmAdaptersJson(bytes, label);
  }
  return {
    name: entry.name,
    kind: 'multiple-choice',
    template: entry.template,
    train: splits.train,
    test: splits.test,
    source: `${locate('')} (${entry.files.map((f) => f.name).join(', ')}; sha256 checked)`,
    notes: [`data: the LLM-Adapters repository's copy, licence ${entry.licence}`],
  };
}

async function loadUserFiles(source: UserTaskSource, options: TaskLoadOptions): Promise<TaskData> {
  const entry = source.name === undefined ? undefined : findCatalogEntry(source.name);
  const kind = source.kind ?? 'multiple-choice';
  const mapping = source.mapping ?? (entry?.source === 'user' ? entry.mapping : undefined);
  const read = async (file: TaskFile) => {
    const { label, bytes } = await readTaskFile(file, options);
    const format = source.format ?? detectTaskFileFormat(label, bytes);
    if (format === null || !TASK_FILE_FORMATS.includes(format)) {
      throw new FormatError({
        file: label,
        found: source.format === undefined ? 'a name that does not tell the format' : `format ${JSON.stringify(source.format)}`,
        expected: `a .json (LLM-Adapters array or JSON Lines), .jsonl or .csv file, or a format option (${TASK_FILE_FORMATS.join(', ')})`,
      });
    }
    return { label, bytes, format };
  };
  const test = await read(source.files.test);
  const train = source.files.train === undefined ? null : await read(source.files.train);
  const name = source.name ?? fileBaseName(test.label).replace(/\.[^.]*$/, '');
  const labels = [train, test].filter((f) => f !== null).map((f) => f.label);
  const common = { name, source: labels.join(', '), notes: train === null ? ['no train file: the test file is split into training and held-out parts'] : [] };

  if (kind === 'generative') {
    const items = (f: typeof test): GenerativeItem[] => {
      if (f.format === 'llm-adapters') {
        throw new FormatError({
          file: f.label,
          found: 'an LLM-Adapters JSON array',
          expected: 'JSONL or CSV with prompt and target fields for a generative task',
        });
      }
      return parseGenerativeTable(f.bytes, f.label, f.format, mapping);
    };
    return { ...common, kind, train: train === null ? [] : items(train), test: items(test) };
  }
  const items = (f: typeof test): MultipleChoiceItem[] =>
    f.format === 'llm-adapters' ? parseLlmAdaptersJson(f.bytes, f.label) : parseMultipleChoiceTable(f.bytes, f.label, f.format, mapping);
  const template = source.template ?? entry?.template ?? 'question-answer';
  return { ...common, kind, template, train: train === null ? [] : items(train), test: items(test) };
}

async function readTaskFile(file: TaskFile, options: TaskLoadOptions): Promise<{ label: string; bytes: Uint8Array }> {
  if (typeof file !== 'string') {
    options.signal?.throwIfAborted();
    const bytes = await file.bytes();
    options.onProgress?.({ file: file.name, loaded: bytes.length, total: bytes.length });
    return { label: file.name, bytes };
  }
  if (isHttpUrl(file)) {
    return { label: file, bytes: await fetchWithCache(file, { cache: options.cache, onProgress: options.onProgress, signal: options.signal, limit: TEXT_FILE_LIMIT }) };
  }
  return { label: file, bytes: await readLocal(file, fileBaseName(file), options, 'no such file') };
}

async function readLocal(path: string, name: string, options: TaskLoadOptions, missing: string): Promise<Uint8Array> {
  if (options.local === undefined) {
    throw new Error(`${path}: a local path, but this environment cannot read local files (use a URL or picked files)`);
  }
  options.signal?.throwIfAborted();
  const bytes = await options.local.read(path, TEXT_FILE_LIMIT);
  if (bytes === null) throw new Error(`${path}: ${missing}`);
  options.onProgress?.({ file: name, loaded: bytes.length, total: bytes.length });
  return bytes;
}

// A path string without node:path (this module runs in the browser too); Node accepts '/' everywhere.

function joinPath(folder: string, relative: string): string {
  return `${folder.replace(/[\\/]+$/, '')}/${relative}`;
}
