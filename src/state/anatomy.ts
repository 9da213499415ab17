// "Inside the adapter" on the page: what training did to every adapted module (layer ×
// projection), from src/run/anatomy.ts — of a finished run, its metrics' anatomy; of a paused
// one, measured in the worker from the adapters as they stand (client.anatomy). The store holds
// the figure the heatmap shows, the module picked and the distribution its histogram shows, and
// the paused run's measurement; the pure functions below say which figures a method has, each
// module's value of a figure, and the colour scale's range.

import { useEffect } from 'react';
import { create } from 'zustand';
import type { Distribution } from '../adapters/anatomy';
import type { AdapterAnatomy, ModuleAnatomy } from '../run/anatomy';
import { useRun } from './run';
import { engine, forgetIfBroken } from './worker';

/** The heatmap's figures, one number per module. */
export type AnatomyFigure = 'updateRatio' | 'plusNorm' | 'minusNorm' | 'minusOverPlus' | 'medianDrift' | 'medianScale' | 'medianMagnitude';
/** The per-row distributions a module's histogram shows. */
export type RowQuantity = 'rowScale' | 'rowDrift' | 'magnitudeRatio';

export interface FigureInfo {
  label: string;
  /** What it measures, in one line. */
  explain: string;
  /** 'sequential': 0 up to the largest value; 'diverging': around `centre`, as far each way as the farthest value. */
  scale: { kind: 'sequential' } | { kind: 'diverging'; centre: number };
  /** The module's value; null where the method has no such figure. */
  value(e: ModuleAnatomy): number | null;
}

export const FIGURES: Record<AnatomyFigure, FigureInfo> = {
  updateRatio: {
    label: 'Update ratio',
    explain: '‖ΔW‖_F / ‖W0‖_F: how large the learned update is against the frozen weight.',
    scale: { kind: 'sequential' },
    value: (e) => e.updateRatio,
  },
  plusNorm: {
    label: 'Plus norm',
    explain: '‖s·U₊D₊‖_F: the size of the branch D2-LoRA adds.',
    scale: { kind: 'sequential' },
    value: (e) => e.branches?.plus ?? null,
  },
  minusNorm: {
    label: 'Minus norm',
    explain: '‖sτ·U₋D₋‖_F: the size of the branch D2-LoRA subtracts, τ included.',
    scale: { kind: 'sequential' },
    value: (e) => e.branches?.minus ?? null,
  },
  minusOverPlus: {
    label: 'Minus ÷ plus',
    explain: 'The minus branch’s norm over the plus branch’s: 0 when only the plus branch learned, near 1 when both are as large.',
    scale: { kind: 'sequential' },
    value: (e) => (e.branches === null ? null : e.branches.plus === 0 ? NaN : e.branches.minus / e.branches.plus),
  },
  medianDrift: {
    label: 'Median drift',
    explain: 'The median over the output rows of ‖W_eff,j‖ / ‖W0,j‖ − 1: how far the rows’ norms moved from the frozen weight’s (0: kept).',
    scale: { kind: 'diverging', centre: 0 },
    value: (e) => e.rowDrift.median,
  },
  medianScale: {
    label: 'Median g',
    explain: 'The median over the rows of the rescale g_j the norm projection applies (D2-LoRA: ‖W0,j‖ / ‖W0,j + ΔW_j‖; DoRA: m_j / ‖W0,j + ΔW_j‖; 1: none).',
    scale: { kind: 'diverging', centre: 1 },
    value: (e) => e.rowScale?.median ?? null,
  },
  medianMagnitude: {
    label: 'Median m ÷ ‖W0‖',
    explain: 'DoRA: the median over the rows of the learned magnitude m_j against the frozen row norm ‖W0,j‖ (1: unchanged).',
    scale: { kind: 'diverging', centre: 1 },
    value: (e) => e.magnitudeRatio?.median ?? null,
  },
};

export const ROW_QUANTITIES: Record<RowQuantity, { label: string; explain: string; centre: number; of(e: ModuleAnatomy): Distribution | null }> = {
  rowScale: {
    label: 'Row rescale g_j',
    explain: 'Each output row’s rescale by the norm projection (1: the row is left as W0 + ΔW made it).',
    centre: 1,
    of: (e) => e.rowScale,
  },
  rowDrift: {
    label: 'Row norm drift',
    explain: 'Each output row’s ‖W_eff,j‖ / ‖W0,j‖ − 1: how far its norm moved from the frozen weight’s (0: kept).',
    centre: 0,
    of: (e) => e.rowDrift,
  },
  magnitudeRatio: {
    label: 'Magnitude m_j ÷ ‖W0,j‖',
    explain: 'DoRA’s learned magnitude of each row against the frozen row norm (1: unchanged).',
    centre: 1,
    of: (e) => e.magnitudeRatio,
  },
};

