// The launchers' kernels, made once per context and then looked up by a key the launcher picks
// (an entry point, a row width, a rung and its transposes). Looking one up runs for every
// dispatch of every step, so it builds no spec, name or constants object: those are made the
// first time a context asks for the key, and the context compiles the kernel then.

import type { GpuContext, Kernel, KernelSpec } from '../gpu/context';

/** A lookup (ctx, key) → Kernel whose kernel for a new key is ctx.kernel(spec(key)). */
export function kernelsByKey<K extends string | number>(spec: (key: K) => KernelSpec): (ctx: GpuContext, key: K) => Kernel {
  const byContext = new WeakMap<GpuContext, Map<K, Kernel>>();
  return (ctx, key) => {
    let kernels = byContext.get(ctx);
    if (kernels === undefined) byContext.set(ctx, (kernels = new Map()));
    let kernel = kernels.get(key);
    if (kernel === undefined) kernels.set(key, (kernel = ctx.kernel(spec(key))));
    return kernel;
  };
}
