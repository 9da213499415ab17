// The stages of a run, in order, its evaluations and why it writes a checkpoint: what the page
// (and the run history's records) name before any engine code is loaded (this module imports nothing).

export const RUN_STAGES = ['load-model', 'load-task', 'tokenize', 'eval-before', 'train', 'eval-after', 'merge', 'eval-merged', 'export'] as const;
export type RunStage = (typeof RUN_STAGES)[number];

/** The three evaluations: the untrained model, the adapters live, the merged weights. */
export type EvalPhase = 'before' | 'after' | 'merged';
export const EVAL_PHASES: readonly EvalPhase[] = ['before', 'after', 'merged'];

/** Why a checkpoint was written: training started (the last good state of a run that diverges at once), an epoch ended, a pause, or the interval. */
export const CHECKPOINT_REASONS = ['start', 'epoch', 'pause', 'interval'] as const;
export type CheckpointReason = (typeof CHECKPOINT_REASONS)[number];
