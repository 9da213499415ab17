// The setup's inspection store (src/state/inspect.ts): which inspections the form calls for and
// when they may start, the target checkboxes, the figures, why Start waits, and the flow against
// a scripted engine — a model inspected once (picked files moved to their pinned key, so pinning
// the spec loads nothing again), a superseded inspection cancelled, the task after the model, and
// the address's autostart starting the run exactly once.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ModelConfig } from '../../src/model/config';
import type { ModelInspection, TaskInspection } from '../../src/run/inspect';
import { DEFAULT_RUN_SPEC, type ModelSpec, type RunSpec } from '../../src/run/spec';
import { useForm } from '../../src/state/form';
import type { EngineCancelledError as CancelledType } from '../../src/worker/client';

/** The scripted engine: every request waits until the test answers it. */
const engineCalls: {
  type: string;
  id: number;
  arg: unknown;
  files: string[];
  progress: (p: { file: string; loaded: number; total: number | null }) => void;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}[] = [];
const cancelled: number[] = [];
let nextId = 1;
vi.mock('../../src/state/worker', async () => {
  const { EngineCancelledError } = await vi.importActual<typeof import('../../src/worker/client')>('../../src/worker/client');
  const call = (type: string, arg: unknown, files: { name: string }[], progress: (p: { file: string; loaded: number; total: number | null }) => void) => {
    const id = nextId++;
    let resolve!: (v: unknown) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise((res, rej) => ((resolve = res), (reject = rej)));
    engineCalls.push({ type, id, arg, files: files.map((f) => f.name), progress, resolve, reject });
    return Object.assign(promise, { id });
  };
  const client = {
    inspectModel: (model: ModelSpec, files: { name: string }[], progress: never) => call('inspectModel', model, files, progress),
    inspectTask: (spec: RunSpec, files: { name: string }[], progress: never) => call('inspectTask', spec, files, progress),
    cancel: async (id: number) => {
      cancelled.push(id);
      const c = engineCalls.find((x) => x.id === id);
      c?.reject(new EngineCancelledError(`request ${id} was cancelled`) as CancelledType);
    },
  };
  return { engine: async () => ({ client }), forgetIfBroken: () => undefined, onEngineError: () => () => undefined };
});

const { figuresOf, modelKeyOf, startBlockOf, startInspecting, targetChoices, toggledTargets, useInspect, wantedInspections } = await import('../../src/state/inspect');
const { useRun } = await import('../../src/state/run');
const { useSystem } = await import('../../src/state/system');

const PAGE = 'http://localhost:4173/';
const form = () => useForm.getState();

const CONFIG: ModelConfig = {
  family: 'llama', vocabSize: 512, hiddenSize: 64, intermediateSize: 172, numLayers: 5, numHeads: 8, numKvHeads: 4, headDim: 8, maxPositions: 512,
  normEps: 1e-5, ropeTheta: 10000, ropeStyle: 'interleaved', tiedEmbeddings: true, attentionBias: false, bosTokenId: 1, eosTokenId: 2,
};
const MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
const MODEL: ModelInspection = {
  summary: { name: 'stories260K', family: 'llama', parameters: 260_032, layers: 5, hiddenSize: 64, heads: 8, kvHeads: 4, vocabSize: 512, context: 512, modules: MODULES, warnings: [] },
  config: CONFIG,
  tooLarge: null,
};
const TASK: TaskInspection = {
  name: 'story', source: 'generated', template: 'story',
  counts: { devOnly: false, trainPool: 5000, evalPool: 500, train: 5000, eval: 500, trainTokenized: 5000, evalTokenized: 500 },
  notes: [], chance: 0.25, preview: [], maxLength: 256,
  truncation: { train: { items: 5000, truncated: 0, how: '', dropped: 0, droppedIds: [], longest: 52 }, eval: { items: 500, truncated: 0, how: '', dropped: 0, droppedIds: [], longest: 52 } },
  lengths: { train: 52, eval: 52, trainAnswer: 2, evalAnswer: 2 },
};
const LIMITS = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 27, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupsPerDimension: 65535 };
const SETTLE = 400;

