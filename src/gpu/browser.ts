// The browser's front door to the runtime: navigator.gpu, with an explanation instead of a
// blank page when the browser has no WebGPU.

import { requestContext, type AcquireOptions } from './acquire';
import type { GpuContext } from './context';
import { WebGpuUnavailableError } from './errors';

export const NO_WEBGPU_HELP =
  'This browser does not offer WebGPU. Use a current Chrome, Edge or another Chromium-based browser ' +
  '(version 113 or later) on a desktop with a supported GPU, Safari 26 or later, or Firefox 141 or later ' +
  'on Windows. On Linux, Chromium needs the flag --enable-unsafe-webgpu (and Vulkan drivers). ' +
  'Training runs on your own GPU, so nothing can run without it.';

export async function acquireBrowserContext(options: AcquireOptions = {}): Promise<GpuContext> {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  if (!gpu) throw new WebGpuUnavailableError(NO_WEBGPU_HELP);
  return requestContext(gpu, { hint: 'the browser found no usable GPU adapter; check that hardware acceleration is on', ...options });
}
