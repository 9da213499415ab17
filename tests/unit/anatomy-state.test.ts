// "Inside the adapter" on the page (src/state/anatomy.ts): which figures each method has (LoRA only
// the update ratio and the drift), a figure's value per layer × module, the colour scale's range
// and a value's shade on it, the number format, and a paused run measured once per pause in the
// worker (a superseded answer dropped).

import { describe, expect, it, vi } from 'vitest';
import { distribution } from '../../src/adapters/anatomy';
import type { AdapterAnatomy, ModuleAnatomy } from '../../src/run/anatomy';

const calls: { run: number; resolve: (v: { anatomy: AdapterAnatomy }) => void; reject: (e: Error) => void }[] = [];
vi.mock('../../src/state/worker', () => ({
  engine: async () => ({
    client: {
      anatomy: (run: number) => new Promise((resolve, reject) => calls.push({ run, resolve, reject })),
    },
  }),
  forgetIfBroken: () => undefined,
}));

const { FIGURES, figuresOf, formatFigure, heatmapOf, largestUpdate, missingFiguresNote, quantitiesOf, shadeOf, useAnatomy } = await import('../../src/state/anatomy');

const dist = (...xs: number[]) => distribution(Float64Array.from(xs));

function entry(layer: number, module: string, method: AdapterAnatomy['method'], updateRatio: number): ModuleAnatomy {
  return {
    name: `model.layers.${layer}.self_attn.${module}`,
    layer,
    module,
    out: 4,
    in: 4,
    updateRatio,
    deltaNorm: updateRatio * 2,
    baseNorm: 2,
    branches: method === 'd2lora' ? { plus: 4 * updateRatio, minus: updateRatio } : null,
    rowScale: method === 'lora' ? null : dist(0.98, 1.01, 1.02, 1.03),
    rowDrift: dist(-0.02, 0.01, 0.01 * layer, 0.03),
    magnitudeRatio: method === 'dora' ? dist(1, 1.1, 1.2, 1.3) : null,
  };
}

function anatomyOf(method: AdapterAnatomy['method']): AdapterAnatomy {
  // Layer 1's v_proj is not adapted.
  const entries = [entry(0, 'q_proj', method, 0.01), entry(0, 'v_proj', method, 0.04), entry(1, 'q_proj', method, 0.02)];
  return { method, modules: ['q_proj', 'v_proj'], layers: 2, entries };
}

describe('the figures of each method', () => {
  it('has LoRA\'s update ratio and drift only, and says so', () => {
    const lora = anatomyOf('lora');
    expect(figuresOf(lora)).toEqual(['updateRatio', 'medianDrift']);
    expect(quantitiesOf(lora.entries[0]!)).toEqual(['rowDrift']);
    expect(missingFiguresNote(lora)).toMatch(/^LoRA adds ΔW .* only the update ratio and the rows’ norm drift apply\.$/);
  });

  it('has D2-LoRA\'s branches and rescale, DoRA\'s magnitude', () => {
    const d2 = anatomyOf('d2lora');
    expect(figuresOf(d2)).toEqual(['updateRatio', 'plusNorm', 'minusNorm', 'minusOverPlus', 'medianDrift', 'medianScale']);
    expect(quantitiesOf(d2.entries[0]!)).toEqual(['rowScale', 'rowDrift']);
    expect(missingFiguresNote(d2)).toBeNull();
    const noProjection = { ...d2, entries: d2.entries.map((e) => ({ ...e, rowScale: null })) };
    expect(figuresOf(noProjection)).not.toContain('medianScale');
    expect(missingFiguresNote(noProjection)).toMatch(/norm projection off/);
    const dora = anatomyOf('dora');
    expect(figuresOf(dora)).toEqual(['updateRatio', 'medianDrift', 'medianScale', 'medianMagnitude']);
    expect(quantitiesOf(dora.entries[0]!)).toEqual(['rowScale', 'rowDrift', 'magnitudeRatio']);
  });

  it('reads each figure from the module\'s anatomy', () => {
    const e = entry(1, 'q_proj', 'd2lora', 0.02);
    expect(FIGURES.updateRatio.value(e)).toBe(0.02);
    expect(FIGURES.plusNorm.value(e)).toBe(0.08);
    expect(FIGURES.minusNorm.value(e)).toBe(0.02);
    expect(FIGURES.minusOverPlus.value(e)).toBe(0.25);
    expect(FIGURES.medianDrift.value(e)).toBe(e.rowDrift.median);
    expect(FIGURES.medianScale.value(e)).toBe(e.rowScale!.median);
    expect(FIGURES.minusOverPlus.value({ ...e, branches: { plus: 0, minus: 0 } })).toBeNaN();
  });
});

