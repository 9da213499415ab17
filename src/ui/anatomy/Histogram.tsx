// A per-row distribution's 20-bin histogram (src/adapters/anatomy.ts distribution()): bars over
// the range from the smallest to the largest value, the centre (no change: 0 for a drift, 1 for a
// rescale) marked where it falls inside, each bar's range and count on hover, and the bins as a
// table for those who cannot see the drawing.

import type { Distribution } from '../../adapters/anatomy';
import { formatFigure } from '../../state/anatomy';
import { formatCount } from '../format';
import styles from './Anatomy.module.css';

const W = 320;
const H = 120;
const PAD = { left: 4, right: 4, top: 8, bottom: 4 };

export function Histogram({ distribution: d, centre, label }: { distribution: Distribution; centre: number; label: string }) {
  const { from, to, counts } = d.histogram;
  if (counts.length === 0) return <p className={styles.empty}>No finite values to draw.</p>;
  const max = Math.max(...counts);
  const total = counts.reduce((a, b) => a + b, 0);
  const width = (to - from) / counts.length;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const barW = plotW / counts.length;
  const edge = (k: number) => from + k * width;
  const centreX = to > from && centre >= from && centre <= to ? PAD.left + ((centre - from) / (to - from)) * plotW : null;
  const bins = counts.map((n, k) => ({ n, lo: edge(k), hi: k === counts.length - 1 ? to : edge(k + 1) }));
  return (
    <figure className={styles.histogram} data-testid="anatomy-histogram" data-counts={JSON.stringify(counts)} data-from={from} data-to={to}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Histogram: ${label}, from ${formatFigure(from)} to ${formatFigure(to)}`} className={styles.histogramSvg}>
        <line x1={PAD.left} x2={W - PAD.right} y1={H - PAD.bottom} y2={H - PAD.bottom} className={styles.axis} />
        {bins.map((b, k) => {
          const h = max === 0 ? 0 : (b.n / max) * plotH;
          return (
            <rect key={k} x={PAD.left + k * barW + 0.5} y={H - PAD.bottom - h} width={Math.max(0, barW - 1)} height={h} className={styles.barRect}>
              <title>{`${formatFigure(b.lo)} to ${formatFigure(b.hi)}: ${formatCount(b.n)} rows`}</title>
            </rect>
          );
        })}
        {centreX !== null && <line x1={centreX} x2={centreX} y1={PAD.top - 4} y2={H - PAD.bottom} className={styles.centreLine} />}
      </svg>
      <div className={styles.histogramAxis} aria-hidden="true">
        <span>{formatFigure(from)}</span>
        <span>{formatFigure(to)}</span>
      </div>
      <figcaption className={styles.histogramNote}>
        {formatCount(total)} rows in {counts.length} bins from {formatFigure(from)} to {formatFigure(to)}
        {from === to ? ' (every row the same)' : ''}
        {centreX !== null ? `; the dashed line marks ${formatFigure(centre)}` : ''}; the tallest bar holds {formatCount(max)}.
      </figcaption>
      <details className={styles.bins}>
        <summary>The bins as a table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col" className="num">
                From
              </th>
              <th scope="col" className="num">
                To
              </th>
              <th scope="col" className="num">
                Rows
              </th>
            </tr>
          </thead>
          <tbody>
            {bins.map((b, k) => (
              <tr key={k}>
                <td className="num">{formatFigure(b.lo)}</td>
                <td className="num">{formatFigure(b.hi)}</td>
                <td className="num">{formatCount(b.n)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
