// The tensor buffer pool (GpuContext.tensor / Tensor.release): buffers are reused by exact size,
// and the idle ones are bounded by the bytes in use, so a job that meets many shapes (batches
// padded to different lengths) holds about its largest step, not one step's buffers per shape;
// an idle buffer freed while recorded work still uses it is submitted first, never destroyed
// under a dispatch.

import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/gpu/tensor';
import { addInto } from '../../src/ops/activations';
import { gpu } from './gpu';

describe('tensor buffer pool', () => {
  it('holds at most twice the bytes in use however many shapes a job meets, and reuses a shape it met', async () => {
    const ctx = await gpu();
    ctx.trimPool();
    const base = ctx.memory.current;
    const held = ctx.upload(new Float32Array(4096), [4096], 'held');
    // "Steps" of 8 transient tensors each, every step in a shape of its own (40 shapes).
    let largestStep = 0;
    for (let len = 100; len < 140; len++) {
      const step = Array.from({ length: 8 }, (_, k) => ctx.tensor([len * (k + 1)], 'f32', `step ${len}/${k}`));
      largestStep = Math.max(largestStep, step.reduce((a, t) => a + t.byteLength, 0));
      for (const t of step) t.release();
    }
    const inUse = held.byteLength;
    // Idle ≤ in use at each creation, so after the last step: in use + idle ≤ 2 · (in use + one step).
    expect(ctx.memory.current - base).toBeLessThanOrEqual(2 * (inUse + largestStep + 8 * 256));
    // A shape met again comes from the pool: nothing is created.
    const before = ctx.memory.current;
    const again = Array.from({ length: 8 }, (_, k) => ctx.tensor([139 * (k + 1)], 'f32', `again ${k}`));
    expect(ctx.memory.current).toBe(before);
    for (const t of again) t.release();
    held.release();
  });

  // The adapter benchmark times a layer's forward and backward, which allocate as they go:
  // bounding the pool there would submit the work mid-pass, and time() refused the recording.
  it('leaves the pool unbounded while time() records its pass, and bounds it after', async () => {
    const ctx = await gpu();
    ctx.trimPool();
    const n = 1000;
    const a = ctx.upload(Float32Array.from({ length: n }, (_, i) => i), [n], 'a');
    for (let k = 0; k < 4; k++) ctx.tensor([64 * 1024 + k], 'f32', `idle ${k}`).release();
    const idleBefore = ctx.memory.current;
    let out: Tensor | undefined;
    const t = await ctx.time(() => {
      const scratch = ctx.tensor([3 * 64 * 1024 + 11], 'f32', 'new shape inside the timed pass'); // would bound the pool
      scratch.release();
      out = ctx.tensor([n], 'f32', 'out');
      addInto(ctx, { acc: out, x: a }, { n });
    });
    expect(Number.isFinite(t.ms)).toBe(true);
    expect(ctx.memory.current, 'bounded after the pass: the idle buffers are freed').toBeLessThan(idleBefore);
    for (const x of [a, out!]) x.release();
  });

  it('submits recorded work before it frees an idle buffer that work still uses', async () => {
    const ctx = await gpu();
    ctx.trimPool();
    const n = 1000;
    const a = ctx.upload(Float32Array.from({ length: n }, (_, i) => i), [n], 'a');
    const b = ctx.upload(Float32Array.from({ length: n }, (_, i) => 2 * i), [n], 'b');
    // Idle buffers far larger than what is in use, then a dispatch whose input is released (idle)
    // while the dispatch is only recorded, then a new shape: the pool frees idle buffers.
    for (let k = 0; k < 4; k++) ctx.tensor([64 * 1024 + k], 'f32', `idle ${k}`).release();
    // Larger than everything in use, so that the pool frees it too (largest idle buffers first).
    const tmp = ctx.zeros([16 * n], 'f32', 'transient sum');
    addInto(ctx, { acc: tmp, x: a }, { n });
    addInto(ctx, { acc: tmp, x: b }, { n });
    const out = ctx.zeros([n], 'f32', 'out');
    addInto(ctx, { acc: out, x: tmp }, { n });
    addInto(ctx, { acc: out, x: a }, { n });
    tmp.release();
    ctx.tensor([3 * 64 * 1024 + 7], 'f32', 'new shape').release();
    const values = await ctx.read(out);
    expect([...values]).toEqual(Array.from({ length: n }, (_, i) => 4 * i));
    await ctx.sync();
    for (const t of [a, b, out]) t.release();
  });
});
