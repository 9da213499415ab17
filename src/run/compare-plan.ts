// What a method comparison (compare.ts) will run and how its table reads, with no engine behind
// it, so that the page can plan a comparison and annotate its table without loading the run core:
// the methods and ablations compared, the default learning-rate grid and dev split, how many runs
// that makes, how a rate is written, the definition of the training-loss volatility and what the
// D2-LoRA paper reports.

import { comparedAdapter, runSpecWith, type RunSpec } from './spec';

export const VOLATILITY_DEFINITION = 'standard deviation of the step-to-step changes of the training loss over the second half of training';

/** What the D2-LoRA paper (arXiv 2602.14728) reports, for the note beside the table. */
export const PAPER_FIGURES = [
  'accuracy: D2-LoRA 76.4% vs LoRA 74.2% averaged over eight QA/RC tasks (+2.2 points; +1.6 vs LoRA at rank 2r), about equal to DoRA',
  'training-loss volatility 36% lower than LoRA',
  'merge gap about 0.03 points (worst 0.7)',
  'evaluation throughput about 1.91× after merging',
  'training overhead 19% against LoRA, shrinking with longer sequences',
  'backbones Llama-3.2-3B and Qwen2.5-7B, 5k samples per task, 2 epochs: far larger models than a browser trains; the relative claims are what this table can test',
] as const;

export interface CompareMethod {
  /** "LoRA r=8", "D2-LoRA r=8, ρ = 0" … */
  label: string;
  spec: RunSpec;
  /** An ablation of D2-LoRA rather than a method of its own. */
  ablation: boolean;
}

/** The default grid around the spec's learning rate. */
export const LR_GRID_FACTORS = [0.4, 1, 2.5] as const;
export const DEFAULT_DEV_ITEMS = 200;

/** The methods at the spec's rank, α and τ (and, with `ablations`, D2-LoRA's), every other setting as the spec has it. */
export function comparisonMethods(spec: RunSpec, ablations = false): CompareMethod[] {
  const { r } = spec.adapter;
  const variant = (adapter: Partial<RunSpec['adapter']>) => runSpecWith({ ...spec, adapter: { ...spec.adapter, ...adapter } });
  const d2 = { method: 'd2lora' as const, project: true, readd: 1, detachNorm: false };
  const methods: CompareMethod[] = [
    { label: `LoRA r=${r}`, spec: variant({ method: 'lora' }), ablation: false },
    { label: `LoRA r=${2 * r}`, spec: variant(comparedAdapter(spec.adapter, 'lora2r')), ablation: false },
    { label: `DoRA r=${r}`, spec: variant({ method: 'dora' }), ablation: false },
    { label: `D2-LoRA r=${r}`, spec: variant(d2), ablation: false },
  ];
  if (!ablations) return methods;
  return [
    ...methods,
    { label: `D2-LoRA r=${r}, projection off`, spec: variant({ ...d2, project: false }), ablation: true },
    { label: `D2-LoRA r=${r}, ρ = 0`, spec: variant({ ...d2, readd: 0 }), ablation: true },
    { label: `D2-LoRA r=${r}, τ = 0`, spec: variant({ ...d2, tau: 0 }), ablation: true },
    { label: `D2-LoRA r=${r}, τ = 1`, spec: variant({ ...d2, tau: 1 }), ablation: true },
    { label: `D2-LoRA r=${r}, detached norm`, spec: variant({ ...d2, detachNorm: true }), ablation: true },
  ];
}

/** The runs of a comparison: per method, a selection run per rate (when the grid has two or more) and a run per seed. */
export function comparisonRunCount(methods: number, gridRates: number, seeds: number): number {
  return methods * ((gridRates > 1 ? gridRates : 0) + seeds);
}

/** The grid of rates around a spec's: LR_GRID_FACTORS × its lr, capped at 1. */
export function defaultLrGrid(spec: RunSpec): number[] {
  return LR_GRID_FACTORS.map((f) => Math.min(1, Number((f * spec.training.lr).toPrecision(3))));
}

/** 0.005 → "5e-3", 0.0125 → "1.3e-2". */
export function formatRate(lr: number): string {
  return lr.toExponential(1).replace('.0e', 'e');
}
