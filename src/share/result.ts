// A run's result as a share link carries it beside the spec (`&result=1.<payload>`, see
// link.ts): the three accuracies, the number of evaluation items and of steps, and the training
// loss downsampled to at most RESULT_LOSS_POINTS points. A recipient who reproduces the run sees
// their own curve over the sender's and whether the accuracies agree. The summary is small (a
// few hundred characters in a link), validated field by field, and never trusted beyond that:
// numbers within their ranges, short plain strings.

import { z } from 'zod';

export const RESULT_VERSION = 1;
/** The most loss points a summary holds: enough to see a curve's shape, few enough for a link. */
export const RESULT_LOSS_POINTS = 64;
/** Significant digits kept of each loss point: the curve is for the eye; the accuracies are exact. */
const LOSS_DIGITS = 4;

const ACCURACY = z.number().min(0).max(1);
export const ResultSummarySchema = z.strictObject({
  version: z.literal(RESULT_VERSION),
  accuracy: z.strictObject({ before: ACCURACY, after: ACCURACY, merged: ACCURACY }),
  /** Evaluation items: two accuracies agree when they count the same number of them right. */
  items: z.number().int().min(1).max(10_000_000),
  steps: z.number().int().min(1).max(100_000_000),
  /** The training loss, each point the mean over an equal share of the steps, in order. */
  loss: z.array(z.number().min(0).max(1e6)).min(1).max(RESULT_LOSS_POINTS),
  /** The sender's GPU, as the browser named it (for "same device?" when results differ). */
  device: z.string().max(120).regex(/^[\x20-\x7e]*$/, 'printable ASCII'),
});
export type ResultSummary = z.output<typeof ResultSummarySchema>;

/** What a finished run's summary is made of (RunMetrics has all of it). */
export interface ResultSource {
  before: { accuracy: number; items: number };
  after: { accuracy: number };
  merged: { accuracy: number };
  steps: readonly { loss: number }[];
  device: { vendor: string; architecture: string };
}

export function summarizeResult(m: ResultSource): ResultSummary {
  const device = `${m.device.vendor} ${m.device.architecture}`.replace(/[^\x20-\x7e]/g, '?').trim().slice(0, 120);
  return {
    version: RESULT_VERSION,
    accuracy: { before: m.before.accuracy, after: m.after.accuracy, merged: m.merged.accuracy },
    items: m.before.items,
    steps: m.steps.length,
    loss: downsampleLoss(m.steps.map((s) => s.loss)).map((x) => Number(x.toPrecision(LOSS_DIGITS))),
    device,
  };
}

/**
 * The losses as at most `points` means over consecutive, equal shares of the steps (share k is
 * steps [⌊kn/p⌋, ⌊(k+1)n/p⌋)); all of them when there are no more than `points`.
 */
export function downsampleLoss(losses: readonly number[], points = RESULT_LOSS_POINTS): number[] {
  const n = losses.length;
  if (n <= points) return [...losses];
  const out: number[] = [];
  for (let k = 0; k < points; k++) {
    const from = Math.floor((k * n) / points);
    const to = Math.floor(((k + 1) * n) / points);
    let sum = 0;
    for (let i = from; i < to; i++) sum += losses[i]!;
    out.push(sum / (to - from));
  }
  return out;
}

/** The step (1-based, fractional) at the middle of each of a summary's loss points: where to draw them on a curve by step. */
export function lossPointSteps(summary: Pick<ResultSummary, 'steps' | 'loss'>): number[] {
  const p = summary.loss.length;
  return summary.loss.map((_, k) => {
    const from = Math.floor((k * summary.steps) / p);
    const to = Math.floor(((k + 1) * summary.steps) / p);
    return (from + to + 1) / 2;
  });
}

export interface ResultAgreement {
  /** Whether every accuracy counts the same number of items right (and the runs had as many items and steps). */
  agree: boolean;
  /** Per accuracy: the sender's, this run's, and the difference in points (this − sender). */
  accuracies: { phase: 'before' | 'after' | 'merged'; sender: number; mine: number; diffPoints: number }[];
  /** Why the runs cannot be compared item for item, if so. */
  mismatch: string | null;
}

/** This run's result against the sender's. */
export function compareWithSender(sender: ResultSummary, mine: ResultSource): ResultAgreement {
  const phases = ['before', 'after', 'merged'] as const;
  const items = mine.before.items;
  const accuracies = phases.map((phase) => {
    const m = mine[phase].accuracy;
    const s = sender.accuracy[phase];
    return { phase, sender: s, mine: m, diffPoints: 100 * (m - s) };
  });
  const mismatch =
    sender.items !== items
      ? `the sender's run scored ${sender.items} items, this one ${items}`
      : sender.steps !== mine.steps.length
        ? `the sender's run trained ${sender.steps} steps, this one ${mine.steps.length}`
        : null;
  // The same count of items right: within half an item of each other.
  const agree = mismatch === null && accuracies.every((a) => Math.abs(a.mine - a.sender) * items < 0.5);
  return { agree, accuracies, mismatch };
}
