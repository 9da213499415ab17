// One GPU context per test file, on Dawn. The kernel tier never skips: without an adapter it
// fails, saying why and how to get one.

import { afterAll } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { acquireNodeContext } from '../../src/gpu/node';

let ctx: Promise<GpuContext> | null = null;

export function gpu(): Promise<GpuContext> {
  if (!ctx) {
    ctx = acquireNodeContext().catch((e: Error) => {
      throw new Error(
        `kernel tests need a WebGPU adapter from Dawn and found none: ${e.message}\n` +
          'Run them through "npm test" (it installs and selects the CPU Vulkan driver lavapipe) or set VK_ICD_FILENAMES.',
      );
    });
    afterAll(async () => (await ctx!).destroy());
  }
  return ctx;
}
