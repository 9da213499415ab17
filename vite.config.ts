import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// One config for the app (Vite) and the three test tiers' first two (Vitest projects):
//   unit    — pure TypeScript in Node, no GPU;
//   kernels — real WGSL on Dawn in Node (a CPU Vulkan driver on machines without a GPU),
//             checked against the f64 CPU references in src/ref/.
// The third tier (e2e/, Playwright in Chromium) has its own playwright.config.ts.
export default defineConfig({
  plugins: [react()],
  server: { port: 5173 },
  preview: { port: 4173 },
  build: { target: 'es2022', sourcemap: true },
  worker: { format: 'es' },
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['tests/unit/**/*.test.ts'], environment: 'node' },
      },
      {
        extends: true,
        test: {
          name: 'kernels',
          include: ['tests/kernels/**/*.test.ts'],
          environment: 'node',
          // One Dawn device per process; the CPU Vulkan driver already uses every core.
          pool: 'forks',
          maxWorkers: 1,
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
