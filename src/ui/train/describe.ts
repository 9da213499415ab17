// How the Train section words a run: its spec in one line, its stages, its evaluations, and the
// page's names for the spec fields a divergence suggests changing.

import type { EvalPhase, RunStage } from '../../run/stages';
import { TRAIN_SETTING_PATHS, type RunSpec } from '../../run/spec';
import { fieldLabel } from '../../state/form';
import type { TrainingChange } from '../../state/run';
import { formatSetting, type TrainSetting } from '../../train/trainer';
import { formatCount, plural } from '../format';

export const STAGE_LABEL: Record<RunStage, string> = {
  'load-model': 'Load model',
  'load-task': 'Load task',
  tokenize: 'Tokenize',
  'eval-before': 'Evaluate before',
  train: 'Train',
  'eval-after': 'Evaluate after',
  merge: 'Merge',
  'eval-merged': 'Evaluate merged',
  export: 'Export',
};

export const PHASE_LABEL: Record<EvalPhase, string> = { before: 'Before training', after: 'After (adapters live)', merged: 'After (merged)' };

/** A run's spec as the Train section lists it: model, task, method, training. */
export function describeSpec(spec: RunSpec): { model: string; task: string; method: string; training: string } {
  const a = spec.adapter;
  const t = spec.training;
  const model =
    spec.model.kind === 'preset'
      ? spec.model.name
      : spec.model.kind === 'hub'
        ? `${spec.model.repo} @ ${spec.model.revision}`
        : spec.model.kind === 'url'
          ? spec.model.url
          : `${spec.model.name} (your files)`;
  const task =
    spec.task.kind === 'story'
      ? `story questions (${spec.task.questionTypes.join(', ')}; ${formatCount(spec.task.trainSize)} train / ${formatCount(spec.task.testSize)} test)`
      : spec.task.kind === 'catalog'
        ? spec.task.name
        : `${spec.task.name ?? spec.task.test.name} (your file)`;
  const method = a.method === 'd2lora' ? `D2-LoRA r=${a.r}, α=${a.alpha}, τ=${a.tau}` : `${a.method === 'lora' ? 'LoRA' : 'DoRA'} r=${a.r}, α=${a.alpha}`;
  const training =
    `${plural(t.epochs, 'epoch')}, batch ${t.batch}, lr ${t.lr} (${t.decay}, ${Math.round(100 * t.warmup)}% warm-up), seed ${spec.seed}` +
    (t.earlyStopping !== null ? `, early stopping (patience ${t.earlyStopping.patience})` : '');
  return { model, task, method: `${method} on ${spec.targets?.join(', ') ?? 'the attention projections'}`, training };
}

/** Training settings to change, in the form's words: "Weight decay 0.1 and Learning rate 0.1". */
export function describeChange(change: TrainingChange): string {
  const parts = (Object.entries(change) as [TrainSetting, number][]).map(([setting, value]) => `${fieldLabel(TRAIN_SETTING_PATHS[setting].join('.'))} ${formatSetting(value)}`);
  return parts.length <= 1 ? (parts[0] ?? '') : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}
