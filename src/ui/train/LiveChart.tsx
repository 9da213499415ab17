// A uPlot chart that follows the run: uPlot and its CSS are loaded with a dynamic import() the
// first time a chart mounts (the page's first paint never waits for chart code); the chart is
// created once — again only when its options or the colour scheme change — and then fed with
// setData at most once a frame as the run's steps arrive, outside React's render. It takes its
// container's width (a ResizeObserver) and its colours from the page's CSS variables. The loader,
// the palette, the scheme and the chart's lifecycle (useUplot) are the other charts' too (the history's comparison).

import { useEffect, useRef, useState, useSyncExternalStore, type DependencyList, type RefObject } from 'react';
import type uPlot from 'uplot';
import { useRun, type RunState } from '../../state/run';
import styles from './TrainCharts.module.css';

type UPlot = typeof uPlot;

let loading: Promise<UPlot> | null = null;

/** uPlot and its stylesheet, fetched once. */
export function loadUplot(): Promise<UPlot> {
  loading ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(([m]) => m.default);
  // A chunk that failed to load (offline, a new deployment) is tried again at the next mount.
  loading.catch(() => (loading = null));
  return loading;
}

/** The page's colours, read from its CSS variables where the chart sits. */
export interface Palette {
  text: string;
  muted: string;
  border: string;
  surface: string;
  accent: string;
  /** A second series colour: the held-out points, the clip line. */
  second: string;
}

export function paletteOf(el: Element): Palette {
  const css = getComputedStyle(el);
  const v = (name: string) => css.getPropertyValue(name).trim();
  return { text: v('--text'), muted: v('--muted'), border: v('--border'), surface: v('--surface'), accent: v('--accent'), second: v('--busy') };
}

const darkQuery = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;

/** 'dark' or 'light', following the system's setting as the page's CSS does. */
export function useColorScheme(): 'dark' | 'light' {
  return useSyncExternalStore(
    (onChange) => {
      darkQuery?.addEventListener('change', onChange);
      return () => darkQuery?.removeEventListener('change', onChange);
    },
    () => (darkQuery?.matches ? 'dark' : 'light'),
  );
}

/** Steps are whole: the x axis ticks at 1, 2, 5, 10, 20, 25, 50 … steps apart, never 2.5. */
const STEP_INCREMENTS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 25_000, 50_000, 100_000, 200_000, 500_000, 1_000_000];

/** Axes in the page's colours and font, with their labels; x counts steps. */
export function axesFor(p: Palette, xLabel: string, yLabel: string, yValue?: (v: number) => string): uPlot.Axis[] {
  const common = { stroke: p.muted, grid: { stroke: p.border, width: 1 }, ticks: { stroke: p.border, width: 1 }, font: '11px system-ui, sans-serif', labelFont: '12px system-ui, sans-serif' };
  return [
    { ...common, label: xLabel, labelSize: 18, size: 32, incrs: STEP_INCREMENTS },
    { ...common, label: yLabel, labelSize: 18, size: 58, ...(yValue ? { values: (_u: uPlot, splits: number[]) => splits.map(yValue) } : {}) },
  ];
}

/** A chart `useUplot` made, and what to undo before it is destroyed (subscriptions, frames). */
export interface MadeChart {
  chart: uPlot;
  release?: () => void;
}

/**
 * The lifecycle every chart of the page shares: uPlot loaded on first use; the chart made by
 * `make` in the container `box` holds, again whenever `deps`, the colour scheme or the height
 * change; kept at its container's width; destroyed before it is made again and on unmount. A
 * chart chunk that cannot load becomes `failure`, a message to show.
 */
