// What the comparison of runs draws from their records: their losses on one x axis (by step, or
// by epoch: step ÷ the run's steps per epoch, so runs of other batch or data sizes line up), each
// smoothed as the Train section smooths its curve, and their settings as rows, only those that
// differ unless all are asked for, named as the setup names them.

import { specDifferences, type RunSpec } from '../../run/spec';
import { fieldLabel } from '../../state/form';
import type { RunRecord } from '../../store/record';
import { smoothEma } from '../train/smoothing';

export type CompareAlign = 'step' | 'epoch';

/** What the curves need of a record. */
type Curves = Pick<RunRecord, 'spec' | 'summary' | 'curves'>;

/** Training steps in one epoch of the run: its total steps over its epochs (what the trainer planned, also when it stopped early). */
export function stepsPerEpoch(record: Curves): number {
  const total = Math.max(record.summary.totalSteps, record.curves.loss.length);
  return Math.max(1, total / record.spec.training.epochs);
}

/** Where step `step` (steps done, from 1) lies on the x axis. */
export function xOf(step: number, align: CompareAlign, perEpoch: number): number {
  return align === 'step' ? step : step / perEpoch;
}

/** The x axis's extent for these runs: 1 … the longest run's steps, or 0 … its epochs. */
export function xRange(records: readonly Curves[], align: CompareAlign): [number, number] {
  const steps = records.map((r) => Math.max(r.summary.totalSteps, r.curves.loss.length));
  if (align === 'step') return [1, Math.max(2, ...steps)];
  return [0, Math.max(...records.map((r, i) => steps[i]! / stepsPerEpoch(r)), 1)];
}

/**
 * The runs' losses on one x axis, as uPlot draws several series over one x array: x is every
 * run's points merged and sorted; for each run, in order, its raw loss, its smoothed loss and its
 * held-out losses. A value is undefined where the run has no point at that x (uPlot draws the
 * line across), null where the run's loss was not finite (a gap: the run diverged there).
 */
export function overlaidLosses(records: readonly Curves[], align: CompareAlign, smoothing: number): {
  data: [number[], ...(number | null | undefined)[][]];
  /** Each run's loss points (its training steps recorded). */
  points: number[];
} {
  const perRun = records.map((r) => {
    const perEpoch = stepsPerEpoch(r);
    const xs = r.curves.loss.map((_, i) => xOf(i + 1, align, perEpoch));
    return {
      xs,
      raw: r.curves.loss.map((l) => (Number.isFinite(l) ? l : null)),
      smoothed: smoothEma(r.curves.loss, smoothing),
      heldOut: new Map(r.curves.heldOut.map((h) => [xOf(h.step, align, perEpoch), Number.isFinite(h.loss) ? h.loss : null])),
    };
  });
  const x = [...new Set(perRun.flatMap((r) => [...r.xs, ...r.heldOut.keys()]))].sort((a, b) => a - b);
  const at = new Map(x.map((v, i) => [v, i]));
  const series: (number | null | undefined)[][] = [];
  for (const r of perRun) {
    const raw: (number | null | undefined)[] = new Array(x.length).fill(undefined);
    const smoothed: (number | null | undefined)[] = new Array(x.length).fill(undefined);
    const heldOut: (number | null | undefined)[] = new Array(x.length).fill(undefined);
    r.xs.forEach((v, i) => {
      raw[at.get(v)!] = r.raw[i];
      smoothed[at.get(v)!] = r.smoothed[i];
    });
    for (const [v, loss] of r.heldOut) heldOut[at.get(v)!] = loss;
    series.push(raw, smoothed, heldOut);
  }
  return { data: [x, ...series], points: perRun.map((r) => r.xs.length) };
}

// ---------------------------------------------------------------------------------------------
// The settings

export interface SettingRow {
  /** The field's path in the spec, "training.lr". */
  path: string;
  /** The page's name for it ("Learning rate"), or the path where the page names none. */
  label: string;
  /** Each run's value, in the order of the specs (undefined where its spec has no such field). */
  values: unknown[];
  /** Whether the runs' values differ. */
  differs: boolean;
}

/**
 * The runs' settings as rows: each field of their specs down to the values (an array, such as
 * the target modules, is one value; a field that is an object in one spec and not in another,
 * such as early stopping on and off, is one row). Only the rows where the specs differ —
 * specDifferences over every pair — unless `all`.
 */
export function settingRows(specs: readonly RunSpec[], all: boolean): SettingRow[] {
  const differing: string[] = [];
  for (let i = 0; i < specs.length; i++) for (let j = i + 1; j < specs.length; j++) differing.push(...specDifferences(specs[i]!, specs[j]!).map((p) => p.join('.')));
  const under = (a: string, b: string) => a === b || a.startsWith(`${b}.`);
  const rows: SettingRow[] = [];
  const walk = (values: unknown[], path: string[]) => {
    const objects = values.filter(isObject);
    if (path.length > 0 && objects.length !== values.length) {
      const p = path.join('.');
      const differs = differing.some((d) => under(d, p) || under(p, d));
      if (all || differs) rows.push({ path: p, label: fieldLabel(p), values, differs });
      return;
    }
    for (const key of [...new Set(objects.flatMap((o) => Object.keys(o)))]) walk(values.map((v) => (isObject(v) ? v[key] : undefined)), [...path, key]);
  };
  if (specs.length > 0) walk([...specs], []);
  return rows;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
