// The run's evaluations as they arrive: chance, before training, after (the adapters live), after
// merging; then the merge gap (merged − unmerged accuracy, which should be 0) and how much faster
// the merged model scores than the unmerged one.

import { EVAL_PHASES } from '../../run/stages';
import { useRun } from '../../state/run';
import { formatBytes, formatDuration, formatCount } from '../format';
import { PHASE_LABEL } from './describe';
import styles from './TrainSection.module.css';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function Accuracy() {
  const evals = useRun((s) => s.evals);
  const chance = useRun((s) => s.tokenized?.chance ?? null);
  const scoring = useRun((s) => s.spec.scoring);
  const metrics = useRun((s) => s.metrics);
  const artifacts = useRun((s) => s.artifacts);
  if (chance === null && Object.keys(evals).length === 0) return null;
  const before = evals.before;
  return (
    <div className={styles.results}>
      <h3 className={styles.subhead}>
        Accuracy <span className={styles.small}>the {scoring === 'sum' ? 'summed' : 'mean'} log-likelihood picks the answer{chance !== null ? `; chance ${pct(chance)}` : ''}</span>
      </h3>
      <dl className={styles.cards} data-testid="run-results">
        {EVAL_PHASES.map((phase) => {
          const e = evals[phase];
          return (
            <div key={phase} className={styles.card} data-testid={e ? `run-accuracy-${phase}` : undefined}>
              <dt>{PHASE_LABEL[phase]}</dt>
              {e ? (
                <>
                  <dd className={styles.big}>
                    {pct(e.accuracy)}
                    {phase !== 'before' && before && <Delta d={e.accuracy - before.accuracy} />}
                  </dd>
                  <dd className={styles.small}>
                    sum {pct(e.accuracySum)} · mean {pct(e.accuracyMean)}
                  </dd>
                  <dd className={styles.small}>
                    {formatCount(e.items)} items · {e.itemsPerSecond.toFixed(1)} items/s
                  </dd>
                </>
              ) : (
                <dd className={`${styles.big} muted`}>—</dd>
              )}
            </div>
          );
        })}
        <div className={styles.card}>
          <dt>Merge gap</dt>
          <dd className={styles.big} data-testid="run-merge-gap">
            {metrics ? `${metrics.mergeGapPoints.toFixed(2)} pts` : <span className="muted">—</span>}
          </dd>
          <dd className={styles.small}>merged − unmerged</dd>
        </div>
        <div className={styles.card}>
          <dt>Merged speed</dt>
          <dd className={styles.big} data-testid="run-throughput-ratio">
            {metrics ? `${metrics.mergedThroughputRatio.toFixed(2)}×` : <span className="muted">—</span>}
          </dd>
          <dd className={styles.small}>merged ÷ unmerged</dd>
        </div>
      </dl>
      {metrics !== null && (
        <p className={styles.line} data-testid="run-summary">
          {metrics.steps.length} steps in {formatDuration(metrics.timings.trainMs)} ({formatCount(Math.round(metrics.timings.tokensPerSecond))} tokens/s); the output folder
          holds {artifacts.length} files, {formatBytes(artifacts.reduce((a, f) => a + f.bytes, 0))}.
        </p>
      )}
    </div>
  );
}

/** The change from before training: +38.5 pts, −2.0 pts. */
function Delta({ d }: { d: number }) {
  const points = 100 * d;
  return <span className={points >= 0 ? styles.delta : styles.deltaDown}> {`${points >= 0 ? '+' : '−'}${Math.abs(points).toFixed(1)} pts`}</span>;
}
