// One evaluation item of the run, scored by the worker before fine-tuning (the base weights) and
// after (the adapters live): each choice's probability — a softmax over the choices' summed
// log-likelihoods — as a bar, the two side by side, the right answer marked and each model's pick
// in bold.

import { useEffect, useId } from 'react';
import { useRun } from '../../state/run';
import { useTry } from '../../state/try';
import styles from './Try.module.css';

export function ItemScores() {
  const status = useRun((s) => s.status);
  const runId = useRun((s) => s.runId);
  const items = useRun((s) => s.tokenized?.evalItems ?? 0);
  const index = useTry((s) => s.index);
  const score = useTry((s) => s.score);
  const scoreItem = useTry((s) => s.scoreItem);
  const setSettings = useTry((s) => s.setSettings);
  const indexId = useId();
  const usable = runId !== null && (status === 'paused' || status === 'done') && items > 0;

  // Score the item shown as soon as the run can (paused, or finished), and again for a new run.
  useEffect(() => {
    if (usable) void useTry.getState().scoreItem(Math.min(useTry.getState().index, items - 1));
  }, [usable, runId, status, items]);

  const go = (i: number) => {
    if (Number.isInteger(i) && i >= 0 && i < items) void scoreItem(i);
  };
  const odds = score.odds;
  return (
    <div className={styles.block}>
      <h3 className={styles.subhead}>Score an evaluation item</h3>
      {!usable ? (
        <p className={styles.empty}>Pause or finish a run to see how likely its model finds each choice of an evaluation item, before and after fine-tuning.</p>
      ) : (
        <>
          <div className={styles.controls}>
            <label htmlFor={indexId}>Item</label>
            <input
              id={indexId}
              type="number"
              min={1}
              max={items}
              value={index + 1}
              onChange={(e) => go(e.currentTarget.valueAsNumber - 1)}
              data-testid="try-item"
            />
            <span className="muted">of {items}</span>
            <button type="button" onClick={() => go(index - 1)} disabled={index <= 0}>
              Previous
            </button>
            <button type="button" onClick={() => go(index + 1)} disabled={index >= items - 1}>
              Next
            </button>
            <span className={styles.state} role="status" data-testid="try-score-status" data-status={score.status}>
              {score.status === 'scoring' ? 'Scoring…' : ''}
            </span>
          </div>
          {score.error !== null && (
            <p className="error-text" data-testid="try-score-error">
              {score.error}
            </p>
          )}
          {odds !== null && (
            <div aria-busy={score.status === 'scoring'}>
              <pre className={`model-text ${styles.prompt}`} tabIndex={0} aria-label="The item's prompt" data-testid="try-item-prompt">
                {odds.preview.prompt}
              </pre>
              {odds.preview.cut > 0 && <p className={styles.note}>{odds.preview.cut} tokens were cut from the start of the prompt to fit the run's longest sequence.</p>}
              <table className={styles.odds} data-testid="try-scores">
                <caption className={styles.caption}>
                  Each choice's probability among the choices (a softmax over its log-likelihood summed over its tokens). ✓ marks the right
                  answer; each model's pick is in bold.
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Choice</th>
                    <th scope="col">Before fine-tuning</th>
                    <th scope="col">After fine-tuning</th>
                  </tr>
                </thead>
                <tbody>
                  {odds.choices.map((c, k) => (
                    <tr key={k} data-testid={`try-choice-${k}`} data-answer={k === odds.answer}>
                      <th scope="row" className={k === odds.answer ? styles.answer : undefined}>
                        <span aria-hidden="true" className={styles.tick}>
                          {k === odds.answer ? '✓' : ''}
                        </span>
                        {c.text.trim() || '(empty)'}
                        {k === odds.answer && <span className="visually-hidden"> (the right answer)</span>}
                      </th>
                      <td data-testid={`try-before-${k}`} data-p={odds.before[k]}>
                        <Bar p={odds.before[k]!} picked={isPick(odds.before, k)} />
                      </td>
                      <td data-testid={`try-after-${k}`} data-p={odds.after[k]}>
                        <Bar p={odds.after[k]!} picked={isPick(odds.after, k)} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <div className={styles.controls}>
                <button type="button" onClick={() => setSettings({ prompt: odds.preview.prompt })} data-testid="try-use-prompt">
                  Continue this prompt below
                </button>
              </div>
            </div>
          )}
        </>
      )}
    </div>
  );
}

/** Whether choice k is the model's pick (the most likely; the first of a tie, as evaluation picks). */
function isPick(p: readonly number[], k: number): boolean {
  return p.indexOf(Math.max(...p)) === k;
}

function Bar({ p, picked }: { p: number; picked: boolean }) {
  const text = Number.isFinite(p) ? `${(100 * p).toFixed(1)}%` : '—';
  return (
    <span className={styles.barCell}>
      <span className={styles.bar} aria-hidden="true">
        <span className={picked ? styles.fillPicked : styles.fill} style={{ width: `${Number.isFinite(p) ? 100 * p : 0}%` }} />
      </span>
      <span className={picked ? styles.pctPicked : styles.pct}>{text}</span>
    </span>
  );
}
