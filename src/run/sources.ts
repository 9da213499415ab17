// What a spec names, as the loaders take it, for every front door: where a model named by preset,
// Hugging Face repository or URL comes from, and a task file's options (finding local and picked
// files is each front door's own).

import { huggingFaceUrl, resolveSourceString, type ModelSource } from '../io/load';
import type { TaskFile, UserTaskSource } from '../tasks/load';
import type { ModelSpec, TaskSpec } from './spec';

export function remoteModelSource(spec: Exclude<ModelSpec, { kind: 'files' }>): ModelSource {
  switch (spec.kind) {
    case 'preset':
      return { kind: 'preset', name: spec.name };
    case 'hub':
      return { kind: 'url', base: huggingFaceUrl(spec.repo, spec.revision) };
    case 'url':
      return resolveSourceString(spec.url);
  }
}

/** A file task's source: the spec's options with the files the front door found (and checked). */
export function userTaskSource(spec: Extract<TaskSpec, { kind: 'file' }>, files: { test: TaskFile; train: TaskFile | undefined }): UserTaskSource {
  return {
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    files: { test: files.test, ...(files.train !== undefined ? { train: files.train } : {}) },
    ...(spec.format !== undefined ? { format: spec.format } : {}),
    ...(spec.mapping !== undefined ? { mapping: spec.mapping } : {}),
    ...(spec.template !== undefined ? { template: spec.template } : {}),
  };
}
