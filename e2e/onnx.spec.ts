// The merged model on two runtimes in the page: a short run from a share link (stories260K, the
// story task, 10 steps) exports its merged model as ONNX in the worker; Try it's runtime switch
// runs the same prompt greedily on our engine, on onnxruntime-web (its WebGPU provider where it
// takes the model, else WASM: the page says which ran) and on onnxruntime-web's WASM alone; all
// must write the same text, token for token, with tokens/s for each in one table. Export offers the ONNX folder as its own zip (and in
// the output folder's); the downloaded model, run by onnxruntime-web in Node, writes that text too.
// Screenshots: test-results/onnx-try-it.png, onnx-export.png. An axe scan covers both sections.

import { expect, test } from '@playwright/test';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { unzipSync } from 'fflate';
import { loadModelInNode } from '../src/io/node-source';
import { generateWith } from '../src/model/generate';
import { OnnxDecoder } from '../src/onnx/session';
import { runSpecWith } from '../src/run/spec';
import { encodeRunLink } from '../src/share/link';

/** 80 training items in batches of 8, one epoch: 10 steps; 8 evaluation items. */
const SPEC = runSpecWith({
  task: { kind: 'story', trainSize: 80, testSize: 8 },
  training: { epochs: 1, batch: 8, lr: 1e-2 },
  limits: { maxTrain: 80, maxEval: 8 },
});
const LINK = encodeRunLink(SPEC);
const RUN_TIMEOUT_MS = 240_000;
const PROMPT = 'Once upon a time';
const STEPS = 96;

test('runs the merged model on our engine and on onnxruntime-web: the same text, tokens/s for each; Export offers the ONNX folder', async ({ page }, testInfo) => {
  test.setTimeout(RUN_TIMEOUT_MS + 180_000);
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  await page.goto(`/${LINK}`);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('run-status')).toHaveText(/^(done|failed|cancelled)$/, { timeout: RUN_TIMEOUT_MS });
  if ((await page.getByTestId('run-status').textContent()) !== 'done') throw new Error(`the run did not finish: ${await page.getByTestId('run-error').innerText()}`);

  // The same prompt and settings on each runtime, the merged weights both times.
  await page.getByTestId('try-prompt').fill(PROMPT);
  await page.getByTestId('try-steps').fill(String(STEPS));
  await expect(page.getByTestId('try-weights')).toHaveValue('merged');
  const runtime = page.getByTestId('try-runtime');
  await expect(runtime).toBeEnabled();
  const results: Record<string, { text: string; tokens: string; summary: string }> = {};
  const runtimes = ['engine', 'onnxruntime-web', 'onnxruntime-web-wasm'] as const;
  for (const name of runtimes) {
    await runtime.selectOption(name);
    await page.getByTestId('try-generate').click();
    await expect(page.getByTestId('try-status-tuned')).toHaveText(/^(done|error|cancelled)$/, { timeout: 180_000 });
    const summary = await page.getByTestId('try-summary-tuned').innerText();
    const error = page.getByTestId('try-error-tuned');
    const why = (await error.count()) > 0 ? await error.innerText() : '';
    await expect(page.getByTestId('try-status-tuned'), `${name}: ${summary} ${why}`).toHaveText('done');
    const output = page.getByTestId('try-output-tuned');
    results[name] = { text: (await output.textContent()) ?? '', tokens: (await output.getAttribute('data-tokens')) ?? '', summary };
  }
  const engine = results.engine!;
  expect(engine.text.startsWith(PROMPT)).toBe(true);
  expect(engine.tokens.split(',').length).toBeGreaterThan(20);
  for (const name of runtimes) {
    expect(results[name]!.tokens, `${name} chose the engine's tokens`).toBe(engine.tokens);
    expect(results[name]!.text, name).toBe(engine.text);
  }
  await expect(page.getByTestId('try-runtimes-verdict')).toHaveText(/^The same text on every runtime, token for token \(\d+ tokens\)/);
  const rows = page.locator('[data-testid^="try-runtime-"][data-tokens-per-second]');
  await expect(rows).toHaveCount(3);
  // Which provider ran each: named on the page (the row's first cell) and printed here.
  const ran: Record<string, { provider: string; rate: number }> = {};
  for (const name of runtimes) {
    const row = page.getByTestId(`try-runtime-${name}`);
    const provider = (await row.getAttribute('data-provider'))!;
    await expect(row.locator('td').first()).toHaveText(provider === 'engine' ? 'our engine (WGSL)' : `onnxruntime-web (${provider === 'webgpu' ? 'WebGPU' : 'WASM'})`);
    await expect(row.locator('td').nth(2)).toHaveText(/^\d+\.\d$/);
    ran[name] = { provider, rate: Number(await row.getAttribute('data-tokens-per-second')) };
  }
  expect(ran['onnxruntime-web-wasm']!.provider).toBe('wasm');
  expect(['webgpu', 'wasm']).toContain(ran['onnxruntime-web']!.provider);
  const figures = runtimes.map((name) => `${name} [${ran[name]!.provider}] ${ran[name]!.rate.toFixed(1)} tok/s`).join(', ');
  console.log(`Try it, merged stories260K, "${PROMPT}", ${STEPS} positions (${testInfo.config.metadata.adapter}): ${figures}; onnxruntime-web: ${results['onnxruntime-web']!.summary}`);
  testInfo.annotations.push({ type: 'runtimes', description: figures });
  const trySection = page.locator('section', { has: page.locator('#try-heading') });
  await trySection.screenshot({ path: join(testInfo.project.outputDir, 'onnx-try-it.png') });

  const a11y = await new AxeBuilder({ page }).include('section:has(#try-heading)').include('section:has(#export-heading)').analyze();
  expect(a11y.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)).toEqual([]);

  // Export: the ONNX folder as its own zip, the size it said, and the same files in the output zip.
  const exportSection = page.locator('section', { has: page.locator('#export-heading') });
  await exportSection.screenshot({ path: join(testInfo.project.outputDir, 'onnx-export.png') });
  mkdirSync(testInfo.project.outputDir, { recursive: true });
  const download = async (testId: string) => {
    const [d] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
    const path = join(testInfo.project.outputDir, d.suggestedFilename());
    await d.saveAs(path);
    return { name: d.suggestedFilename(), zip: unzipSync(new Uint8Array(readFileSync(path))) };
  };
  const folder = await download('export-download-onnx');
  expect(folder.name).toBe('stories260K-story-d2lora-r8-s0-onnx.zip');
  expect(Object.keys(folder.zip).sort()).toEqual(['config.json', 'generation_config.json', 'onnx/model.onnx', 'tok512.bin', 'tokenizer.json', 'tokenizer_config.json']);
  await expect(page.getByTestId('export-size-onnx')).toHaveAttribute('data-bytes', String(Object.values(folder.zip).reduce((a, f) => a + f.length, 0)));
  const output = await download('run-download');
  for (const [name, bytes] of Object.entries(folder.zip)) expect(output.zip[name], name).toEqual(bytes);

  // The downloaded model in onnxruntime-web (WASM, in Node) writes the page's text.
  const stories = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
  const decoder = await OnnxDecoder.create({ model: folder.zip['onnx/model.onnx']! }, stories.config, ['wasm']);
  const node = await generateWith(() => decoder.logitsSource(), stories.config.maxPositions, stories.tokenizer, PROMPT, { steps: STEPS });
  await decoder.release();
  expect(node.generatedTokens.join(','), 'the downloaded ONNX model in Node').toBe(engine.tokens);
  expect(consoleErrors, 'errors in the page console').toEqual([]);
});
