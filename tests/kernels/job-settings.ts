// The shortened main job the kernel tier runs (tests/kernels/job.test.ts): the same code path as
// `d2lora train` (runJob: protocol, tokenizing, evaluation, D2-LoRA r=8 α=16 τ=0.5 on q,k,v,o,
// merge, export), on a story set small enough to finish in minutes on a CPU Vulkan driver:
// 600 colour questions about two children, two epochs of 75 steps. So few steps need a higher
// learning rate than the full run's default; measured here, accuracy 29.5% → 53.5% (chance 25%).

import type { StoryOptions } from '../../src/tasks/story';
import type { JobConfig } from '../../src/train/job';

export const SHORT_JOB: { story: StoryOptions; job: JobConfig; margin: number } = {
  story: { trainSize: 600, testSize: 100, seed: 0, questionTypes: ['color'], characters: 2 },
  job: {
    adapter: { method: 'd2lora', r: 8, alpha: 16, tau: 0.5 },
    train: { lr: 1e-2, batchSize: 8, epochs: 2, seed: 0 },
    maxTrain: 600,
    maxEval: 100,
    scoring: 'sum',
  },
  /** Accuracy points above chance the shortened run must reach. */
  margin: 0.15,
};
