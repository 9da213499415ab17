// Seeded draws on top of Rng (the task generator, the protocol and the trainer's data order): an integer below n, a shuffle, a subset.

import type { Rng } from './rng';

/** Uniform in {0, …, n − 1}. */
export function randomBelow(rng: Rng, n: number): number {
  return Math.floor(rng.nextFloat() * n);
}

/** Fisher–Yates, in place; returns the array. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomBelow(rng, i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** A uniformly drawn permutation of 0 … n − 1. */
export function permutation(n: number, rng: Rng): number[] {
  return shuffleInPlace(Array.from({ length: n }, (_, i) => i), rng);
}

/**
 * Draws values in shuffled rounds of `values`: every value once per round, so over many draws
 * each comes up equally often (within one of each other), yet the order is unpredictable.
 */
export class BalancedDraw<T> {
  private round: T[] = [];

  constructor(
    private readonly values: readonly T[],
    private readonly rng: Rng,
  ) {}

  next(): T {
    if (this.round.length === 0) this.round = shuffleInPlace([...this.values], this.rng);
    return this.round.pop()!;
  }
}
