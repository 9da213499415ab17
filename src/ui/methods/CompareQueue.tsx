// The comparison's queue as it goes: run i of M across the whole queue, the run under way (its
// method, seed, rate, whether it is choosing the rate on the dev split) with its own progress bar,
// the time so far and roughly left, and the runs done with their accuracies.

import { useEffect, useState } from 'react';
import { formatRate } from '../../run/compare-plan';
import { comparing, queueEtaMs, runFraction, useCompare, type CurrentRun, type FinishedRun } from '../../state/compare';
import { formatCount, formatDuration, plural } from '../format';
import { ProgressBar } from '../ProgressBar';
import { PHASE_LABEL, STAGE_LABEL } from '../train/describe';
import styles from './Methods.module.css';

/** Re-renders every second while `on` (for the elapsed time). */
function useClock(on: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [on]);
  return on ? now : Date.now();
}

export function CompareQueue() {
  const status = useCompare((s) => s.status);
  const plan = useCompare((s) => s.plan);
  const current = useCompare((s) => s.current);
  const finished = useCompare((s) => s.finished);
  const startedAt = useCompare((s) => s.startedAt);
  const busy = comparing(status);
  const now = useClock(busy);
  if (plan === null || status === 'idle') return null;
  if (!busy) {
    return finished.length === 0 ? null : (
      <details className={styles.doneRuns} open={status !== 'done'}>
        <summary>
          {status === 'done' ? `The ${plural(finished.length, 'run')}` : `The ${plural(finished.length, 'run')} done of ${plan.runs}`}
        </summary>
        <DoneRuns runs={finished} />
      </details>
    );
  }
  const total = current?.total ?? plan.runs;
  const done = finished.length;
  const own = current !== null ? runFraction(current) : null;
  const overall = (done + (own ?? 0)) / total;
  const percent = Math.round(100 * overall);
  const eta = queueEtaMs(finished, current, total, now);
  const label = current !== null ? `Run ${current.index + 1} of ${total}` : `Starting ${total} runs`;
  return (
    <div className={styles.queue} data-testid="compare-queue">
      <ProgressBar
        head={
          <span role="status" aria-live="polite" data-testid="compare-queue-position">
            {label}
          </span>
        }
        percent={percent}
        label="The whole comparison"
        valueText={`${label}: ${percent}% of the comparison`}
        testId="compare-queue-bar"
      />
      <p className={styles.line}>
        {formatCount(done)} done · {startedAt !== null ? `${formatDuration(now - startedAt)} so far` : ''}
        {eta !== null ? ` · about ${formatDuration(eta)} left` : ' · the time left is known after the first run'}
      </p>
      {current !== null ? <CurrentRunView run={current} /> : <p className={styles.line}>Starting the engine and loading the model…</p>}
      {done > 0 && (
        <details className={styles.doneRuns}>
          <summary>The {plural(done, 'run')} done</summary>
          <DoneRuns runs={finished} />
        </details>
      )}
    </div>
  );
}

function CurrentRunView({ run }: { run: CurrentRun }) {
  const fraction = runFraction(run);
  const percent = fraction === null ? null : Math.round(100 * fraction);
  const stage = run.stage === null ? 'Starting' : STAGE_LABEL[run.stage];
  let detail = '';
  if (run.stage === 'train' && run.progress !== null) detail = `step ${run.progress.step} of ${run.progress.totalSteps}`;
  else if (run.evalProgress !== null && run.stage !== 'train') detail = `${PHASE_LABEL[run.evalProgress.phase]}: ${formatCount(run.evalProgress.done)} of ${formatCount(run.evalProgress.total)} sequences scored`;
  return (
    <div className={styles.current} data-testid="compare-current">
      <p className={styles.currentHead}>
        <strong data-testid="compare-current-method">{run.label}</strong>
        <span>seed {run.seed}</span>
        <span>lr {formatRate(run.lr)}</span>
        <span className={run.selection ? styles.kindSelection : styles.kindFinal} data-testid="compare-current-kind">
          {run.selection ? 'choosing the rate on the dev split' : 'final run, scored on the test items'}
        </span>
      </p>
      <ProgressBar
        head={<span>{stage}</span>}
        percent={percent}
        label={`Run ${run.index + 1}: ${stage}`}
        valueText={percent === null ? `${stage}: under way` : `${stage}: ${percent}%`}
        small
        testId="compare-current-bar"
      />
      {detail !== '' && <p className={styles.line}>{detail}</p>}
    </div>
  );
}

function DoneRuns({ runs }: { runs: readonly FinishedRun[] }) {
  return (
    <div className="table-scroll">
      <table className={styles.runs} data-testid="compare-done-runs">
        <thead>
          <tr>
            <th scope="col" className="num">
              #
            </th>
            <th scope="col">Method</th>
            <th scope="col" className="num">
              Seed
            </th>
            <th scope="col" className="num">
              lr
            </th>
            <th scope="col">Run</th>
            <th scope="col" className="num">
              Before
            </th>
            <th scope="col" className="num">
              After
            </th>
            <th scope="col" className="num">
              Time
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr key={r.index}>
              <td className="num">{r.index + 1}</td>
              <td>{r.label}</td>
              <td className="num">{r.seed}</td>
              <td className="num">{formatRate(r.lr)}</td>
              <td>{r.selection ? 'rate choice (dev split)' : 'final (test items)'}</td>
              <td className="num">{percentText(r.before)}</td>
              <td className="num">{percentText(r.after)}</td>
              <td className="num">{formatDuration(r.ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function percentText(a: number): string {
  return `${(100 * a).toFixed(1)}%`;
}

