// Runs that last, in the page (Chromium on lavapipe): a run survives a reload, a lost GPU device
// and a divergence, and a link may carry its sender's result.
//   - A reload mid-run: the uninterrupted run of a 20-step link first (its merged model.safetensors
//     from the Export zip, and its "Copy link with result"); then that link with the result, opened
//     in a fresh page, which shows the sender's accuracies beside the setup, started, reloaded
//     after its checkpoint of step 8 (a checkpoint every 4 steps, the history's setting in
//     localStorage); the offer above the setup says what stopped where; Resume goes on from there
//     and the run ends with the same merged weights, bit for bit, every step 1..20 once in
//     metrics.json, the sender's loss drawn on the chart and "Your run agrees with the sender's".
//   - A lost GPU device mid-run (the worker's loseDevice: a real device.destroy(), reached through
//     the page's test hook, `?test-hooks=1`): the Train section explains it, says up to which step
//     the run is saved, the offer lists it, and Resume (a fresh worker, a fresh device) finishes
//     with the same weights bit for bit.
//   - A forced divergence (lr 1 with weight decay 10, a checkpoint every step): the run stops and
//     says why; the checkpoint kept is the last one from before the loss went wrong (step 1: the
//     loss stays above ln V from step 2, then the gradient dies at steps 7-9), visible in the offer;
//     "Resume from step 1 with Weight decay 0.1 and Learning rate 0.1" finishes the run.
// Each state's panels are scanned with axe (the lost-GPU and divergence panels and the offer in
// the dark scheme too). Screenshots: resume-sender.png, resume-offer.png, resume-overlay.png,
// resume-lost-device.png (-dark), resume-diverged.png (-dark), resume-diverged-offer.png in
// test-results/.

import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { unzipSync } from 'fflate';
import { runSpecWith } from '../src/run/spec';
import { encodeRunLink } from '../src/share/link';

/** 160 training items in batches of 8, one epoch: 20 steps; 24 evaluation items (as e2e/run.spec.ts). */
const SPEC = runSpecWith({
  task: { kind: 'story', trainSize: 160, testSize: 24 },
  training: { epochs: 1, batch: 8, lr: 1e-2 },
  limits: { maxTrain: 160, maxEval: 24 },
});
const LINK = encodeRunLink(SPEC);

/** The run of e2e/train.spec.ts's divergence: 16 steps an epoch for 2 epochs; diverges at step 9. */
const DIVERGING = runSpecWith({
  task: { kind: 'story', trainSize: 128, testSize: 16 },
  limits: { maxTrain: 128, maxEval: 16 },
  training: { lr: 1, weightDecay: 10, batch: 8, epochs: 2 },
});

/** The history's settings as the page keeps them (src/state/history.ts). */
const SETTINGS_KEY = 'd2lora-history-settings';
const RUN_TIMEOUT_MS = 240_000;

test.describe.configure({ mode: 'serial' });

/** The uninterrupted run's merged weights, which every resumed run must equal. */
let uninterrupted: Uint8Array | null = null;

async function checkpointEvery(page: Page, steps: number): Promise<void> {
  await page.addInitScript(([key, every]) => localStorage.setItem(key as string, JSON.stringify({ keepMergedModel: true, checkpointEverySteps: every })), [SETTINGS_KEY, steps] as const);
}

async function finished(page: Page): Promise<void> {
  await expect(page.getByTestId('run-status')).toHaveText(/^(done|failed|cancelled)$/, { timeout: RUN_TIMEOUT_MS });
  if ((await page.getByTestId('run-status').textContent()) !== 'done') throw new Error(`the run did not finish: ${await page.getByTestId('run-error').innerText()}`);
}

/** The output folder's files, from Export's zip. */
async function outputFolder(page: Page, folder: string, name: string): Promise<Record<string, Uint8Array>> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('run-download').click()]);
  const path = join(folder, name);
  await download.saveAs(path);
  return unzipSync(new Uint8Array(readFileSync(path)));
}

