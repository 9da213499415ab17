// How the history words a run's figures and settings: accuracies and the merge gap as the Train
// section shows them, steps, dates, statuses, and a spec field's value in the settings table.

import type { RunRecordStatus } from '../../store/record';
import type { RunEntry } from '../../store/store';
import { formatCount } from '../format';

/** 0.4167 → "41.7%"; null (that evaluation did not run) → "—". */
export function accuracyText(a: number | null): string {
  return a === null ? '—' : `${(100 * a).toFixed(1)}%`;
}

/** The merge gap as the Train section shows it: "0.00 pts". */
export function mergeGapText(points: number | null): string {
  return points === null ? '—' : `${points.toFixed(2)} pts`;
}

/** "20 of 20 steps", "12 of 20 steps". */
export function stepsText(s: RunEntry['summary']): string {
  return s.stepsDone === s.totalSteps ? `${formatCount(s.totalSteps)} steps` : `${formatCount(s.stepsDone)} of ${formatCount(s.totalSteps)} steps`;
}

/** "12 Mar 2026, 14:05" in the reader's own locale. */
export function dateText(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** What a run's status is on the page: the stored one, or, for the run going on now, its own. */
export type ShownStatus = RunRecordStatus | 'running' | 'paused';

export const STATUS_BADGE: Record<ShownStatus, string> = {
  done: 'badge-ok',
  running: 'badge-busy',
  paused: 'badge-busy',
  interrupted: 'badge-busy',
  failed: 'badge-bad',
  cancelled: 'badge-idle',
};

/** What null means in the spec's nullable fields (src/run/spec.ts). */
const NULL_MEANS: Readonly<Record<string, string>> = {
  targets: 'the attention projections',
  'training.heldOutEvery': 'about 10 an epoch',
  'training.earlyStopping': 'off',
};

/** A spec field's value as the settings table shows it: text as it is, lists joined, null as what it means there. */
export function settingText(path: string, v: unknown): string {
  if (v === undefined) return '—';
  if (v === null) return NULL_MEANS[path] ?? 'none';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string' || typeof v === 'number') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.join(', ');
  return JSON.stringify(v);
}
