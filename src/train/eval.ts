// Evaluation on the GPU. Multiple choice: each choice's log-likelihood as a continuation of
// the prompt, summed over its tokens and divided by their number (both accuracies reported; a
// run chooses one), every (item, choice) sequence batched. Generative: greedy decoding and
// ROUGE-L against the target.

import type { GpuModel } from '../model/gpu-model';
import { argmax, generate } from '../model/generate';
import type { TokenizedChoiceItem } from '../tasks/protocol';
import type { Tokenizer } from '../tokenizer/types';
import type { StepGate } from '../util/gate';
import { makeBatch, type TokenizedExample } from './batching';

export type ChoiceScoring = 'sum' | 'mean';
export const CHOICE_SCORINGS: readonly ChoiceScoring[] = ['sum', 'mean'];

export interface MultipleChoiceResult {
  items: number;
  /** Accuracy choosing by summed log-likelihood. */
  accuracySum: number;
  /** Accuracy choosing by log-likelihood per token (length-normalised). */
  accuracyMean: number;
  /** Per item: the choice picked by each scoring. */
  predictions: { sum: number; mean: number; answer: number }[];
  /** Per item and choice: log p(choice | prompt), summed over the choice's tokens. */
  logLikelihoods: number[][];
  ms: number;
  itemsPerSecond: number;
}

/**
 * A choice's log-likelihood came out NaN or infinite: the model's forward pass overflowed (its
 * weights are finite — the readers check — but too large, or a trained adapter made them so). No
 * accuracy is computed from such scores: an argmax over NaNs picks the first choice, which looks
 * like a real, near-chance result.
 */
export class NonFiniteScoreError extends Error {
  override name = 'NonFiniteScoreError';
  constructor(
    /** 0-based, in the order the items were given. */
    readonly item: number,
    readonly items: number,
    /** 0-based. */
    readonly choice: number,
    readonly choices: number,
    readonly value: number,
    readonly itemId: string | undefined,
  ) {
    super(
      `evaluation stopped: choice ${choice + 1} of ${choices} of item ${item + 1} of ${items}${itemId === undefined ? '' : ` ("${itemId}")`} scores ${value}: ` +
        "the model's forward pass is not finite (its weights, or the adapters on them, are so large that float32 overflows), so no accuracy is computed",
    );
  }
}

/**
 * Scores every choice of every item: log p(choice | prompt) = −Σ NLL over the choice's tokens.
 * `sequencesPerBatch` (item, choice) sequences go to the GPU at once. Throws NonFiniteScoreError
 * at the first choice that scores NaN or ±Infinity.
 */
export async function scoreMultipleChoice(
  model: GpuModel,
  items: readonly TokenizedChoiceItem[],
  opts: { sequencesPerBatch?: number; onProgress?: (done: number, total: number) => void; signal?: AbortSignal; gate?: StepGate } = {},
): Promise<MultipleChoiceResult> {
  const perBatch = opts.sequencesPerBatch ?? 64;
  const sequences: { item: number; choice: number; example: TokenizedExample; tokens: number }[] = [];
  items.forEach((it, i) =>
    it.choices.forEach((c, k) => sequences.push({ item: i, choice: k, example: { tokens: [...it.prompt, ...c], targetStart: it.prompt.length }, tokens: c.length })),
  );
  const logLik = items.map((it) => new Array<number>(it.choices.length).fill(0));
  let t0 = performance.now();
  for (let start = 0; start < sequences.length; start += perBatch) {
    opts.signal?.throwIfAborted();
    if (opts.gate) {
      const pausedFrom = performance.now();
      await opts.gate.pass();
      t0 += performance.now() - pausedFrom; // time spent paused is not evaluation time
    }
    const chunk = sequences.slice(start, start + perBatch);
    const losses = model.run(makeBatch(chunk.map((s) => s.example)), false);
    const nll = await model.ctx.read(losses);
    losses.release();
    // makeBatch lays the loss rows out example by example, each choice's tokens in order.
    let row = 0;
    for (const s of chunk) {
      let sum = 0;
      for (let t = 0; t < s.tokens; t++) sum += nll[row++]!;
      if (!Number.isFinite(sum)) throw new NonFiniteScoreError(s.item, items.length, s.choice, items[s.item]!.choices.length, -sum, items[s.item]!.id);
      logLik[s.item]![s.choice] = -sum;
    }
    opts.onProgress?.(Math.min(start + perBatch, sequences.length), sequences.length);
  }
  const ms = performance.now() - t0;
  const predictions = items.map((it, i) => ({
    sum: argmax(logLik[i]!),
    mean: argmax(logLik[i]!.map((l, k) => l / it.choices[k]!.length)),
    answer: it.answer,
  }));
  const n = Math.max(1, items.length);
  return {
    items: items.length,
    accuracySum: predictions.filter((p) => p.sum === p.answer).length / n,
    accuracyMean: predictions.filter((p) => p.mean === p.answer).length / n,
    predictions,
    logLikelihoods: logLik,
    ms,
    itemsPerSecond: items.length / (ms / 1000),
  };
}

export function accuracyOf(r: MultipleChoiceResult, scoring: ChoiceScoring): number {
  return scoring === 'sum' ? r.accuracySum : r.accuracyMean;
}

// ---------------------------------------------------------------------------------------------

/** ROUGE-L F1 between two texts, over lower-cased whitespace-separated words (LCS based). */
export function rougeL(candidate: string, reference: string): number {
  const c = candidate.toLowerCase().split(/\s+/).filter(Boolean);
  const r = reference.toLowerCase().split(/\s+/).filter(Boolean);
  if (c.length === 0 || r.length === 0) return c.length === r.length ? 1 : 0;
  let prev = new Array<number>(r.length + 1).fill(0);
  for (let i = 1; i <= c.length; i++) {
    const cur = new Array<number>(r.length + 1).fill(0);
    for (let j = 1; j <= r.length; j++) cur[j] = c[i - 1] === r[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    prev = cur;
  }
  const lcs = prev[r.length]!;
  if (lcs === 0) return 0;
  const precision = lcs / c.length;
  const recall = lcs / r.length;
  return (2 * precision * recall) / (precision + recall);
}

export interface GenerativeResult {
  items: number;
  rougeL: number;
  outputs: string[];
  ms: number;
}

/** Greedy continuation of each prompt (up to `maxNewTokens`), scored by ROUGE-L. */
export async function evaluateGenerative(
  model: GpuModel,
  tokenizer: Tokenizer,
  items: readonly { prompt: string; target: string }[],
  opts: { maxNewTokens?: number; signal?: AbortSignal } = {},
): Promise<GenerativeResult> {
  const maxNew = opts.maxNewTokens ?? 64;
  const t0 = performance.now();
  const outputs: string[] = [];
  let total = 0;
  for (const it of items) {
    const promptTokens = tokenizer.encode(it.prompt, { bos: tokenizer.bosId !== null }).length;
    const g = await generate(model, tokenizer, it.prompt, { steps: promptTokens + maxNew - 1, temperature: 0, ...(opts.signal ? { signal: opts.signal } : {}) });
    const text = tokenizer.decode(g.tokens.slice(g.promptTokens.length));
    outputs.push(text);
    total += rougeL(text, it.target);
  }
  return { items: items.length, rougeL: items.length > 0 ? total / items.length : 0, outputs, ms: performance.now() - t0 };
}