/** The saved step the Train section shows while training, once it is at least `step`. */
async function savedAtLeast(page: Page, step: number): Promise<number> {
  const saved = page.getByTestId('run-saved');
  await expect.poll(async () => Number((await saved.getAttribute('data-step', { timeout: RUN_TIMEOUT_MS })) ?? -1), { timeout: RUN_TIMEOUT_MS }).toBeGreaterThanOrEqual(step);
  return Number(await saved.getAttribute('data-step'));
}

/** Every training step once, in order, in the output folder's metrics.json; where it was resumed. */
function stepsOf(files: Record<string, Uint8Array>): { steps: number[]; resumedAt: number[] } {
  const metrics = JSON.parse(new TextDecoder().decode(files['metrics.json'])) as { steps: { step: number }[]; resumedAt: number[] };
  return { steps: metrics.steps.map((s) => s.step), resumedAt: metrics.resumedAt };
}

async function axeViolations(page: Page, ...include: string[]): Promise<string[]> {
  let scan = new AxeBuilder({ page });
  for (const selector of include) scan = scan.include(selector);
  const result = await scan.analyze();
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
}

/** The Train section's problem and the offer scanned in the dark scheme as well (a screenshot of the problem), then back to light. */
async function darkToo(page: Page, screenshot: string, folder: string): Promise<void> {
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.getByTestId('run-error').screenshot({ path: join(folder, screenshot) });
  expect(await axeViolations(page, '[data-testid="run-error"]', '[data-testid="resume-offer"]'), 'in the dark scheme').toEqual([]);
  await page.emulateMedia({ colorScheme: 'light' });
}

const train = (page: Page) => page.locator('section', { has: page.locator('#train-heading') });
const steps1to20 = Array.from({ length: 20 }, (_, i) => i);

