// Tensor views (GpuContext.view): tensors over a range of another tensor's buffer, at an
// aligned offset, which the trainable-parameter arena (src/gpu/arena.ts) is made of; and AdamW
// over an arena, a chunk at a time, against AdamW a tensor at a time. A view binds, reads, writes,
// clears and copies its own range only; views of one buffer may be read together in a dispatch,
// but one written beside another is an alias, as WebGPU has it (its rule is the buffer's, not the
// range's); a view owns nothing, and dies with its parent.

import { describe, expect, it } from 'vitest';
import { TensorArena } from '../../src/gpu/arena';
import { addInto, swigluForward } from '../../src/ops/activations';
import { AdamW } from '../../src/train/optimizer';
import { Rng } from '../../src/util/rng';
import { gpu } from './gpu';

const range = (n: number, from = 0) => Float32Array.from({ length: n }, (_, i) => from + i);

describe('tensor views', () => {
  it('reads, writes, clears and copies their own range of the parent', async () => {
    const ctx = await gpu();
    const parent = ctx.upload(range(200), [200], 'parent');
    const a = ctx.view(parent, 64, [10], 'a');
    const b = ctx.view(parent, 128, [2, 3], 'b');
    expect([...(await ctx.read(a))]).toEqual([...range(10, 64)]);
    expect(b.shape).toEqual([2, 3]);
    ctx.write(b, Float32Array.of(-1, -2, -3, -4, -5, -6));
    ctx.clear(a);
    const other = ctx.upload(range(16, 1000), [16], 'other');
    ctx.copy(b, other, 8, 4, 8); // b[1..2] → other[2..3]
    ctx.copy(other, a, 8, 0, 16); // other[0..1] → a[4..5]
    expect(() => ctx.copy(b, a, 8)).toThrow('copy "b" → "a": both are in one buffer, which WebGPU cannot copy within');
    const all = await ctx.read(parent);
    expect([...all.subarray(60, 76)]).toEqual([60, 61, 62, 63, 0, 0, 0, 0, 1000, 1001, 0, 0, 0, 0, 74, 75]);
    expect([...all.subarray(126, 136)]).toEqual([126, 127, -1, -2, -3, -4, -5, -6, 134, 135]);
    expect([...(await ctx.read(other)).subarray(0, 5)]).toEqual([1000, 1001, -2, -3, 1004]);
    const [ra, rb] = await ctx.readAll([a, b]);
    expect([...ra!]).toEqual([0, 0, 0, 0, 1000, 1001, 0, 0, 0, 0]);
    expect([...rb!]).toEqual([-1, -2, -3, -4, -5, -6]);
    other.release();
    a.release();
    // Ending a view leaves the parent's buffer where it is.
    expect((await ctx.read(parent))[130]).toBe(-3);
    parent.release();
    expect(b.isReleased).toBe(true);
  });

  it('bind at their offset: read together in one dispatch, written beside another view of their buffer refused', async () => {
    const ctx = await gpu();
    const parent = ctx.upload(range(256), [256], 'parent');
    const x = ctx.view(parent, 0, [64], 'x');
    const y = ctx.view(parent, 64, [64], 'y');
    const out = ctx.tensor([64], 'f32', 'out');
    swigluForward(ctx, { gate: x, up: y, out }, { n: 64 }); // both views of one buffer, read together
    const [gate, up, alone] = [ctx.upload(range(64), [64], 'gate'), ctx.upload(range(128).subarray(64), [64], 'up'), ctx.tensor([64], 'f32', 'alone')];
    swigluForward(ctx, { gate, up, out: alone }, { n: 64 });
    const [fromViews, fromCopies] = await ctx.readAll([out, alone]);
    expect([...fromViews!]).toEqual([...fromCopies!]);
    for (const t of [gate, up, alone]) t.release();
    ctx.write(out, range(64));
    addInto(ctx, { acc: out, x: y }, { n: 64 });
    addInto(ctx, { acc: out, x: y }, { n: 64 });
    expect([...(await ctx.read(out))]).toEqual(Array.from({ length: 64 }, (_, i) => i + 2 * (64 + i)));
    addInto(ctx, { acc: y, x: out }, { n: 64 });
    expect([...(await ctx.read(parent)).subarray(60, 68)]).toEqual([60, 61, 62, 63, 192, 196, 200, 204]); // y + (x + 2y)
    expect(() => addInto(ctx, { acc: y, x }, { n: 64 })).toThrow(/kernel "add_into": binding "acc" is written but aliases "actIn"/);
    parent.release();
    expect(() => swigluForward(ctx, { gate: x, up: y, out }, { n: 64 })).toThrow(/tensor "x" was already released/);
    out.release();
  });

  it('refuses an unaligned offset, a range outside the parent and a view of a view, naming them', async () => {
    const ctx = await gpu();
    const parent = ctx.tensor([100], 'f32', 'parent');
    const align = ctx.limits.minStorageBufferOffsetAlignment / 4;
    expect(() => ctx.view(parent, 3, [4], 'v')).toThrow(`view "v": element offset 3 must be a non-negative multiple of ${align} (minStorageBufferOffsetAlignment ${4 * align} bytes)`);
    expect(() => ctx.view(parent, 64, [40], 'v')).toThrow('view "v": elements 64…103 are outside "parent" (100 elements)');
    expect(() => ctx.view(ctx.view(parent, 0, [8], 'inner'), 0, [4], 'v')).toThrow('view "v": "inner" is itself a view; take the view of its parent');
    parent.release();
  });
});

