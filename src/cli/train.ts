// `d2lora train`: a Run (src/run/run.ts) printed to the terminal — stages, download and scoring
// bars, the training line — then the output folder written and a summary.

import { acquireNodeContext } from '../gpu/node';
import { nodeRunEnvironment } from '../run/node-env';
import { Run, RunCancelledError, type RunEvent, type RunMetrics } from '../run/run';
import { decodeRunCheckpoint } from '../run/checkpoint';
import { formatPath, specDifferences } from '../run/spec';
import { UsageError, type FlagSpec, type FlagValues } from './args';
import { checkOutputFolder, readFolderFiles, writeOutputFolder } from './output';
import { parseOnnxWeightTypes } from './export-onnx';
import { ONNX_WEIGHT_TYPES } from '../export/onnx';
import { bar, downloadProgress, formatDuration, statusLine } from './progress';
import { defaultOutFolder, runFromFlags, SPEC_FLAGS } from './spec-flags';
import { formatTable } from './table';

export const trainFlags: Record<string, FlagSpec> = {
  ...SPEC_FLAGS,
  out: { type: 'string', help: 'output folder (default: out/<model>-<task>-<method>-r<r>-s<seed>)' },
  checkpoint: {
    type: 'string',
    help: 'folder to keep a checkpoint in while training (replaced whole each time): at the start, after each epoch, on Ctrl-C, and every --checkpoint-every steps or 2 minutes',
  },
  'checkpoint-every': { type: 'string', help: 'also write the checkpoint every N steps (default: by time only)' },
  resume: { type: 'string', help: "go on from the checkpoint in this folder, with its run's settings (ends bit for bit as the run would have); keeps checkpointing there" },
  onnx: { type: 'boolean', help: 'also write the merged model as ONNX: onnx/model.onnx and generation_config.json, for onnxruntime and transformers.js' },
  'onnx-dtype': { type: 'string', help: `with --onnx, the weight types, comma-separated: ${ONNX_WEIGHT_TYPES.join(', ')} (fp16: onnx/model_fp16.onnx)`, shows: 'fp32' },
};

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function summaryTable(m: RunMetrics): string {
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

/** Prints a run's events as the terminal shows them: stage lines, download and scoring bars, the training line. */
export function terminalPrinter(): (e: RunEvent) => void {
  const status = statusLine();
  const downloads = downloadProgress();
  let lastLoss = NaN;
  return (e) => {
    switch (e.type) {
      case 'stage':
        process.stderr.write(`\n[${e.stage}] ${e.detail}\n`);
        break;
      case 'download':
        downloads(e);
        break;
      case 'model':
        for (const w of e.model.warnings) process.stderr.write(`warning: ${w}\n`);
        break;
      case 'eval-progress':
        status(`  scoring ${bar(e.done / e.total)} ${e.done}/${e.total} sequences`, e.done === e.total);
        break;
      case 'step':
        lastLoss = e.loss;
        break;
      case 'progress':
        status(
          `  epoch ${e.epoch + 1} ${bar(e.step / e.totalSteps)} step ${e.step}/${e.totalSteps} loss ${lastLoss.toFixed(4)} ` +
            `${e.tokensPerSecond.toFixed(0)} tok/s ETA ${formatDuration(e.etaMs)}`,
          e.step === e.totalSteps,
        );
        break;
    }
  };
}

export async function trainCommand(flags: FlagValues): Promise<number> {
  if (flags['onnx-dtype'] !== undefined && flags.onnx !== true) throw new UsageError('--onnx-dtype needs --onnx');
  const onnx = flags.onnx === true ? { weightTypes: parseOnnxWeightTypes(typeof flags['onnx-dtype'] === 'string' ? flags['onnx-dtype'] : 'fp32') } : undefined;
  const resumeDir = typeof flags.resume === 'string' ? flags.resume : null;
  const resumeFrom = resumeDir === null ? null : decodeRunCheckpoint(await readFolderFiles(resumeDir, '--resume'));
  const { spec, locations, warnings } = await runFromFlags(flags, resumeFrom === null ? undefined : { spec: resumeFrom.spec, from: `--resume ${resumeDir}` });
  if (resumeFrom !== null) {
    const changed = specDifferences(resumeFrom.spec, spec);
    if (changed.length > 0) throw new UsageError(`--resume goes on with the checkpoint's settings; the flags change ${changed.map(formatPath).join(', ')}: drop them`);
  }
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const out = typeof flags.out === 'string' ? flags.out : defaultOutFolder(spec);
  await checkOutputFolder(out);
  const checkpointDir = typeof flags.checkpoint === 'string' ? flags.checkpoint : resumeDir;
  if (checkpointDir !== null) await checkOutputFolder(checkpointDir, '--checkpoint');
  const everySteps = flags['checkpoint-every'] === undefined ? 0 : Number(flags['checkpoint-every']);
  if (!Number.isInteger(everySteps) || everySteps < 0) throw new UsageError(`--checkpoint-every ${String(flags['checkpoint-every'])}: expected a whole number of steps ≥ 0`);
  if (flags['checkpoint-every'] !== undefined && checkpointDir === null) throw new UsageError('--checkpoint-every needs --checkpoint <folder> to write into');
  const ctx = await acquireNodeContext();
  process.stderr.write(`GPU: ${ctx.adapter.vendor} ${ctx.adapter.architecture} (${ctx.adapter.description})\n`);
  const checkpoints =
    checkpointDir === null
      ? undefined
      : { everySteps, save: (files: Map<string, Uint8Array>) => writeOutputFolder(checkpointDir, files, '--checkpoint') };
  const env = nodeRunEnvironment(ctx, locations);
  const run = resumeFrom === null ? new Run(env, spec, { checkpoints, onnx }) : Run.resume(env, resumeFrom, { checkpoints, onnx });
  run.events.on(terminalPrinter());
  if (resumeFrom !== null) process.stderr.write(`resuming from the checkpoint of step ${resumeFrom.step}/${resumeFrom.totalSteps} (${resumeFrom.reason}, ${resumeFrom.savedAt})\n`);
  let saved: { step: number; totalSteps: number } | null = null;
  run.events.on('checkpoint', (e) => (saved = e));
  // With a checkpoint folder, Ctrl-C pauses first: the pause writes the checkpoint, then the run stops.
  run.events.on('paused', () => run.cancel());
  const onSigint = () => {
    process.stderr.write(`\ninterrupted: stopping after the current step${checkpointDir === null ? '' : `, saving the checkpoint in ${checkpointDir}`}…\n`);
    if (checkpointDir !== null && run.stage === 'train') run.pause();
    else run.cancel();
  };
  process.once('SIGINT', onSigint);
  try {
    const result = await run.start();
    await writeOutputFolder(out, result.artifacts);
    const m = result.metrics;
    console.log(`\n${m.model.name} on ${m.task.name}, ${m.adapter.method} r=${m.adapter.r}, ${m.train.steps} steps in ${formatDuration(m.timings.trainMs)}:\n`);
    console.log(summaryTable(m));
    console.log(`\nmerge gap ${m.mergeGapPoints.toFixed(2)} pp; merged/unmerged throughput ${m.mergedThroughputRatio.toFixed(2)}×; output in ${out}/`);
    return 0;
  } catch (e) {
    if (e instanceof RunCancelledError) {
      const kept = saved as { step: number; totalSteps: number } | null;
      const resumable = kept === null ? '' : `; the checkpoint of step ${kept.step}/${kept.totalSteps} is in ${checkpointDir}: go on with d2lora train --resume ${checkpointDir}`;
      process.stderr.write(`d2lora train: ${e.message}; no output folder was written${resumable}\n`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    ctx.destroy();
  }
}
