// The stages of a run, in order, and its evaluations: what the page lists before any engine code
// is loaded (this module imports nothing).

export const RUN_STAGES = ['load-model', 'load-task', 'tokenize', 'eval-before', 'train', 'eval-after', 'merge', 'eval-merged', 'export'] as const;
export type RunStage = (typeof RUN_STAGES)[number];

/** The three evaluations: the untrained model, the adapters live, the merged weights. */
export type EvalPhase = 'before' | 'after' | 'merged';
export const EVAL_PHASES: readonly EvalPhase[] = ['before', 'after', 'merged'];
