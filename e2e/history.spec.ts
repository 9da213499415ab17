// The History section in the page, over the browser's real storage (IndexedDB records, OPFS
// files): two short runs of different settings (learning rate and rank) are listed after a reload
// with the figures the Train section showed; Compare overlays both loss curves, by step and by
// epoch, and its settings table lists exactly the two fields that differ; a rename survives a
// reload, as does the progress setting; a run's zip exported here is imported in a new browser
// context (another profile, an empty history) and listed with the same figures; delete removes a
// run; storage use is shown; a zip that is no run's is refused with why, and a record written by a
// newer app is listed with why and deleted. The section passes an axe scan with its list and its
// comparison open, in light and dark. Screenshots: history-running.png, history-list.png,
// history-compare.png, history-compare-dark.png, history-long-name.png, history-empty.png,
// history-error.png, history-imported-dark.png.

import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { unzipSync } from 'fflate';
import { runSpecWith } from '../src/run/spec';
import { encodeRunLink } from '../src/share/link';

/** 80 training items in batches of 8, one epoch: 10 steps; 16 evaluation items. */
const SHORT = { task: { kind: 'story', trainSize: 80, testSize: 16 }, limits: { maxTrain: 80, maxEval: 16 } } as const;
const RUN_A = runSpecWith({ ...SHORT, training: { epochs: 1, batch: 8, lr: 1e-2 } });
const RUN_B = runSpecWith({ ...SHORT, adapter: { r: 4 }, training: { epochs: 1, batch: 8, lr: 3e-3 } });
const STEPS = 10;
/** A 10-step run on lavapipe with three evaluations of 16 items, with room. */
const RUN_TIMEOUT_MS = 180_000;
const LONG_NAME = 'A long name for the first run, at learning rate 0.01 and rank 8, to see how the list and the comparison wrap it';

/** Runs the share link's spec to its end (`whileRunning` once it trains); returns the figures the Train section showed. */
async function runLink(page: Page, spec: typeof RUN_A, whileRunning?: () => Promise<void>): Promise<{ accuracy: string; mergeGap: string }> {
  await page.goto(`/${encodeRunLink(spec)}`);
  // Another link in the same tab is a new visit, as a reader opening it would make.
  await page.reload();
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  await expect(page.getByTestId('run-spec')).toContainText(`lr ${spec.training.lr}`);
  await page.getByTestId('run-start').click();
  if (whileRunning !== undefined) {
    await expect(page.getByTestId('run-step')).toContainText(/step [1-9] of 10/, { timeout: RUN_TIMEOUT_MS });
    await whileRunning();
  }
  await expect(page.getByTestId('run-status')).toHaveText(/^(done|failed|cancelled)$/, { timeout: RUN_TIMEOUT_MS });
  if ((await page.getByTestId('run-status').textContent()) !== 'done') throw new Error(`the run did not finish: ${await page.getByTestId('run-error').innerText()}`);
  const pct = async (phase: string) => /\d+\.\d%/.exec(await page.getByTestId(`run-accuracy-${phase}`).innerText())![0];
  // The run's record is saved once the engine sends its files: the list shows it done.
  await expect(page.getByTestId('history-run').first()).toHaveAttribute('data-status', 'done', { timeout: 30_000 });
  // Every save of the run went through: its record, its checkpoints, its files.
  await expect(page.getByTestId('history-error')).toHaveCount(0);
  return { accuracy: `${await pct('before')} → ${await pct('after')}`, mergeGap: await page.getByTestId('run-merge-gap').innerText() };
}

function historyOf(page: Page) {
  return page.locator('section', { has: page.locator('#history-heading') });
}

