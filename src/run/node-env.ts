// The run's inputs in Node: presets and catalog tasks from the mirror ($D2LORA_MIRROR) or their
// public origins through the cache folder, Hugging Face repositories and URLs downloaded through
// the cache, and local files from the paths the command line names, pinned by sha256 (checked
// against the spec when it pins them already). Nothing that runs in the browser imports this.

import { dirname, resolve } from 'node:path';
import { ChecksumError, sha256Hex } from '../io/fetch-cache';
import { resolveSourceString } from '../io/load';
import { loadModelInNode, nodeLocalFiles, readFileIfPresent } from '../io/node-source';
import { FilePins } from '../io/pinning';
import { TEXT_FILE_LIMIT } from '../io/read-limits';
import type { GpuContext } from '../gpu/context';
import { loadTaskInNode } from '../tasks/node';
import type { TaskData } from '../tasks/types';
import type { RunEnvironment } from './run';
import { remoteModelSource, userTaskSource } from './sources';
import { storyOptionsOf, type FileRef } from './spec';

export interface NodeRunLocations {
  /** Where a local-files model is: a Hugging Face folder or a llama2.c .bin. */
  modelPath?: string;
  /** Where a file task's files are. */
  taskFiles?: { train?: string; test: string };
}

export function nodeRunEnvironment(ctx: GpuContext, at: NodeRunLocations = {}): RunEnvironment {
  return {
    ctx,
    async loadModel(spec, { onProgress, signal }) {
      if (spec.kind !== 'files') return { model: await loadModelInNode(remoteModelSource(spec), { onProgress, signal }) };
      if (at.modelPath === undefined) throw new Error(`the run's model is local files ("${spec.name}"), and no path says where they are`);
      const root = /\.bin$/i.test(at.modelPath) ? dirname(resolve(at.modelPath)) : resolve(at.modelPath);
      const pins = new FilePins(spec.files, root);
      const model = await loadModelInNode(resolveSourceString(resolve(at.modelPath)), { onProgress, signal, local: pins.local(nodeLocalFiles, root) });
      return { model: { ...model, name: spec.name }, files: pins.files() };
    },
    async loadTask(spec, { onProgress, signal }): Promise<TaskData> {
      switch (spec.kind) {
        case 'story':
          return loadTaskInNode('story', { story: storyOptionsOf(spec), onProgress, signal });
        case 'catalog':
          return loadTaskInNode(spec.name, { onProgress, signal });
        case 'file': {
          if (at.taskFiles === undefined) throw new Error(`the run's task is the file ${spec.test.name}, and no path says where it is`);
          const test = await pinnedFile(at.taskFiles.test, spec.test);
          const train = spec.train === undefined ? undefined : await pinnedFile(requirePath(at.taskFiles.train, spec.train), spec.train);
          return loadTaskInNode(userTaskSource(spec, { test, train }), { onProgress, signal });
        }
      }
    },
  };
}

function requirePath(path: string | undefined, ref: FileRef): string {
  if (path === undefined) throw new Error(`the run's task has the training file ${ref.name}, and no path says where it is`);
  return path;
}

/** A task file read once, checked against the sha256 the spec pins, handed on as picked bytes. */
async function pinnedFile(path: string, ref: FileRef): Promise<{ name: string; bytes: () => Promise<Uint8Array> }> {
  const bytes = await readFileIfPresent(path, TEXT_FILE_LIMIT);
  if (bytes === null) throw new Error(`${path}: no such task file`);
  const found = await sha256Hex(bytes);
  if (found !== ref.sha256) throw new ChecksumError(path, ref.sha256, found);
  return { name: path, bytes: async () => bytes };
}

