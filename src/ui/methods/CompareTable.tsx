// The comparison's table, as the paper lays it out: per method (and ablation) the chosen rate, the
// test accuracy of each seed and their mean ± std, the untrained accuracy, the training-loss
// volatility, time per step and the overhead against LoRA r, the merge gap, the merged/unmerged
// throughput and the trainable parameters; the dev-split accuracy of each rate that chose it; the
// volatility's definition and the paper's own figures beside it; CSV and Markdown downloads.

import { Fragment } from 'react';
import type { CompareRow, MeanStd } from '../../run/compare';
import { formatRate, PAPER_FIGURES, VOLATILITY_DEFINITION } from '../../run/compare-plan';
import { COMPARE_FILES, useCompare } from '../../state/compare';
import type { WireCompareResult } from '../../worker/protocol';
import { formatCount } from '../format';
import styles from './Methods.module.css';

const pct = (a: number, digits = 1) => (100 * a).toFixed(digits);
const pm = (x: MeanStd, scale = 100, digits = 1) => `${(scale * x.mean).toFixed(digits)} ± ${(scale * x.std).toFixed(digits)}`;

export function CompareTable({ result: wire }: { result: WireCompareResult }) {
  const download = useCompare((s) => s.download);
  const { result } = wire;
  const methods = result.rows.filter((r) => !r.ablation);
  const ablations = result.rows.filter((r) => r.ablation);
  return (
    <div className={styles.result} data-testid="compare-result">
      <h3 className={styles.heading} data-testid="compare-heading">
        {result.heading}
      </h3>
      <div className="table-scroll" tabIndex={0} role="region" aria-label="The comparison's table">
        <table className={styles.table} data-testid="compare-table">
          <thead>
            <tr>
              <th scope="col">Method</th>
              <th scope="col" className="num">
                lr
              </th>
              <th scope="col" className="num">
                Accuracy per seed %
              </th>
              <th scope="col" className="num">
                Accuracy %
              </th>
              <th scope="col" className="num">
                Untrained %
              </th>
              <th scope="col" className="num">
                Loss volatility
              </th>
              <th scope="col" className="num">
                ms/step
              </th>
              <th scope="col" className="num">
                vs LoRA r
              </th>
              <th scope="col" className="num">
                Merge gap (points)
              </th>
              <th scope="col" className="num">
                Merged/ unmerged
              </th>
              <th scope="col" className="num">
                Trainable
              </th>
            </tr>
          </thead>
          <tbody>
            {methods.map((r) => (
              <Row key={r.method} row={r} index={result.rows.indexOf(r)} />
            ))}
            {ablations.length > 0 && (
              <Fragment>
                <tr className={styles.groupRow}>
                  <th scope="rowgroup" colSpan={11}>
                    Ablations of D2-LoRA
                  </th>
                </tr>
                {ablations.map((r) => (
                  <Row key={r.method} row={r} index={result.rows.indexOf(r)} />
                ))}
              </Fragment>
            )}
          </tbody>
        </table>
      </div>
      <p className={styles.tableNote}>
        Accuracy: on the test items, mean ± standard deviation over the seeds {result.seeds.join(', ')}. Loss volatility: the {VOLATILITY_DEFINITION}
        , mean ± std over the seeds. ms/step, its overhead against LoRA r and the merged/unmerged throughput are timings on this GPU while the page
        ran: other work on the machine moves them, so compare them within one table rather than across machines.
      </p>
      {result.selection !== null && <DevAccuracies rows={result.rows} grid={result.selection.grid} devItems={result.selection.devItems} seed={result.seeds[0]!} />}
      <aside className={`note ${styles.paper}`} aria-labelledby="compare-paper-heading" data-testid="compare-paper">
        <p id="compare-paper-heading" className={styles.paperHead}>
          What the D2-LoRA paper reports (arXiv 2602.14728), to compare with honestly
        </p>
        <ul>
          {PAPER_FIGURES.map((f) => (
            <li key={f}>{f}</li>
          ))}
        </ul>
      </aside>
      <div className={styles.controls}>
        <button type="button" onClick={() => download('csv')} data-testid="compare-download-csv">
          Download CSV
        </button>
        <button type="button" onClick={() => download('markdown')} data-testid="compare-download-markdown">
          Download Markdown
        </button>
        <span className={styles.reason}>
          <code>{COMPARE_FILES.csv}</code> and <code>{COMPARE_FILES.markdown}</code>, as <code>d2lora compare</code> writes them
        </span>
      </div>
    </div>
  );
}

function Row({ row: r, index }: { row: CompareRow; index: number }) {
  return (
    <tr className={r.ablation ? styles.ablation : undefined} data-testid={`compare-row-${index}`} data-method={r.method}>
      <th scope="row">{r.method}</th>
      <td className="num" data-testid={`compare-lr-${index}`} data-value={r.lr}>
        {formatRate(r.lr)}
      </td>
      <td className="num" data-testid={`compare-per-seed-${index}`} data-value={JSON.stringify(r.perSeed)}>
        {r.perSeed.map((a) => pct(a)).join(' / ')}
      </td>
      <td className={`num ${styles.main}`} data-testid={`compare-accuracy-${index}`} data-value={JSON.stringify(r.accuracy)}>
        {pm(r.accuracy)}
      </td>
      <td className="num" data-value={JSON.stringify(r.before)}>
        {pm(r.before)}
      </td>
      <td className="num" data-testid={`compare-volatility-${index}`} data-value={JSON.stringify(r.volatility)}>
        {Number.isFinite(r.volatility.mean) ? pm(r.volatility, 1, 4) : <span title="fewer than three steps in the second half of training">—</span>}
      </td>
      <td className="num" data-testid={`compare-ms-${index}`} data-value={r.msPerStep}>
        {r.msPerStep.toFixed(0)}
      </td>
      <td className="num" data-value={r.overheadVsLora}>
        {index === 0 ? '—' : `${r.overheadVsLora >= 0 ? '+' : ''}${(100 * r.overheadVsLora).toFixed(1)}%`}
      </td>
      <td className="num" data-testid={`compare-merge-gap-${index}`} data-value={r.mergeGapPoints}>
        {r.mergeGapPoints.toFixed(2)}
      </td>
      <td className="num" data-value={r.mergedThroughputRatio}>
        {r.mergedThroughputRatio.toFixed(2)}×
      </td>
      <td className="num" data-testid={`compare-trainable-${index}`} data-value={r.trainableParameters}>
        {formatCount(r.trainableParameters)}
      </td>
    </tr>
  );
}

/** The dev-split accuracy of each rate, per method, the chosen one marked. */
function DevAccuracies({ rows, grid, devItems, seed }: { rows: readonly CompareRow[]; grid: readonly number[]; devItems: number; seed: number }) {
  return (
    <div className={styles.dev}>
      <p className={styles.subhead}>
        How each rate was chosen: dev-split accuracy % ({formatCount(devItems)} items held out of the training items, seed {seed}); the best rate is
        kept, a tie going to the lower one.
      </p>
      <div className="table-scroll">
        <table className={styles.devTable} data-testid="compare-dev">
          <thead>
            <tr>
              <th scope="col">Method</th>
              {grid.map((lr) => (
                <th key={lr} scope="col" className="num">
                  lr {formatRate(lr)}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.method}>
                <th scope="row">{r.method}</th>
                {r.devAccuracy.map((d) => (
                  <td key={d.lr} className={`num ${d.lr === r.lr ? styles.chosen : ''}`} data-value={d.accuracy}>
                    {pct(d.accuracy)}
                    {d.lr === r.lr && <span className="visually-hidden"> (chosen)</span>}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
