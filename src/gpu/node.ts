// The Node front door to the runtime: Dawn through the npm `webgpu` package.
//
// Two facts measured here shape this file:
// - The object returned by Dawn's create() must stay reachable for the whole process; when it
//   was garbage-collected while a device lived, Node crashed or hung. It is kept in `dawn`.
// - While a GPU promise is pending, the binding polls with setImmediate and keeps a whole core
//   busy; on a CPU Vulkan driver (lavapipe, SwiftShader) that core is the one the driver needs.
//   For CPU adapters, setImmediate is rerouted through a 1 ms setTimeout.

import { create, globals } from 'webgpu';
import { requestContext, type AcquireOptions } from './acquire';
import type { GpuContext } from './context';
import { WebGpuUnavailableError } from './errors';

let dawn: GPU | null = null;
let pollingThrottled = false;

function nodeGpu(): GPU {
  if (!dawn) {
    Object.assign(globalThis, globals);
    dawn = create([]) as GPU;
  }
  return dawn;
}

export async function acquireNodeContext(options: AcquireOptions = {}): Promise<GpuContext> {
  const icd = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  let ctx: GpuContext;
  try {
    ctx = await requestContext(nodeGpu(), {
      hint: icd
        ? `Vulkan driver from ${icd}`
        : 'Dawn needs a Vulkan driver: install your GPU vendor\'s, or run "bash scripts/install-system-deps.sh" for the CPU driver lavapipe',
      ...options,
    });
  } catch (e) {
    if (e instanceof WebGpuUnavailableError) throw e;
    throw new WebGpuUnavailableError(`Dawn could not create a device: ${(e as Error).message}`);
  }
  if (ctx.adapter.isCpu) throttleDawnPolling();
  return ctx;
}

function throttleDawnPolling(): void {
  if (pollingThrottled) return;
  pollingThrottled = true;
  const viaTimeout = (fn: (...args: unknown[]) => void, ...args: unknown[]) => setTimeout(fn, 1, ...args);
  globalThis.setImmediate = viaTimeout as unknown as typeof setImmediate;
}
