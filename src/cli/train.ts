// `d2lora train`: a Run (src/run/run.ts) printed to the terminal — stages, download and scoring
// bars, the training line — then the output folder written and a summary.

import { acquireNodeContext } from '../gpu/node';
import { nodeRunEnvironment } from '../run/node-env';
import { Run, RunCancelledError, type RunEvent, type RunMetrics } from '../run/run';
import type { FlagSpec, FlagValues } from './args';
import { checkOutputFolder, writeOutputFolder } from './output';
import { bar, downloadProgress, formatDuration, statusLine } from './progress';
import { defaultOutFolder, runFromFlags, SPEC_FLAGS } from './spec-flags';
import { formatTable } from './table';

export const trainFlags: Record<string, FlagSpec> = {
  ...SPEC_FLAGS,
  out: { type: 'string', help: 'output folder (default: out/<model>-<task>-<method>-r<r>-s<seed>)' },
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
  const { spec, locations, warnings } = await runFromFlags(flags);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  const out = typeof flags.out === 'string' ? flags.out : defaultOutFolder(spec);
  await checkOutputFolder(out);
  const ctx = await acquireNodeContext();
  process.stderr.write(`GPU: ${ctx.adapter.vendor} ${ctx.adapter.architecture} (${ctx.adapter.description})\n`);
  const run = new Run(nodeRunEnvironment(ctx, locations), spec);
  run.events.on(terminalPrinter());
  const onSigint = () => {
    process.stderr.write('\ninterrupted: stopping after the current step…\n');
    run.cancel();
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
      process.stderr.write(`d2lora train: ${e.message}; nothing was written\n`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    ctx.destroy();
  }
}
