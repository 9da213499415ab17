// Compare methods and Inside the adapter, in the page, through the engine worker:
//   - Inside the adapter on a short D2-LoRA run (stories260K, the story task, 20 steps): while the
//     run is paused, the adapters as they stand, measured in the worker; once it is done, a heatmap
//     cell per layer × module whose values are metrics.json's anatomy exactly (the figure picker's
//     other figures too), a module picked with the keyboard, and its histogram and quantiles those
//     of metrics.json's distributions.
//   - Compare methods with 2 seeds and a 2-rate grid on 16 dev items, on a very short story run
//     (64 training items, 8 steps a run, 16 test items: 16 runs), against `d2lora compare` on the
//     same spec (Dawn on lavapipe in Node; the page: Chromium's OpenGL ES backend on lavapipe):
//     the queue shows each run's method, seed, rate and kind with its own progress; the table's
//     accuracies, chosen rates, dev-split accuracies, loss volatilities (from the training losses:
//     measured, the same floats on both routes), merge gaps and trainable parameters equal the
//     command line's exactly; the times are printed beside the command line's, never bounded (the
//     routes differ; the CPU is shared; a test does not fail on time).
// Axe scans both sections in their main states. Screenshots go to test-results/: anatomy.png,
// anatomy-paused.png, anatomy-dark.png, anatomy-drift.png, compare-queue.png, compare-table.png, compare-table-dark.png.

