// EngineClient against a scripted stand-in for the training worker: requests get ids, answers
// are matched by id (in any order), streamed messages reach the request's callback, and errors,
// cancellations and a dead worker reject the right promises.

import { describe, expect, it } from 'vitest';
import { defaultAdapterConfig, defaultTrainConfig } from '../../src/run/spec';
import { EngineCancelledError, EngineClient, EngineError } from '../../src/worker/client';
import type { EngineRequest, EngineResponse } from '../../src/worker/protocol';

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

describe('EngineClient', () => {
  it('matches answers to requests by id, in any order', async () => {
    const { worker, client } = setup();
    const init = client.init();
    const load = client.load({ kind: 'preset', name: 'stories260K' });
    const [a, b] = worker.posted.map((p) => p.message);
    expect(a).toEqual({ type: 'init', id: init.id });
    expect(b).toEqual({ type: 'load', id: load.id, source: { kind: 'preset', name: 'stories260K' } });
    expect(init.id).not.toBe(load.id);
    worker.answer({ type: 'loaded', id: load.id, name: 'stories260K', config: {} as never, vocabSize: 512, warnings: [] });
    worker.answer({ type: 'ready', id: init.id, adapter: ADAPTER, features: [] });
    expect((await init).adapter).toEqual(ADAPTER);
    expect((await load).vocabSize).toBe(512);
  });

  it('streams progress and tokens to the request that asked', async () => {
    const { worker, client } = setup();
    const progress: number[] = [];
    const load = client.load({ kind: 'preset', name: 'stories260K' }, (p) => progress.push(p.loaded));
    worker.answer({ type: 'progress', id: load.id, file: 'tok512.bin', loaded: 10, total: 20 });
    worker.answer({ type: 'progress', id: load.id, file: 'tok512.bin', loaded: 20, total: 20 });
    worker.answer({ type: 'loaded', id: load.id, name: 's', config: {} as never, vocabSize: 512, warnings: [] });
    await load;
    expect(progress).toEqual([10, 20]);

    const text: string[] = [];
    const gen = client.generate({ steps: 3 }, (_id, t) => text.push(t));
    expect(worker.last()).toEqual({ type: 'generate', id: gen.id, prompt: '', temperature: 0, seed: 0, steps: 3 });
    worker.answer({ type: 'token', id: gen.id, token: 403, text: 'Once' });
    worker.answer({ type: 'token', id: gen.id, token: 407, text: ' upon' });
    worker.answer({ type: 'generated', id: gen.id, tokens: [1, 403, 407], text: 'Once upon', promptTokens: [1], ms: 5 });
    expect((await gen).text).toBe('Once upon');
    expect(text.join('')).toBe('Once upon');
  });

  it('resolves train with its done event after streaming the others', async () => {
    const { worker, client } = setup();
    const events: string[] = [];
    const train = client.train({ adapter: { config: defaultAdapterConfig() }, config: defaultTrainConfig({ epochs: 1 }), examples: [{ tokens: [1, 5, 6], targetStart: 1 }] }, (e) =>
      events.push(e.event),
    );
    worker.answer({ type: 'trainEvent', id: train.id, event: 'loss', data: { step: 0, epoch: 0, loss: 2, lr: 1e-3, gradNorm: 1, tokens: 3 } });
    worker.answer({ type: 'trainEvent', id: train.id, event: 'metrics', data: { step: 1, name: 'held-out loss', values: { loss: 1.5 } } });
    worker.answer({ type: 'trainEvent', id: train.id, event: 'done', data: { steps: 1, ms: 12 } });
    expect(await train).toEqual({ steps: 1, ms: 12 });
    expect(events).toEqual(['loss', 'metrics', 'done']);
  });

  it('rejects with the worker error, its name kept, and with EngineCancelledError when cancelled', async () => {
    const { worker, client } = setup();
    const load = client.load({ kind: 'preset', name: 'nope' });
    worker.answer({ type: 'error', id: load.id, message: 'unknown preset "nope"', name: 'FormatError' });
    const error = await load.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ name: 'FormatError', message: 'unknown preset "nope"' });

    const gen = client.generate({ steps: 100 });
    const cancel = client.cancel(gen.id);
    expect(worker.last()).toMatchObject({ type: 'cancel', target: gen.id });
    const cancelId = worker.last().id;
    worker.answer({ type: 'ack', id: cancelId });
    worker.answer({ type: 'cancelled', id: gen.id });
    await cancel;
    await expect(gen).rejects.toBeInstanceOf(EngineCancelledError);
  });

  it('turns merged buffers back into a weight map', async () => {
    const { worker, client } = setup();
    const merge = client.merge();
    const id = worker.last().id;
    worker.answer({
      type: 'merged',
      id,
      name: 'stories260K',
      config: {} as never,
      tensors: [{ name: 'w', shape: [2], data: Float32Array.of(1, 2).buffer }],
    });
    const merged = await merge;
    expect(merged.weights.get('w')).toEqual({ shape: [2], data: Float32Array.of(1, 2) });
  });

  it('rejects every waiting request when the worker dies, and refuses new ones', async () => {
    const { worker, client } = setup();
    const a = client.init();
    const b = client.load({ kind: 'preset', name: 'stories260K' });
    worker.dispatchEvent(Object.assign(new Event('error'), { message: 'SyntaxError in the worker' }));
    await expect(a).rejects.toThrow('the engine worker failed: SyntaxError in the worker');
    await expect(b).rejects.toMatchObject({ name: 'WorkerError' });
    await expect(client.init()).rejects.toMatchObject({ name: 'WorkerError' });
  });

  it('reports an error for no waiting request (a device lost while idle) through onError', async () => {
    const { worker, client } = setup();
    const init = client.init();
    worker.answer({ type: 'ready', id: init.id, adapter: ADAPTER, features: [] });
    await init;
    const seen: Error[] = [];
    client.onError = (e) => seen.push(e);
    worker.answer({ type: 'error', id: init.id, message: 'the GPU device was lost (unknown)', name: 'DeviceLostError' });
    expect(seen.map((e) => e.name)).toEqual(['DeviceLostError']);
  });

  it('transfers picked files instead of copying them', () => {
    const { worker, client } = setup();
    const bytes = new ArrayBuffer(8);
    void client.load({ kind: 'files', files: [{ name: 'm.bin', bytes }] });
    expect(worker.posted[0]!.transfer).toEqual([bytes]);
  });
});
