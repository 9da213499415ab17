// `npm run bench:browser`: the ONNX benchmark in Chromium (src/bench/browser.ts), where
// onnxruntime-web has its WebGPU provider: our engine against onnxruntime-web WebGPU and WASM,
// greedy from BOS, stories260K and the tiny random Llama, Qwen2 and GPT-2. It starts the Vite dev
// server (which compiles src/ on request), opens the browser the end-to-end tests use, with their
// flags and adapter (playwright.config.ts), imports the module into the page and prints a table,
// then the figures as JSON (also written to --json <file>).
//
//   npm run bench:browser [-- --json figures.json]

import { writeFile } from 'node:fs/promises';
import { chromium, type Page } from '@playwright/test';
import { createServer } from 'vite';
import playwrightConfig from '../playwright.config';
// Types only from src/bench/: its code runs in the page.
import type { BrowserOnnxBench } from '../src/bench/browser';
import { formatTable } from '../src/cli/table';

const jsonAt = process.argv.indexOf('--json');
const jsonFile = jsonAt >= 0 ? process.argv[jsonAt + 1] : undefined;

const server = await createServer({ server: { port: Number(process.env.D2LORA_BENCH_PORT ?? 5174), strictPort: true }, logLevel: 'warn' });
await server.listen();
const browser = await chromium.launch(playwrightConfig.use?.launchOptions);
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
  await page.exposeFunction('reportBenchRow', (line: string) => process.stderr.write(`  ${line}\n`));
  // A small file of the site: the page's origin, without the app (whose worker would share the GPU and the CPU).
  await page.goto(new URL('models/stories260K/README.md', server.resolvedUrls!.local[0]).href);
  process.stderr.write(`benchmarking in Chromium (adapter: ${playwrightConfig.metadata?.adapter ?? 'default'})\n`);
  const result = await runInPage(page);
  const adapter = [result.adapter.vendor, result.adapter.architecture, result.adapter.description].filter((s) => s !== '').join(' ') || `${playwrightConfig.metadata?.adapter ?? 'default'} adapter, unnamed by the browser`;
  console.log(`\nGreedy generation from BOS in Chromium (${adapter}; WASM ${result.wasmThreads ? 'threaded' : 'single-threaded'}), our engine vs onnxruntime-web (median of 3 alternating rounds):`);
  console.log(formatTable(result.table.header, result.table.cells));
  const json = JSON.stringify({ ...result, table: undefined }, null, 2);
  console.log(`\n${json}`);
  if (jsonFile !== undefined) await writeFile(jsonFile, json + '\n');
} finally {
  await browser.close();
  await server.close();
}

/**
 * Imports src/bench/browser.ts into the page and runs it. The dev server reloads the page when
 * the import finds a dependency it has not yet optimised; the run then starts again, once per
 * reload.
 */
async function runInPage(page: Page): Promise<BrowserOnnxBench> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await page.evaluate(async () => {
        const { benchOnnxInBrowser } = await import('/src/bench/browser.ts' as string);
        return benchOnnxInBrowser((window as unknown as { reportBenchRow: (line: string) => void }).reportBenchRow);
      });
    } catch (e) {
      if (attempt >= 3 || !(e instanceof Error) || !/context was destroyed|navigation/i.test(e.message)) throw e;
      process.stderr.write('  the dev server reloaded the page (new dependencies optimised); starting again\n');
      await page.waitForLoadState('load');
    }
  }
}
