// "Train": the run of the form's setup — Start, Pause, Resume, Cancel; every stage as it goes with
// one progress bar and the step it is saved at for going on; the loss, learning-rate and
// gradient-norm curves (with the sender's loss when the link carried a result); early stopping;
// the three evaluations with the merge gap, and whether they agree with the sender's; and, when the
// run stops, why, what to change and how to go on. All the work happens in the engine worker.

import { useId } from 'react';
import { RUN_STAGES } from '../../run/stages';
import type { RunSpec } from '../../run/spec';
import { useForm } from '../../state/form';
import { startFromForm, useStartBlock } from '../../state/inspect';
import { useRun } from '../../state/run';
import { useTry } from '../../state/try';
import { StatusBadge } from '../StatusBadge';
import { Accuracy } from './Accuracy';
import { describeSpec, STAGE_LABEL } from './describe';
import { RunProblem } from './RunProblem';
import { RunProgress } from './RunProgress';
import { formatSavedAt, useSavedCheckpoint } from './saved';
import { SenderResult } from './SenderResult';
import { ShareButton } from './ShareButton';
import { TrainCharts } from './TrainCharts';
import styles from './TrainSection.module.css';

export function TrainSection() {
  const status = useRun((s) => s.status);
  const stages = useRun((s) => s.stages);
  const stoppedEarly = useRun((s) => s.stoppedEarly);
  const runSpec = useRun((s) => s.spec);
  const total = useRun((s) => s.tokenized?.totalSteps ?? null);
  const formSpec = useForm((s) => s.spec);
  const started = status !== 'idle';
  const changed = started && formSpec !== null && JSON.stringify(formSpec) !== JSON.stringify(runSpec);
  return (
    <section className="panel" aria-labelledby="train-heading">
      <div className="panel-head">
        <h2 id="train-heading">Train</h2>
        <StatusBadge status={status} testId="run-status" />
      </div>
      {started ? <SpecLine spec={runSpec} lead="This run" /> : formSpec !== null && <SpecLine spec={formSpec} lead="Start runs" />}
      {changed && (
        <p className="muted" data-testid="run-setup-changed">
          The setup has changed since this run started; Start again runs it: {describeSpec(formSpec).training}.
        </p>
      )}
      <SenderResult />
      <RunControls />
      <ol className={styles.stages} data-testid="run-stages" aria-label="Stages">
        {RUN_STAGES.map((stage) => (
          <li key={stage} className={styles[stages[stage]]} data-testid={`run-stage-${stage}`} data-state={stages[stage]}>
            {STAGE_LABEL[stage]}
            <span className="visually-hidden">{stages[stage] === 'done' ? ' (done)' : stages[stage] === 'active' ? ' (under way)' : ''}</span>
          </li>
        ))}
      </ol>
      <RunProgress />
      <SavedProgress />
      <RunProblem />
      {stoppedEarly !== null && (
        <p className="note" role="note" data-testid="run-stopped-early">
          Early stopping ended training at step {stoppedEarly.step}
          {total !== null ? ` of ${total}` : ''}: the held-out loss had stopped improving. The adapters of step {stoppedEarly.bestStep} (held-out loss{' '}
          {stoppedEarly.bestLoss.toFixed(4)}) are the ones kept, evaluated, merged and exported.
        </p>
      )}
      {started ? (
        <TrainCharts />
      ) : (
        <p className={styles.empty}>The loss (raw, smoothed and held-out), the learning rate and the gradient norm are drawn here as the run trains.</p>
      )}
      <Accuracy />
    </section>
  );
}

/** While the run trains: the step a reload, a closed tab or a lost GPU would go on from. */
function SavedProgress() {
  const status = useRun((s) => s.status);
  const saved = useSavedCheckpoint();
  if ((status !== 'running' && status !== 'paused') || saved === null) return null;
  return (
    <p className={styles.saved} data-testid="run-saved" data-step={saved.step}>
      Saved for going on: step {saved.step} of {saved.totalSteps}, {formatSavedAt(saved.savedAt)}. A reload, a closed tab or a lost GPU resumes from there.
    </p>
  );
}

function SpecLine({ spec, lead }: { spec: RunSpec; lead: string }) {
  const d = describeSpec(spec);
  return (
    <p className={styles.spec} data-testid="run-spec">
      <span className="muted">{lead}:</span> <strong>{d.model}</strong> on {d.task} · {d.method} · {d.training}
    </p>
  );
}

function RunControls() {
  const status = useRun((s) => s.status);
  const pause = useRun((s) => s.pause);
  const resume = useRun((s) => s.resume);
  const cancel = useRun((s) => s.cancel);
  // Why Start waits: the GPU, a field with a problem, the model or task not ready, a run this GPU cannot fit.
  const reason = useStartBlock();
  const trying = useTry((s) => s.generating || s.score.status === 'scoring');
  const reasonId = useId();
  const active = status === 'starting' || status === 'running' || status === 'paused';
  const resumeBlocked = status === 'paused' && trying;
  // A stopped run with a checkpoint offers its own Resume (RunProblem): that is the main action then.
  const saved = useSavedCheckpoint();
  const resumable = status === 'failed' && saved !== null;
  return (
    <div className={styles.controls}>
      <button
        type="button"
        className={resumable ? undefined : 'primary'}
        onClick={() => void startFromForm()}
        disabled={active || reason !== null}
        aria-describedby={reason !== null ? reasonId : undefined}
        data-testid="run-start"
      >
        {status === 'idle' ? 'Start' : 'Start again'}
      </button>
      <button type="button" onClick={() => void pause()} disabled={status !== 'running'} data-testid="run-pause">
        Pause
      </button>
      <button type="button" onClick={() => void resume()} disabled={status !== 'paused' || trying} data-testid="run-resume">
        Resume
      </button>
      <button type="button" onClick={() => void cancel()} disabled={!active || status === 'starting'} data-testid="run-cancel">
        Cancel
      </button>
      <ShareButton />
      {reason !== null && (
        <span id={reasonId} className={styles.reason} data-testid="run-start-reason">
          {reason}
        </span>
      )}
      {resumeBlocked && <span className={styles.reason}>Resume waits for Try it to finish with the paused model.</span>}
    </div>
  );
}
