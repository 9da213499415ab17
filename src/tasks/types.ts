// What a task is once loaded: its items, split into the official train and test (or dev) parts,
// and where they came from. Items are plain data (no functions), so a task crosses the worker's
// message boundary as it is.

import type { TemplateId } from './templates';

/** One multiple-choice question; the model is scored on each choice's log-likelihood. */
export interface MultipleChoiceItem {
  /** A passage or story the question is about, read before the question. */
  context?: string;
  question: string;
  /** At least two, none empty. */
  choices: string[];
  /** Index of the correct choice. */
  answer: number;
  /** Where the item came from (e.g. `train.json item 12`, `story-test-3`), for reports. */
  id?: string;
}

/** One prompt and the text the model should continue it with. */
export interface GenerativeItem {
  prompt: string;
  target: string;
  id?: string;
}

export type TaskKind = 'multiple-choice' | 'generative';

interface TaskCommon {
  name: string;
  /** Where the items came from: a mirror folder, URLs, picked files, the generator and its options. */
  source: string;
  /** Facts worth showing beside the results (dev-only split, chance level, …). */
  notes?: string[];
}

/**
 * A multiple-choice task. `train` is empty for a task that publishes only a dev split (piqa,
 * social_i_qa, winogrande here): the protocol then splits `test` into training and held-out parts.
 */
export interface MultipleChoiceTask extends TaskCommon {
  kind: 'multiple-choice';
  /** How an item becomes the text the model reads (src/tasks/templates.ts). */
  template: TemplateId;
  train: MultipleChoiceItem[];
  test: MultipleChoiceItem[];
}

export interface GenerativeTask extends TaskCommon {
  kind: 'generative';
  train: GenerativeItem[];
  test: GenerativeItem[];
}

export type TaskData = MultipleChoiceTask | GenerativeTask;
