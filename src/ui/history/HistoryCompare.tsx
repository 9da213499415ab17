// "Compare runs": the runs picked in the history's list, their training losses overlaid (aligned
// by step or by epoch, one smoothing for all, held-out losses as points, a legend with each run's
// name and colour and its loss under the cursor), their key results side by side, and their
// settings side by side — only those that differ, as W&B's "diff only", unless every setting is
// asked for.

import { useCallback, useId, useMemo, useState } from 'react';
import { useCompareRuns } from '../../state/compare-runs';
import { useHistory } from '../../state/history';
import type { RunRecord } from '../../store/record';
import type { RunEntry } from '../../store/store';
import { formatDuration } from '../format';
import { DEFAULT_SMOOTHING } from '../train/smoothing';
import { SmoothingSlider } from '../train/SmoothingSlider';
import trainStyles from '../train/TrainCharts.module.css';
import { CompareChart, type ChartRun } from './CompareChart';
import { overlaidLosses, settingRows, xRange, type CompareAlign } from './compare-data';
import { accuracyText, dateText, mergeGapText, settingText, stepsText } from './figures';
import styles from './History.module.css';

const CHART_HEIGHT = 260;

interface Compared extends ChartRun {
  entry: RunEntry;
  record: RunRecord | null;
  error: string | null;
}

/** The picked runs that are still listed, with their records as loaded so far. */
function useCompared(): Compared[] {
  const selected = useCompareRuns((s) => s.selected);
  const records = useCompareRuns((s) => s.records);
  const runs = useHistory((s) => s.runs);
  return useMemo(() => {
    const byId = new Map(runs.map((r) => [r.id, r]));
    return selected.flatMap(({ id, colour }) => {
      const entry = byId.get(id);
      if (entry === undefined) return [];
      const loaded = records[id];
      return [{ id, name: entry.name, colour, entry, record: loaded?.record ?? null, error: loaded?.error ?? null }];
    });
  }, [selected, records, runs]);
}

export function HistoryCompare() {
  const compared = useCompared();
  const clearSelection = useCompareRuns((s) => s.clearSelection);
  const [align, setAlign] = useState<CompareAlign>('step');
  const [smoothing, setSmoothing] = useState(DEFAULT_SMOOTHING);
  const [cursor, setCursor] = useState<{ x: number; losses: (number | null)[] } | null>(null);
  const loaded = compared.filter((c): c is Compared & { record: RunRecord } => c.record !== null);
  // The records change only when a run is saved again: recompute then, not at every render.
  const recordsKey = loaded.map((c) => `${c.id}@${c.record.updatedAt}`).join();
  const curves = useMemo(() => overlaidLosses(loaded.map((c) => c.record), align, smoothing), [recordsKey, align, smoothing]);
  const range = useMemo(() => xRange(loaded.map((c) => c.record), align), [recordsKey, align]);
  const onCursor = useCallback((at: typeof cursor) => setCursor(at), []);
  const lastSmoothed = (i: number) => {
    const series = curves.data[2 + 3 * i]!;
    for (let k = series.length - 1; k >= 0; k--) if (series[k] != null) return series[k] as number;
    return null;
  };
  return (
    <div className={styles.compare} data-testid="history-compare" aria-labelledby="history-compare-heading" role="region">
      <div className={styles.compareHead}>
        <h3 id="history-compare-heading">Compare runs</h3>
        <button type="button" onClick={clearSelection} data-testid="history-compare-clear">
          Untick all
        </button>
      </div>
      <div className={styles.compareControls}>
        <fieldset className={styles.align}>
          <legend>Align by</legend>
          {(['step', 'epoch'] as const).map((a) => (
            <label key={a}>
              <input type="radio" name="history-align" value={a} checked={align === a} onChange={() => setAlign(a)} data-testid={`history-align-${a}`} />
              {a === 'step' ? 'Step' : 'Epoch'}
            </label>
          ))}
        </fieldset>
        <div className={trainStyles.chartControls}>
          <SmoothingSlider value={smoothing} onChange={setSmoothing} testId="history-smoothing" />
        </div>
      </div>
      <ul className={styles.legend} data-testid="history-legend" aria-label="The runs on the chart">
        {compared.map((c) => {
          const i = loaded.indexOf(c as (typeof loaded)[number]);
          const loss = i < 0 ? null : cursor !== null ? cursor.losses[i] : lastSmoothed(i);
          return (
            <li key={c.id} data-testid="history-legend-item" data-run-id={c.id}>
              <span className={`${styles.swatch} ${styles[`series${c.colour}`]}`} aria-hidden="true" />
              <span className={styles.legendName} data-testid="history-legend-name">
                {c.name}
              </span>
              <span className={styles.legendValue}>
                {c.error !== null ? (
                  <span className="error-text">{c.error}</span>
                ) : i < 0 ? (
                  'loading…'
                ) : loss === null || loss === undefined ? (
                  '—'
                ) : (
                  `${cursor !== null ? `at ${align} ${Number(cursor.x.toFixed(3))}` : 'last'} ${loss.toFixed(4)}`
                )}
              </span>
            </li>
          );
        })}
      </ul>
      <CompareChart runs={loaded} align={align} xRange={range} data={curves.data} points={curves.points} height={CHART_HEIGHT} onCursor={onCursor} />
      <p className={styles.small}>
        The faint line is each run's loss at every step, the bold one its smoothed loss, the points its held-out losses.
        {align === 'epoch' && ' By epoch, x is the step over the run’s steps per epoch, so runs of other batch or data sizes line up.'}
      </p>
      <Results compared={compared} />
      <Settings compared={loaded} />
    </div>
  );
}

