// Sharing a run, in Chromium: "Copy share link" puts the form's run on the clipboard, and the
// link opened in a fresh browser context (another profile) restores the form field for field; a
// link too long to be a run's and a link with HTML in its string fields each give a message, run
// no script and leave the page usable; and the time from opening a link with autostart=1 to the
// first training step and to the end of the run is printed (a figure, never pass or fail).
// Screenshots: test-results/share-*.png.

import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { runSpecWith } from '../src/run/spec';
import { decodeRunLink, encodeRunLink, MAX_LINK_CHARS } from '../src/share/link';

test.use({ viewport: { width: 1280, height: 800 } });

/** The page with its GPU and the setup's model inspected; every uncaught error collected in `errors`. */
async function open(page: Page, path: string, errors: string[] = []): Promise<void> {
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(path);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
}

async function shot(page: Page, info: TestInfo, name: string): Promise<void> {
  await page.screenshot({ path: join(info.project.outputDir, `share-${name}.png`), fullPage: true });
}

function specIn(url: string) {
  const d = decodeRunLink(url);
  if (!d.ok) throw new Error(`no run in ${url}: ${d.error}`);
  return d.spec;
}

test('"Copy share link" copies the run; opened in a fresh profile, the form matches field for field', async ({ browser }, info) => {
  const sender = await browser.newContext();
  await sender.grantPermissions(['clipboard-read', 'clipboard-write']);
  const page = await sender.newPage();
  const errors: string[] = [];
  await open(page, '/', errors);
  await expect(page.getByTestId('model-facts')).toBeVisible({ timeout: 60_000 });
  // A setup of the sender's own, through the form.
  await page.getByTestId('method-lora').check();
  for (const [path, value] of [['adapter.r', '4'], ['adapter.alpha', '12'], ['training.lr', '0.002'], ['training.epochs', '1'], ['seed', '11'], ['task.trainSize', '300']] as const) {
    await page.getByTestId(`field-${path}`).fill(value);
  }
  await page.getByTestId('target-up_proj').check();
  await page.getByTestId('run-share').click();
  await expect(page.getByTestId('run-share-result')).toHaveText('Link copied');
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  // The clipboard holds the address bar's link: one link, wherever it is read.
  await expect.poll(() => page.url()).toBe(copied);
  const sent = specIn(copied);
  expect(sent).toMatchObject({ adapter: { method: 'lora', r: 4, alpha: 12 }, training: { lr: 0.002, epochs: 1 }, seed: 11, task: { trainSize: 300 } });
  expect(sent.targets).toContain('up_proj');

  const recipient = await browser.newContext();
  const other = await recipient.newPage();
  await open(other, copied.slice(copied.indexOf('/', 'http://'.length)), errors);
  await expect(other.getByTestId('link-problems')).toHaveCount(0);
  await expect(other.getByTestId('method-lora')).toBeChecked();
  for (const [path, value] of [['adapter.r', '4'], ['adapter.alpha', '12'], ['training.lr', '0.002'], ['training.epochs', '1'], ['seed', '11'], ['task.trainSize', '300']] as const) {
    await expect(other.getByTestId(`field-${path}`), path).toHaveValue(value);
  }
  await expect(other.getByTestId('target-up_proj')).toBeChecked();
  // Every field, not only those on screen: the recipient's address holds the sender's spec exactly.
  await expect.poll(() => specIn(other.url())).toEqual(sent);
  await shot(other, info, 'recipient');
  expect(errors).toEqual([]);
  await sender.close();
  await recipient.close();
});

test('a link too long to be a run, and one with HTML in its text fields: a message, no script, a usable page', async ({ page }, info) => {
  const errors: string[] = [];
  await page.addInitScript(() => ((window as unknown as { pwned: number }).pwned = 0));
  await open(page, `/#run=1.${'A'.repeat(MAX_LINK_CHARS)}`, errors);
  await expect(page.getByTestId('link-error')).toContainText(`a run link has at most ${MAX_LINK_CHARS}`);
  await expect(page.getByTestId('link-error')).toContainText('so this is the default run');
  await expect(page.getByTestId('method-d2lora')).toBeChecked();
  await expect(page.getByTestId('model-facts')).toBeVisible({ timeout: 60_000 });
  await shot(page, info, 'oversize');

  // Markup in the string fields a link carries: a local model's name and file, a task file's name.
  // The spec refuses such names; the page lists each repair with the value quoted as text.
  const markup = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
  const hostile = {
    model: { kind: 'files', name: `model ${markup}`, files: [{ name: `weights${markup}.bin`, sha256: 'a'.repeat(64) }] },
    task: { kind: 'file', name: `task ${markup}`, test: { name: `test${markup}.jsonl`, sha256: 'b'.repeat(64) }, format: 'jsonl' },
  };
  await page.goto(`/#run=1.${deflateRawSync(Buffer.from(JSON.stringify(hostile))).toString('base64url')}`);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  const problems = page.getByTestId('link-problems');
  await expect(problems).toContainText('model.name: found "model <img src=x onerror=\\"window.pwned=1\\"><script>');
  await expect(problems).toContainText('task.test.name: found "test<img src=x');
  await expect(page.locator('img[src="x"]')).toHaveCount(0);
  await expect(page.locator('main script')).toHaveCount(0);
  expect(await page.evaluate(() => (window as unknown as { pwned: number }).pwned)).toBe(0);
  // Usable: switching back to the preset model loads it.
  await page.getByTestId('model-source-preset').check();
  await expect(page.getByTestId('model-facts')).toBeVisible({ timeout: 60_000 });
  await shot(page, info, 'html');
  expect(errors).toEqual([]);
});

test('from opening a link with autostart=1 to the first training step and to the end (timing printed)', async ({ page }, info) => {
  // 128 stories, batch 8, one epoch: 16 steps; 32 evaluation items.
  const spec = runSpecWith({ task: { kind: 'story', trainSize: 128, testSize: 32 }, training: { epochs: 1, batch: 8, lr: 1e-2 }, limits: { maxTrain: 128, maxEval: 32 } });
  const t0 = Date.now();
  await page.goto(`/${encodeRunLink(spec)}&autostart=1`);
  await expect(page.getByTestId('run-step')).toContainText(/step [1-9]/, { timeout: 180_000 });
  const firstStep = Date.now() - t0;
  await expect(page.getByTestId('run-status')).toHaveText('done', { timeout: 300_000 });
  const end = Date.now() - t0;
  console.log(`share link with autostart (stories260K, 16 steps of 8, ${spec.limits.maxEval} evaluation items): first training step after ${(firstStep / 1000).toFixed(1)} s, run done after ${(end / 1000).toFixed(1)} s`);
  await shot(page, info, 'autostart-done');
});
