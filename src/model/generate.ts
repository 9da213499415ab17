// Text generation from a GPU model: greedy (temperature 0) or sampled, position by position as
// llama2.c's run.c does — the prompt is forced, then each step appends the model's choice —
// stopping at `steps` positions, at BOS when the model re-emits it (run.c's rule), or at EOS.

import type { Tokenizer } from '../tokenizer/types';
import { Rng } from '../util/rng';
import type { GpuModel } from './gpu-model';

export interface GenerateOptions {
  /** Positions to run, the prompt's included (run.c's -n). */
  steps?: number;
  /** 0 = greedy (argmax); otherwise logits/temperature are sampled. */
  temperature?: number;
  /** Nucleus sampling cut-off in (0, 1]; 1 disables it. */
  topP?: number;
  seed?: number;
  /** Called with each new token id and its text, as produced. */
  onToken?: (id: number, text: string) => void;
  signal?: AbortSignal;
}

export interface Generation {
  /** Every id that was input or produced, starting with BOS. */
  tokens: number[];
  /** The decoded continuation (prompt included). */
  text: string;
  promptTokens: number[];
}

export async function generate(model: GpuModel, tokenizer: Tokenizer, prompt: string, opts: GenerateOptions = {}): Promise<Generation> {
  const steps = opts.steps ?? 256;
  const temperature = opts.temperature ?? 0;
  const topP = opts.topP ?? 1;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`generate: steps must be a positive integer, got ${steps}`);
  if (!(temperature >= 0)) throw new Error(`generate: temperature must be ≥ 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`generate: topP must be in (0, 1], got ${topP}`);
  const limit = Math.min(steps, model.config.maxPositions);
  const promptTokens = tokenizer.encode(prompt, { bos: tokenizer.bosId !== null });
  if (promptTokens.length === 0) throw new Error('generate: the prompt encodes to no tokens and the tokenizer has no BOS');
  const rng = new Rng(opts.seed ?? 0);
  const tokens = [promptTokens[0]!];
  let shown = '';
  for (let pos = 0; pos < limit; pos++) {
    opts.signal?.throwIfAborted();
    let next: number;
    if (pos + 1 < promptTokens.length) {
      next = promptTokens[pos + 1]!; // still inside the prompt: force it
    } else {
      const logits = await model.nextTokenLogits(tokens);
      next = temperature === 0 ? argmax(logits) : sample(logits, temperature, topP, rng);
    }
    if (next === tokenizer.bosId || next === tokenizer.eosId) break;
    tokens.push(next);
    if (opts.onToken) {
      // Emit the newly complete text; hold back a trailing partial UTF-8 character (U+FFFD).
      const text = tokenizer.decode(tokens);
      if (!text.endsWith('\uFFFD')) {
        opts.onToken(next, text.slice(shown.length));
        shown = text;
      }
    }
  }
  return { tokens, text: tokenizer.decode(tokens), promptTokens };
}

/** Index of the largest value; ties go to the lowest index (as a plain C loop does). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function sample(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += probs[i] = Math.exp((logits[i]! - max) / temperature);
  const order = Array.from(probs.keys());
  let keep = order.length;
  if (topP < 1) {
    order.sort((a, b) => probs[b]! - probs[a]!);
    let mass = 0;
    keep = 0;
    while (keep < order.length && mass < topP * sum) mass += probs[order[keep++]!]!;
    sum = mass;
  }
  let u = rng.nextFloat() * sum;
  for (let k = 0; k < keep; k++) {
    u -= probs[order[k]!]!;
    if (u <= 0) return order[k]!;
  }
  return order[keep - 1]!;
}
