// The page's method comparison (src/state/compare.ts): the settings read into the worker's request
// (seeds from the setup's, the default grid around its lr, the dev split bounded by the training
// items), why "Compare methods" waits, the queue as its events arrive, and the flow against a
// scripted engine — the request sent, each run's progress and result, the table, Cancel, a failure.

import { beforeEach, describe, expect, it, vi } from 'vitest';
import { comparisonMethods, comparisonRunCount, defaultLrGrid, DEFAULT_DEV_ITEMS } from '../../src/run/compare-plan';
import type { RunMetrics } from '../../src/run/run';
import { runSpecWith, type RunSpec } from '../../src/run/spec';
import type { WireCompareResult, WireCompareRun, WireRunEvent } from '../../src/worker/protocol';

/** The scripted engine: the comparison waits until the test answers it; Cancel rejects it as the worker does. */
const script: {
  request: unknown;
  streams: { onCompareEvent?: (r: WireCompareRun, e: WireRunEvent) => void; onCompareRun?: (r: WireCompareRun, m: RunMetrics) => void };
  resolve: (v: WireCompareResult) => void;
  reject: (e: Error) => void;
  cancelled: number[];
} = { request: null, streams: {}, resolve: () => undefined, reject: () => undefined, cancelled: [] };
vi.mock('../../src/state/worker', async () => {
  const { EngineCancelledError } = await vi.importActual<typeof import('../../src/worker/client')>('../../src/worker/client');
  const client = {
    compare: (request: unknown, streams: typeof script.streams) => {
      script.request = request;
      script.streams = streams;
      const promise = new Promise<WireCompareResult>((res, rej) => ((script.resolve = res), (script.reject = rej)));
      return Object.assign(promise, { id: 41 });
    },
    cancel: async (id: number) => {
      script.cancelled.push(id);
      script.reject(new EngineCancelledError(`request ${id} was cancelled`));
    },
  };
  return { engine: async () => ({ client }), forgetIfBroken: () => undefined };
});

const { comparePlanOf, compareBlockOf, currentAfter, parseRates, queueEtaMs, runFraction, useCompare, DEFAULT_COMPARE_SETTINGS } = await import('../../src/state/compare');

const SPEC: RunSpec = runSpecWith({ seed: 5, training: { lr: 5e-3 }, adapter: { r: 4 } });
const settings = (s: Partial<typeof DEFAULT_COMPARE_SETTINGS> = {}) => ({ ...DEFAULT_COMPARE_SETTINGS, ...s });
const run = (index: number, over: Partial<WireCompareRun> = {}): WireCompareRun => ({ label: 'LoRA r=4', ablation: false, seed: 5, lr: 5e-3, selection: false, index, total: 8, ...over });
const metrics = (before: number, after: number) => ({ before: { accuracy: before }, after: { accuracy: after }, timings: { totalMs: 1000 } }) as unknown as RunMetrics;
const flush = () => new Promise((r) => setTimeout(r, 0));