import { expect, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { AdapterAnatomy } from '../src/run/anatomy';
import type { CompareRow } from '../src/run/compare';
import { runSpecWith } from '../src/run/spec';
import { encodeRunLink } from '../src/share/link';

/** 160 training items in batches of 8, one epoch: 20 steps (room to pause in); 24 evaluation items. */
const ANATOMY_SPEC = runSpecWith({
  task: { kind: 'story', trainSize: 160, testSize: 24 },
  training: { epochs: 1, batch: 8, lr: 1e-2 },
  limits: { maxTrain: 160, maxEval: 24 },
});
/** 64 training items, 8 steps a run (6 for a rate's selection run on the 48 items left beside 16 dev items); 16 test items. */
const COMPARE_SPEC = runSpecWith({
  task: { kind: 'story', trainSize: 64, testSize: 16 },
  training: { epochs: 1, batch: 8, lr: 1e-2 },
  limits: { maxTrain: 64, maxEval: 16 },
});
const SEEDS = [0, 1];
const GRID = '5e-3, 2e-2';
const DEV_ITEMS = 16;
const RUN_TIMEOUT_MS = 600_000;

async function downloadOf(page: Page, testId: string, folder: string): Promise<{ name: string; text: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
  const path = join(folder, download.suggestedFilename());
  await download.saveAs(path);
  return { name: download.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

async function axeViolations(page: Page, section: string): Promise<string[]> {
  const a11y = await new AxeBuilder({ page }).include(`section:has(#${section})`).analyze();
  return a11y.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

test('Inside the adapter: a paused run\'s adapters, then the finished run\'s heatmap and histograms, equal to metrics.json\'s anatomy', async ({ page }, testInfo) => {
  test.setTimeout(RUN_TIMEOUT_MS);
  await page.setViewportSize({ width: 1280, height: 800 });
  const consoleErrors = watchConsole(page);
  await page.goto(`/${encodeRunLink(ANATOMY_SPEC)}`);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  const section = page.locator('section', { has: page.locator('#adapter-heading') });
  await expect(page.getByTestId('anatomy-empty')).toContainText('When a run is paused or finished');

  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('run-step')).toContainText(/step ([3-9]|1\d) of 20/, { timeout: RUN_TIMEOUT_MS });
  await expect(page.getByTestId('anatomy-empty')).toContainText('The run is training: pause it');
  await page.getByTestId('run-pause').click();
  await expect(page.getByTestId('run-status')).toHaveText('paused', { timeout: 60_000 });
  const pausedStep = Number(/step (\d+) of 20/.exec(await page.getByTestId('run-step').innerText())![1]);
  await expect(page.getByTestId('anatomy-source')).toHaveAttribute('data-of', 'paused', { timeout: 60_000 });
  await expect(page.getByTestId('anatomy-source')).toContainText(`paused after step ${pausedStep} of 20:`);
  await section.screenshot({ path: join(testInfo.project.outputDir, 'anatomy-paused.png') });
  const pausedCells = await page.locator('[data-testid^="anatomy-cell-"]').count();
  const pausedValue = Number(await page.locator('[data-testid^="anatomy-cell-"]').first().getAttribute('data-value'));
  await page.getByTestId('run-resume').click();
  await expect(page.getByTestId('run-status')).toHaveText(/^(done|failed|cancelled)$/, { timeout: RUN_TIMEOUT_MS });
  expect(await page.getByTestId('run-status').textContent()).toBe('done');

  // The finished run: its metrics.json's anatomy, cell by cell.
  await expect(page.getByTestId('anatomy-source')).toHaveAttribute('data-of', 'finished');
  await expect(page.getByTestId('anatomy-source')).toContainText('after all 20 steps');
  const metrics = JSON.parse((await downloadOf(page, 'export-download-metrics', testInfo.project.outputDir)).text) as { anatomy: AdapterAnatomy };
  const anatomy = metrics.anatomy;
  expect(anatomy.method).toBe('d2lora');
  expect(anatomy.entries.length, 'every layer × module adapted').toBe(anatomy.layers * anatomy.modules.length);
  const cells = page.locator('[data-testid^="anatomy-cell-"]');
  await expect(cells).toHaveCount(anatomy.entries.length);
  expect(pausedCells).toBe(anatomy.entries.length);
  await expect(page.getByTestId('anatomy-heatmap').locator('thead th')).toHaveText(['Layer', ...anatomy.modules]);
  const cellValues = async () => Object.fromEntries(await cells.evaluateAll((els) => els.map((e) => [e.getAttribute('data-testid'), e.getAttribute('data-value')])));
  const expectCells = async (figure: string, value: (e: AdapterAnatomy['entries'][number]) => number) => {
    await expect(page.getByTestId('anatomy-heatmap')).toHaveAttribute('data-figure', figure);
    const shown = await cellValues();
    // String(x) is the shortest text that reads back as x: equal text is the same float.
    expect(shown).toEqual(Object.fromEntries(anatomy.entries.map((e) => [`anatomy-cell-${e.layer}-${e.module}`, String(value(e))])));
  };
  await expectCells('updateRatio', (e) => e.updateRatio);
  const first = anatomy.entries.find((e) => e.layer === 0 && e.module === anatomy.modules[0])!;
  expect(pausedValue, 'the paused adapters had moved less than the finished ones').not.toBe(first.updateRatio);
  await expect(page.getByTestId('anatomy-figure').locator('input')).toHaveCount(6);
  await page.getByTestId('anatomy-figure-minusOverPlus').check();
  await expectCells('minusOverPlus', (e) => e.branches!.minus / e.branches!.plus);
  await page.getByTestId('anatomy-figure-plusNorm').check();
  await expectCells('plusNorm', (e) => e.branches!.plus);
  await page.getByTestId('anatomy-figure-medianScale').check();
  await expectCells('medianScale', (e) => e.rowScale!.median);
  await page.getByTestId('anatomy-figure-medianDrift').check();
  await expectCells('medianDrift', (e) => e.rowDrift.median);
  await expect(page.getByTestId('anatomy-figure-explain')).toContainText('‖W_eff,j‖ / ‖W0,j‖ − 1');

  // The module training moved most is picked first; the keyboard moves the pick (one tab stop).
  const largest = anatomy.entries.reduce((a, e) => (e.updateRatio > a.updateRatio ? e : a));
  await expect(page.getByTestId('anatomy-module')).toHaveAttribute('data-name', largest.name);
  await expect(cells.and(page.locator('[tabindex="0"]'))).toHaveCount(1);
  await page.getByTestId(`anatomy-cell-${largest.layer}-${largest.module}`).focus();
  const down = largest.layer < anatomy.layers - 1 ? 'ArrowDown' : 'ArrowUp';
  await page.keyboard.press(down);
  const next = anatomy.entries.find((e) => e.module === largest.module && e.layer === largest.layer + (down === 'ArrowDown' ? 1 : -1))!;
  await expect(page.getByTestId('anatomy-module')).toHaveAttribute('data-name', next.name);
  await expect(page.getByTestId(`anatomy-cell-${next.layer}-${next.module}`)).toBeFocused();
  await expect(page.getByTestId('anatomy-readout')).toContainText(`Layer ${next.layer} · ${next.module}:`);
  await page.keyboard.press('Home');
  const home = anatomy.entries.find((e) => e.layer === next.layer && e.module === anatomy.modules[0])!;
  await expect(page.getByTestId('anatomy-module')).toHaveAttribute('data-name', home.name);

  // Its histograms and quantiles: the distributions of metrics.json.
  const expectDistribution = async (quantity: 'rowScale' | 'rowDrift', d: NonNullable<(typeof home)['rowScale']>) => {
    await expect(page.getByTestId('anatomy-quantiles')).toHaveAttribute('data-quantity', quantity);
    await expect(page.getByTestId('anatomy-histogram')).toHaveAttribute('data-counts', JSON.stringify(d.histogram.counts));
    await expect(page.getByTestId('anatomy-histogram')).toHaveAttribute('data-from', String(d.histogram.from));
    for (const k of ['min', 'p05', 'median', 'p95', 'max', 'mean'] as const) await expect(page.getByTestId(`anatomy-q-${k}`)).toHaveAttribute('data-value', String(d[k]));
    expect(d.histogram.counts.reduce((a, b) => a + b, 0), 'a count per output row').toBe(home.out);
  };
  await expectDistribution('rowScale', home.rowScale!);
  await expect(page.getByTestId('anatomy-module-branches')).toHaveAttribute('data-plus', String(home.branches!.plus));
  await page.getByTestId('anatomy-quantity-rowDrift').check();
  await expectDistribution('rowDrift', home.rowDrift);
  await page.getByRole('heading', { name: 'Export' }).click();
  await section.screenshot({ path: join(testInfo.project.outputDir, 'anatomy-drift.png') });
  await page.getByTestId('anatomy-figure-updateRatio').check();
  await page.getByRole('heading', { name: 'Export' }).click();
  expect(await axeViolations(page, 'adapter-heading')).toEqual([]);
  await section.screenshot({ path: join(testInfo.project.outputDir, 'anatomy.png') });
  await page.emulateMedia({ colorScheme: 'dark' });
  await section.screenshot({ path: join(testInfo.project.outputDir, 'anatomy-dark.png') });
  expect(await axeViolations(page, 'adapter-heading')).toEqual([]);
  expect(consoleErrors, 'errors in the page console').toEqual([]);
});

test('Compare methods: the queue, then the table, whose figures equal `d2lora compare` on the same spec', async ({ page }, testInfo) => {
  test.setTimeout(2 * RUN_TIMEOUT_MS);
  const folder = mkdtempSync(join(tmpdir(), 'd2lora-e2e-compare-'));
  const specFile = join(folder, 'run.json');
  writeFileSync(specFile, JSON.stringify(COMPARE_SPEC, null, 2));
  const cliOut = join(folder, 'out');
  const t0 = performance.now();
  execFileSync(
    process.execPath,
    ['scripts/d2lora.mjs', 'compare', '--spec', specFile, '--seeds', SEEDS.join(','), '--lr-grid', GRID.replace(/\s/g, ''), '--lr-dev-items', String(DEV_ITEMS), '--ablations=false', '--out', cliOut],
    { stdio: ['ignore', 'ignore', 'inherit'], timeout: RUN_TIMEOUT_MS },
  );
  const cliMs = performance.now() - t0;
  const cli = JSON.parse(readFileSync(join(cliOut, 'compare.json'), 'utf8')) as { heading: string; rows: CompareRow[] };

  await page.setViewportSize({ width: 1280, height: 800 });
  const consoleErrors = watchConsole(page);
  await page.goto(`/${encodeRunLink(COMPARE_SPEC)}`);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  const section = page.locator('section', { has: page.locator('#methods-heading') });
  await page.getByTestId('compare-seeds').fill(String(SEEDS.length));
  await page.getByTestId('compare-rates').fill(GRID);
  await page.getByTestId('compare-dev-items').fill('40');
  await expect(page.getByTestId('compare-dev-items-problem')).toHaveText(
    'Dev items: 40 of the 64 training items would be held out to choose the rate; give at most 32, or choose "The setup\'s lr for all".',
  );
  await expect(page.getByTestId('compare-start')).toBeDisabled();
  await page.getByTestId('compare-dev-items').fill(String(DEV_ITEMS));
  await expect(page.getByTestId('compare-plan')).toHaveText("4 rows × 2 seeds, each method's rate chosen from 5e-3, 2e-2 on 16 dev items: 16 runs, one after another.");
  await expect(page.getByTestId('compare-start')).toBeEnabled({ timeout: 60_000 });
  const t1 = Date.now();
  await page.getByTestId('compare-start').click();

  // The queue: run i of 16, each run's method, seed, rate and kind, its own progress bar.
  await expect(page.getByTestId('compare-queue-position')).toHaveText(/^Run [1-9] of 16$/, { timeout: RUN_TIMEOUT_MS });
  await expect(page.getByTestId('compare-current-kind')).toHaveText('choosing the rate on the dev split');
  await expect(page.getByTestId('compare-current-method')).toHaveText('LoRA r=8');
  await expect(page.getByTestId('compare-queue-position')).toHaveText(/^Run ([3-9]|1\d) of 16$/, { timeout: RUN_TIMEOUT_MS });
  await expect(page.getByTestId('compare-current-bar')).toHaveAttribute('aria-valuenow', /\d+/, { timeout: 60_000 });
  expect(await axeViolations(page, 'methods-heading')).toEqual([]);
  await section.screenshot({ path: join(testInfo.project.outputDir, 'compare-queue.png') });

  await expect(page.getByTestId('compare-status')).toHaveText(/^(done|failed|cancelled)$/, { timeout: 2 * RUN_TIMEOUT_MS });
  if ((await page.getByTestId('compare-status').textContent()) !== 'done') throw new Error(`the comparison did not finish: ${await page.getByTestId('compare-error').innerText()}`);
  const pageMs = Date.now() - t1;
  await expect(page.getByTestId('compare-heading')).toHaveText(cli.heading);

  // Accuracies exactly: the page's table and its CSV against the command line's compare.json and compare.csv.
  for (const [i, row] of cli.rows.entries()) {
    await expect(page.getByTestId(`compare-row-${i}`)).toHaveAttribute('data-method', row.method);
    await expect(page.getByTestId(`compare-lr-${i}`)).toHaveAttribute('data-value', String(row.lr));
    await expect(page.getByTestId(`compare-per-seed-${i}`)).toHaveAttribute('data-value', JSON.stringify(row.perSeed));
    await expect(page.getByTestId(`compare-accuracy-${i}`)).toHaveAttribute('data-value', JSON.stringify(row.accuracy));
    // The training losses of the two routes are the same floats (the volatility's too, to the last bit).
    await expect(page.getByTestId(`compare-volatility-${i}`)).toHaveAttribute('data-value', JSON.stringify(row.volatility));
    await expect(page.getByTestId(`compare-merge-gap-${i}`)).toHaveAttribute('data-value', String(row.mergeGapPoints));
    await expect(page.getByTestId(`compare-trainable-${i}`)).toHaveAttribute('data-value', String(row.trainableParameters));
    const dev = await page.getByTestId('compare-dev').locator('tbody tr').nth(i).locator('td').evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-value'))));
    expect(dev, `${row.method}: dev-split accuracy of each rate`).toEqual(row.devAccuracy.map((d) => d.accuracy));
  }
  const csv = await downloadOf(page, 'compare-download-csv', folder);
  expect(csv.name).toBe('compare.csv');
  const md = await downloadOf(page, 'compare-download-markdown', folder);
  expect(md.name).toBe('compare.md');
  const parse = (text: string) => text.trimEnd().split('\n').map((l) => l.split(','));
  const [head, ...pageRows] = parse(csv.text);
  const [cliHead, ...cliRows] = parse(readFileSync(join(cliOut, 'compare.csv'), 'utf8'));
  expect(head).toEqual(cliHead);
  const col = (name: string) => head!.indexOf(name);
  const timings = ['ms per step', 'overhead vs LoRA r %', 'merged/unmerged throughput'].map(col);
  const exact = (rows: string[][]) => rows.map((r) => r.filter((_, k) => !timings.includes(k)));
  expect(exact(pageRows), 'every accuracy, rate, loss volatility, merge gap and parameter count').toEqual(exact(cliRows));

  // The timings: printed beside the command line's.
  const figures = cli.rows.map((row, i) => {
    const p = pageRows[i]!;
    return {
      method: row.method,
      msPerStep: { page: Number(p[col('ms per step')]), cli: row.msPerStep },
      mergedThroughput: { page: Number(p[col('merged/unmerged throughput')]), cli: row.mergedThroughputRatio },
    };
  });
  const report = [
    `whole comparison: page ${(pageMs / 1000).toFixed(1)} s, command line ${(cliMs / 1000).toFixed(1)} s`,
    ...figures.map(
      (f) =>
        `${f.method}: ms/step ${f.msPerStep.page} (page) vs ${f.msPerStep.cli.toFixed(1)} (command line); merged/unmerged throughput ${f.mergedThroughput.page} vs ${f.mergedThroughput.cli.toFixed(3)}`,
    ),
  ].join('\n');
  console.log(report);
  await testInfo.attach('page vs command line', { body: report, contentType: 'text/plain' });
  for (const f of figures) {
    // Times on two GPU routes (ANGLE's OpenGL ES and Dawn's Vulkan, both on lavapipe) on a CPU
    // shared with other work are printed, never bounded: a test does not fail on time. Each is a
    // measured figure all the same.
    for (const v of [f.msPerStep.page, f.msPerStep.cli, f.mergedThroughput.page, f.mergedThroughput.cli]) {
      expect(Number.isFinite(v) && v > 0, `${f.method}: a measured time`).toBe(true);
    }
  }
  // The Markdown as the command line writes it, but for the timing columns of the table (ms/step, vs LoRA r, merged/unmerged).
  const masked = (text: string) => text.split('\n').map((l) => (l.startsWith('| ') && !l.startsWith('| method') ? l.split(' | ').filter((_, k) => ![5, 6, 8].includes(k)).join(' | ') : l));
  expect(masked(md.text)).toEqual(masked(readFileSync(join(cliOut, 'compare.md'), 'utf8')));

  await expect(page.getByTestId('compare-paper')).toContainText('training-loss volatility 36% lower than LoRA');
  await expect(page.getByTestId('run-start')).toBeEnabled();
  expect(await axeViolations(page, 'methods-heading')).toEqual([]);
  await section.screenshot({ path: join(testInfo.project.outputDir, 'compare-table.png') });
  await page.emulateMedia({ colorScheme: 'dark' });
  await section.screenshot({ path: join(testInfo.project.outputDir, 'compare-table-dark.png') });
  expect(await axeViolations(page, 'methods-heading')).toEqual([]);
  expect(consoleErrors, 'errors in the page console').toEqual([]);
});
