import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/util/rng';

const draw = (rng: Rng, count: number, next: (r: Rng) => number = (r) => r.nextU32()) => Array.from({ length: count }, () => next(rng));

function meanAndVariance(values: number[]): { mean: number; variance: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, variance };
}

describe('Rng', () => {
  it('is xoshiro128**: the reference outputs from state {1, 2, 3, 4}', () => {
    // Blackman & Vigna's xoshiro128starstar.c 1.1, as in rand_xoshiro's test.
    expect(draw(Rng.fromState([1, 2, 3, 4]), 10)).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it('gives the same sequence for the same seed and different ones for different seeds', () => {
    expect(draw(new Rng(42), 16)).toEqual(draw(new Rng(42), 16));
    const seeds = [0, 1, -1, 2 ** 32, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    const firsts = seeds.map((seed) => draw(new Rng(seed), 4).join());
    expect(new Set(firsts).size).toBe(seeds.length);
  });

  it('forks independent streams named by label, without advancing the parent', () => {
    const parent = new Rng(7);
    const before = parent.getState();
    const a = draw(parent.fork('down'), 8);
    const b = draw(parent.fork('upMinus'), 8);
    expect(parent.getState()).toEqual(before);
    expect(a).not.toEqual(b);
    expect(draw(parent.fork('down'), 8)).toEqual(a);
    expect(a).not.toEqual(draw(new Rng(7), 8));
    expect(draw(parent.fork(7), 8)).not.toEqual(draw(parent.fork('7'), 8));
    expect(draw(new Rng(8).fork('down'), 8)).not.toEqual(a);
  });

  it('continues the sequence from a saved state', () => {
    const rng = new Rng(123);
    draw(rng, 5);
    const saved = rng.getState();
    const rest = draw(rng, 10, (r) => r.nextFloat());
    expect(draw(Rng.fromState(saved), 10, (r) => r.nextFloat())).toEqual(rest);
    expect(saved.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)).toBe(true);
  });

  it('rejects a seed that is not a safe integer and an invalid state', () => {
    expect(() => new Rng(0.5)).toThrow(/seed/);
    expect(() => new Rng(2 ** 53)).toThrow(/seed/);
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(/state/);
    expect(() => Rng.fromState([1, 2, 3])).toThrow(/state/);
    expect(() => Rng.fromState([1, 2, 3, 2 ** 32])).toThrow(/state/);
  });

  it('draws uniforms in [lo, hi) with the right mean and variance', () => {
    const values = draw(new Rng(1), 50_000, (r) => r.uniform(-2, 3));
    expect(values.every((v) => v >= -2 && v < 3)).toBe(true);
    const { mean, variance } = meanAndVariance(values);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.03); // σ_mean = 5/√12/√50000 ≈ 0.0065
    expect(Math.abs(variance - 25 / 12)).toBeLessThan(0.05);
    const unit = draw(new Rng(2), 50_000, (r) => r.nextFloat());
    expect(unit.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(() => new Rng(0).uniform(1, 0)).toThrow(/bounds/);
  });

  it('draws standard normals with mean 0 and variance 1', () => {
    const values = draw(new Rng(3), 50_000, (r) => r.normal());
    const { mean, variance } = meanAndVariance(values);
    expect(Math.abs(mean)).toBeLessThan(0.02); // σ_mean ≈ 0.0045
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
    expect(values.filter((v) => Math.abs(v) < 1).length / values.length).toBeCloseTo(0.6827, 1);
  });
});
