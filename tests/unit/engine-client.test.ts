// EngineClient against a scripted stand-in for the engine worker: requests get ids, answers
// are matched by id (in any order), streamed messages (run events, tokens, self-test cases)
// reach the request's callback, and errors, cancellations and a dead worker reject the right
// promises.

import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_SPEC } from '../../src/run/spec';
import { EngineCancelledError, EngineClient, EngineError } from '../../src/worker/client';
import type { EngineRequest, EngineResponse, WireRunEvent } from '../../src/worker/protocol';

/** Records what the page posts; `answer` plays the worker's side. */
class FakeWorker extends EventTarget {
  readonly posted: { message: EngineRequest; transfer: Transferable[] }[] = [];
  terminated = false;

  postMessage(message: EngineRequest, transfer: Transferable[] = []): void {
    this.posted.push({ message, transfer });
  }

  answer(message: EngineResponse): void {
    this.dispatchEvent(new MessageEvent('message', { data: message }));
  }

  terminate(): void {
    this.terminated = true;
  }

  last(): EngineRequest {
    return this.posted[this.posted.length - 1]!.message;
  }
}

function setup(): { worker: FakeWorker; client: EngineClient } {
  const worker = new FakeWorker();
  return { worker, client: new EngineClient(worker as unknown as Worker) };
}

const ADAPTER = { vendor: 'google', architecture: 'swiftshader', device: '', description: '', isCpu: true };
const LIMITS = { maxStorageBufferBindingSize: 1, maxBufferSize: 2, maxComputeWorkgroupStorageSize: 3, maxComputeInvocationsPerWorkgroup: 4, maxComputeWorkgroupsPerDimension: 5 };
const BASE = { kind: 'base', model: DEFAULT_RUN_SPEC.model } as const;

