// The two front doors reproduce a run: `d2lora link <flags>` prints a link; `d2lora train --link
// <that link>`, `d2lora train <the same flags>`, and `d2lora train --spec <the first run's
// run.json>` must then train the same model, value for value. The commands run in-process through
// the CLI's main(), as the `d2lora` bin runs them, on a story task small enough for lavapipe.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { D2LORA_WEIGHTS_FILE } from '../../src/io/adapter-format';
import { main } from '../../src/cli/main';
import { parseSafetensors } from '../../src/io/safetensors';
import { parseRunSpec } from '../../src/run/spec';
import { decodeRunLink } from '../../src/share/link';

/** 96 stories, 24 questions: 12 steps an epoch of 8, two epochs. */
const FLAGS = ['--story-train', '96', '--story-test', '24', '--max-train', '96', '--max-eval', '24', '--epochs', '2', '--batch', '8', '--lr', '1e-2', '--seed', '3'];

/** Runs `d2lora <argv>` in this process; its exit code, and what it printed to stdout. */
async function d2lora(argv: string[]): Promise<{ code: number; stdout: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    return { code: await main(argv), stdout: lines.join('\n') };
  } finally {
    log.mockRestore();
  }
}

/** Every tensor of a safetensors file as f32 values, by name. */
function tensors(file: string): Map<string, Float32Array> {
  const st = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  return new Map([...st.tensors.keys()].sort().map((name) => [name, st.getF32(name)]));
}

describe('link and train reproduce a run', () => {
  it('train --link, train with the same flags, and train --spec run.json give the same merged model; another seed does not', async () => {
    const root = mkdtempSync(join(tmpdir(), 'd2lora-repro-'));
    const linked = await d2lora(['link', ...FLAGS]);
    expect(linked.code).toBe(0);
    const link = linked.stdout.trim();
    expect(link).toMatch(/^http:\/\/localhost:4173\/#run=1\.[A-Za-z0-9_-]+$/);
    const decoded = decodeRunLink(link);
    expect(decoded.ok && decoded.problems).toEqual([]);

    const [a, b, c] = ['A', 'B', 'C'].map((n) => join(root, n)) as [string, string, string];
    const t0 = performance.now();
    expect((await d2lora(['train', '--link', link, '--out', a])).code).toBe(0);
    expect((await d2lora(['train', ...FLAGS, '--out', b])).code).toBe(0);
    expect((await d2lora(['train', '--spec', join(a, 'run.json'), '--out', c])).code).toBe(0);
    console.log(`three runs of 24 steps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // The same spec, as the link said: run.json of each run equal, and equal to the link's spec.
    const specs = [a, b, c].map((dir) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as unknown);
    expect(specs[1]).toEqual(specs[0]);
    expect(specs[2]).toEqual(specs[0]);
    expect(parseRunSpec(specs[0])).toEqual(decoded.ok && decoded.spec);
    expect(specs[0]).toMatchObject({ task: { kind: 'story', trainSize: 96, testSize: 24 }, training: { epochs: 2, batch: 8, lr: 1e-2 }, limits: { maxTrain: 96, maxEval: 24 }, seed: 3 });

    // The same training: every step's loss, and the merged model, value for value.
    const steps = [a, b, c].map((dir) => (JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as { steps: { loss: number; gradNorm: number }[] }).steps);
    expect(steps[0]).toHaveLength(24);
    expect(steps[1]!.map((s) => [s.loss, s.gradNorm])).toEqual(steps[0]!.map((s) => [s.loss, s.gradNorm]));
    expect(steps[2]!.map((s) => [s.loss, s.gradNorm])).toEqual(steps[0]!.map((s) => [s.loss, s.gradNorm]));
    const [ta, tb, tc] = [a, b, c].map((dir) => tensors(join(dir, 'model.safetensors')));
    expect([...tb!.keys()]).toEqual([...ta!.keys()]);
    expect([...tc!.keys()]).toEqual([...ta!.keys()]);
    for (const [name, values] of ta!) {
      // Exactly equal f32 values, all of them finite.
      expect(values.every(Number.isFinite), name).toBe(true);
      expect(tb!.get(name), name).toEqual(values);
      expect(tc!.get(name), name).toEqual(values);
    }
    // The adapters trained (U₊ starts at zero, so a nonzero U₊ is learned) and agree too: the
    // merged tensors compared above carry the training, not only the base's weights.
    const [aa, ab, ac] = [a, b, c].map((dir) => tensors(join(dir, 'adapter', D2LORA_WEIGHTS_FILE)));
    const uPlus = [...aa!.keys()].filter((n) => n.endsWith('.d2lora.u_plus'));
    expect(uPlus.length).toBeGreaterThan(0);
    for (const name of uPlus) expect(aa!.get(name)!.some((v) => v !== 0), name).toBe(true);
    for (const [name, values] of aa!) {
      expect(ab!.get(name), name).toEqual(values);
      expect(ac!.get(name), name).toEqual(values);
    }

    // And the comparison can fail: another seed (another data order and init) trains another model.
    const d = join(root, 'D');
    expect((await d2lora(['train', ...FLAGS, '--seed', '4', '--out', d])).code).toBe(0);
    const td = tensors(join(d, 'model.safetensors'));
    expect([...ta!].some(([name, values]) => td.get(name)!.some((v, i) => v !== values[i]))).toBe(true);
  }, 600_000);
});
