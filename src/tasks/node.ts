// Node's side of task loading: loadTask with Node's defaults ($D2LORA_MIRROR, the cache folder,
// local files). Nothing that runs in the browser imports this module.

import { nodeLoadOptions } from '../io/node-source';
import { loadTask, type TaskLoadOptions, type TaskSource } from './load';
import type { TaskData } from './types';

export function loadTaskInNode(source: TaskSource, options: TaskLoadOptions = {}): Promise<TaskData> {
  return loadTask(source, { ...options, ...nodeLoadOptions(options) });
}
