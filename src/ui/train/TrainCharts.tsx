// The run's curves as it trains: the training loss, raw and smoothed (an EMA whose weight the
// slider sets), with the held-out losses as points and, for the run of a link that carried its
// sender's result, the sender's loss (each point the mean over a share of the steps, drawn at the
// middle of its share) as a dashed line, on a linear or log scale; the learning rate; the gradient
// norm before clipping, with the clip as a dashed line. x is the number of steps done, from 1 to
// the run's total, so the curves grow left to right.

import { useId, useMemo, useState } from 'react';
import type uPlot from 'uplot';
import { lossPointSteps } from '../../share/result';
import { useForm } from '../../state/form';
import { useRun, type RunState } from '../../state/run';
import { axesFor, LiveChart, type Palette } from './LiveChart';
import { isSendersRun } from './sender';
import { DEFAULT_SMOOTHING, smoothEma } from './smoothing';
import { SmoothingSlider } from './SmoothingSlider';
import styles from './TrainCharts.module.css';

const LOSS_HEIGHT = 230;
const SMALL_HEIGHT = 150;

/** Three significant digits, no float noise: 0.00500 → "0.005". */
const compact = (v: number) => String(Number(v.toPrecision(3)));
const fixed = (digits: number) => (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : v.toFixed(digits));