beforeEach(() => {
  vi.useFakeTimers();
  form().loadLink(PAGE);
  useForm.setState({ modelFiles: [], taskFiles: { test: null, train: null } });
  useInspect.setState({ model: { status: 'idle', key: null, waitingFor: null, progress: null, result: null, error: null }, task: { status: 'idle', key: null, waitingFor: null, progress: null, result: null, error: null }, loadRequested: null });
  useSystem.setState({ webgpu: 'ready', limits: LIMITS });
  engineCalls.length = 0;
  cancelled.length = 0;
});

afterEach(() => {
  vi.useRealTimers();
});

const settle = async () => {
  await vi.advanceTimersByTimeAsync(SETTLE);
};

describe('which inspections the form calls for', () => {
  const idle = { status: 'idle' as const, key: null };

  it('loads a preset at once; the task waits for the model', () => {
    const w = wantedInspections(form(), idle, null);
    expect(w.model).toEqual({ key: JSON.stringify(DEFAULT_RUN_SPEC.model), go: true, waitingFor: null });
    expect(w.task).toMatchObject({ go: false, waitingFor: 'model' });
    const ready = wantedInspections(form(), { status: 'ready', key: w.model.key }, null);
    expect(ready.task.go).toBe(true);
  });

  it('waits for a repository or URL to be asked for (or the address to ask to start)', () => {
    form().set(['model'], { kind: 'hub', repo: 'HuggingFaceTB/SmolLM2-135M', revision: 'main' });
    const key = modelKeyOf(form().spec!.model, []);
    expect(wantedInspections(form(), idle, null).model).toEqual({ key, go: false, waitingFor: 'load' });
    expect(wantedInspections(form(), idle, key).model.go).toBe(true);
    useForm.setState({ autostart: true });
    expect(wantedInspections(form(), idle, null).model.go).toBe(true);
  });

  it('waits for picked files, and for fields the inspection depends on', () => {
    form().set(['model'], { kind: 'files', name: 'm', files: [] });
    expect(wantedInspections(form(), idle, null).model.waitingFor).toBe('files');
    form().set(['model'], { kind: 'preset', name: 'nope' });
    expect(wantedInspections(form(), idle, null)).toEqual({ model: { key: '(fields)', go: false, waitingFor: 'fields' }, task: { key: '(fields)', go: false, waitingFor: 'fields' } });
    form().set(['model'], { kind: 'preset', name: 'stories260K' });
    form().set(['limits', 'maxLength'], 1);
    expect(wantedInspections(form(), idle, null).task.waitingFor).toBe('fields');
    // A field neither depends on (the learning rate) does not hold them up.
    form().set(['limits', 'maxLength'], 256);
    form().set(['training', 'lr'], 'x');
    expect(wantedInspections(form(), idle, null).model.go).toBe(true);
    // A file task without its file: waiting for it, not for a field.
    form().set(['task'], { kind: 'file' });
    expect(wantedInspections(form(), idle, null).task).toEqual({ key: '(files)', go: false, waitingFor: 'files' });
  });

  it("keys picked files by name, size and date, so that other files under the same name load", () => {
    const spec: ModelSpec = { kind: 'files', name: 'm', files: [] };
    expect(modelKeyOf(spec, [{ name: 'a.bin', file: new Blob(['1']) }])).not.toBe(modelKeyOf(spec, [{ name: 'a.bin', file: new Blob(['12']) }]));
  });
});

describe('targets', () => {
  it('checks the family defaults for null targets, and gives null back when they are chosen again', () => {
    expect(targetChoices(MODULES, 'llama', null).filter((c) => c.checked).map((c) => c.module)).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj']);
    const withUp = toggledTargets(MODULES, 'llama', null, 'up_proj', true);
    expect(withUp).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'up_proj']);
    expect(toggledTargets(MODULES, 'llama', withUp, 'up_proj', false)).toBeNull();
    expect(toggledTargets(MODULES, 'llama', ['q_proj'], 'q_proj', false)).toEqual([]);
  });

  it("matches GPT-2's suffixes as PEFT does", () => {
    const gpt2 = ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'];
    expect(targetChoices(gpt2, 'gpt2', ['c_proj']).map((c) => c.checked)).toEqual([false, true, false, true]);
  });
});

