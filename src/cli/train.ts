// `d2lora train`: the main job from the terminal — load, evaluate, train with a progress bar,
// evaluate unmerged and merged, write the output folder, print a summary.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ADAPTER_METHODS, type AdapterConfig } from '../adapters/config';
import { acquireNodeContext } from '../gpu/node';
import { resolveSourceString } from '../io/load';
import { loadModelInNode } from '../io/node-source';
import { loadTaskInNode } from '../tasks/node';
import { STORY_QUESTION_TYPES, type StoryOptions, type StoryQuestionType } from '../tasks/story';
import { CHOICE_SCORINGS, type ChoiceScoring } from '../train/eval';
import { JOB_DEFAULTS, runJob, type JobConfig, type JobMetrics } from '../train/job';
import { LR_DECAYS, type LrDecay } from '../train/schedule';
import { UsageError, type FlagSpec, type FlagValues } from './args';
import { bar, downloadProgress, formatDuration, statusLine } from './progress';
import { formatTable } from './table';

export const trainFlags: Record<string, FlagSpec> = {
  model: { type: 'string', help: 'preset name, Hugging Face folder or URL, or llama2.c .bin', default: JOB_DEFAULTS.model },
  task: { type: 'string', help: 'built-in "story", a catalog task (boolq, piqa, social_i_qa, winogrande, ARC-Easy, ARC-Challenge, openbookqa)', default: JOB_DEFAULTS.task },
  method: { type: 'string', help: `adapter method: ${ADAPTER_METHODS.join(', ')}`, default: JOB_DEFAULTS.method },
  r: { type: 'number', help: 'rank (D2-LoRA: of each branch)', default: JOB_DEFAULTS.r },
  alpha: { type: 'number', help: 'scale numerator α (s = α/r)', default: JOB_DEFAULTS.alpha },
  tau: { type: 'number', help: 'D2-LoRA minus-branch weight τ', default: JOB_DEFAULTS.tau },
  targets: { type: 'string', help: 'comma-separated module names', default: JOB_DEFAULTS.targets },
  lr: { type: 'number', help: 'peak learning rate', default: JOB_DEFAULTS.lr },
  batch: { type: 'number', help: 'examples per step', default: JOB_DEFAULTS.batch },
  'seq-len': { type: 'number', help: 'longest prompt + answer in tokens', default: 256 },
  epochs: { type: 'number', help: 'passes over the training set', default: JOB_DEFAULTS.epochs },
  seed: { type: 'number', help: 'seed of the data draw, order and adapter init', default: JOB_DEFAULTS.seed },
  'max-train': { type: 'number', help: 'training examples at most (the 5k protocol)', default: 5000 },
  'max-eval': { type: 'number', help: 'evaluation items at most', default: 1000 },
  scoring: { type: 'string', help: `choice scoring: ${CHOICE_SCORINGS.join(', ')} (summed or per-token log-likelihood)`, default: 'sum' },
  decay: { type: 'string', help: `learning-rate decay after warm-up: ${LR_DECAYS.join(', ')}`, default: 'linear' },
  warmup: { type: 'number', help: 'fraction of steps spent warming up', default: 0.05 },
  'story-types': { type: 'string', help: `story task: question types (${STORY_QUESTION_TYPES.join(', ')}); default: the task's (color)` },
  'story-characters': { type: 'number', help: "story task: children per story (1-6); default: the task's (2)" },
  out: { type: 'string', help: 'output folder (default: out/<model>-<task>-<method>-r<r>-s<seed>)' },
};

/** The story generator options given on the command line (the task's own defaults otherwise). */
export function storyOptionsFromFlags(flags: FlagValues): StoryOptions {
  const options: StoryOptions = {};
  if (typeof flags['story-types'] === 'string') options.questionTypes = flags['story-types'].split(',').map((t) => t.trim()) as StoryQuestionType[];
  if (typeof flags['story-characters'] === 'number') options.characters = flags['story-characters'];
  return options;
}

