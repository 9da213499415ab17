// src/ops/kernel-cache.ts: a launcher's kernel for a key is made once per context, with the spec
// built then, and found again with nothing built.

import { describe, expect, it } from 'vitest';
import type { GpuContext, Kernel, KernelSpec } from '../../src/gpu/context';
import { kernelsByKey } from '../../src/ops/kernel-cache';

/** A context that only makes kernels, counting them. */
function fakeContext(): GpuContext & { made: KernelSpec[] } {
  const made: KernelSpec[] = [];
  return { made, kernel: (spec: KernelSpec) => (made.push(spec), { name: spec.name } as Kernel) } as unknown as GpuContext & { made: KernelSpec[] };
}

describe('kernelsByKey', () => {
  it('builds a key\'s spec once per context and returns the same kernel after', () => {
    let specs = 0;
    const kernel = kernelsByKey((key: string) => (specs++, { name: `k_${key}`, code: '', entryPoint: key }));
    const [a, b] = [fakeContext(), fakeContext()];
    const first = kernel(a, 'x');
    expect(kernel(a, 'x')).toBe(first);
    expect(kernel(a, 'y').name).toBe('k_y');
    expect(kernel(b, 'x')).not.toBe(first); // another context compiles its own
    expect(specs).toBe(3);
    expect(a.made.map((s) => s.name)).toEqual(['k_x', 'k_y']);
    expect(b.made.map((s) => s.name)).toEqual(['k_x']);
  });

  it('takes numeric keys', () => {
    const kernel = kernelsByKey((key: number) => ({ name: `slot ${key}`, code: '', entryPoint: 'main' }));
    const ctx = fakeContext();
    expect([0, 5, 5, 0].map((k) => kernel(ctx, k).name)).toEqual(['slot 0', 'slot 5', 'slot 5', 'slot 0']);
    expect(ctx.made).toHaveLength(2);
  });
});
