// Tokenized examples → right-padded GPU batches. An example is one sequence whose tail (from
// `targetStart`) is what the model must learn to produce: the loss sits on the rows that
// predict those tokens, and nowhere else.

import type { TokenBatch } from '../model/gpu-model';

export interface TokenizedExample {
  /** The whole sequence: BOS, prompt, target. */
  tokens: number[];
  /** Index of the first target token (≥ 1); tokens[targetStart…] carry the loss. */
  targetStart: number;
}

/**
 * Packs examples into one batch, padded to the longest (pad id 0; padding never carries loss
 * and causal attention keeps it out of real rows). Loss rows are the positions t that predict
 * token t + 1 of the target; `weights` are 1/M so that the objective is the mean NLL over the
 * batch's target tokens.
 */
export function makeBatch(examples: readonly TokenizedExample[], padTo?: number): TokenBatch {
  if (examples.length === 0) throw new Error('makeBatch: no examples');
  const seq = padTo ?? Math.max(...examples.map((e) => e.tokens.length));
  const tokens = new Uint32Array(examples.length * seq);
  const lengths = new Uint32Array(examples.length);
  const rows: number[] = [];
  const targets: number[] = [];
  examples.forEach((e, b) => {
    if (e.tokens.length > seq) throw new Error(`makeBatch: example ${b} has ${e.tokens.length} tokens, more than the batch length ${seq}`);
    if (e.targetStart < 1 || e.targetStart > e.tokens.length) {
      throw new Error(`makeBatch: example ${b}: targetStart ${e.targetStart} must be in [1, ${e.tokens.length}]`);
    }
    tokens.set(e.tokens, b * seq);
    lengths[b] = e.tokens.length;
    for (let t = e.targetStart - 1; t < e.tokens.length - 1; t++) {
      rows.push(b * seq + t);
      targets.push(e.tokens[t + 1]!);
    }
  });
  const m = rows.length;
  return {
    batch: examples.length,
    seq,
    tokens,
    lengths,
    lossRows: Uint32Array.from(rows),
    targets: Uint32Array.from(targets),
    weights: new Float32Array(m).fill(m > 0 ? 1 / m : 0),
  };
}