describe('tensor arenas', () => {
  it('lay tensors out back to back at aligned offsets, in chunks of at most the capacity', async () => {
    const ctx = await gpu();
    const align = ctx.limits.minStorageBufferOffsetAlignment / 4;
    const arena = new TensorArena(ctx, [[3, 5], [100], [1], [2 * align]], 'arena', 4 * align);
    const views = [arena.take([3, 5], 'a'), arena.take([100], 'b'), arena.take([1], 'c')];
    expect(arena.complete).toBe(false);
    views.push(arena.take([2 * align], 'd'));
    expect(arena.complete).toBe(true);
    // a at 0, b at the next aligned offset, c after b; d does not fit the first chunk's rest.
    expect(views.map((v) => v.byteOffset / 4)).toEqual([0, align, Math.ceil((align + 100) / align) * align, 0]);
    expect(arena.views.map((v) => v.chunk)).toEqual([0, 0, 0, 1]);
    expect(arena.chunks.map((c) => c.size)).toEqual([Math.ceil((align + 100) / align) * align + 1, 2 * align]);
    expect([...(await ctx.read(views[1]!))]).toEqual(new Array(100).fill(0));
    expect(() => arena.take([1], 'e')).toThrow('arena: "e" is one tensor more than the 4 planned');
    const other = new TensorArena(ctx, [[4]], 'other');
    expect(() => other.take([2, 2], 'x')).toThrow('other: "x" has shape [2, 2], but tensor 1 was planned as [4]');
    arena.release();
    other.release();
    expect(views[0]!.isReleased).toBe(true);
  });
});

describe('AdamW over an arena, a chunk at a time', () => {
  const config = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
  async function train(arenaCapacity: number | null, maxGradNorm: number): Promise<Float32Array[]> {
    const ctx = await gpu();
    const shapes = [[7, 3], [300], [1], [64, 9]];
    const rng = new Rng(9);
    const init = shapes.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.uniform(-1, 1)));
    const grads = [1, 2, 3].map(() => init.map((p) => Float32Array.from(p, () => rng.uniform(-2, 2))));
    const arenas = arenaCapacity === null ? null : { params: new TensorArena(ctx, shapes, 'params', arenaCapacity), grads: new TensorArena(ctx, shapes, 'grads', arenaCapacity) };
    const tensors = shapes.map((shape, i) => {
      const param = arenas ? arenas.params.take(shape, `p${i}`) : ctx.tensor(shape, 'f32', `p${i}`);
      ctx.write(param, init[i]!);
      return { name: `t${i}`, param, grad: arenas ? arenas.grads.take(shape, `g${i}`) : ctx.zeros(shape, 'f32', `g${i}`) };
    });
    const adam = new AdamW(ctx, tensors, { ...config, maxGradNorm }, arenas ?? undefined);
    for (let step = 1; step <= 3; step++) {
      tensors.forEach((t, i) => ctx.write(t.grad, grads[step - 1]![i]!));
      adam.step(1e-2, step);
    }
    const out = await Promise.all(tensors.map((t) => ctx.read(t.param)));
    const moments = await adam.readMoments();
    expect([...moments.keys()]).toEqual(['t0', 't1', 't2', 't3']);
    expect(moments.get('t1')!.m.length).toBe(300);
    adam.destroy();
    for (const t of tensors) [t.param, t.grad].forEach((x) => x.release());
    arenas?.params.release();
    arenas?.grads.release();
    return out;
  }

  it('updates the tensors as one AdamW per tensor does: bit for bit unclipped, to the clip factor\'s rounding clipped', async () => {
    const ctx = await gpu();
    const align = ctx.limits.minStorageBufferOffsetAlignment / 4;
    const each = await train(null, 0);
    expect(await train(1 << 20, 0)).toEqual(each);
    expect(await train(10 * align, 0)).toEqual(each); // four tensors in two chunks
    const clippedEach = await train(null, 1);
    const clippedArena = await train(1 << 20, 1);
    clippedArena.forEach((p, i) => p.forEach((v, j) => expect(Math.abs(v - clippedEach[i]![j]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(v)))));
    expect(clippedArena[1]).not.toEqual(each[1]);
  });

  it('refuses tensors that are not exactly the arena\'s', async () => {
    const ctx = await gpu();
    const params = new TensorArena(ctx, [[4], [4]], 'params');
    const grads = new TensorArena(ctx, [[4], [4]], 'grads');
    const [p0, p1] = [params.take([4], 'p0'), params.take([4], 'p1')];
    const [g0, g1] = [grads.take([4], 'g0'), grads.take([4], 'g1')];
    const message = 'AdamW: the tensors must be every tensor of the parameter arena, each with its gradient at the same place of the gradient arena';
    const cfg = { ...config, maxGradNorm: 1 };
    expect(() => new AdamW(ctx, [{ name: 'a', param: p0, grad: g0 }], cfg, { params, grads })).toThrow(message);
    expect(() => new AdamW(ctx, [{ name: 'a', param: p0, grad: g1 }, { name: 'b', param: p1, grad: g0 }], cfg, { params, grads })).toThrow(message);
    const ok = new AdamW(ctx, [{ name: 'b', param: p1, grad: g1 }, { name: 'a', param: p0, grad: g0 }], cfg, { params, grads });
    ok.destroy();
    params.release();
    grads.release();
  });
});
