// "Fine-tune": the run the address describes (a share link) or the default run, its controls,
// every stage as it goes, the training progress, the three evaluations, and the output folder
// as a zip. All the work happens in the engine worker.

import { useState } from 'react';
import { RUN_STAGES, type EvalPhase, type RunStage } from '../run/stages';
import type { RunSpec } from '../run/spec';
import { useForm } from '../state/form';
import { startFromForm, useStartBlock } from '../state/inspect';
import { useRun, type RunState } from '../state/run';
import { runLinkUrl } from '../share/link';
import { formatBytes, formatCount, formatDuration, plural } from './format';
import { StatusBadge } from './StatusBadge';

const STAGE_LABEL: Record<RunStage, string> = {
  'load-model': 'Load the model',
  'load-task': 'Load the task',
  tokenize: 'Tokenize',
  'eval-before': 'Evaluate before',
  train: 'Train',
  'eval-after': 'Evaluate after',
  merge: 'Merge',
  'eval-merged': 'Evaluate merged',
  export: 'Export',
};

const PHASE_LABEL: Record<EvalPhase, string> = { before: 'Before training', after: 'After (adapters live)', merged: 'After (merged)' };

export function RunPanel() {
  const s = useRun();
  const form = useForm();
  const active = s.status === 'starting' || s.status === 'running' || s.status === 'paused';
  const shown = active || s.status !== 'idle' ? s.spec : form.spec;
  const block = useStartBlock();
  return (
    <section className="panel" aria-labelledby="run-heading">
      <div className="panel-head">
        <h2 id="run-heading">Fine-tune</h2>
        <StatusBadge status={s.status} testId="run-status" />
      </div>
      {shown !== null && <SpecSummary spec={shown} />}
      <div className="controls run-controls">
        <button type="button" onClick={() => void startFromForm()} disabled={active || block !== null} aria-describedby={block !== null ? 'run-start-reason' : undefined} data-testid="run-start">
          {s.status === 'idle' ? 'Start' : 'Start again'}
        </button>
        <button type="button" onClick={() => void s.pause()} disabled={s.status !== 'running'} data-testid="run-pause">
          Pause
        </button>
        <button type="button" onClick={() => void s.resume()} disabled={s.status !== 'paused'} data-testid="run-resume">
          Resume
        </button>
        <button type="button" onClick={() => void s.cancel()} disabled={!active || s.status === 'starting'} data-testid="run-cancel">
          Cancel
        </button>
        <button type="button" onClick={() => void s.downloadZip()} disabled={s.status !== 'done'} data-testid="run-download">
          Download output (.zip)
        </button>
        <ShareButton />
      </div>
      {block !== null && !active && (
        <p id="run-start-reason" className="muted" data-testid="run-start-reason">
          {block}
        </p>
      )}
      <ol className="stages" data-testid="run-stages">
        {RUN_STAGES.map((stage) => (
          <li key={stage} className={`stage stage-${s.stages[stage]}`} data-testid={`run-stage-${stage}`} data-state={s.stages[stage]}>
            {STAGE_LABEL[stage]}
          </li>
        ))}
      </ol>
      <Progress s={s} />
      {s.error !== null && (
        <p className="error-text" role="alert" data-testid="run-error">
          {s.error.stage ? `${STAGE_LABEL[s.error.stage]}: ` : ''}
          {s.error.message}
        </p>
      )}
      <Results s={s} />
    </section>
  );
}

function SpecSummary({ spec }: { spec: RunSpec }) {
  const a = spec.adapter;
  const t = spec.training;
  const model = spec.model.kind === 'preset' ? spec.model.name : spec.model.kind === 'hub' ? `${spec.model.repo} @ ${spec.model.revision}` : spec.model.kind === 'url' ? spec.model.url : `${spec.model.name} (your files)`;
  const task =
    spec.task.kind === 'story'
      ? `story questions (${spec.task.questionTypes.join(', ')}; ${spec.task.characters} children; ${formatCount(spec.task.trainSize)} train / ${formatCount(spec.task.testSize)} test)`
      : spec.task.kind === 'catalog'
        ? spec.task.name
        : `${spec.task.name ?? spec.task.test.name} (your file)`;
  const method = a.method === 'd2lora' ? `D2-LoRA r=${a.r}, α=${a.alpha}, τ=${a.tau}` : `${a.method === 'lora' ? 'LoRA' : 'DoRA'} r=${a.r}, α=${a.alpha}`;
  return (
    <dl className="facts" data-testid="run-spec">
      <dt>Model</dt>
      <dd>{model}</dd>
      <dt>Task</dt>
      <dd>{task}</dd>
      <dt>Method</dt>
      <dd>
        {method} on {spec.targets?.join(', ') ?? 'the attention projections'}
      </dd>
      <dt>Training</dt>
      <dd>
        {plural(t.epochs, 'epoch')}, batch {t.batch}, lr {t.lr} ({t.decay}, {Math.round(100 * t.warmup)}% warm-up), seed {spec.seed}; at most{' '}
        {formatCount(spec.limits.maxTrain)} training and {formatCount(spec.limits.maxEval)} evaluation items of ≤ {spec.limits.maxLength} tokens
      </dd>
    </dl>
  );
}