describe('the heatmap', () => {
  it('has a cell per adapted layer × module, and a range from 0 to the largest value', () => {
    const h = heatmapOf(anatomyOf('d2lora'), 'updateRatio');
    expect(h.layers).toBe(2);
    expect(h.modules).toEqual(['q_proj', 'v_proj']);
    expect(h.cell(0, 'v_proj')!.value).toBe(0.04);
    expect(h.cell(1, 'q_proj')!.entry.name).toBe('model.layers.1.self_attn.q_proj');
    expect(h.cell(1, 'v_proj')).toBeUndefined();
    expect(h.range).toEqual({ lo: 0, hi: 0.04, centre: null });
    expect(shadeOf(0.04, h.range)).toEqual({ side: 1, strength: 1 });
    expect(shadeOf(0.01, h.range)).toEqual({ side: 1, strength: 0.25 });
    expect(shadeOf(NaN, h.range)).toBeNull();
  });

  it('centres a diverging figure, as far each way as the farthest value', () => {
    const h = heatmapOf(anatomyOf('d2lora'), 'medianScale');
    // Every module's median g is 1.02 (distribution's median of four values is the third).
    expect(h.range.centre).toBe(1);
    expect(h.range.lo).toBeCloseTo(0.98, 15);
    expect(h.range.hi).toBeCloseTo(1.02, 15);
    expect(shadeOf(0.99, { lo: 0.98, hi: 1.02, centre: 1 })).toEqual({ side: -1, strength: expect.closeTo(0.5, 12) });
    expect(shadeOf(1, { lo: 1, hi: 1, centre: 1 })).toEqual({ side: 1, strength: 0 });
  });

  it('picks the module training moved most, and writes figures in three digits', () => {
    expect(largestUpdate(anatomyOf('lora'))!.name).toBe('model.layers.0.self_attn.v_proj');
    expect(formatFigure(0.012345)).toBe('0.0123');
    expect(formatFigure(0.00012345)).toBe('1.23e-4');
    expect(formatFigure(-0.5)).toBe('-0.500');
    expect(formatFigure(1.0213)).toBe('1.02');
    expect(formatFigure(0)).toBe('0');
    expect(formatFigure(NaN)).toBe('—');
    expect(formatFigure(123456)).toBe('1.23e+5');
  });
});

describe('a paused run', () => {
  it('is measured once per pause, and a measurement of an earlier pause that answers late is dropped', async () => {
    const first = useAnatomy.getState().measurePaused(7, 10);
    await useAnatomy.getState().measurePaused(7, 10);
    await Promise.resolve();
    expect(calls.map((c) => c.run)).toEqual([7]);
    expect(useAnatomy.getState().paused).toMatchObject({ runId: 7, step: 10, status: 'measuring' });
    // Resumed and paused again at step 14 before the first answer came.
    const second = useAnatomy.getState().measurePaused(7, 14);
    await new Promise((r) => setTimeout(r, 0));
    calls[0]!.resolve({ anatomy: anatomyOf('lora') });
    await first;
    expect(useAnatomy.getState().paused).toMatchObject({ step: 14, status: 'measuring' });
    const measured = anatomyOf('d2lora');
    calls[1]!.resolve({ anatomy: measured });
    await second;
    expect(useAnatomy.getState().paused).toEqual({ runId: 7, step: 14, status: 'ready', anatomy: measured, error: null });

    const failing = useAnatomy.getState().measurePaused(8, 3);
    await new Promise((r) => setTimeout(r, 0));
    calls[2]!.reject(new Error('the run is training: pause it to look inside its adapters'));
    await failing;
    expect(useAnatomy.getState().paused).toMatchObject({ runId: 8, status: 'failed', error: 'the run is training: pause it to look inside its adapters' });
  });
});
