// The page on a real WebGPU adapter: it finds one, shows it, and the in-page kernel self-test
// passes. Without an adapter this tier fails and says why; it never skips. A second test hides
// navigator.gpu and checks that the page explains instead of going blank.

import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { join } from 'node:path';
import { NO_WEBGPU_HELP } from '../src/gpu/browser';

/** Waits until the page has decided about WebGPU and returns the status word. */
async function webgpuStatus(page: Page): Promise<string> {
  const status = page.getByTestId('webgpu-status');
  await expect(status).not.toHaveText('checking', { timeout: 30_000 });
  return (await status.textContent()) ?? '';
}

/** Saves the whole page as test-results/playground.png and attaches it to the report. */
async function saveScreenshot(page: Page, testInfo: TestInfo): Promise<void> {
  const shot = await page.screenshot({ fullPage: true, path: join(testInfo.project.outputDir, 'playground.png') });
  await testInfo.attach('playground', { body: shot, contentType: 'image/png' });
}

test('finds a WebGPU adapter and passes the kernel self-test', async ({ page }, testInfo) => {
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));

  await page.goto('/');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('D2-LoRA Playground');

  const status = await webgpuStatus(page);
  if (status !== 'ready') {
    const why = await page.locator('[data-testid="no-webgpu"], [data-testid="gpu-error"]').innerText();
    await saveScreenshot(page, testInfo);
    throw new Error(
      `the page has no usable WebGPU adapter (status "${status}"), so the end-to-end tier cannot run. ` +
        'playwright.config.ts launches Chromium with --enable-unsafe-webgpu, which should give at least ' +
        `SwiftShader, its CPU adapter. The page said:\n${why}`,
    );
  }
  // "Your GPU" folds into one line once the self-test passes and opens by itself when it fails.
  const selfTest = page.getByTestId('selftest-status');
  await expect(selfTest).toHaveText(/^(passed|failed)$/, { timeout: 120_000 });
  const details = page.getByTestId('gpu-details');
  const passed = (await selfTest.textContent()) === 'passed';
  expect(await details.evaluate((d) => (d as HTMLDetailsElement).open), passed ? 'closed after a pass' : 'open after a failure').toBe(!passed);
  if (passed) await page.getByRole('heading', { name: 'Your GPU' }).click();
  await expect(details).toHaveAttribute('open', '');

  // Chromium's OpenGL ES (compatibility) adapter reports no names at all; the page says so.
  await expect(page.getByTestId('adapter-kind')).not.toBeEmpty();
  const adapter = (await page.getByTestId('adapter-name').innerText()) || '(an adapter that reports no name)';
  const kind = await page.getByTestId('adapter-kind').innerText();
  await expect(page.getByTestId('limit-maxStorageBufferBindingSize')).toBeVisible();

  const summary = await page.getByTestId('selftest-summary').innerText();
  const detail = await page
    .getByTestId('selftest-error')
    .or(page.getByTestId('selftest-table'))
    .first()
    .innerText();

  await saveScreenshot(page, testInfo);
  console.log(`adapter: ${adapter} (${kind})\nself-test: ${summary}`);

  expect(await selfTest.textContent(), `self-test on ${adapter}: ${summary}\n${detail}`).toBe('passed');
  expect(consoleErrors, 'errors in the page console').toEqual([]);
});

test('explains itself in a browser without WebGPU', async ({ page }) => {
  await page.addInitScript(() => {
    delete (Object.getPrototypeOf(navigator) as { gpu?: unknown }).gpu;
  });
  await page.goto('/');
  expect(await webgpuStatus(page)).toBe('unavailable');
  const panel = page.getByTestId('no-webgpu');
  await expect(panel).toBeVisible();
  await expect(panel.getByRole('heading')).toHaveText('WebGPU is not available here');
  await expect(page.getByTestId('no-webgpu-reason')).toHaveText(NO_WEBGPU_HELP);
  await expect(page.getByTestId('selftest-status')).toHaveCount(0);
});
