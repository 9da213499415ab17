// The paper's data protocol and the step from items to token ids.
//
// prepareTask: at most 5,000 training items per task (maxTrain), drawn with the run's seed; the
// official test split (or dev split) for evaluation, capped at maxEval items drawn with evalSeed.
// A task that publishes only a dev split (train empty) has it split once, with evalSeed, into a
// held-out part for evaluation and the rest for training. evalSeed defaults to 0 and is separate
// from the run's seed so that runs with different seeds are scored on the same questions.
// Subsets keep the file's order; the trainer shuffles.
//
// tokenizeMultipleChoice: the prompt is the template's text; each choice is its continuation,
// tokenized together with the prompt (a BPE merge may join the last prompt characters with the
// choice's first) and split at the longest token prefix the prompt and all choices share. When the
// prompt and the longest choice do not fit in maxLength tokens, the prompt loses tokens from its
// start, just after BOS: the start of the context goes first; BOS, the end of the prompt and the
// choices stay. The training example (prompt + correct choice) uses the same cut, so training reads
// the prompt that evaluation scores. An item whose longest choice alone does not fit is left out and
// counted in the report.

import { Rng } from '../util/rng';
import type { TokenizedExample } from '../train/batching';
import type { Tokenizer } from '../tokenizer/types';
import { permutation } from '../util/sample';
import { choiceContinuation, PROMPT_TEMPLATES, type PromptTemplate, type TemplateId } from './templates';
import type { GenerativeItem, MultipleChoiceItem, TaskData } from './types';

export interface ProtocolOptions {
  /** Draws the training subset. */
  seed: number;
  /** Training items at most; default 5000 (the paper's 5k). */
  maxTrain?: number;
  /** Evaluation items at most; default 1000; Infinity for all. */
  maxEval?: number;
  /** Draws the evaluation subset and splits dev-only tasks; default 0. */
  evalSeed?: number;
  /** Share of a dev-only task's items held out for evaluation, in (0, 1); default 0.5. */
  heldOutFraction?: number;
}

export const DEFAULT_MAX_TRAIN = 5000;
export const DEFAULT_MAX_EVAL = 1000;
export const DEFAULT_HELD_OUT_FRACTION = 0.5;

export interface ProtocolCounts {
  /** Whether the task had only a dev split, split here. */
  devOnly: boolean;
  /** Items training could draw from: the train split, or a dev-only task's training part. */
  trainPool: number;
  /** Items evaluation could draw from: the test split, or a dev-only task's held-out part. */
  evalPool: number;
  train: number;
  eval: number;
}

interface PreparedCommon {
  name: string;
  source: string;
  counts: ProtocolCounts;
  /** What was drawn from what, with which seed, and the task's own notes. */
  notes: string[];
}

export type PreparedTask =
  | (PreparedCommon & { kind: 'multiple-choice'; template: TemplateId; train: MultipleChoiceItem[]; eval: MultipleChoiceItem[] })
  | (PreparedCommon & { kind: 'generative'; train: GenerativeItem[]; eval: GenerativeItem[] });