export function jobConfigFromFlags(flags: FlagValues): JobConfig {
  const method = String(flags.method) as AdapterConfig['method'];
  if (!ADAPTER_METHODS.includes(method)) throw new UsageError(`--method must be one of ${ADAPTER_METHODS.join(', ')}, got "${flags.method}"`);
  const scoring = String(flags.scoring) as ChoiceScoring;
  if (!CHOICE_SCORINGS.includes(scoring)) throw new UsageError(`--scoring must be one of ${CHOICE_SCORINGS.join(', ')}, got "${flags.scoring}"`);
  const decay = String(flags.decay) as LrDecay;
  if (!LR_DECAYS.includes(decay)) throw new UsageError(`--decay must be one of ${LR_DECAYS.join(', ')}, got "${flags.decay}"`);
  const seed = Number(flags.seed);
  return {
    adapter: { method, r: Number(flags.r), alpha: Number(flags.alpha), tau: Number(flags.tau), seed },
    targets: String(flags.targets).split(',').map((t) => t.trim()).filter(Boolean),
    train: { lr: Number(flags.lr), batchSize: Number(flags.batch), epochs: Number(flags.epochs), seed, decay, warmupRatio: Number(flags.warmup) },
    maxLength: Number(flags['seq-len']),
    maxTrain: Number(flags['max-train']),
    maxEval: Number(flags['max-eval']),
    scoring,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function summaryTable(m: JobMetrics): string {
  return formatTable(
    ['', 'accuracy', 'by sum', 'by mean', 'items/s'],
    [
      ['chance', pct(m.chance), '', '', ''],
      ['before training', pct(m.before.accuracy), pct(m.before.accuracySum), pct(m.before.accuracyMean), m.before.itemsPerSecond],
      ['after (adapters live)', pct(m.after.accuracy), pct(m.after.accuracySum), pct(m.after.accuracyMean), m.after.itemsPerSecond],
      ['after (merged)', pct(m.merged.accuracy), pct(m.merged.accuracySum), pct(m.merged.accuracyMean), m.merged.itemsPerSecond],
    ],
  );
}

export async function trainCommand(flags: FlagValues): Promise<number> {
  const cfg = jobConfigFromFlags(flags);
  const modelName = String(flags.model);
  const model = await loadModelInNode(resolveSourceString(modelName), { onProgress: downloadProgress() });
  for (const w of model.warnings) process.stderr.write(`warning: ${w}\n`);
  const task = await loadTaskInNode(String(flags.task), { onProgress: downloadProgress(), story: storyOptionsFromFlags(flags) });
  const out = typeof flags.out === 'string' ? flags.out : join('out', `${model.name}-${task.name}-${cfg.adapter.method}-r${cfg.adapter.r}-s${cfg.train.seed}`);
  const ctx = await acquireNodeContext();
  process.stderr.write(`GPU: ${ctx.adapter.vendor} ${ctx.adapter.architecture} (${ctx.adapter.description})\n`);
  const controller = new AbortController();
  const onSigint = () => {
    process.stderr.write('\ninterrupted: stopping after the current step…\n');
    controller.abort(new Error('interrupted by the user (Ctrl-C)'));
  };
  process.once('SIGINT', onSigint);
  const status = statusLine();
  let lastLoss = NaN;
  try {
    const result = await runJob(ctx, model, task, cfg, {
      signal: controller.signal,
      onStage: (stage, detail) => process.stderr.write(`\n[${stage}] ${detail}\n`),
      onEvalProgress: (done, total) => status(`  scoring ${bar(done / total)} ${done}/${total} sequences`, done === total),
      onLoss: (e) => {
        lastLoss = e.loss;
      },
      onProgress: (p) =>
        status(
          `  epoch ${p.epoch + 1} ${bar(p.step / p.totalSteps)} step ${p.step}/${p.totalSteps} loss ${lastLoss.toFixed(4)} ` +
            `${p.tokensPerSecond.toFixed(0)} tok/s ETA ${formatDuration(p.etaMs)}`,
          p.step === p.totalSteps,
        ),
    });
    await mkdir(out, { recursive: true });
    for (const [name, bytes] of result.artifacts) await writeFile(join(out, name), bytes);
    const m = result.metrics;
    console.log(`\n${m.model.name} on ${m.task.name}, ${m.adapter.method} r=${m.adapter.r}, ${m.train.steps} steps in ${formatDuration(m.timings.trainMs)}:\n`);
    console.log(summaryTable(m));
    console.log(`\nmerge gap ${m.mergeGapPoints.toFixed(2)} pp; merged/unmerged throughput ${m.mergedThroughputRatio.toFixed(2)}×; output in ${out}/`);
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    ctx.destroy();
  }
}
