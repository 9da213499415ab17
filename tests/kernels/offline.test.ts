// The main job offline: `d2lora train` on the default model (stories260K, embedded in
// public/models/) and the built-in story task, shortened, in a child process with no mirror, an
// empty download cache and every network call refused (no-network.mjs, preloaded through
// NODE_OPTIONS so any Node process it starts is refused too). It must finish, write the output
// folder, and leave the cache empty: nothing was downloaded, nor begun.

import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { getPreset } from '../../src/model/registry';
import { runNode } from './cli';

const NO_NETWORK = `--import=${pathToFileURL(fileURLToPath(new URL('./no-network.mjs', import.meta.url))).href}`;

/** Node's environment for the child: no mirror, the given cache folder, the network refused. */
function offlineEnv(cache: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, D2LORA_CACHE: cache, NODE_OPTIONS: NO_NETWORK };
  delete env.D2LORA_MIRROR;
  return env;
}

describe('the main job offline', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'd2lora-offline-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('the preload refuses fetch, raw sockets and http alike', async () => {
    const probe = `
      import net from 'node:net'; import https from 'node:https';
      const tries = [() => fetch('https://huggingface.co/'), () => net.connect(443, 'huggingface.co'), () => https.get('https://huggingface.co/')];
      for (const t of tries) { try { await t(); console.log('reached'); } catch (e) { console.log(e.message); } }`;
    const r = await runNode(['--input-type=module', '-e', probe], offlineEnv(join(scratch, 'unused-cache')));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      'network access refused in this test process: fetch https://huggingface.co/',
      'network access refused in this test process: connect to huggingface.co:443',
      'network access refused in this test process: connect to huggingface.co:443',
    ]);
  });

  it('trains stories260K on the story task with no mirror, an empty cache and no network', async () => {
    const cache = mkdtempSync(join(scratch, 'cache-'));
    const out = join(scratch, 'out');
    const args = ['scripts/d2lora.mjs', 'train', '--max-train', '32', '--max-eval', '16', '--epochs', '1', '--batch', '8', '--story-train', '64', '--story-test', '16', '--out', out];
    const r = await runNode(args, offlineEnv(cache));
    console.log(`offline train (4 steps, 16 eval items, a fresh Node process): ${(r.ms / 1000).toFixed(1)} s`);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).toContain('[load-model] preset stories260K');
    expect(r.stderr).not.toMatch(/network access refused/);

    const written = readdirSync(out).sort();
    for (const name of ['run.json', 'model.safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'tok512.bin', 'metrics.json', 'report.md', 'loss-curve.svg', 'adapter']) {
      expect(written, name).toContain(name);
    }
    const spec = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { model: unknown; task: { trainSize: number; testSize: number }; limits: { maxTrain: number; maxEval: number } };
    expect(spec.model).toEqual({ kind: 'preset', name: 'stories260K' });
    expect([spec.task.trainSize, spec.task.testSize, spec.limits.maxTrain, spec.limits.maxEval]).toEqual([64, 16, 32, 16]);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as {
      model: { name: string; family: string; parameters: number };
      train: { steps: number };
      steps: unknown[];
      before: { items: number; accuracy: number };
      merged: { items: number; accuracy: number };
    };
    expect(metrics.model).toEqual({ name: 'stories260K', family: 'llama', parameters: 260_032 });
    // 32 examples, batch 8, one epoch.
    expect([metrics.train.steps, metrics.steps.length]).toEqual([4, 4]);
    expect([metrics.before.items, metrics.merged.items]).toEqual([16, 16]);
    for (const a of [metrics.before.accuracy, metrics.merged.accuracy]) expect(Number.isInteger(a * 16) && a >= 0 && a <= 1, String(a)).toBe(true);
    // The vocabulary written out is the embedded one, byte for byte.
    const tok = createHash('sha256').update(readFileSync(join(out, 'tok512.bin'))).digest('hex');
    expect(tok).toBe(getPreset('stories260K').files.find((f) => f.name === 'tok512.bin')!.sha256);

    // Nothing was downloaded, nor begun.
    expect(readdirSync(cache)).toEqual([]);
  }, 600_000);
});
