// The end-to-end tier: the built app (vite build, then vite preview) in Debian's Chromium with
// WebGPU on. Headless Chromium offers SwiftShader, its CPU adapter, so this runs on machines
// without a GPU. Never run `npx playwright install`: the system Chromium is the browser.
//
// Run: npm run test:e2e   (vite build && playwright test). CHROMIUM_PATH overrides the browser
// binary on machines where it is not Debian's /usr/bin/chromium.

import { existsSync } from 'node:fs';
import { defineConfig, devices } from '@playwright/test';

/** The preview server's port (D2LORA_E2E_PORT lets two checkouts run their end-to-end tests side by side). */
const PORT = Number(process.env.D2LORA_E2E_PORT ?? 4173);

/**
 * The adapter the browser gets. 'lavapipe' (the default where scripts/install-system-deps.sh put
 * it): Chromium's OpenGL ES backend through ANGLE on Vulkan, on the project's lavapipe, a
 * compatibility-mode adapter the page prefers to a fallback one; several times faster than
 * 'swiftshader', Chromium's own CPU adapter (D2LORA_E2E_ADAPTER=swiftshader).
 */
const LAVAPIPE_ICD = '.deps/lavapipe/lvp_icd.json';
const adapter = process.env.D2LORA_E2E_ADAPTER ?? (existsSync(LAVAPIPE_ICD) ? 'lavapipe' : 'swiftshader');
const adapterArgs = adapter === 'lavapipe' ? ['--use-angle=vulkan', '--use-webgpu-adapter=opengles'] : [];
const adapterEnv: Record<string, string> = adapter === 'lavapipe' ? { VK_ICD_FILENAMES: `${process.cwd()}/${LAVAPIPE_ICD}`, XDG_RUNTIME_DIR: '/tmp' } : {};

export default defineConfig({
  testDir: 'e2e',
  metadata: { adapter },
  outputDir: 'test-results',
  reporter: 'list',
  workers: 1,
  retries: 0,
  forbidOnly: true,
  // SwiftShader compiles and runs the kernels on the CPU; give the self-test room.
  timeout: 180_000,
  use: {
    ...devices['Desktop Chrome'],
    baseURL: `http://localhost:${PORT}`,
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      env: { ...(process.env as Record<string, string>), ...adapterEnv },
      args: [
        '--enable-unsafe-webgpu',
        ...adapterArgs,
        '--no-sandbox',
        // Keep the browser off the network: these machines reach nothing but the app.
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-dev-shm-usage',
      ],
    },
  },
  webServer: {
    command: `npx vite preview --port ${PORT} --strictPort`,
    url: `http://localhost:${PORT}`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