/** 1 … the run's total steps (or the steps done, when more): the x axis does not jump as steps arrive. */
const stepRange = (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [1, Math.max(2, max, useRun.getState().tokenized?.totalSteps ?? 0)];

function stepsDone(s: RunState): number[] {
  return s.steps.map((st) => st.step + 1);
}

/** The sender's loss points, at the steps they stand for. */
interface SenderCurve {
  steps: number[];
  loss: number[];
}

function lossData(s: RunState, smoothing: number, sender: SenderCurve | null): uPlot.AlignedData {
  const own = stepsDone(s);
  const loss = s.steps.map((st) => st.loss);
  // One x for every series: the steps done and, with a sender's curve, the steps of its points (the middles of its shares may fall between steps).
  const x = sender === null ? own : [...new Set([...own, ...sender.steps])].sort((a, b) => a - b);
  const at = new Map(x.map((step, i) => [step, i]));
  const column = (steps: readonly number[], values: readonly (number | null)[]) => {
    const out: (number | null)[] = x.map(() => null);
    steps.forEach((step, i) => (out[at.get(step)!] = values[i] ?? null));
    return out;
  };
  const heldOut: (number | null)[] = x.map(() => null);
  for (const h of s.heldOut) {
    const i = at.get(h.step);
    if (i !== undefined) heldOut[i] = h.loss;
  }
  const series: uPlot.AlignedData = [x, column(own, loss.map((l) => (Number.isFinite(l) ? l : null))), column(own, smoothEma(loss, smoothing)), heldOut];
  return sender === null ? series : [...series, column(sender.steps, sender.loss)];
}

function lossOptions(p: Palette, log: boolean, sender: boolean): Omit<uPlot.Options, 'width' | 'height'> {
  // Between the sender's points the x axis has steps this run has no loss for: its lines go across them.
  const across = sender ? { spanGaps: true } : {};
  return {
    scales: { x: { time: false, range: stepRange }, y: log ? { distr: 3, log: 10 } : { auto: true } },
    axes: axesFor(p, 'step', log ? 'loss (nats/token, log)' : 'loss (nats/token)'),
    cursor: { sync: { key: 'train' }, points: { size: 6 } },
    legend: { live: true },
    series: [
      { label: 'step', value: (_u, v) => (v === null ? '—' : String(v)) },
      { label: 'loss', stroke: p.accent, alpha: 0.35, width: 1, points: { show: false }, value: fixed(4), ...across },
      { label: 'smoothed', stroke: p.accent, width: 2, points: { show: false }, value: fixed(4), ...across },
      {
        label: 'held-out',
        stroke: p.second,
        width: 0,
        paths: () => null,
        points: { show: true, size: 7, width: 2, stroke: p.second, fill: p.surface },
        value: fixed(4),
      },
      ...(sender
        ? [{ label: "sender's loss", stroke: p.text, width: 1.5, dash: [5, 4], spanGaps: true, points: { show: true, size: 4, stroke: p.text, fill: p.surface }, value: fixed(4) }]
        : []),
    ],
  };
}

function lrData(s: RunState): uPlot.AlignedData {
  return [stepsDone(s), s.steps.map((st) => st.lr)];
}

function lrOptions(p: Palette): Omit<uPlot.Options, 'width' | 'height'> {
  return {
    scales: { x: { time: false, range: stepRange } },
    axes: axesFor(p, 'step', 'learning rate', compact),
    cursor: { sync: { key: 'train' }, points: { size: 6 } },
    series: [{ label: 'step' }, { label: 'learning rate', stroke: p.accent, width: 1.5, points: { show: false }, value: (_u, v) => (v === null ? '—' : v.toExponential(2)) }],
  };
}

function gradData(s: RunState): uPlot.AlignedData {
  const clip = s.spec.training.maxGradNorm;
  return [stepsDone(s), s.steps.map((st) => (Number.isFinite(st.gradNorm) ? st.gradNorm : null)), s.steps.map(() => (clip > 0 ? clip : null))];
}

function gradOptions(p: Palette): Omit<uPlot.Options, 'width' | 'height'> {
  return {
    scales: { x: { time: false, range: stepRange } },
    axes: axesFor(p, 'step', 'gradient norm', compact),
    cursor: { sync: { key: 'train' }, points: { size: 6 } },
    series: [
      { label: 'step' },
      { label: 'gradient norm', stroke: p.accent, width: 1.5, points: { show: false }, value: fixed(3) },
      { label: 'clip', stroke: p.second, width: 1, dash: [4, 4], points: { show: false }, value: fixed(2) },
    ],
  };
}

/** The sender's curve when this run is the run of the link that carried it; null otherwise. */
function useSenderCurve(): SenderCurve | null {
  const sender = useForm((s) => s.sender);
  const runSpec = useRun((s) => s.spec);
  return useMemo(() => (sender !== null && isSendersRun(runSpec, sender) ? { steps: lossPointSteps(sender.result), loss: sender.result.loss } : null), [sender, runSpec]);
}

export function TrainCharts() {
  const [smoothing, setSmoothing] = useState(DEFAULT_SMOOTHING);
  const [log, setLog] = useState(false);
  const sender = useSenderCurve();
  const logId = useId();
  return (
    <div className={styles.charts}>
      <div className={styles.chartHead}>
        <h3 className={styles.chartTitle}>Training loss</h3>
        <div className={styles.chartControls}>
          <SmoothingSlider value={smoothing} onChange={setSmoothing} testId="chart-smoothing" />
          <input id={logId} type="checkbox" checked={log} onChange={(e) => setLog(e.currentTarget.checked)} data-testid="chart-log" />
          <label htmlFor={logId}>Log scale</label>
        </div>
      </div>
      <LiveChart
        label={`Training loss per step, raw and smoothed, with the held-out loss as points${sender !== null ? " and the sender's loss as a dashed line" : ''}`}
        height={LOSS_HEIGHT}
        options={(p) => lossOptions(p, log, sender !== null)}
        optionsKey={`${log ? 'log' : 'linear'}${sender !== null ? '+sender' : ''}`}
        data={(s) => lossData(s, smoothing, sender)}
        dataKey={String(smoothing)}
        count={(s) => s.steps.length}
        testId="run-chart-loss"
      />
      <div className={styles.pair}>
        <div>
          <h3 className={styles.chartTitle}>Learning rate</h3>
          <LiveChart label="Learning rate per step" height={SMALL_HEIGHT} options={lrOptions} optionsKey="lr" data={lrData} dataKey="" testId="run-chart-lr" />
        </div>
        <div>
          <h3 className={styles.chartTitle}>Gradient norm</h3>
          <LiveChart
            label="Gradient norm per step before clipping, with the clip threshold"
            height={SMALL_HEIGHT}
            options={gradOptions}
            optionsKey="grad"
            data={gradData}
            dataKey=""
            testId="run-chart-grad"
          />
        </div>
      </div>
    </div>
  );
}