describe('the plan', () => {
  it('counts the seeds up from the setup\'s seed, takes the default grid around its lr and the default dev split', () => {
    const plan = comparePlanOf(SPEC, settings(), 5000);
    expect(plan).toEqual({
      seeds: [5, 6, 7],
      lrGrid: defaultLrGrid(SPEC),
      devItems: DEFAULT_DEV_ITEMS,
      ablations: false,
      methods: ['LoRA r=4', 'LoRA r=8', 'DoRA r=4', 'D2-LoRA r=4'],
      runs: 4 * (3 + 3),
    });
    expect(defaultLrGrid(SPEC)).toEqual([2e-3, 5e-3, 1.25e-2]);
  });

  it('runs every method at the setup\'s lr without a grid, and lists the ablation rows when asked', () => {
    const plan = comparePlanOf(SPEC, settings({ lrMode: 'fixed', seedCount: '2', ablations: true, devItems: 'ignored' }), 10);
    if ('problem' in plan) throw new Error(plan.problem);
    expect(plan.lrGrid).toEqual([]);
    expect(plan.methods).toEqual(comparisonMethods(SPEC, true).map((m) => m.label));
    expect(plan.methods.slice(4)).toEqual(['D2-LoRA r=4, projection off', 'D2-LoRA r=4, ρ = 0', 'D2-LoRA r=4, τ = 0', 'D2-LoRA r=4, τ = 1', 'D2-LoRA r=4, detached norm']);
    expect(plan.runs).toBe(9 * 2);
    expect(comparisonRunCount(9, 0, 2)).toBe(18);
    // A grid of one rate chooses nothing: no selection runs, as compareMethods has it.
    expect(comparisonRunCount(4, 1, 2)).toBe(8);
  });

  it('takes a grid as typed, in commas or spaces', () => {
    expect(parseRates('2e-3, 5e-3  1e-2')).toEqual([2e-3, 5e-3, 1e-2]);
    const plan = comparePlanOf(SPEC, settings({ rates: '1e-3,1e-2', devItems: '16' }), 64);
    expect(plan).toMatchObject({ lrGrid: [1e-3, 1e-2], devItems: 16, runs: 4 * (2 + 3) });
  });

  it('says what is wrong with a setting, naming it and what was expected', () => {
    expect(comparePlanOf(SPEC, settings({ seedCount: '0' }), null)).toEqual({ field: 'seedCount', problem: 'Seeds: found "0"; expected a whole number from 1 to 10.' });
    expect(comparePlanOf(SPEC, settings({ seedCount: '2.5' }), null)).toEqual({ field: 'seedCount', problem: 'Seeds: found "2.5"; expected a whole number from 1 to 10.' });
    expect(comparePlanOf(SPEC, settings({ seedCount: '' }), null)).toEqual({ field: 'seedCount', problem: 'Seeds: found ""; expected a whole number from 1 to 10.' });
    expect(parseRates('1e-3, fast')).toBe('Rates: found "fast"; expected learning rates in (0, 1], such as 2e-3.');
    expect(parseRates('2')).toBe('Rates: found "2"; expected learning rates in (0, 1], such as 2e-3.');
    expect(comparePlanOf(SPEC, settings({ rates: '1e-3, fast' }), null)).toEqual({ field: 'rates', problem: parseRates('1e-3, fast') });
    expect(parseRates('1e-3 0.001')).toBe('Rates: found only 1e-3; a grid needs two or more different rates (or choose "The setup\'s lr for all").');
    expect(comparePlanOf(SPEC, settings({ devItems: '0' }), null)).toEqual({ field: 'devItems', problem: 'Dev items: found "0"; expected a whole number ≥ 1.' });
    expect(comparePlanOf(SPEC, settings({ devItems: '33' }), 64)).toEqual({
      field: 'devItems',
      problem: 'Dev items: 33 of the 64 training items would be held out to choose the rate; give at most 32, or choose "The setup\'s lr for all".',
    });
    expect(comparePlanOf(SPEC, settings({ devItems: '32' }), 64)).not.toHaveProperty('problem');
  });
});

describe('why Compare methods waits', () => {
  const plan = comparePlanOf(SPEC, settings(), null);
  it('words Start\'s reason for this button, then a run in Train, then the settings', () => {
    expect(compareBlockOf('Start waits for the GPU.', 'idle', 'idle', plan)).toBe('Compare methods waits for the GPU.');
    expect(compareBlockOf('The model could not be loaded: 404', 'idle', 'idle', plan)).toBe('The model could not be loaded: 404');
    for (const s of ['starting', 'running', 'paused']) {
      expect(compareBlockOf(null, s, 'done', plan)).toBe('A run is under way in Train: let it finish, or cancel it, before comparing methods.');
    }
    expect(compareBlockOf(null, 'done', 'idle', { field: 'seedCount', problem: 'Seeds: x' })).toBe('Seeds: x');
    expect(compareBlockOf(null, 'done', 'running', plan)).toBe('A comparison is under way: cancel it or let it finish.');
    expect(compareBlockOf(null, 'failed', 'cancelled', plan)).toBeNull();
  });
});