const FIGURE_ORDER: readonly AnatomyFigure[] = ['updateRatio', 'plusNorm', 'minusNorm', 'minusOverPlus', 'medianDrift', 'medianScale', 'medianMagnitude'];
const QUANTITY_ORDER: readonly RowQuantity[] = ['rowScale', 'rowDrift', 'magnitudeRatio'];

/** The figures an adapter has (the others are null for every module of it: LoRA has no branches and no rescale). */
export function figuresOf(anatomy: AdapterAnatomy): AnatomyFigure[] {
  return FIGURE_ORDER.filter((f) => anatomy.entries.some((e) => FIGURES[f].value(e) !== null));
}

/** The distributions a module has. */
export function quantitiesOf(entry: ModuleAnatomy): RowQuantity[] {
  return QUANTITY_ORDER.filter((q) => ROW_QUANTITIES[q].of(entry) !== null);
}

/** What an adapter lacks, said once instead of empty panels; null when it has every figure of its method. */
export function missingFiguresNote(anatomy: AdapterAnatomy): string | null {
  const has = new Set(figuresOf(anatomy));
  if (anatomy.method === 'lora') {
    return 'LoRA adds ΔW to the frozen weight as it is: it has no plus and minus branches and no per-row rescale, so only the update ratio and the rows’ norm drift apply.';
  }
  if (anatomy.method === 'dora') return 'DoRA has one low-rank branch (no plus and minus norms); its rows are rescaled to the learned magnitude m_j.';
  if (!has.has('medianScale')) return 'This D2-LoRA adapter has its norm projection off: W_eff = W0 + ΔW, so there is no per-row rescale g_j.';
  return null;
}

/** The heatmap of one figure: a value per layer (row) and module (column); undefined where a module of a layer is not adapted. */
export interface Heatmap {
  layers: number;
  modules: string[];
  cell(layer: number, module: string): { entry: ModuleAnatomy; value: number } | undefined;
  /** The colour scale: from `lo` to `hi` (diverging: centred, as far each way as the farthest value). */
  range: { lo: number; hi: number; centre: number | null };
}

export function heatmapOf(anatomy: AdapterAnatomy, figure: AnatomyFigure): Heatmap {
  const info = FIGURES[figure];
  const cells = new Map<string, { entry: ModuleAnatomy; value: number }>();
  const values: number[] = [];
  for (const entry of anatomy.entries) {
    const value = info.value(entry);
    if (value === null) continue;
    cells.set(`${entry.layer}/${entry.module}`, { entry, value });
    if (Number.isFinite(value)) values.push(value);
  }
  let range: Heatmap['range'];
  if (info.scale.kind === 'sequential') {
    range = { lo: 0, hi: values.length > 0 ? Math.max(0, ...values) : 0, centre: null };
  } else {
    const c = info.scale.centre;
    const reach = values.reduce((a, v) => Math.max(a, Math.abs(v - c)), 0);
    range = { lo: c - reach, hi: c + reach, centre: c };
  }
  return { layers: anatomy.layers, modules: anatomy.modules, cell: (layer, module) => cells.get(`${layer}/${module}`), range };
}

/**
 * A value's place on the colour scale: `side` +1 above the centre (or on a sequential scale), −1
 * below it; `strength` 0 (at the centre, or 0) to 1 (at the end of the range). NaN has none.
 */
export function shadeOf(value: number, range: Heatmap['range']): { side: 1 | -1; strength: number } | null {
  if (!Number.isFinite(value)) return null;
  const centre = range.centre ?? range.lo;
  const reach = range.hi - centre;
  if (reach <= 0) return { side: 1, strength: 0 };
  const t = (value - centre) / reach;
  return { side: t < 0 ? -1 : 1, strength: Math.min(1, Math.abs(t)) };
}

/** A figure for people: three significant digits, exponents for the very small and very large. */
export function formatFigure(v: number): string {
  if (!Number.isFinite(v)) return '—';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a < 1e-3 || a >= 1e5 ? v.toExponential(2) : v.toPrecision(3);
}