describe('EngineClient', () => {
  it('matches answers to requests by id, in any order', async () => {
    const { worker, client } = setup();
    const init = client.init();
    const gen = client.generate({ from: BASE, steps: 3 });
    const [a, b] = worker.posted.map((p) => p.message);
    expect(a).toEqual({ type: 'init', id: init.id });
    expect(b).toEqual({ type: 'generate', id: gen.id, from: BASE, prompt: '', temperature: 0, seed: 0, topP: 1, steps: 3 });
    expect(init.id).not.toBe(gen.id);
    worker.answer({ type: 'generated', id: gen.id, text: 'Once', tokens: [1, 403], promptTokens: 1, generatedTokens: 1, ms: 5, runtime: { name: 'engine' } });
    worker.answer({ type: 'ready', id: init.id, adapter: ADAPTER, features: [], limits: LIMITS });
    expect((await init).limits).toEqual(LIMITS);
    expect((await gen).generatedTokens).toBe(1);
  });

  it('streams tokens and self-test cases to the request that asked', async () => {
    const { worker, client } = setup();
    const text: string[] = [];
    const gen = client.generate({ from: BASE, steps: 3 }, (_id, t) => text.push(t));
    worker.answer({ type: 'token', id: gen.id, token: 403, text: 'Once' });
    worker.answer({ type: 'token', id: gen.id, token: 407, text: ' upon' });
    worker.answer({ type: 'generated', id: gen.id, text: 'Once upon', tokens: [1, 403, 407], promptTokens: 1, generatedTokens: 2, ms: 5, runtime: { name: 'engine' } });
    expect((await gen).text).toBe('Once upon');
    expect(text.join('')).toBe('Once upon');

    const cases: number[] = [];
    const st = client.selfTest((_c, done) => cases.push(done));
    worker.answer({ type: 'selftestCase', id: st.id, case: {} as never, done: 1, total: 2 });
    worker.answer({ type: 'selftestCase', id: st.id, case: {} as never, done: 2, total: 2 });
    worker.answer({ type: 'selftestDone', id: st.id, report: { passed: true, cases: [], compileMs: 1, totalMs: 2 } });
    expect((await st).report.passed).toBe(true);
    expect(cases).toEqual([1, 2]);
  });

  it('streams a run\'s events and ends it with runEnded; the run is named by the request id', async () => {
    const { worker, client } = setup();
    const events: string[] = [];
    const run = client.startRun(DEFAULT_RUN_SPEC, [], (e) => events.push(e.type));
    expect(worker.last()).toEqual({ type: 'startRun', id: run.id, spec: DEFAULT_RUN_SPEC, files: [], options: {} });
    const stage: WireRunEvent = { type: 'stage', stage: 'load-model', detail: 'preset stories260K' };
    worker.answer({ type: 'runEvent', id: run.id, event: stage });
    worker.answer({ type: 'runEvent', id: run.id, event: { type: 'step', step: 0, epoch: 0, loss: 2, lr: 1e-3, gradNorm: 1, tokens: 3 } });
    const pause = client.pause(run.id);
    expect(worker.last()).toMatchObject({ type: 'pause', run: run.id });
    worker.answer({ type: 'ack', id: pause.id });
    await pause;
    worker.answer({ type: 'runEvent', id: run.id, event: { type: 'paused', stage: 'train', step: 1 } });
    worker.answer({ type: 'runEnded', id: run.id, status: 'done', stage: 'export' });
    expect(await run).toMatchObject({ status: 'done' });
    expect(events).toEqual(['stage', 'step', 'paused']);

    const exp = client.export(run.id, 'adapter');
    expect(worker.last()).toMatchObject({ type: 'export', run: run.id, what: 'adapter' });
    const bytes = new Uint8Array([1, 2, 3]).buffer;
    worker.answer({ type: 'exported', id: exp.id, files: [{ name: 'adapter/adapter_config.json', bytes }] });
    expect((await exp).files[0]!.name).toBe('adapter/adapter_config.json');
  });

  it('rejects with the worker error, its name kept, and with EngineCancelledError when cancelled', async () => {
    const { worker, client } = setup();
    const gen0 = client.generate({ from: { kind: 'base', model: { kind: 'preset', name: 'nope' } as never }, steps: 3 });
    worker.answer({ type: 'error', id: gen0.id, message: 'unknown preset "nope"', name: 'FormatError' });
    const error = await gen0.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ name: 'FormatError', message: 'unknown preset "nope"' });

    const gen = client.generate({ from: BASE, steps: 100 });
    const cancel = client.cancel(gen.id);
    expect(worker.last()).toMatchObject({ type: 'cancel', target: gen.id });
    const cancelId = worker.last().id;
    worker.answer({ type: 'ack', id: cancelId });
    worker.answer({ type: 'cancelled', id: gen.id });
    await cancel;
    await expect(gen).rejects.toBeInstanceOf(EngineCancelledError);
  });

  it('rejects every waiting request when the worker dies, and refuses new ones', async () => {
    const { worker, client } = setup();
    const a = client.init();
    const b = client.startRun(DEFAULT_RUN_SPEC);
    worker.dispatchEvent(Object.assign(new Event('error'), { message: 'SyntaxError in the worker' }));
    await expect(a).rejects.toThrow('the engine worker failed: SyntaxError in the worker');
    await expect(b).rejects.toMatchObject({ name: 'WorkerError' });
    await expect(client.init()).rejects.toMatchObject({ name: 'WorkerError' });
  });

  it('reports an error for no waiting request (a device lost while idle) through onError', async () => {
    const { worker, client } = setup();
    const init = client.init();
    worker.answer({ type: 'ready', id: init.id, adapter: ADAPTER, features: [], limits: LIMITS });
    await init;
    const seen: Error[] = [];
    client.onError = (e) => seen.push(e);
    worker.answer({ type: 'error', id: init.id, message: 'the GPU device was lost (unknown)', name: 'DeviceLostError' });
    expect(seen.map((e) => e.name)).toEqual(['DeviceLostError']);
  });

  it('transfers picked files instead of copying them', () => {
    const { worker, client } = setup();
    const bytes = new ArrayBuffer(8);
    void client.startRun(DEFAULT_RUN_SPEC, [{ name: 'test.jsonl', bytes }]);
    expect(worker.posted[0]!.transfer).toEqual([bytes]);
  });

  it("streams a run's checkpoints with their files, and transfers a checkpoint to go on from", async () => {
    const { worker, client } = setup();
    const resumeBytes = new ArrayBuffer(4);
    const saved: { step: number; reason: string; names: string[] }[] = [];
    const run = client.startRun(DEFAULT_RUN_SPEC, [], undefined, { checkpoints: { everySteps: 5 }, resumeFrom: [{ name: 'checkpoint.json', bytes: resumeBytes }] }, (c) =>
      saved.push({ step: c.step, reason: c.reason, names: c.files.map((f) => f.name) }),
    );
    expect(worker.posted.at(-1)!.transfer).toEqual([resumeBytes]);
    worker.answer({ type: 'checkpoint', id: run.id, step: 5, totalSteps: 10, reason: 'interval', files: [{ name: 'state.json', bytes: new ArrayBuffer(2) }] });
    worker.answer({ type: 'runEnded', id: run.id, status: 'done', stage: 'export' });
    await run;
    expect(saved).toEqual([{ step: 5, reason: 'interval', names: ['state.json'] }]);
  });

  it("streams a comparison's runs to their callbacks and resolves with the table", async () => {
    const { worker, client } = setup();
    const seen: string[] = [];
    const call = client.compare({ spec: DEFAULT_RUN_SPEC, seeds: [0, 1] }, { onCompareEvent: (r, e) => seen.push(`${r.label}#${r.index}:${e.type}`), onCompareRun: (r) => seen.push(`${r.label}#${r.index} done`) });
    expect(worker.last()).toMatchObject({ type: 'compare', seeds: [0, 1] });
    const run = { label: 'LoRA r=8', ablation: false, seed: 0, lr: 5e-3, selection: false, index: 0, total: 8 };
    worker.answer({ type: 'compareEvent', id: call.id, run, event: { type: 'stage', stage: 'train', detail: '' } });
    worker.answer({ type: 'compareRun', id: call.id, run, metrics: {} as never });
    worker.answer({ type: 'compared', id: call.id, result: { heading: 'h', rows: [], seeds: [0, 1], selection: null }, csv: 'a,b', markdown: '| a |' });
    expect((await call).csv).toBe('a,b');
    expect(seen).toEqual(['LoRA r=8#0:stage', 'LoRA r=8#0 done']);
  });

  it('rejects an answer of the wrong type as a protocol error', async () => {
    const { worker, client } = setup();
    const st = client.selfTest();
    worker.answer({ type: 'ack', id: st.id });
    await expect(st).rejects.toMatchObject({ name: 'ProtocolError' });
  });
});
