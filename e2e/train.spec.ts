// How the Train section ends a run early, in the page.
//   - A run that diverges: weight decay 10 at learning rate 1 flips the adapters' signs every step
//     until the gradient dies (the trainer's watch: a gradient norm of exactly 0 for three steps).
//     The run stops, the page says what happened at which step and what to change, in the form's
//     own words ("Weight decay 0.1 instead of 10", "Learning rate 0.1 instead of 1"), and its
//     button puts those values into the setup, which Start again would run.
//   - Early stopping: the run of the Run core's early-stopping test (tests/kernels/job.test.ts)
//     stops before its last step; the page says where and which step's adapters it kept, and the
//     loss chart ends there.

import { expect, test } from '@playwright/test';
import { join } from 'node:path';
import { runSpecWith } from '../src/run/spec';
import { encodeRunLink } from '../src/share/link';

/** The run of the Run core's early-stopping test: 16 steps an epoch for 3 epochs, a held-out loss every 2 steps, patience 2. */
const STOPPING = runSpecWith({
  task: { kind: 'story', trainSize: 160, testSize: 24 },
  training: { epochs: 3, batch: 8, lr: 3e-2, heldOutEvery: 2, earlyStopping: { patience: 2, devItems: 32 } },
  limits: { maxTrain: 160, maxEval: 24 },
});

/** The run of the Run core's own divergence test (tests/kernels/health.test.ts): 16 steps at most. */
const DIVERGING = runSpecWith({
  task: { kind: 'story', trainSize: 128, testSize: 16 },
  limits: { maxTrain: 128, maxEval: 16 },
  training: { lr: 1, weightDecay: 10, batch: 8, epochs: 2 },
});

test('a diverging run stops, says why and what to change, and applies the suggestions to the setup', async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));

  await page.goto(`/${encodeRunLink(DIVERGING)}`);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  await expect(page.getByTestId('run-spec')).toContainText('2 epochs, batch 8, lr 1 ');
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('run-status')).toHaveText(/^(done|failed|cancelled)$/, { timeout: 180_000 });
  await expect(page.getByTestId('run-status')).toHaveText('failed');

  const error = page.getByTestId('run-error');
  await expect(error).toContainText(/The run stopped at step \d+/);
  await expect(page.getByTestId('run-divergence')).toContainText(/^Training diverged: the gradient norm was exactly 0 for 3 steps in a row/);
  await expect(page.getByTestId('run-suggestions').locator('li')).toHaveText([/^Weight decay 0\.1 instead of 10/, /^Learning rate 0\.1 instead of 1/]);
  await expect(page.getByTestId('run-stage-train')).toHaveAttribute('data-state', 'active');
  await expect(page.getByTestId('run-progress-bar')).toHaveAttribute('aria-valuetext', /^Stopped at 5\/9 Train/);
  // The run stopped before merging: nothing to try with its model, nothing to export.
  await expect(page.getByTestId('run-download')).toHaveCount(0);
  await page.locator('section', { has: page.locator('#train-heading') }).screenshot({ path: join(testInfo.project.outputDir, 'train-diverged.png') });

  await page.getByTestId('run-apply-suggestions').click();
  await expect(page.getByTestId('run-applied')).toHaveText('The setup now has Weight decay 0.1 and Learning rate 0.1. Start again runs it.');
  await expect(page.getByTestId('run-setup-changed')).toContainText('lr 0.1 ');
  await expect(page.getByTestId('run-start')).toBeEnabled();
  expect(consoleErrors, 'errors in the page console').toEqual([]);
});

test('early stopping says where it stopped and which adapters it kept; the charts end there', async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  await page.goto(`/${encodeRunLink(STOPPING)}`);
  await expect(page.getByTestId('webgpu-status')).toHaveText('ready', { timeout: 60_000 });
  await expect(page.getByTestId('run-spec')).toContainText('early stopping (patience 2)');
  await page.getByTestId('run-start').click();
  await expect(page.getByTestId('run-status')).toHaveText(/^(done|failed|cancelled)$/, { timeout: 240_000 });
  await expect(page.getByTestId('run-status')).toHaveText('done');
  const note = page.getByTestId('run-stopped-early');
  await expect(note).toContainText(/^Early stopping ended training at step (\d+) of 48: .* The adapters of step (\d+) \(held-out loss \d\.\d{4}\) are the ones kept/);
  const [, stoppedAt, kept] = /step (\d+) of 48.* step (\d+) \(/.exec(await note.innerText())!;
  expect(Number(kept)).toBeLessThan(Number(stoppedAt));
  expect(Number(stoppedAt)).toBeLessThan(48);
  await expect(page.getByTestId('run-chart-loss')).toHaveAttribute('data-points', stoppedAt!);
  await expect(page.getByTestId('run-progress-bar')).toHaveAttribute('aria-valuenow', '100');
  await page.locator('section', { has: page.locator('#train-heading') }).screenshot({ path: join(testInfo.project.outputDir, 'train-stopped-early.png') });
});