/** The module training moved most: the default pick. */
export function largestUpdate(anatomy: AdapterAnatomy): ModuleAnatomy | null {
  return anatomy.entries.reduce<ModuleAnatomy | null>((best, e) => (best === null || e.updateRatio > best.updateRatio ? e : best), null);
}

// ---------------------------------------------------------------------------------------------
// The store

/** The anatomy of a paused run, measured in the worker at a step. */
export interface PausedMeasurement {
  runId: number;
  step: number;
  status: 'measuring' | 'ready' | 'failed';
  anatomy: AdapterAnatomy | null;
  error: string | null;
}

export interface AnatomyState {
  /** The heatmap's figure (one the adapter has; the update ratio otherwise). */
  figure: AnatomyFigure;
  /** The module whose histogram shows (null: the one with the largest update). */
  selected: { layer: number; module: string } | null;
  quantity: RowQuantity | null;
  paused: PausedMeasurement | null;
  pickFigure(figure: AnatomyFigure): void;
  select(cell: { layer: number; module: string }): void;
  pickQuantity(q: RowQuantity): void;
  /** Measures the paused run `runId`'s adapters as they stand after `step` steps (once per pause). */
  measurePaused(runId: number, step: number): Promise<void>;
}

export const useAnatomy = create<AnatomyState>()((set, get) => ({
  figure: 'updateRatio',
  selected: null,
  quantity: null,
  paused: null,
  pickFigure: (figure) => set({ figure }),
  select: (selected) => set({ selected }),
  pickQuantity: (quantity) => set({ quantity }),
  async measurePaused(runId, step) {
    const p = get().paused;
    if (p !== null && p.runId === runId && p.step === step && p.status !== 'failed') return;
    const mine = (s: AnatomyState) => s.paused?.runId === runId && s.paused.step === step;
    set({ paused: { runId, step, status: 'measuring', anatomy: null, error: null } });
    try {
      const { anatomy } = await (await engine()).client.anatomy(runId);
      if (mine(get())) set({ paused: { runId, step, status: 'ready', anatomy, error: null } });
    } catch (e) {
      forgetIfBroken(e);
      if (mine(get())) set({ paused: { runId, step, status: 'failed', anatomy: null, error: e instanceof Error ? e.message : String(e) } });
    }
  },
}));

/** What the section shows: the run's anatomy (finished, or paused and measured), or why there is none yet. */
export type ShownAnatomy =
  | { kind: 'none'; why: 'idle' | 'training' | 'stopped' }
  | { kind: 'measuring'; step: number }
  | { kind: 'failed'; message: string }
  /** `step`: the step whose adapters these are (early stopping keeps an earlier one than the last, `early`). */
  | { kind: 'ready'; anatomy: AdapterAnatomy; of: 'finished' | 'paused'; step: number; totalSteps: number | null; early: boolean };

/** The current run's anatomy: a finished run's from its metrics, a paused run's measured in the worker (asked for here when the run pauses). */
export function useShownAnatomy(): ShownAnatomy {
  const status = useRun((s) => s.status);
  const runId = useRun((s) => s.runId);
  const metrics = useRun((s) => s.metrics);
  const step = useRun((s) => s.progress?.step ?? s.steps.length);
  const total = useRun((s) => s.tokenized?.totalSteps ?? null);
  const paused = useAnatomy((s) => s.paused);
  const measurePaused = useAnatomy((s) => s.measurePaused);
  const pausedNow = status === 'paused' && runId !== null;
  useEffect(() => {
    if (pausedNow) void measurePaused(runId, step);
  }, [pausedNow, runId, step, measurePaused]);
  if (status === 'done' && metrics !== null) {
    const kept = metrics.earlyStopping?.bestStep;
    return { kind: 'ready', anatomy: metrics.anatomy, of: 'finished', step: kept ?? metrics.train.steps, totalSteps: metrics.train.steps, early: kept !== undefined };
  }
  if (pausedNow) {
    if (paused === null || paused.runId !== runId || paused.step !== step || paused.status === 'measuring') return { kind: 'measuring', step };
    if (paused.status === 'failed') return { kind: 'failed', message: paused.error! };
    return { kind: 'ready', anatomy: paused.anatomy!, of: 'paused', step, totalSteps: total, early: false };
  }
  if (status === 'idle') return { kind: 'none', why: 'idle' };
  if (status === 'starting' || status === 'running') return { kind: 'none', why: 'training' };
  return { kind: 'none', why: 'stopped' };
}