describe('the queue', () => {
  it('follows the run under way by its events, a new run starting afresh', () => {
    let c = currentAfter(null, run(0), { type: 'stage', stage: 'load-model', detail: '' }, 100);
    expect(c).toMatchObject({ index: 0, stage: 'load-model', progress: null, evalProgress: null, startedAt: 100 });
    expect(runFraction(c)).toBeNull();
    c = currentAfter(c, run(0), { type: 'eval-progress', phase: 'before', done: 4, total: 16 }, 200);
    expect(runFraction(c)).toBe(0.25);
    c = currentAfter(c, run(0), { type: 'stage', stage: 'train', detail: '' }, 300);
    expect(c.evalProgress).toBeNull();
    c = currentAfter(c, run(0), { type: 'progress', step: 3, totalSteps: 8, epoch: 0, tokensPerSecond: 1, elapsedMs: 1, etaMs: 500 }, 400);
    expect(runFraction(c)).toBe(3 / 8);
    expect(c.startedAt).toBe(100);
    const next = currentAfter(c, run(1, { seed: 6 }), { type: 'stage', stage: 'load-model', detail: '' }, 900);
    expect(next).toMatchObject({ index: 1, seed: 6, progress: null, startedAt: 900 });
  });

  it('estimates the time left from the runs done', () => {
    const done = [{ ...run(0), before: 0.25, after: 0.5, ms: 1000 }, { ...run(1), before: 0.25, after: 0.5, ms: 3000 }];
    expect(queueEtaMs([], null, 8, 0)).toBeNull();
    const current = currentAfter(null, run(2), { type: 'stage', stage: 'train', detail: '' }, 10_000);
    // 5 runs not started at 2 s each, and the current one's 2 s less the 0.5 s it has run.
    expect(queueEtaMs(done, current, 8, 10_500)).toBe(5 * 2000 + 1500);
  });
});

describe('a comparison against the engine', () => {
  beforeEach(() => {
    useCompare.setState({ status: 'idle', settings: DEFAULT_COMPARE_SETTINGS });
    script.cancelled.length = 0;
  });

  it('sends the plan, shows each run as it goes and each one done, then the table', async () => {
    const plan = comparePlanOf(SPEC, settings({ seedCount: '2', lrMode: 'fixed' }), null);
    if ('problem' in plan) throw new Error(plan.problem);
    const started = useCompare.getState().start(SPEC, plan, []);
    await flush();
    expect(script.request).toEqual({ spec: SPEC, seeds: [5, 6], lrGrid: [], devItems: DEFAULT_DEV_ITEMS, ablations: false, files: [] });
    expect(useCompare.getState()).toMatchObject({ status: 'running', callId: 41, plan, finished: [], result: null });
    script.streams.onCompareEvent!(run(0), { type: 'stage', stage: 'train', detail: '' });
    script.streams.onCompareEvent!(run(0), { type: 'progress', step: 2, totalSteps: 8, epoch: 0, tokensPerSecond: 1, elapsedMs: 1, etaMs: 1 });
    expect(useCompare.getState().current).toMatchObject({ index: 0, label: 'LoRA r=4', stage: 'train', progress: { step: 2, totalSteps: 8 } });
    script.streams.onCompareRun!(run(0), metrics(0.25, 0.5));
    script.streams.onCompareEvent!(run(1, { seed: 6 }), { type: 'stage', stage: 'load-model', detail: '' });
    expect(useCompare.getState().finished).toMatchObject([{ index: 0, seed: 5, before: 0.25, after: 0.5 }]);
    expect(useCompare.getState().current).toMatchObject({ index: 1, seed: 6 });
    const table: WireCompareResult = { result: { heading: 'h', rows: [], seeds: [5, 6], selection: null }, csv: 'a,b\n', markdown: '# h\n' };
    script.resolve(table);
    await started;
    expect(useCompare.getState()).toMatchObject({ status: 'done', result: table, current: null });
  });

  it('cancels the comparison under way, and says why one failed', async () => {
    const plan = comparePlanOf(SPEC, settings({ lrMode: 'fixed' }), null);
    if ('problem' in plan) throw new Error(plan.problem);
    let started = useCompare.getState().start(SPEC, plan, []);
    await flush();
    // A second start while one runs does nothing.
    await useCompare.getState().start(SPEC, plan, []);
    await useCompare.getState().cancel();
    await started;
    expect(script.cancelled).toEqual([41]);
    expect(useCompare.getState()).toMatchObject({ status: 'cancelled', current: null });

    started = useCompare.getState().start(SPEC, plan, []);
    await flush();
    script.reject(new Error('compare: task story (dev split) is too small'));
    await started;
    expect(useCompare.getState()).toMatchObject({ status: 'failed', error: 'compare: task story (dev split) is too small' });
  });
});