async function axe(page: Page): Promise<string[]> {
  const a11y = await new AxeBuilder({ page }).include('section:has(#history-heading)').analyze();
  return a11y.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

test('the history lists runs after a reload, compares them, renames, exports to another profile, imports and deletes', async ({ page, browser }, testInfo) => {
  test.setTimeout(2 * RUN_TIMEOUT_MS + 240_000);
  await page.setViewportSize({ width: 1280, height: 800 });
  const shot = (name: string) => join(testInfo.project.outputDir, name);
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));

  const a = await runLink(page, RUN_A);
  const b = await runLink(page, RUN_B, async () => {
    // The run going on is listed as running, its rename and delete waiting for its end.
    const running = historyOf(page).getByTestId('history-run').first();
    await expect(running).toHaveAttribute('data-status', /^(running|paused)$/);
    await expect(running.getByTestId('history-delete')).toBeDisabled();
    await expect(running.getByTestId('history-steps')).toHaveText(/^[1-9]\d* of 10 steps$/);
    await historyOf(page).screenshot({ path: shot('history-running.png') });
  });

  // After a reload: both runs, newest first, with the figures the Train section showed.
  await page.reload();
  const history = historyOf(page);
  const rows = history.getByTestId('history-run');
  await expect(rows).toHaveCount(2);
  for (const [i, figures, method] of [[0, b, 'D2-LoRA r=4'], [1, a, 'D2-LoRA r=8']] as const) {
    const row = rows.nth(i);
    await expect(row).toHaveAttribute('data-status', 'done');
    await expect(row.getByTestId('history-name')).toHaveText(`${method} · stories260K · story`);
    await expect(row.getByTestId('history-accuracy')).toHaveText(figures.accuracy);
    await expect(row.getByTestId('history-merge-gap')).toHaveText(figures.mergeGap);
    await expect(row.getByTestId('history-steps')).toHaveText(`${STEPS} steps`);
    await expect(row.getByTestId('history-duration')).toHaveText(/^\d+ s$|^\d+ min \d\d s$/);
  }
  // Storage use: the runs' own bytes (the merged model kept), the site's use of its quota.
  const runBytes = Number(await history.getByTestId('history-storage-runs').getAttribute('data-bytes'));
  expect(runBytes, "two output folders, each with its merged model: stories260K's 260,032 weights in f32").toBeGreaterThan(2 * 260_032 * 4);
  await expect(history.getByTestId('history-storage-runs')).toContainText(/MiB in (the browser's private file system \(OPFS\)|IndexedDB)/);
  await expect(history.getByTestId('history-storage-site')).toContainText(/ of .* \(/);
  await expect(history.getByTestId('history-storage-persisted')).toHaveAttribute('data-persisted', /^(true|false)$/);
  await history.screenshot({ path: shot('history-list.png') });

  // Compare both: two series drawn, the legend names them, the settings differ in exactly r and lr.
  await rows.nth(1).getByTestId('history-pick').check();
  await rows.nth(0).getByTestId('history-pick').check();
  const chart = history.getByTestId('compare-chart');
  await expect(chart).toHaveAttribute('data-drawn', '2');
  await expect(chart).toHaveAttribute('data-points', `${STEPS},${STEPS}`);
  await expect(history.getByTestId('history-legend-name')).toHaveText([`D2-LoRA r=8 · stories260K · story`, `D2-LoRA r=4 · stories260K · story`]);
  await expect(history.getByTestId('history-setting-label')).toHaveText(['Rank r', 'Learning rate']);
  await expect(history.getByTestId('history-setting').nth(0).locator('td')).toHaveText(['8', '4']);
  await expect(history.getByTestId('history-setting').nth(1).locator('td')).toHaveText(['0.01', '0.003']);
  await expect(history.getByTestId('history-results').locator('tr', { hasText: 'Merge gap' }).locator('td')).toHaveText([a.mergeGap, b.mergeGap]);
  // By epoch (one epoch each: both end at 1), raw (smoothing 0), and every setting.
  await history.getByTestId('history-align-epoch').check();
  await expect(chart).toHaveAttribute('data-align', 'epoch');
  await expect(chart).toHaveAttribute('data-drawn', '2');
  await history.getByTestId('history-smoothing').focus();
  await page.keyboard.press('Home');
  await expect(history.getByTestId('history-smoothing')).toHaveValue('0');
  await history.getByTestId('history-settings-all').check();
  expect(await history.getByTestId('history-setting').count()).toBeGreaterThan(30);
  await history.getByTestId('history-settings-all').uncheck();
  await expect(history.getByTestId('history-setting')).toHaveCount(2);
  await history.getByTestId('history-align-step').check();
  await history.getByTestId('history-compare').screenshot({ path: shot('history-compare.png') });
  expect(await axe(page), 'axe: the list and the comparison').toEqual([]);
  await page.emulateMedia({ colorScheme: 'dark' });
  await expect(chart).toHaveAttribute('data-drawn', '2');
  await history.screenshot({ path: shot('history-compare-dark.png') });
  expect(await axe(page), 'axe: dark').toEqual([]);
  await page.emulateMedia({ colorScheme: 'light' });

  // Rename (in place, Enter saves) and a setting: both survive a reload.
  await rows.nth(1).getByTestId('history-rename').click();
  await rows.nth(1).getByTestId('history-rename-input').fill(LONG_NAME);
  await rows.nth(1).getByTestId('history-rename-input').press('Enter');
  await expect(rows.nth(1).getByTestId('history-name')).toHaveText(LONG_NAME);
  await expect(rows.nth(1).getByTestId('history-rename')).toBeFocused();
  await expect(history.getByTestId('history-legend-item').first()).toContainText(LONG_NAME);
  await history.getByLabel('Save progress every N steps').fill('5');
  await page.reload();
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(1).getByTestId('history-name')).toHaveText(LONG_NAME);
  await expect(history.getByLabel('Save progress every N steps')).toHaveValue('5');
  await rows.nth(0).getByTestId('history-pick').check();
  await rows.nth(1).getByTestId('history-pick').check();
  await expect(history.getByTestId('compare-chart')).toHaveAttribute('data-drawn', '2');
  await history.screenshot({ path: shot('history-long-name.png') });

  // Export the second run's zip: its output folder.
  const [download] = await Promise.all([page.waitForEvent('download'), rows.nth(0).getByTestId('history-export').click()]);
  expect(download.suggestedFilename()).toBe('stories260K-story-d2lora-r4-s0.zip');
  const zipPath = shot(download.suggestedFilename());
  await download.saveAs(zipPath);
  const zip = unzipSync(new Uint8Array(readFileSync(zipPath)));
  expect(Object.keys(zip)).toEqual(expect.arrayContaining(['run.json', 'metrics.json', 'model.safetensors', 'report.md']));
  expect(JSON.parse(new TextDecoder().decode(zip['run.json']))).toEqual(RUN_B);
  const bFigures = {
    accuracy: await rows.nth(0).getByTestId('history-accuracy').innerText(),
    mergeGap: await rows.nth(0).getByTestId('history-merge-gap').innerText(),
    steps: await rows.nth(0).getByTestId('history-steps').innerText(),
    duration: await rows.nth(0).getByTestId('history-duration').innerText(),
  };

  // Another profile: an empty history, then the zip imported, listed with the same figures.
  const other = await browser.newContext({ baseURL: testInfo.project.use.baseURL, viewport: { width: 1280, height: 800 } });
  const page2 = await other.newPage();
  page2.on('pageerror', (e) => consoleErrors.push(`other profile: ${e.message}`));
  await page2.goto('/');
  const history2 = historyOf(page2);
  await expect(history2.getByTestId('history-empty')).toContainText('No runs yet.', { timeout: 60_000 });
  await history2.screenshot({ path: shot('history-empty.png') });
  // A file that is no run's zip: what was wrong, named, until dismissed.
  await history2.getByTestId('history-import').setInputFiles({ name: 'notes.zip', mimeType: 'application/zip', buffer: Buffer.from('not a zip at all') });
  await expect(history2.getByTestId('history-error')).toContainText(/^notes\.zip: not a zip the playground can read/);
  await history2.screenshot({ path: shot('history-error.png') });
  await history2.getByRole('button', { name: 'Dismiss' }).click();
  await expect(history2.getByTestId('history-error')).toHaveCount(0);
  // A record a newer version of the app wrote: listed with why, deleted from here.
  await page2.evaluate(
    () =>
      new Promise<void>((resolve, reject) => {
        const open = indexedDB.open('d2lora-runs');
        open.onsuccess = () => {
          const tx = open.result.transaction('runs', 'readwrite');
          tx.objectStore('runs').put({ schema: 99, id: 'from-the-future', name: 'A newer app\'s run' });
          tx.oncomplete = () => (open.result.close(), resolve());
          tx.onerror = () => reject(tx.error);
        };
        open.onerror = () => reject(open.error);
      }),
  );
  await page2.reload();
  await expect(history2.getByTestId('history-unreadable')).toContainText('run "A newer app\'s run" (id from-the-future) was saved by a newer version of the app (schema 99');
  await history2.getByRole('button', { name: 'Delete the unreadable run from-the-future' }).click();
  await expect(history2.getByTestId('history-unreadable')).toHaveCount(0);
  await history2.getByTestId('history-import').setInputFiles(zipPath);
  const imported = history2.getByTestId('history-run');
  await expect(imported).toHaveCount(1);
  await expect(imported.getByTestId('history-name')).toHaveText('D2-LoRA r=4 · stories260K · story (imported)');
  await expect(imported).toHaveAttribute('data-status', 'done');
  await expect(imported.getByTestId('history-accuracy')).toHaveText(bFigures.accuracy);
  await expect(imported.getByTestId('history-merge-gap')).toHaveText(bFigures.mergeGap);
  await expect(imported.getByTestId('history-steps')).toHaveText(bFigures.steps);
  await expect(imported.getByTestId('history-duration')).toHaveText(bFigures.duration);
  await imported.getByTestId('history-pick').check();
  await expect(history2.getByTestId('compare-chart')).toHaveAttribute('data-points', String(STEPS));
  await page2.emulateMedia({ colorScheme: 'dark' });
  await history2.screenshot({ path: shot('history-imported-dark.png') });
  await other.close();

  // Delete (after its confirmation) removes the run, here and after a reload.
  await rows.nth(1).getByTestId('history-delete').click();
  await history.getByTestId('history-delete-confirm').click();
  await expect(rows).toHaveCount(1);
  await expect(rows.first().getByTestId('history-name')).toHaveText('D2-LoRA r=4 · stories260K · story');
  await page.reload();
  await expect(rows).toHaveCount(1);
  const after = Number(await history.getByTestId('history-storage-runs').getAttribute('data-bytes'));
  expect(after, 'the deleted run\'s files are gone').toBeLessThan(runBytes);
  expect(consoleErrors, 'errors in the page console').toEqual([]);
});
