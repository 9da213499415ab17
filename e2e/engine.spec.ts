// The engine in the page: before any run, Try it's Generate has the engine worker load the
// embedded stories260K (the setup's model) and stream greedy text from BOS through the KV cache,
// all 256 positions, with the controls' defaults (an empty prompt, temperature 0). The text must
// be exactly llama2.c run.c's greedy output for the same model
// (tests/fixtures/stories260K-greedy.json), token for token. An engine error fails the test with
// the page's message; nothing here skips.

import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

interface GreedyCase {
  prompt: string;
  tokens: number[];
  text: string;
}

const fixture = JSON.parse(readFileSync(new URL('../tests/fixtures/stories260K-greedy.json', import.meta.url), 'utf8')) as {
  cases: GreedyCase[];
};
const fromBos = fixture.cases[0]!;

/** The Positions control's default, run.c's -n 256: the whole fixture. */
const STEPS = 256;
/**
 * The kernels compile in a few seconds on a CPU adapter, then the cache makes every token one
 * short pass: tens of tokens a second on lavapipe through Chromium, a few on SwiftShader.
 */
const ENGINE_TIMEOUT_MS = 240_000;

async function requireWebGpu(page: Page): Promise<void> {
  const status = page.getByTestId('webgpu-status');
  await expect(status).not.toHaveText('checking', { timeout: 30_000 });
  const word = (await status.textContent()) ?? '';
  if (word !== 'ready') {
    const why = await page.locator('[data-testid="no-webgpu"], [data-testid="gpu-error"]').innerText();
    throw new Error(`the page has no usable WebGPU adapter (status "${word}"), so the engine cannot run:\n${why}`);
  }
}

test('generates stories260K text in the worker, exactly as llama2.c run.c does', async ({ page }, testInfo) => {
  test.setTimeout(ENGINE_TIMEOUT_MS + 60_000); // and the page's start
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));

  await page.goto('/');
  await requireWebGpu(page);
  const status = page.getByTestId('try-status-base');
  const output = page.getByTestId('try-output-base');
  await expect(status).toHaveText('idle');
  await expect(page.getByTestId('try-steps')).toHaveValue(String(STEPS));
  await expect(page.getByTestId('try-temperature')).toHaveValue('0');
  await expect(page.getByTestId('try-prompt')).toHaveValue('');

  // Every text the output shows on its way, and how long the page's main thread stalled.
  await page.evaluate(() => {
    const w = window as unknown as { engineTexts: string[]; longestTaskMs: number };
    const out = document.querySelector('[data-testid="try-output-base"]')!;
    w.engineTexts = [];
    w.longestTaskMs = 0;
    new MutationObserver(() => w.engineTexts.push(out.textContent ?? '')).observe(out, { childList: true, subtree: true, characterData: true });
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) w.longestTaskMs = Math.max(w.longestTaskMs, e.duration);
    }).observe({ type: 'longtask' });
  });

  await page.getByRole('button', { name: 'Generate' }).click();
  const t0 = Date.now();
  await expect(status).toHaveText(/^(done|error)$/, { timeout: ENGINE_TIMEOUT_MS });
  const doneAfter = Date.now() - t0;
  await page.screenshot({ fullPage: true, path: join(testInfo.project.outputDir, 'engine.png') });

  if ((await status.textContent()) === 'error') {
    throw new Error(`the engine failed: ${await page.getByTestId('try-error-base').innerText()}`);
  }
  // No run yet: the base model wrote alone.
  await expect(page.getByTestId('try-output-tuned')).toHaveCount(0);
  const summary = await page.getByTestId('try-summary-base').innerText();
  const { engineTexts, longestTaskMs } = await page.evaluate(() => {
    const w = window as unknown as { engineTexts: string[]; longestTaskMs: number };
    return { engineTexts: w.engineTexts, longestTaskMs: w.longestTaskMs };
  });
  console.log(`engine: done ${doneAfter} ms after the click. ${summary} Longest main-thread task: ${longestTaskMs.toFixed(0)} ms.`);

  // run.c's greedy choices, token for token: the fixture's ids after BOS.
  const tokens = (await output.getAttribute('data-tokens'))!.split(',').map(Number);
  expect(tokens).toHaveLength(STEPS);
  expect(tokens).toEqual(fromBos.tokens.slice(1, 1 + STEPS));

  // The text: run.c prints a piece that follows BOS without its leading space (the
  // sentencepiece dummy prefix), and so does the page, so the page's text must be the fixture's
  // text up to the same length: exactly "Once upon a time, …", not " Once upon a time, …".
  const text = (await output.textContent()) ?? '';
  expect(text.startsWith(' ')).toBe(false);
  // run.c's stdout ends with the newline it prints after generating.
  expect(text).toBe(fromBos.text.replace(/\n$/, ''));

  // Streamed: the output grew through intermediate texts, each a beginning of the final one.
  const partial = [...new Set(engineTexts)].filter((t) => t !== '' && t !== text);
  expect(partial.length, 'intermediate texts shown while generating').toBeGreaterThan(1);
  for (const t of partial) expect(text.startsWith(t), `"${t}" is a beginning of the final text`).toBe(true);

  expect(consoleErrors, 'errors in the page console').toEqual([]);
});

test('the preview server serves the mirror read-only, with byte ranges', async ({ request }) => {
  const mirror = process.env.D2LORA_MIRROR ? resolve(process.env.D2LORA_MIRROR) : resolve('..', 'shared');
  const file = readFileSync(join(mirror, 'models', 'stories260K', 'tok512.bin'));
  const url = '/mirror/models/stories260K/tok512.bin';

  const head = await request.head(url);
  expect(head.status()).toBe(200);
  expect(head.headers()['content-length']).toBe(String(file.length));
  expect(head.headers()['accept-ranges']).toBe('bytes');

  const part = await request.get(url, { headers: { Range: 'bytes=100-' } });
  expect(part.status()).toBe(206);
  expect(part.headers()['content-range']).toBe(`bytes 100-${file.length - 1}/${file.length}`);
  expect(Buffer.compare(await part.body(), file.subarray(100))).toBe(0);

  expect((await request.get('/mirror/models/..%2f..%2fmain%2fpackage.json')).status()).toBe(403);
  expect((await request.get('/mirror/models/stories260K/missing.bin')).status()).toBe(404);
  expect((await request.post(url)).status()).toBe(405);
});