function ShareButton() {
  const spec = useForm((s) => s.spec);
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    if (spec === null) return;
    let url: string;
    try {
      url = runLinkUrl(spec, location.href);
    } catch (e) {
      setCopied(`No link: ${(e as Error).message}`);
      return;
    }
    try {
      await navigator.clipboard.writeText(url);
      setCopied('Link copied');
    } catch {
      setCopied(url);
    }
  };
  return (
    <>
      <button type="button" onClick={() => void copy()} data-testid="run-share">
        Copy share link
      </button>
      {copied !== null && (
        <span className="muted share-result" data-testid="run-share-result">
          {copied}
        </span>
      )}
    </>
  );
}

function Progress({ s }: { s: RunState }) {
  if (s.status === 'idle') return null;
  const p = s.progress;
  const last = s.steps.at(-1);
  let line = s.status === 'done' && s.metrics !== null ? `Finished in ${formatDuration(s.metrics.timings.totalMs)}.` : s.stageDetail;
  if (s.download !== null) line = `${s.download.file}: ${formatBytes(s.download.loaded)}${s.download.total !== null ? ` of ${formatBytes(s.download.total)}` : ''}`;
  if (s.evalProgress !== null && s.stage !== 'train') line = `${PHASE_LABEL[s.evalProgress.phase]}: ${s.evalProgress.done} of ${s.evalProgress.total} sequences scored`;
  const fraction = s.stage === 'train' && p !== null ? p.step / p.totalSteps : s.evalProgress !== null ? s.evalProgress.done / s.evalProgress.total : null;
  return (
    <div className="run-progress" role="status" aria-live="polite">
      <p data-testid="run-detail">{s.status === 'paused' ? `Paused (${line})` : line}</p>
      {fraction !== null && <progress max={1} value={fraction} data-testid="run-progress-bar" />}
      {p !== null && (
        <p data-testid="run-step">
          epoch {p.epoch + 1} · step {p.step} of {p.totalSteps} · {p.tokensPerSecond.toFixed(0)} tokens/s
          {p.step < p.totalSteps ? ` · about ${formatDuration(p.etaMs)} left` : ''}
        </p>
      )}
      {last !== undefined && (
        <p data-testid="run-loss">
          loss {last.loss.toFixed(4)} · lr {last.lr.toExponential(2)} · gradient norm {last.gradNorm.toFixed(3)}
        </p>
      )}
    </div>
  );
}

function Results({ s }: { s: RunState }) {
  const phases = (Object.keys(PHASE_LABEL) as EvalPhase[]).filter((p) => s.evals[p] !== undefined);
  if (phases.length === 0) return null;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return (
    <div className="table-scroll">
      <table className="cases" data-testid="run-results">
        <caption className="visually-hidden">Accuracy</caption>
        <thead>
          <tr>
            <th scope="col">Evaluation</th>
            <th scope="col" className="num">
              Accuracy ({s.spec.scoring})
            </th>
            <th scope="col" className="num">
              By sum
            </th>
            <th scope="col" className="num">
              By mean
            </th>
            <th scope="col" className="num">
              Items/s
            </th>
          </tr>
        </thead>
        <tbody>
          {s.tokenized !== null && (
            <tr>
              <th scope="row">Chance</th>
              <td className="num">{pct(s.tokenized.chance)}</td>
              <td />
              <td />
              <td />
            </tr>
          )}
          {phases.map((phase) => {
            const e = s.evals[phase]!;
            return (
              <tr key={phase} data-testid={`run-accuracy-${phase}`}>
                <th scope="row">{PHASE_LABEL[phase]}</th>
                <td className="num">{pct(e.accuracy)}</td>
                <td className="num">{pct(e.accuracySum)}</td>
                <td className="num">{pct(e.accuracyMean)}</td>
                <td className="num">{e.itemsPerSecond.toFixed(1)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {s.metrics !== null && (
        <p data-testid="run-summary">
          Merge gap {s.metrics.mergeGapPoints.toFixed(2)} points; merged/unmerged throughput {s.metrics.mergedThroughputRatio.toFixed(2)}×;{' '}
          {s.metrics.train.steps} steps in {formatDuration(s.metrics.timings.trainMs)} ({s.metrics.timings.tokensPerSecond.toFixed(0)} tokens/s). Output:{' '}
          {s.artifacts.length} files, {formatBytes(s.artifacts.reduce((a, f) => a + f.bytes, 0))}.
        </p>
      )}
    </div>
  );
}
