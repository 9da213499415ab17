// The run's one progress bar: the stage under way and how far it is — a download's bytes, the
// sequences an evaluation has scored, the training steps — with the training figures (epoch,
// step, tokens/s, the time left) and the last step's loss, learning rate and gradient norm.

import { RUN_STAGES } from '../../run/stages';
import { useRun, type RunState } from '../../state/run';
import { formatBytes, formatCount, formatDuration } from '../format';
import { ProgressBar, type ProgressTone } from '../ProgressBar';
import { PHASE_LABEL, STAGE_LABEL } from './describe';
import styles from './TrainSection.module.css';

interface Shown {
  /** The bar's heading: the stage. */
  label: string;
  /** How far, 0–1; null while the stage cannot say (loading, tokenizing, merging). */
  fraction: number | null;
  /** What is happening, in a line. */
  detail: string;
  tone: ProgressTone;
}

function shown(s: RunState): Shown | null {
  if (s.status === 'idle') return null;
  if (s.status === 'starting' || s.stage === null) return { label: 'Starting', fraction: null, detail: 'Starting the engine…', tone: 'busy' };
  const stageNo = `${RUN_STAGES.indexOf(s.stage) + 1}/${RUN_STAGES.length}`;
  const label = `${stageNo} ${STAGE_LABEL[s.stage]}`;
  if (s.status === 'done') {
    return { label: 'Done', fraction: 1, detail: s.metrics !== null ? `Finished in ${formatDuration(s.metrics.timings.totalMs)}.` : 'Finished.', tone: 'ok' };
  }
  let fraction: number | null = null;
  let detail = s.stageDetail;
  if (s.download !== null) {
    fraction = s.download.total ? s.download.loaded / s.download.total : null;
    detail = `Downloading ${s.download.file}: ${formatBytes(s.download.loaded)}${s.download.total !== null ? ` of ${formatBytes(s.download.total)}` : ''}`;
  } else if (s.evalProgress !== null && s.stage !== 'train') {
    fraction = s.evalProgress.total > 0 ? s.evalProgress.done / s.evalProgress.total : null;
    detail = `${PHASE_LABEL[s.evalProgress.phase]}: ${formatCount(s.evalProgress.done)} of ${formatCount(s.evalProgress.total)} sequences scored`;
  } else if (s.stage === 'train' && s.progress !== null) {
    fraction = s.progress.step / s.progress.totalSteps;
  }
  if (s.status === 'failed') return { label: `Stopped at ${label}`, fraction, detail: 'The run stopped: see below.', tone: 'bad' };
  if (s.status === 'cancelled') return { label: `Cancelled at ${label}`, fraction, detail: 'The run was cancelled.', tone: 'idle' };
  if (s.status === 'paused') {
    const at = s.stage === 'train' && s.progress !== null ? ` after step ${s.progress.step}` : '';
    return { label: `Paused at ${label}`, fraction, detail: `Paused${at}. Resume continues from here; Try it below can use the model as it is now.`, tone: 'idle' };
  }
  return { label, fraction, detail, tone: 'busy' };
}

export function RunProgress() {
  const s = useRun();
  const view = shown(s);
  if (view === null) return null;
  const p = s.progress;
  const last = s.steps.at(-1);
  const epochs = s.spec.training.epochs;
  const percent = view.fraction === null ? null : Math.round(100 * view.fraction);
  return (
    <div className={styles.progress} role="status" aria-live="polite">
      <ProgressBar
        head={<span>{view.label}</span>}
        percent={percent}
        label={view.label}
        valueText={percent === null ? `${view.label}: under way` : `${view.label}: ${percent}%`}
        tone={view.tone}
        testId="run-progress-bar"
        dataValue={view.fraction ?? ''}
      />
      <p className={styles.line} data-testid="run-detail">
        {view.detail}
      </p>
      {p !== null && (
        <p className={styles.line} data-testid="run-step">
          epoch {p.epoch + 1} of {epochs} · step {p.step} of {p.totalSteps}
          {s.stage === 'train' && s.status !== 'failed' && s.status !== 'cancelled'
            ? ` · ${formatCount(Math.round(p.tokensPerSecond))} tokens/s${p.step < p.totalSteps ? ` · about ${formatDuration(p.etaMs)} left` : ''}`
            : ''}
        </p>
      )}
      {last !== undefined && (
        <p className={styles.line} data-testid="run-loss">
          loss {last.loss.toFixed(4)} · lr {last.lr.toExponential(2)} · gradient norm {last.gradNorm.toFixed(3)}
        </p>
      )}
    </div>
  );
}
