// Read-backs (GpuContext.readBytes) through the pool of MAP_READ staging buffers: every read
// returns its own tensor's current contents — one at a time, many at once, after the tensor was
// overwritten, in sizes that share a staging buffer's size class — and once warm, reads (and
// the timestamp read-back of ctx.time) create no staging buffer.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import type { Tensor } from '../../src/gpu/tensor';
import { addInto } from '../../src/ops/activations';
import { gpu } from './gpu';

/** n values that identify `tag`: tag·1000 + i, exact in f32 for the sizes used here. */
function pattern(n: number, tag: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => tag * 1000 + i);
}

/** Sizes (in f32 values) that fall in the same size classes as one another: 1, 60 and 64 share 256 bytes. */
const SIZES = [1, 60, 64, 65, 300, 1000];

async function readAll(ctx: GpuContext, tensors: Tensor[]): Promise<Float32Array[]> {
  return Promise.all(tensors.map((t) => ctx.read(t)));
}

describe('read-back staging pool', () => {
  it('returns each tensor its own data, sequentially and concurrently, and creates no staging buffer once warm', async () => {
    const ctx = await gpu();
    const concurrent = 6;
    // Warm-up: the most reads in flight at once that the checks below make, in every size.
    for (const n of SIZES) {
      const warm = Array.from({ length: concurrent }, (_, k) => ctx.upload(pattern(n, k), [n], `warm ${n}/${k}`));
      await readAll(ctx, warm);
      for (const t of warm) t.release();
    }
    const created = ctx.stagingBuffersCreated;
    expect(created).toBeGreaterThan(0);

    let tag = 1;
    for (let round = 0; round < 5; round++) {
      // One at a time, every size, each tensor overwritten between two reads: a pooled buffer
      // must never hand back what an earlier read left in it.
      for (const n of SIZES) {
        const t = ctx.upload(pattern(n, tag), [n], `seq ${n}`);
        expect(await ctx.read(t)).toEqual(pattern(n, tag));
        ctx.write(t, pattern(n, tag + 1));
        expect(await ctx.read(t)).toEqual(pattern(n, tag + 1));
        t.release();
        tag += 2;
      }
      // Many at once, mixed sizes of one class and of several: no two reads may share a buffer.
      const sizes = Array.from({ length: concurrent }, (_, k) => SIZES[(k + round) % SIZES.length]!);
      const tensors = sizes.map((n, k) => ctx.upload(pattern(n, tag + k), [n], `par ${n}`));
      const got = await readAll(ctx, tensors);
      got.forEach((g, k) => expect(g, `concurrent read ${k} of ${sizes[k]} values`).toEqual(pattern(sizes[k]!, tag + k)));
      for (const t of tensors) t.release();
      tag += concurrent;
    }
    expect(ctx.stagingBuffersCreated).toBe(created);
  });

  it('gives a read larger than the pooled sizes a buffer of its own each time', async () => {
    const ctx = await gpu();
    const n = (4 << 20) / 4 + 64; // just over 4 MiB, the largest pooled size
    const want = Float32Array.from({ length: n }, (_, i) => i);
    const t = ctx.upload(want, [n], 'large');
    const before = ctx.stagingBuffersCreated;
    for (let k = 0; k < 2; k++) {
      const got = await ctx.read(t);
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `read ${k} of ${n} values`).toBe(true);
    }
    expect(ctx.stagingBuffersCreated).toBe(before + 2);
    t.release();
  });

  it('times dispatches with its timestamp read-back from the pool too', async () => {
    const ctx = await gpu();
    const n = 1000;
    const pb = pattern(n, 2);
    const b = ctx.upload(pb, [n], 'b');
    const out = ctx.zeros([n], 'f32', 'out');
    const record = () => addInto(ctx, { acc: out, x: b }, { n });
    await ctx.time(record); // warm-up: the pipeline, and a staging buffer when timestamps are read
    const created = ctx.stagingBuffersCreated;
    for (let k = 0; k < 3; k++) {
      const t = await ctx.time(record);
      expect(t.source).toBe(ctx.hasTimestamps ? 'timestamp-query' : 'wall-clock');
      expect(Number.isFinite(t.ms) && t.ms >= 0, `${t.ms} ms`).toBe(true);
    }
    expect(ctx.stagingBuffersCreated).toBe(created);
    expect(await ctx.read(out)).toEqual(pb.map((v) => 4 * v)); // recorded 4 times; small integers, exact
    for (const t of [b, out]) t.release();
  });
});