export function prepareTask(data: TaskData, options: ProtocolOptions): PreparedTask {
  const { seed } = options;
  const maxTrain = options.maxTrain ?? DEFAULT_MAX_TRAIN;
  const maxEval = options.maxEval ?? DEFAULT_MAX_EVAL;
  const evalSeed = options.evalSeed ?? 0;
  const heldOutFraction = options.heldOutFraction ?? DEFAULT_HELD_OUT_FRACTION;
  const check = (field: string, ok: boolean, expected: string, found: unknown) => {
    if (!ok) throw new RangeError(`task protocol: ${field}: found ${String(found)}; expected ${expected}`);
  };
  check('seed', Number.isSafeInteger(seed), 'a safe integer', seed);
  check('evalSeed', Number.isSafeInteger(evalSeed), 'a safe integer', evalSeed);
  check('maxTrain', maxTrain === Infinity || (Number.isSafeInteger(maxTrain) && maxTrain >= 0), 'an integer ≥ 0 or Infinity', maxTrain);
  check('maxEval', maxEval === Infinity || (Number.isSafeInteger(maxEval) && maxEval >= 1), 'an integer ≥ 1 or Infinity', maxEval);
  check('heldOutFraction', heldOutFraction > 0 && heldOutFraction < 1, 'a number in (0, 1)', heldOutFraction);

  const devOnly = data.train.length === 0;
  if (data.test.length === 0 || (devOnly && data.test.length < 2)) {
    const found = `${data.train.length} training and ${data.test.length} test items`;
    throw new RangeError(`task ${data.name}: ${found}; expected a test split, or a dev split of at least 2 items`);
  }
  const evalRng = new Rng(evalSeed);
  const notes: string[] = [];
  let trainPool: number[];
  let evalPool: number[];
  if (devOnly) {
    const n = data.test.length;
    const heldOut = Math.min(n - 1, Math.max(1, Math.round(n * heldOutFraction)));
    const order = permutation(n, evalRng.fork('dev-split'));
    evalPool = sorted(order.slice(0, heldOut));
    trainPool = sorted(order.slice(heldOut));
    notes.push(
      `only a dev split (${count(n)} items): ${count(heldOut)} held out for evaluation, ${count(n - heldOut)} for training ` +
        `(heldOutFraction ${heldOutFraction}, evalSeed ${evalSeed})`,
    );
  } else {
    trainPool = data.train.map((_, i) => i);
    evalPool = data.test.map((_, i) => i);
  }
  const trainPick = subset(trainPool, maxTrain, new Rng(seed).fork('train-sample'));
  const evalPick = subset(evalPool, maxEval, evalRng.fork('eval-sample'));
  const trainFrom = devOnly ? 'the training part' : 'the train split';
  const evalFrom = devOnly ? 'the held-out part' : 'the test split';
  notes.push(
    trainPick.length < trainPool.length
      ? `training: ${count(trainPick.length)} of ${count(trainPool.length)} items of ${trainFrom}, drawn with seed ${seed}`
      : `training: all ${count(trainPool.length)} items of ${trainFrom}`,
    evalPick.length < evalPool.length
      ? `evaluation: ${count(evalPick.length)} of ${count(evalPool.length)} items of ${evalFrom}, drawn with evalSeed ${evalSeed}`
      : `evaluation: all ${count(evalPool.length)} items of ${evalFrom}`,
    ...(data.notes ?? []),
  );
  const common: PreparedCommon = {
    name: data.name,
    source: data.source,
    counts: { devOnly, trainPool: trainPool.length, evalPool: evalPool.length, train: trainPick.length, eval: evalPick.length },
    notes,
  };
  // A dev-only task's training part comes from its test (dev) split.
  if (data.kind === 'multiple-choice') {
    const from = devOnly ? data.test : data.train;
    return { ...common, kind: data.kind, template: data.template, train: trainPick.map((i) => from[i]), eval: evalPick.map((i) => data.test[i]) };
  }
  const from = devOnly ? data.test : data.train;
  return { ...common, kind: data.kind, train: trainPick.map((i) => from[i]), eval: evalPick.map((i) => data.test[i]) };
}

/** At most `k` of the pool, drawn uniformly, in the pool's order. */
function subset(pool: number[], k: number, rng: Rng): number[] {
  if (k >= pool.length) return pool;
  return sorted(permutation(pool.length, rng).slice(0, k)).map((i) => pool[i]);
}

