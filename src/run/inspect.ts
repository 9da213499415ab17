// Looking into a run's model, for "try it" in either front door: an item's choices scored before
// and after training (which of a finished run's files to export: ./output-files.ts).

import { tokenizeMultipleChoice, type TokenizedChoiceItem } from '../tasks/protocol';
import type { MultipleChoiceItem } from '../tasks/types';
import { scoreMultipleChoice } from '../train/eval';
import { previewItem, type ItemPreview, type Run } from './run';

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
    const maxLength = Math.min(run.spec.limits.maxLength, model.config.maxPositions);
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
