// The compared runs' training losses on one chart (uPlot, loaded as the Train section's charts
// load it): each run in its colour, its raw loss faint, its smoothed loss bold, its held-out losses
// as points. The chart is made again when the runs, the alignment or the colour scheme change, and
// fed new data when the smoothing does. Its legend is the page's own (HistoryCompare.tsx): the
// chart reports the values under the cursor through onCursor.

import { useEffect, useRef } from 'react';
import type uPlot from 'uplot';
import { axesFor, paletteOf, useUplot, type Palette } from '../train/LiveChart';
import trainStyles from '../train/TrainCharts.module.css';
import type { CompareAlign } from './compare-data';

/** Epochs are fractions: the x axis ticks at 0.1, 0.25, 0.5, 1, 2 … epochs apart. */
const EPOCH_INCREMENTS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/** The series of each run, in overlaidLosses' order. */
const SERIES_PER_RUN = 3;

export interface ChartRun {
  id: string;
  name: string;
  /** Its colour's number, 1 … MAX_COMPARED (the CSS variable --series-N of the section). */
  colour: number;
}

interface CompareChartProps {
  runs: readonly ChartRun[];
  align: CompareAlign;
  xRange: [number, number];
  data: uPlot.AlignedData;
  /** Each run's loss points (what the chart's data-points reports, for the end-to-end tests). */
  points: readonly number[];
  height: number;
  /** The x under the cursor and each run's smoothed loss there; null when the cursor leaves. */
  onCursor(at: { x: number; losses: (number | null)[] } | null): void;
}

function optionsFor(p: Palette, colours: readonly string[], runs: readonly ChartRun[], align: CompareAlign, range: [number, number]): Omit<uPlot.Options, 'width' | 'height'> {
  const [x, y] = axesFor(p, align, 'loss (nats/token)');
  return {
    scales: { x: { time: false, range: () => range }, y: { auto: true } },
    axes: [align === 'epoch' ? { ...x, incrs: EPOCH_INCREMENTS } : x!, y!],
    cursor: { points: { size: 6 } },
    legend: { show: false },
    series: [
      { label: align },
      ...runs.flatMap((r, i): uPlot.Series[] => {
        const colour = colours[i]!;
        return [
          { label: `${r.name}: loss`, stroke: colour, alpha: 0.3, width: 1, points: { show: false } },
          { label: `${r.name}: smoothed`, stroke: colour, width: 2, points: { show: false } },
          { label: `${r.name}: held-out`, stroke: colour, width: 0, paths: () => null, points: { show: true, size: 7, width: 2, stroke: colour, fill: p.surface } },
        ];
      }),
    ],
  };
}

export function CompareChart({ runs, align, xRange, data, points, height, onCursor }: CompareChartProps) {
  const dataOf = useRef(data);
  dataOf.current = data;
  const cursorOf = useRef(onCursor);
  cursorOf.current = onCursor;
  const runsKey = runs.map((r) => `${r.id}:${r.colour}:${r.name}`).join('|');
  const rangeKey = xRange.join('…');
  // The runs and the range change the chart through their keys.
  const { box, chart, failure } = useUplot(
    height,
    (UPlot, el) => {
      const css = getComputedStyle(el);
      const colours = runs.map((r) => css.getPropertyValue(`--series-${r.colour}`).trim());
      const options = optionsFor(paletteOf(el), colours, runs, align, xRange);
      const report = (u: uPlot) => {
        const idx = u.cursor.idx;
        if (idx == null) return cursorOf.current(null);
        const losses = runs.map((_, i) => (u.data[1 + i * SERIES_PER_RUN + 1]![idx] ?? null) as number | null);
        cursorOf.current({ x: u.data[0][idx]!, losses });
      };
      const u = new UPlot({ ...options, hooks: { setCursor: [report] }, width: el.clientWidth, height }, dataOf.current, el);
      drawn(el, u.data);
      // The legend's values under the cursor were this chart's.
      return { chart: u, release: () => cursorOf.current(null) };
    },
    [runsKey, rangeKey, align],
  );

  // Another smoothing: the same chart, new data.
  useEffect(() => {
    const u = chart.current;
    if (u === null) return;
    u.setData(data);
    drawn(box.current!, data);
  }, [data]);

  const label = `Training loss per ${align} of ${runs.length === 1 ? 'one run' : `${runs.length} runs`}, raw and smoothed, with held-out losses as points: ${runs.map((r) => r.name).join('; ')}`;
  return (
    <figure className={trainStyles.figure}>
      <div
        ref={box}
        className={trainStyles.chart}
        style={{ minHeight: height }}
        role="img"
        aria-label={label}
        data-testid="compare-chart"
        data-drawn={0}
        data-points={points.join(',')}
        data-align={align}
      />
      {failure !== null && <p className="error-text">{failure}</p>}
    </figure>
  );
}

/** How many runs the chart holds a loss of, on its container (the end-to-end tests read it). */
function drawn(el: HTMLElement, data: uPlot.AlignedData): void {
  let runs = 0;
  for (let s = 1; s < data.length; s += SERIES_PER_RUN) if (data[s]!.some((v) => v != null)) runs++;
  el.dataset.drawn = String(runs);
}