/** Each run's key figures, runs side by side. */
function Results({ compared }: { compared: Compared[] }) {
  const rows: { label: string; value: (e: RunEntry) => string }[] = [
    { label: 'Status', value: (e) => e.status },
    { label: 'Accuracy before', value: (e) => accuracyText(e.summary.accuracyBefore) },
    { label: 'Accuracy after', value: (e) => accuracyText(e.summary.accuracyAfter) },
    { label: 'Merge gap', value: (e) => mergeGapText(e.summary.mergeGapPoints) },
    { label: 'Steps', value: (e) => stepsText(e.summary) },
    { label: 'Training time', value: (e) => formatDuration(e.summary.durationMs) },
    { label: 'Date', value: (e) => dateText(e.createdAt) },
  ];
  return (
    <>
      <h4 className={styles.subhead}>Results</h4>
      <div className="table-scroll">
        <table className={styles.side} data-testid="history-results">
          <RunsHead compared={compared} />
          <tbody>
            {rows.map((r) => (
              <tr key={r.label}>
                <th scope="row">{r.label}</th>
                {compared.map((c) => (
                  <td key={c.id} className={styles.value}>
                    {r.value(c.entry)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

/** The runs' settings side by side: those that differ, or all of them. */
function Settings({ compared }: { compared: (Compared & { record: RunRecord })[] }) {
  const [all, setAll] = useState(false);
  const allId = useId();
  const rows = useMemo(() => settingRows(compared.map((c) => c.record.spec), all), [compared, all]);
  const differing = rows.filter((r) => r.differs).length;
  return (
    <>
      <div className={styles.compareHead}>
        <h4 className={styles.subhead}>Settings</h4>
        <span className={styles.setting}>
          <input id={allId} type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} data-testid="history-settings-all" />
          <label htmlFor={allId}>Show all settings</label>
        </span>
      </div>
      {compared.length < 2 ? (
        <p className={styles.small}>Tick another run to see how its settings differ.</p>
      ) : (
        !all && differing === 0 && <p className={styles.small} data-testid="history-settings-same">These runs have the same settings.</p>
      )}
      {rows.length > 0 && (
        <div className="table-scroll">
          <table className={styles.side} data-testid="history-settings">
            <RunsHead compared={compared} />
            <tbody>
              {rows.map((r) => (
                <tr key={r.path} data-testid="history-setting" data-path={r.path} className={all && r.differs ? styles.differs : undefined}>
                  <th scope="row">
                    <span data-testid="history-setting-label">{r.label}</span> <code className={styles.path}>{r.path}</code>
                  </th>
                  {r.values.map((v, i) => (
                    <td key={compared[i]!.id} className={styles.value}>
                      {settingText(r.path, v)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {all && compared.length > 1 && <p className={styles.small}>{differing === 0 ? 'No setting differs.' : `Marked: the ${differing === 1 ? 'setting' : `${differing} settings`} that differ.`}</p>}
    </>
  );
}

function RunsHead({ compared }: { compared: readonly Compared[] }) {
  return (
    <thead>
      <tr>
        <td />
        {compared.map((c) => (
          <th key={c.id} scope="col" className={styles.runHead}>
            <span className={`${styles.swatch} ${styles[`series${c.colour}`]}`} aria-hidden="true" />
            {c.name}
          </th>
        ))}
      </tr>
    </thead>
  );
}