describe('figures and why Start waits', () => {
  const ready = <T>(result: T) => ({ status: 'ready' as const, key: 'k', waitingFor: null, progress: null, result, error: null });
  const waiting = (waitingFor: 'files' | 'model' | 'load') => ({ status: 'waiting' as const, key: 'k', waitingFor, progress: null, result: null, error: null });

  it('counts parameters once the model is loaded, steps once the task is tokenized', () => {
    const f = figuresOf(form(), { model: ready(MODEL), task: ready(TASK) }, LIMITS);
    expect(f.trainableParameters).toBe(35_840);
    expect(f.steps).toEqual({ ok: true, examples: 5000, stepsPerEpoch: 313, totalSteps: 626 });
    expect(f.fit?.fits).toBe(true);
    expect(f.fromTask).toBe(true);
    const none = figuresOf(form(), { model: waiting('load'), task: waiting('model') }, LIMITS);
    expect(none).toMatchObject({ trainableParameters: null, steps: null, memory: null, fit: null });
  });

  it('holds back a figure whose fields have a problem, and only that one', () => {
    form().set(['adapter', 'r'], 'x');
    form().set(['training', 'lr'], -1);
    const f = figuresOf(form(), { model: ready(MODEL), task: ready(TASK) }, LIMITS);
    expect(f).toMatchObject({ trainableParameters: null, memory: null, fit: null, heldBy: { trainable: ['Rank r'], steps: [], memory: ['Rank r'] } });
    // The learning rate is in none of them: the steps stand.
    expect(f.steps).toEqual({ ok: true, examples: 5000, stepsPerEpoch: 313, totalSteps: 626 });
  });

  it('names the first thing Start waits for', () => {
    const block = (over: Partial<Parameters<typeof startBlockOf>[1]> = {}, system: 'ready' | 'waiting' = 'ready') => {
      const inspect = { model: ready(MODEL), task: ready(TASK), ...over };
      return startBlockOf(form(), inspect, system, figuresOf(form(), inspect, LIMITS));
    };
    expect(block()).toBeNull();
    expect(block({}, 'waiting')).toBe('Start waits for the GPU.');
    expect(block({ model: ready({ ...MODEL, tooLarge: 'model.safetensors: this device allows at most 1000 bytes per buffer …' }) })).toBe(
      'This model cannot go on this GPU: model.safetensors: this device allows at most 1000 bytes per buffer …',
    );
    expect(block({ model: waiting('files') })).toBe("Start waits for the model's files: pick them in Model.");
    expect(block({ task: waiting('model') })).toBe('Start waits for the task to be prepared.');
    expect(block({ task: { ...waiting('model'), status: 'failed', error: { name: 'FormatError', message: 'qa.jsonl: line 3, field "answer": found nothing; expected …' } } })).toBe(
      'The task could not be prepared: qa.jsonl: line 3, field "answer": found nothing; expected …',
    );
    form().set(['training', 'lr'], -1);
    expect(block()).toBe('Start needs a valid setup: one field has a problem (Learning rate: found -1; expected a number ≥ 1e-9).');
    form().set(['training', 'lr'], 1e-3);
    form().set(['targets'], ['q_proj', 'c_attn']);
    expect(block()).toBe('Target c_attn names no linear layer of this model.');
    form().set(['targets'], null);
    useSystem.setState({ limits: { ...LIMITS, maxStorageBufferBindingSize: 2 ** 20 } });
    form().set(['training', 'batch'], 512);
    const inspect = { model: ready(MODEL), task: ready(TASK) };
    expect(startBlockOf(form(), inspect, 'ready', figuresOf(form(), inspect, { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 20 }))).toMatch(
      /^This run cannot fit on this GPU: the MLP activations \(rows × intermediate size\) of a training batch needs one buffer of [\d,]+ bytes; this device allows at most 1,048,576 \(maxStorageBufferBindingSize\), and 2 more buffers are over it too\. Try a batch of at most 29 at sequences of 52 tokens, or an evaluation batch of at most 29 sequences\.$/,
    );
  });
});