export function useUplot(
  height: number,
  make: (UPlot: UPlot, el: HTMLDivElement) => MadeChart,
  deps: DependencyList,
): { box: RefObject<HTMLDivElement | null>; chart: RefObject<uPlot | null>; failure: string | null } {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const makeOf = useRef(make);
  makeOf.current = make;
  const scheme = useColorScheme();
  const [failure, setFailure] = useState<string | null>(null);
  useEffect(() => {
    const el = box.current!;
    let disposed = false;
    let release = () => {};
    loadUplot().then(
      (UPlot) => {
        if (disposed) return;
        const made = makeOf.current(UPlot, el);
        const u = made.chart;
        chart.current = u;
        const resize = new ResizeObserver(() => u.setSize({ width: el.clientWidth, height }));
        resize.observe(el);
        release = () => {
          made.release?.();
          resize.disconnect();
          u.destroy();
          chart.current = null;
        };
      },
      (e: unknown) => !disposed && setFailure(`The chart code could not be loaded (${e instanceof Error ? e.message : String(e)}); reload the page to try again.`),
    );
    return () => {
      disposed = true;
      release();
    };
    // The callers' keys, the scheme and the height decide when the chart is made again.
  }, [...deps, scheme, height]);
  return { box, chart, failure };
}

interface LiveChartProps {
  /** What the chart shows, for screen readers (the figures are also in the text beside it). */
  label: string;
  height: number;
  /** The chart's options in the page's colours; `optionsKey` changes when they do. */
  options: (p: Palette) => Omit<uPlot.Options, 'width' | 'height'>;
  optionsKey: string;
  /** The chart's data from the run's state; `dataKey` changes when it does for another reason than new steps. */
  data: (s: RunState) => uPlot.AlignedData;
  dataKey: string;
  /** The run's points the chart shows (default: the x values; a chart with another curve beside the run's says how many are the run's). */
  count?: (s: RunState) => number;
  testId: string;
}

export function LiveChart({ label, height, options, optionsKey, data, dataKey, count, testId }: LiveChartProps) {
  const dataOf = useRef(data);
  const countOf = useRef(count);
  dataOf.current = data;
  countOf.current = count;
  const { box, chart, failure } = useUplot(
    height,
    (UPlot, el) => {
      const opts = options(paletteOf(el));
      // Away from the cursor, the legend shows the latest step's figures.
      const hooks = { ...opts.hooks, setCursor: [...(opts.hooks?.setCursor ?? []), (u: uPlot) => u.cursor.idx == null && showLatest(u)] };
      const u = new UPlot({ ...opts, hooks, width: el.clientWidth, height }, [[]], el);
      let frame = 0;
      const draw = () => {
        frame = 0;
        const s = useRun.getState();
        show(u, el, dataOf.current(s), countOf.current?.(s));
      };
      draw();
      const unsubscribe = useRun.subscribe((s, prev) => {
        if (s.steps !== prev.steps || s.heldOut !== prev.heldOut) frame ||= requestAnimationFrame(draw);
      });
      return {
        chart: u,
        release: () => {
          unsubscribe();
          cancelAnimationFrame(frame);
        },
      };
    },
    [optionsKey],
  );

  // Another smoothing redraws the data of the chart there is.
  useEffect(() => {
    const u = chart.current;
    const s = useRun.getState();
    if (u !== null) show(u, box.current!, dataOf.current(s), countOf.current?.(s));
  }, [dataKey]);

  return (
    <figure className={styles.figure}>
      <div ref={box} className={styles.chart} style={{ minHeight: height }} role="img" aria-label={label} data-testid={testId} data-points={0} />
      {failure !== null && <p className="error-text">{failure}</p>}
    </figure>
  );
}

/** Each chart's latest step of the run: where its legend stands away from the cursor. */
const latestStep = new WeakMap<uPlot, number>();

/** New data, and the run's point count on the container (the end-to-end tests read it). */
function show(u: uPlot, el: HTMLElement, data: uPlot.AlignedData, points = data[0].length): void {
  u.setData(data);
  el.dataset.points = String(points);
  latestStep.set(u, points);
  if (u.cursor.idx == null) showLatest(u);
}

/** The legend at the run's latest step (x counts steps; another curve beside the run's may reach further). */
function showLatest(u: uPlot): void {
  const x = u.data[0];
  const latest = latestStep.get(u) ?? x.length;
  let idx = x.length - 1;
  while (idx > 0 && x[idx]! > latest) idx--;
  if (x.length > 0) u.setLegend({ idx }, false);
}