test('a run reloaded mid-training resumes from the offer and ends bit for bit as the uninterrupted run, agreeing with its shared result', async ({ page, context }, testInfo) => {
  test.setTimeout(3 * RUN_TIMEOUT_MS);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await checkpointEvery(page, 4);
  const folder = testInfo.project.outputDir;

  // The uninterrupted run, and the link with its result.
  await page.goto(`/${LINK}`);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  await expect(page.getByTestId('resume-offer')).toHaveCount(0);
  await page.getByTestId('run-start').click();
  await finished(page);
  const plain = await outputFolder(page, folder, 'uninterrupted.zip');
  uninterrupted = plain['model.safetensors']!;
  expect(stepsOf(plain)).toEqual({ steps: steps1to20, resumedAt: [] });
  await page.getByTestId('run-share-with-result').click();
  await expect(page.getByTestId('run-share-result')).toHaveText('Link with the result copied');
  const resultLink = await page.evaluate(() => navigator.clipboard.readText());
  expect(resultLink).toMatch(/#run=1\.[\w-]+&result=1\.[\w-]+$/);
  const pct = (id: string) => page.getByTestId(id).locator('dd').first().innerText().then((t) => t.match(/\d+\.\d%/)![0]);
  const accuracies = [await pct('run-accuracy-before'), await pct('run-accuracy-after'), await pct('run-accuracy-merged')];

  // The recipient: a fresh page with the link, the sender's figures beside the setup.
  const recipient = await context.newPage();
  await recipient.goto(resultLink.slice(resultLink.indexOf('/#')));
  await expect(recipient.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  await expect(recipient.getByTestId('sender-accuracies')).toHaveText(`${accuracies[0]} before training, ${accuracies[1]} after, ${accuracies[2]} merged, on 24 items after 20 steps`);
  await expect(recipient.getByTestId('sender-agreement')).toContainText('Start runs the same setup');
  await recipient.getByTestId('sender-result').screenshot({ path: join(folder, 'resume-sender.png') });

  // Started, reloaded after a checkpoint: the offer says what stopped where.
  await recipient.getByTestId('run-start').click();
  const savedStep = await savedAtLeast(recipient, 8);
  await recipient.reload();
  await expect(recipient.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  const offer = recipient.getByTestId('resume-offer');
  await expect(offer).toBeVisible({ timeout: 30_000 });
  const offered = offer.getByTestId('resume-run');
  await expect(offered).toHaveCount(1);
  await expect(offered).toContainText('D2-LoRA r=8 · stories260K · story');
  const where = await offered.getByTestId('resume-where').innerText();
  const [, stoppedAt] = /^Stopped at step (\d+) of 20, saved at \d\d:\d\d:\d\d\.$/.exec(where) ?? [];
  expect(Number(stoppedAt), where).toBeGreaterThanOrEqual(savedStep);
  await expect(offered.getByTestId('resume-why')).toHaveText('The page was closed, reloaded or crashed while it trained.');
  await expect(recipient.getByTestId('sender-result')).toBeVisible();
  await offer.screenshot({ path: join(folder, 'resume-offer.png') });
  expect(await axeViolations(recipient, '[data-testid="resume-offer"]', '[data-testid="sender-result"]')).toEqual([]);

  // Resumed: it goes on from there and ends as the uninterrupted run did.
  await offered.getByTestId('resume-go').click();
  await expect(offer).toHaveCount(0);
  await expect(recipient.getByTestId('run-detail')).toContainText(`from step ${stoppedAt}:`, { timeout: 60_000 });
  await finished(recipient);
  const resumed = await outputFolder(recipient, folder, 'resumed-after-reload.zip');
  expect(Buffer.from(resumed['model.safetensors']!).equals(Buffer.from(uninterrupted)), 'the merged weights equal the uninterrupted run\'s, bit for bit').toBe(true);
  expect(stepsOf(resumed)).toEqual({ steps: steps1to20, resumedAt: [Number(stoppedAt)] });
  await expect(recipient.getByTestId('run-chart-loss')).toHaveAttribute('data-points', '20');
  await expect(recipient.getByTestId('run-chart-loss')).toContainText("sender's loss");
  await expect(recipient.getByTestId('sender-agreement')).toHaveText(`Your run agrees with the sender's: ${accuracies[1]} after training, item for item.`);
  await expect(recipient.getByTestId('sender-agreement')).toHaveAttribute('data-agree', 'true');
  await train(recipient).screenshot({ path: join(folder, 'resume-overlay.png') });
  expect(await axeViolations(recipient, 'section:has(#train-heading)')).toEqual([]);
  console.log(`reloaded after the checkpoint of step ${stoppedAt}; resumed: model.safetensors (${uninterrupted.length} bytes) identical to the uninterrupted run's`);
});

test('a GPU device lost mid-run is explained; Resume on a fresh device ends bit for bit as the uninterrupted run', async ({ page }, testInfo) => {
  test.setTimeout(2 * RUN_TIMEOUT_MS);
  expect(uninterrupted, 'the uninterrupted run of the first test').not.toBeNull();
  await checkpointEvery(page, 4);
  await page.goto(`/?test-hooks=1${LINK}`);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  await page.getByTestId('run-start').click();
  const savedStep = await savedAtLeast(page, 8);
  await page.evaluate(() => window.__d2lora!.loseDevice());

  const problem = page.getByTestId('run-error');
  await expect(problem).toHaveAttribute('data-kind', 'device-lost', { timeout: 60_000 });
  await expect(page.getByTestId('run-status')).toHaveText('failed');
  await expect(problem).toContainText(/^The GPU was lost at step \d+ of 20/);
  await expect(page.getByTestId('run-lost')).toContainText("The browser took this page's GPU device away");
  const saved = page.getByTestId('run-saved-step');
  await expect(saved).toContainText(/^Progress up to step \d+ of 20 is saved \(at \d\d:\d\d:\d\d\)\. Resume starts a fresh GPU device/);
  const [, step] = /step (\d+) of 20/.exec(await saved.innerText())!;
  expect(Number(step)).toBeGreaterThanOrEqual(savedStep);
  // The offer above the setup lists it too, with why it stopped.
  const offered = page.getByTestId('resume-offer').getByTestId('resume-run');
  await expect(offered).toHaveCount(1);
  await expect(offered.getByTestId('resume-where')).toContainText(`Stopped at step ${step} of 20`);
  await expect(offered.getByTestId('resume-why')).toContainText('Why: the GPU device was lost');
  await train(page).screenshot({ path: join(testInfo.project.outputDir, 'resume-lost-device.png') });
  expect(await axeViolations(page, 'section:has(#train-heading)', '[data-testid="resume-offer"]')).toEqual([]);
  await darkToo(page, 'resume-lost-device-dark.png', testInfo.project.outputDir);

  await page.getByTestId('run-resume-saved').click();
  await expect(page.getByTestId('run-detail')).toContainText(`from step ${step}:`, { timeout: 60_000 });
  await finished(page);
  const resumed = await outputFolder(page, testInfo.project.outputDir, 'resumed-after-lost-device.zip');
  expect(Buffer.from(resumed['model.safetensors']!).equals(Buffer.from(uninterrupted!)), 'the merged weights equal the uninterrupted run\'s, bit for bit').toBe(true);
  expect(stepsOf(resumed)).toEqual({ steps: steps1to20, resumedAt: [Number(step)] });
  await expect(page.getByTestId('resume-offer')).toHaveCount(0);
  console.log(`GPU lost after the checkpoint of step ${step}; resumed on a fresh device: model.safetensors identical to the uninterrupted run's`);
});

test('a diverged run keeps its last good checkpoint and goes on from it with the suggested settings', async ({ page }, testInfo) => {
  test.setTimeout(2 * RUN_TIMEOUT_MS);
  await checkpointEvery(page, 1);
  await page.goto(`/${encodeRunLink(DIVERGING)}`);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('run-status')).toHaveText(/^(done|failed|cancelled)$/, { timeout: RUN_TIMEOUT_MS });
  await expect(page.getByTestId('run-status')).toHaveText('failed');
  await expect(page.getByTestId('run-error')).toContainText('The run stopped at step 9');
  await expect(page.getByTestId('run-divergence')).toContainText(/^Training diverged: the gradient norm was exactly 0 for 3 steps in a row \(steps 7–9 of 32\)/);
  // Checkpoints came every step; the one kept is from before the loss went above ln V (step 2).
  await expect(page.getByTestId('run-saved-step')).toContainText(/^Progress up to step 1 of 32 is saved \(at \d\d:\d\d:\d\d\): the last checkpoint from before the loss went wrong/);
  const resumeChanged = page.getByTestId('run-resume-changed');
  await expect(resumeChanged).toHaveText('Resume from step 1 with Weight decay 0.1 and Learning rate 0.1');
  await expect(page.getByTestId('run-start-over')).toHaveText('Start over with Weight decay 0.1 and Learning rate 0.1');
  await train(page).screenshot({ path: join(testInfo.project.outputDir, 'resume-diverged.png') });

  const offered = page.getByTestId('resume-offer').getByTestId('resume-run');
  await expect(offered.getByTestId('resume-where')).toContainText('Stopped at step 1 of 32');
  await expect(offered.getByTestId('resume-why')).toContainText('Why: training diverged: the gradient norm was exactly 0');
  await expect(offered.getByTestId('resume-go')).toHaveText('Resume from step 1 with Weight decay 0.1 and Learning rate 0.1');
  await page.getByTestId('resume-offer').screenshot({ path: join(testInfo.project.outputDir, 'resume-diverged-offer.png') });
  expect(await axeViolations(page, 'section:has(#train-heading)', '[data-testid="resume-offer"]')).toEqual([]);
  await darkToo(page, 'resume-diverged-dark.png', testInfo.project.outputDir);

  await resumeChanged.click();
  await expect(page.getByTestId('run-spec')).toContainText('lr 0.1 ');
  await expect(page.getByTestId('run-detail')).toContainText('from step 1:', { timeout: 60_000 });
  await finished(page);
  await expect(page.getByTestId('run-chart-loss')).toHaveAttribute('data-points', '32');
  const files = await outputFolder(page, testInfo.project.outputDir, 'resumed-after-divergence.zip');
  const spec = JSON.parse(new TextDecoder().decode(files['run.json'])) as { training: { lr: number; weightDecay: number } };
  expect(spec.training).toMatchObject({ lr: 0.1, weightDecay: 0.1 });
  expect(stepsOf(files)).toEqual({ steps: Array.from({ length: 32 }, (_, i) => i), resumedAt: [1] });
  await expect(page.getByTestId('resume-offer')).toHaveCount(0);
});