describe('the flow against the engine', () => {
  it('inspects the model, then the task, once each; a change cancels the one under way', async () => {
    const stop = startInspecting();
    expect(useInspect.getState().model.status).toBe('loading');
    await settle();
    expect(engineCalls.map((c) => c.type)).toEqual(['inspectModel']);
    // Download progress reaches the store while the model loads.
    engineCalls[0]!.progress({ file: 'stories260K.bin', loaded: 4096, total: 1_057_824 });
    expect(useInspect.getState().model.progress).toEqual({ file: 'stories260K.bin', loaded: 4096, total: 1_057_824 });
    engineCalls[0]!.resolve({ inspection: MODEL });
    await vi.advanceTimersByTimeAsync(0);
    expect(useInspect.getState().model).toMatchObject({ status: 'ready', progress: null });
    await settle();
    expect(engineCalls.map((c) => c.type)).toEqual(['inspectModel', 'inspectTask']);
    // The seed changes the task's draw: the task inspection under way is cancelled, the model kept.
    form().set(['seed'], 4);
    await settle();
    expect(cancelled).toEqual([engineCalls[1]!.id]);
    expect(engineCalls.map((c) => c.type)).toEqual(['inspectModel', 'inspectTask', 'inspectTask']);
    engineCalls[2]!.resolve({ inspection: TASK });
    await vi.advanceTimersByTimeAsync(0);
    expect(useInspect.getState().task.status).toBe('ready');
    // The learning rate changes neither.
    form().set(['training', 'lr'], 1e-3);
    await settle();
    expect(engineCalls).toHaveLength(3);
    stop();
  });

  it('moves picked files to their pinned key: pinning the spec loads nothing again', async () => {
    const stop = startInspecting();
    form().pickModelFiles('mine', [{ name: 'config.json', file: new Blob(['{}']) }]);
    await settle();
    const modelCall = engineCalls.find((c) => c.type === 'inspectModel' && (c.arg as ModelSpec).kind === 'files')!;
    expect(modelCall.files).toEqual(['config.json']);
    const pins = [{ name: 'config.json', sha256: 'a'.repeat(64) }];
    modelCall.resolve({ inspection: { ...MODEL, files: pins } });
    await vi.advanceTimersByTimeAsync(0);
    expect(form().spec?.model).toEqual({ kind: 'files', name: 'mine', files: pins });
    expect(useInspect.getState().model.status).toBe('ready');
    await settle();
    expect(engineCalls.filter((c) => c.type === 'inspectModel' && (c.arg as ModelSpec).kind === 'files')).toHaveLength(1);
    // The task is inspected on the pinned model, with no model files sent again.
    const taskCall = engineCalls.find((c) => c.type === 'inspectTask')!;
    expect((taskCall.arg as RunSpec).model).toEqual({ kind: 'files', name: 'mine', files: pins });
    expect(taskCall.files).toEqual([]);
    stop();
  });

  it("shows a failed inspection's error and tries again when asked", async () => {
    const stop = startInspecting();
    await settle();
    engineCalls[0]!.reject(Object.assign(new Error('model.safetensors: header length 99999999 is past the end of the file (12 bytes); expected …'), { name: 'FormatError' }));
    await vi.advanceTimersByTimeAsync(0);
    expect(useInspect.getState().model).toMatchObject({ status: 'failed', error: { name: 'FormatError' } });
    await settle();
    expect(engineCalls).toHaveLength(1);
    useInspect.getState().retry('model');
    await settle();
    expect(engineCalls).toHaveLength(2);
    stop();
  });

  it('starts the run once when the address asks and everything is ready', async () => {
    const start = vi.fn(async () => undefined);
    useRun.setState({ start, status: 'idle' });
    form().loadLink(`${PAGE}#autostart=1`);
    const stop = startInspecting();
    await settle();
    engineCalls[0]!.resolve({ inspection: MODEL });
    await vi.advanceTimersByTimeAsync(0);
    expect(start).not.toHaveBeenCalled();
    await settle();
    engineCalls[1]!.resolve({ inspection: TASK });
    await vi.advanceTimersByTimeAsync(0);
    expect(start).toHaveBeenCalledTimes(1);
    expect(start).toHaveBeenCalledWith(DEFAULT_RUN_SPEC, []);
    expect(form().autostart).toBe(false);
    form().set(['seed'], 9);
    await settle();
    engineCalls.at(-1)!.resolve({ inspection: TASK });
    await vi.advanceTimersByTimeAsync(0);
    expect(start).toHaveBeenCalledTimes(1);
    stop();
  });
});
