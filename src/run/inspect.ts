// Looking into a run before and after it: the model and the task as the run will see them
// (for the page's setup, before anything trains), and an item's choices scored before and after
// training (for "try it" in either front door). Which of a finished run's files to export:
// ./output-files.ts.

import type { ModelConfig } from '../model/config';
import { checkModelFitsDevice, DeviceLimitError, type DeviceBufferLimits } from '../model/model-size';
import { linearModules } from '../model/names';
import { tokenizeMultipleChoice, type TokenizedChoiceItem, type TruncationReport } from '../tasks/protocol';
import type { TemplateId } from '../tasks/templates';
import type { MultipleChoiceItem } from '../tasks/types';
import { scoreMultipleChoice } from '../train/eval';
import type { SequenceLengths } from './estimate';
import { previewItem, runMaxLength, summarizeModel, tokenizeForRun, type ItemPreview, type LoadHooks, type ModelSummary, type Run, type RunEnvironment } from './run';
import type { FileRef, ModelSpec, RunSpec } from './spec';

// ---------------------------------------------------------------------------------------------
// Before a run

/** A model as a run will load it: what the page shows of it, its configuration, and the picked files it was read from (pinned). */
export interface ModelInspection {
  summary: ModelSummary;
  config: ModelConfig;
  /** A local-files model's files, each with its sha256, as the run's spec pins them. */
  files?: FileRef[];
  /**
   * Why the model's own tensors cannot go on the device (checkModelFitsDevice, as the Run's
   * load-model stage refuses it); null when they fit, or when no device was given.
   */
  tooLarge: string | null;
}

/** Loads the model a spec names (as the Run's load-model stage does), describes it and checks its tensors against `limits`. */
export async function inspectModel(env: Pick<RunEnvironment, 'loadModel'>, spec: ModelSpec, hooks: LoadHooks, limits?: DeviceBufferLimits): Promise<ModelInspection> {
  const { model, files } = await env.loadModel(spec, hooks);
  const summary = summarizeModel(model, linearModules(model.config, 0).map((m) => m.module));
  let tooLarge: string | null = null;
  try {
    if (limits !== undefined) checkModelFitsDevice(model.config, model.configSource, limits);
  } catch (e) {
    if (!(e instanceof DeviceLimitError)) throw e;
    tooLarge = e.message;
  }
  return files === undefined ? { summary, config: model.config, tooLarge } : { summary, config: model.config, files, tooLarge };
}

/** A task as a run's tokenize stage leaves it: the protocol's counts, the truncation, chance, three items, and the lengths the GPU memory depends on. */
export interface TaskInspection {
  name: string;
  source: string;
  template: TemplateId;
  /** The protocol's counts (trainPool, evalPool, train, eval, devOnly) and the items kept once tokenized (trainTokenized, evalTokenized). */
  counts: Record<string, number | boolean>;
  notes: string[];
  truncation: { train: TruncationReport; eval: TruncationReport };
  chance: number;
  /** The first three evaluation items as the model reads them. */
  preview: ItemPreview[];
  /** The longest sequence the run reads: its limit, at most the model's context. */
  maxLength: number;
  /** The longest sequences and answers in tokens, for the memory estimate. */
  lengths: SequenceLengths;
}

/**
 * Loads the model and the task of a spec, draws the 5k-sample protocol and tokenizes both parts,
 * exactly as the Run's tokenize stage does (tokenizeForRun), and reports what came out.
 */
export async function inspectTask(env: Pick<RunEnvironment, 'loadModel' | 'loadTask'>, spec: RunSpec, hooks: LoadHooks): Promise<TaskInspection> {
  const { model } = await env.loadModel(spec.model, hooks);
  const task = await env.loadTask(spec.task, hooks);
  const t = tokenizeForRun(spec, task, model);
  const longest = (items: readonly TokenizedChoiceItem[], part: (it: TokenizedChoiceItem) => number) => items.reduce((a, it) => Math.max(a, part(it)), 0);
  const correct = (it: TokenizedChoiceItem) => it.choices[it.answer]!.length;
  const widest = (it: TokenizedChoiceItem) => Math.max(...it.choices.map((c) => c.length));
  return {
    name: t.prepared.name,
    source: t.prepared.source,
    template: t.prepared.template,
    counts: t.counts,
    notes: t.prepared.notes,
    truncation: { train: t.train.report, eval: t.eval.report },
    chance: t.chance,
    preview: t.preview,
    maxLength: t.maxLength,
    lengths: {
      train: longest(t.train.items, (it) => it.prompt.length + correct(it)),
      eval: longest(t.eval.items, (it) => it.prompt.length + widest(it)),
      trainAnswer: longest(t.train.items, correct),
      evalAnswer: longest(t.eval.items, widest),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// After a run

/** One choice of a scored item: its text and log-likelihood (summed over its tokens) before and after training. */
export interface ScoredChoice {
  text: string;
  tokens: number;
  before: number;
  after: number;
}

export interface ScoredItem {
  preview: ItemPreview;
  choices: ScoredChoice[];
  answer: number;
}

/**
 * Each choice's log-likelihood under the untrained model (the run's base weights, no adapters)
 * and the trained one (adapters live), for an evaluation item by index or any item of the task's
 * kind. The run must be paused or finished.
 */
export async function scoreItem(run: Run, which: number | MultipleChoiceItem): Promise<ScoredItem> {
  if (run.status === 'running') throw new Error('the run is training: pause it to score items');
  if (run.gpuModel === null || run.model === null || run.prepared === null) throw new Error(`the run has no trained model (it is ${run.status})`);
  if (run.prepared.kind !== 'multiple-choice') throw new Error('the run is not multiple-choice');
  const model = run.model;
  let item: TokenizedChoiceItem | null;
  if (typeof which === 'number') {
    item = run.evalItems[which] ?? null;
    if (item === null) throw new RangeError(`item ${which} is not among the run's ${run.evalItems.length} evaluation items`);
  } else {
    const maxLength = runMaxLength(run.spec, model);
    item = tokenizeMultipleChoice(which, run.prepared.template, model.tokenizer, maxLength);
    if (item === null) throw new RangeError(`the item's longest choice does not fit in ${maxLength} tokens`);
  }
  const base = run.gpuModel.baseView();
  try {
    const before = await scoreMultipleChoice(base, [item]);
    const after = await scoreMultipleChoice(run.gpuModel, [item]);
    const preview = previewItem(item, model.tokenizer);
    const choices = item.choices.map((c, k) => ({
      text: preview.choices[k]!,
      tokens: c.length,
      before: before.logLikelihoods[0]![k]!,
      after: after.logLikelihoods[0]![k]!,
    }));
    return { preview, choices, answer: item.answer };
  } finally {
    base.destroy();
  }
}