function sorted(xs: number[]): number[] {
  return xs.sort((a, b) => a - b);
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

// ---------------------------------------------------------------------------------------------
// Tokenization

export interface TokenizedChoiceItem {
  /** BOS (when the tokenizer has one), then the prompt, cut from the left if it had to be. */
  prompt: number[];
  /** Each choice's tokens, whole: the continuation the model is scored on. */
  choices: number[][];
  answer: number;
  /** Prompt tokens cut from the left (0: the whole prompt). */
  cut: number;
  id?: string;
}

export interface TruncationReport {
  /** Items tokenized. */
  items: number;
  /** Items whose prompt was cut to fit. */
  truncated: number;
  /** How: e.g. "context cut from the left to fit 512 tokens …". */
  how: string;
  /** Items left out because a choice (target) alone does not fit; their ids. */
  dropped: number;
  droppedIds: string[];
  /** The longest prompt + choice (or target) kept, in tokens. */
  longest: number;
}

/**
 * The item's prompt and choices as token ids, the prompt cut from the left (after BOS) so that it
 * and its longest choice fit in `maxLength` tokens; null when even the longest choice with one
 * prompt token does not fit (the choice is never cut).
 */
export function tokenizeMultipleChoice(
  item: MultipleChoiceItem,
  template: TemplateId | PromptTemplate,
  tokenizer: Tokenizer,
  maxLength: number,
): TokenizedChoiceItem | null {
  const promptText = (typeof template === 'string' ? PROMPT_TEMPLATES[template] : template).prompt(item);
  const bos = tokenizer.bosId !== null;
  const promptIds = tokenizer.encode(promptText, { bos });
  const full = item.choices.map((_, k) => tokenizer.encode(promptText + choiceContinuation(item, k), { bos }));
  // The shared prefix: at most the prompt's own tokens, and every choice keeps at least one token.
  let shared = Math.min(promptIds.length, ...full.map((f) => f.length - 1));
  for (const f of full) {
    let i = 0;
    while (i < shared && f[i] === promptIds[i]) i++;
    shared = i;
  }
  const choices = full.map((f) => f.slice(shared));
  const fitted = fitPrompt(promptIds.slice(0, shared), Math.max(...choices.map((c) => c.length)), maxLength, bos);
  if (fitted === null) return null;
  const tokenized: TokenizedChoiceItem = { prompt: fitted.prompt, choices, answer: item.answer, cut: fitted.cut };
  if (item.id !== undefined) tokenized.id = item.id;
  return tokenized;
}

/** The training sequence of a tokenized item: prompt, then the correct choice as the target. */
export function trainingExample(item: TokenizedChoiceItem): TokenizedExample {
  return { tokens: [...item.prompt, ...item.choices[item.answer]], targetStart: item.prompt.length };
}

/** Every item tokenized (those that cannot fit left out) and the report of what was cut. */
export function tokenizeMultipleChoiceItems(
  items: readonly MultipleChoiceItem[],
  template: TemplateId | PromptTemplate,
  tokenizer: Tokenizer,
  maxLength: number,
): { items: TokenizedChoiceItem[]; report: TruncationReport } {
  const kept: TokenizedChoiceItem[] = [];
  const report = emptyReport(items.length, maxLength, 'choice');
  items.forEach((item, i) => {
    const t = tokenizeMultipleChoice(item, template, tokenizer, maxLength);
    if (t === null) {
      report.dropped++;
      report.droppedIds.push(item.id ?? `item ${i}`);
      return;
    }
    if (t.cut > 0) report.truncated++;
    report.longest = Math.max(report.longest, t.prompt.length + Math.max(...t.choices.map((c) => c.length)));
    kept.push(t);
  });
  return { items: kept, report };
}

/**
 * A generative item as one training sequence: BOS, the prompt (cut from the left to fit), the
 * target and EOS (when the tokenizer has them); null when the target alone does not fit.
 */
export function tokenizeGenerative(item: GenerativeItem, tokenizer: Tokenizer, maxLength: number): { example: TokenizedExample; cut: number } | null {
  const bos = tokenizer.bosId !== null;
  const promptIds = tokenizer.encode(item.prompt, { bos });
  const full = tokenizer.encode(item.prompt + item.target, { bos, eos: tokenizer.eosId !== null });
  let shared = 0;
  const limit = Math.min(promptIds.length, full.length - 1);
  while (shared < limit && full[shared] === promptIds[shared]) shared++;
  const target = full.slice(shared);
  const fitted = fitPrompt(full.slice(0, shared), target.length, maxLength, bos);
  if (fitted === null) return null;
  return { example: { tokens: [...fitted.prompt, ...target], targetStart: fitted.prompt.length }, cut: fitted.cut };
}

export function tokenizeGenerativeItems(
  items: readonly GenerativeItem[],
  tokenizer: Tokenizer,
  maxLength: number,
): { examples: TokenizedExample[]; report: TruncationReport } {
  const examples: TokenizedExample[] = [];
  const report = emptyReport(items.length, maxLength, 'target');
  items.forEach((item, i) => {
    const t = tokenizeGenerative(item, tokenizer, maxLength);
    if (t === null) {
      report.dropped++;
      report.droppedIds.push(item.id ?? `item ${i}`);
      return;
    }
    if (t.cut > 0) report.truncated++;
    report.longest = Math.max(report.longest, t.example.tokens.length);
    examples.push(t.example);
  });
  return { examples, report };
}

function emptyReport(items: number, maxLength: number, continuation: 'choice' | 'target'): TruncationReport {
  return {
    items,
    truncated: 0,
    how: `context cut from the left to fit ${maxLength} tokens (BOS, the end of the prompt and every ${continuation} kept whole)`,
    dropped: 0,
    droppedIds: [],
    longest: 0,
  };
}

/**
 * The prompt, cut from the left after BOS so that `continuation` more tokens fit in `maxLength`;
 * null when not even one prompt token would remain (or the prompt is only BOS).
 */
function fitPrompt(prompt: number[], continuation: number, maxLength: number, bos: boolean): { prompt: number[]; cut: number } | null {
  const head = bos ? 1 : 0;
  const room = maxLength - continuation;
  if (prompt.length <= head || room < head + 1) return null;
  const cut = Math.max(0, prompt.length - room);
  return { prompt: cut === 0 ? prompt : [...prompt.slice(0, head), ...prompt.slice(head + cut)], cut };
}
