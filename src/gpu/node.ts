// The Node front door to the runtime: Dawn through the npm `webgpu` package.
//
// Two facts measured here shape this file:
// - The object returned by Dawn's create() must stay reachable for the whole process; when it
//   was garbage-collected while a device lived, Node crashed or hung. It is kept in `dawn`.
// - While a GPU promise is pending, the binding polls with setImmediate and keeps a whole core
//   busy; on a CPU Vulkan driver (lavapipe, SwiftShader) that core is the one the driver needs.
//   For CPU adapters, setImmediate is rerouted through a 1 ms setTimeout.
//
// Dawn's null backend (`backend: 'null'`) validates every call as a real device does and
// executes nothing: a step's time on it is the host's alone (JavaScript, the binding, Dawn's
// validation), which is what the host benchmark measures. What it reads back is meaningless.

import { create, globals } from 'webgpu';
import { requestContext, type AcquireOptions } from './acquire';
import type { GpuContext } from './context';
import { WebGpuUnavailableError } from './errors';

/** Which Dawn backend: the platform's (Vulkan on Linux), or the null one that executes nothing. */
export type NodeBackend = 'default' | 'null';

export interface NodeAcquireOptions extends AcquireOptions {
  backend?: NodeBackend;
}

/** One Dawn instance per backend, each kept for the whole process (see above). */
const dawn = new Map<NodeBackend, GPU>();
let pollingThrottled = false;

function nodeGpu(backend: NodeBackend): GPU {
  let gpu = dawn.get(backend);
  if (!gpu) {
    Object.assign(globalThis, globals);
    gpu = create(backend === 'null' ? ['backend=null'] : []) as GPU;
    dawn.set(backend, gpu);
  }
  return gpu;
}

export async function acquireNodeContext(options: NodeAcquireOptions = {}): Promise<GpuContext> {
  const { backend = 'default', ...acquire } = options;
  const icd = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  let ctx: GpuContext;
  try {
    ctx = await requestContext(nodeGpu(backend), {
      hint: backend === 'null'
        ? "Dawn's null backend (this build of the webgpu package may lack it)"
        : icd
        ? `Vulkan driver from ${icd}`
        : 'Dawn needs a Vulkan driver: install your GPU vendor\'s, or run "bash scripts/install-system-deps.sh" for the CPU driver lavapipe',
      ...acquire,
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
