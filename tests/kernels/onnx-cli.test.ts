// The ONNX export from the command line: `d2lora train --onnx` writes the merged model as ONNX
// into its output folder, `d2lora export-onnx <folder>` adds it to a model folder (touching nothing
// else) or, with --model, writes a folder of its own; bad flags are refused before anything loads.
// The ONNX files are checked to be the merged model: onnxruntime-web's logits on run.c's story
// against the engine's on the output folder's model.safetensors (1e-4·max|logit|, as
// tests/kernels/onnx.test.ts holds them).

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportMergedCheckpoint } from '../../src/export/checkpoint';
import { loadModelInNode } from '../../src/io/node-source';
import { GpuModel } from '../../src/model/gpu-model';
import { KvCache } from '../../src/model/kv-cache';
import { OnnxDecoder } from '../../src/onnx/session';
import { d2lora, expectCleanFailure } from './cli';
import { gpu } from './gpu';

/** A run of a few steps (the training itself is tested elsewhere). */
const SHORT = ['--story-train', '64', '--max-train', '64', '--story-test', '8', '--max-eval', '8', '--epochs', '1', '--batch', '8', '--lr', '1e-2'];

const STORY = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'd2lora-onnx-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The largest |ONNX − engine| over max|logit| at any position of STORY, the model read from `folder`. */
async function onnxAgainstEngine(folder: string, onnxFile: string): Promise<number> {
  const model = await loadModelInNode({ kind: 'folder', path: folder });
  const decoder = await OnnxDecoder.create({ model: new Uint8Array(await readFile(join(folder, onnxFile))) }, model.config, ['wasm']);
  const onnx = await decoder.sequence().run(STORY);
  await decoder.release();
  const engine = new GpuModel(await gpu(), model.config, model.weights);
  const cache = new KvCache(engine, STORY.length);
  const V = model.config.vocabSize;
  let worst = 0;
  for (let p = 0; p < STORY.length; p++) {
    const want = p === 0 ? await cache.prefill(STORY.slice(0, 1)) : await cache.step(STORY[p]!);
    let diff = 0;
    let size = 0;
    for (let v = 0; v < V; v++) {
      diff = Math.max(diff, Math.abs(onnx[p * V + v]! - want[v]!));
      size = Math.max(size, Math.abs(want[v]!));
    }
    worst = Math.max(worst, diff / size);
  }
  cache.destroy();
  engine.destroy();
  return worst;
}

describe('d2lora train --onnx', () => {
  it('writes onnx/model.onnx and onnx/model_fp16.onnx of the merged model and generation_config.json into the output folder', async () => {
    const out = join(dir, 'run');
    const r = await d2lora(['train', ...SHORT, '--onnx', '--onnx-dtype', 'fp32,fp16', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('writing the merged checkpoint (also as ONNX)');
    expect((await readdir(join(out, 'onnx'))).sort()).toEqual(['model.onnx', 'model_fp16.onnx']);
    expect(JSON.parse(await readFile(join(out, 'generation_config.json'), 'utf8'))).toEqual({ bos_token_id: 1, eos_token_id: [2, 1], do_sample: false });
    expect(await onnxAgainstEngine(out, 'onnx/model.onnx')).toBeLessThanOrEqual(1e-4);
  }, 300_000);

  it('refuses --onnx-dtype without --onnx, and an unknown weight type, before loading anything', async () => {
    expectCleanFailure(await d2lora(['train', '--onnx-dtype', 'fp16']), 'd2lora train: --onnx-dtype needs --onnx', 2);
    expectCleanFailure(await d2lora(['train', '--onnx', '--onnx-dtype', 'int8']), 'd2lora train: --onnx-dtype int8: expected fp32, fp16 or a comma-separated list of them', 2);
  }, 60_000);
});

describe('d2lora export-onnx', () => {
  it('adds onnx/ and generation_config.json to a model folder and leaves every other file as it was', async () => {
    const folder = join(dir, 'plain');
    const model = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
    await mkdir(folder);
    for (const [name, bytes] of exportMergedCheckpoint(model, model.weights)) await writeFile(join(folder, name), bytes);
    const before = new Map(await Promise.all((await readdir(folder)).map(async (f) => [f, await readFile(join(folder, f))] as const)));
    const r = await d2lora(['export-onnx', folder, '--external-data']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${folder}/onnx/model.onnx_data`);
    expect((await readdir(join(folder, 'onnx'))).sort()).toEqual(['model.onnx', 'model.onnx_data']);
    for (const [name, bytes] of before) {
      if (name === 'config.json') continue;
      expect(await readFile(join(folder, name)), name).toEqual(bytes);
    }
    // config.json: the folder's own, with transformers.js told where the weights are.
    const config = JSON.parse(await readFile(join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toEqual({ ...JSON.parse(before.get('config.json')!.toString('utf8')), 'transformers.js_config': { use_external_data_format: { 'model.onnx': 1 } } });
  }, 120_000);

  it('--model writes a folder of its own: config.json, generation_config.json, the tokenizer files and onnx/', async () => {
    const folder = join(dir, 'own');
    const r = await d2lora(['export-onnx', folder, '--model', 'stories260K', '--onnx-dtype', 'fp16']);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(folder)).sort()).toEqual(['config.json', 'generation_config.json', 'onnx', 'tok512.bin', 'tokenizer.json', 'tokenizer_config.json']);
    expect(await readdir(join(folder, 'onnx'))).toEqual(['model_fp16.onnx']);
  }, 120_000);

  it('names what is missing: the folder, or the model in it', async () => {
    expectCleanFailure(await d2lora(['export-onnx']), 'd2lora export-onnx: export-onnx needs the folder: d2lora export-onnx <folder> [--model <model>]', 2);
    expectCleanFailure(await d2lora(['export-onnx', join(dir, 'nothing-here')]), `d2lora export-onnx: ${join(dir, 'nothing-here')}/config.json: no such file; expected the model configuration (config.json)`);
  }, 60_000);
});
