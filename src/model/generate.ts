// Text generation from a GPU model: greedy (temperature 0) or sampled, position by position as
// llama2.c's run.c does — the prompt is forced, then each step appends the model's choice —
// stopping at `steps` positions, at BOS when the model re-emits it (run.c's rule), or at EOS.
//
// The prompt runs in one pass into a KV cache, then each new token costs one position
// (KvCache); `kvCache: false` recomputes the whole sequence for every token instead
// (GpuModel.nextTokenLogits), the reference the cache is checked and benchmarked against.

import type { Tokenizer } from '../tokenizer/types';
import { Rng } from '../util/rng';
import type { GpuModel } from './gpu-model';
import { KvCache } from './kv-cache';

export interface GenerateOptions {
  /** Positions to run, the prompt's included (run.c's -n); capped at the model's context. */
  steps?: number;
  /** 0 = greedy (argmax); otherwise logits/temperature are sampled. */
  temperature?: number;
  /** Nucleus sampling cut-off in (0, 1]; 1 disables it. */
  topP?: number;
  seed?: number;
  /** Called with each new token id and its text, as produced (the prompt's tokens too). */
  onToken?: (id: number, text: string) => void;
  signal?: AbortSignal;
  /** false: recompute the whole sequence for each token (no cache). Default true. */
  kvCache?: boolean;
}

export interface Generation {
  /** Every id that was input or produced, starting with BOS: promptTokens then generatedTokens. */
  tokens: number[];
  /** The decoded continuation (prompt included). */
  text: string;
  /** The encoded prompt (BOS first when the tokenizer has one). */
  promptTokens: number[];
  /** The ids the model chose after the prompt (a stop token is not included). */
  generatedTokens: number[];
}

/**
 * Where the logits after each position come from: our KV cache, the whole sequence again, or
 * another runtime running the same model (src/onnx/session.ts: onnxruntime-web).
 */
export interface LogitsSource {
  /** Logits after the last prompt token. */
  prompt(tokens: readonly number[]): Promise<Float32Array>;
  /** Logits after `token`, appended at the next position. */
  append(token: number): Promise<Float32Array>;
  destroy(): void;
}

function cachedLogits(model: GpuModel, positions: number): LogitsSource {
  const cache = new KvCache(model, positions);
  return { prompt: (tokens) => cache.prefill(tokens), append: (token) => cache.step(token), destroy: () => cache.destroy() };
}

function recomputedLogits(model: GpuModel): LogitsSource {
  const sequence: number[] = [];
  return {
    prompt: (tokens) => {
      sequence.push(...tokens);
      return model.nextTokenLogits(sequence);
    },
    append: (token) => {
      sequence.push(token);
      return model.nextTokenLogits(sequence);
    },
    destroy: () => {},
  };
}

export function generate(model: GpuModel, tokenizer: Tokenizer, prompt: string, opts: GenerateOptions = {}): Promise<Generation> {
  model.requireAlive('generate');
  const open = (positions: number) => (opts.kvCache === false ? recomputedLogits(model) : cachedLogits(model, positions));
  return generateWith(open, model.config.maxPositions, tokenizer, prompt, opts);
}

/**
 * generate() over any source of logits: `open(positions)` starts a sequence of at most that many
 * positions (the prompt's included); `context` is the model's. The same forcing, stopping and
 * sampling whatever computes the logits, so two runtimes of one model write the same text.
 */
export async function generateWith(
  open: (positions: number) => LogitsSource,
  context: number,
  tokenizer: Tokenizer,
  prompt: string,
  opts: Omit<GenerateOptions, 'kvCache'> = {},
): Promise<Generation> {
  const steps = opts.steps ?? 256;
  const temperature = opts.temperature ?? 0;
  const topP = opts.topP ?? 1;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be a positive integer, got ${steps}`);
  if (!(temperature >= 0)) throw new Error(`temperature must be ≥ 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`topP must be in (0, 1], got ${topP}`);
  const limit = Math.min(steps, context);
  const promptTokens = tokenizer.encode(prompt, { bos: tokenizer.bosId !== null });
  if (promptTokens.length === 0) throw new Error('the prompt encodes to no tokens and the tokenizer has no BOS');
  // The prompt's n tokens take positions 0 … n−1; the last of them predicts the first new token.
  if (promptTokens.length > context) {
    throw new Error(`the prompt is ${promptTokens.length} tokens, over the model's context of ${context} positions by ${promptTokens.length - context}; shorten it`);
  }
  if (promptTokens.length > steps) {
    throw new Error(`the prompt is ${promptTokens.length} tokens, over steps = ${steps} (positions to run, the prompt included) by ${promptTokens.length - steps}; raise steps to at least ${promptTokens.length}`);
  }
  const rng = new Rng(opts.seed ?? 0);
  const tokens = [promptTokens[0]!];
  let shown = '';
  const emit = (id: number) => {
    tokens.push(id);
    if (!opts.onToken) return;
    // Emit the newly complete text; hold back a trailing partial UTF-8 character (U+FFFD).
    const text = tokenizer.decode(tokens);
    if (!text.endsWith('\uFFFD')) {
      opts.onToken(id, text.slice(shown.length));
      shown = text;
    }
  };
  opts.signal?.throwIfAborted();
  // The prompt is forced (run.c stops even there if it holds BOS or EOS after the first token).
  let promptEnd = 1;
  for (; promptEnd < promptTokens.length; promptEnd++) {
    const id = promptTokens[promptEnd]!;
    if (id === tokenizer.bosId || id === tokenizer.eosId) break;
    emit(id);
  }
  const generatedTokens: number[] = [];
  if (promptEnd === promptTokens.length) {
    const source = open(limit);
    try {
      let logits = await source.prompt(promptTokens);
      for (let pos = promptTokens.length - 1; pos < limit; pos++) {
        opts.signal?.throwIfAborted();
        const next = temperature === 0 ? argmax(logits) : sample(logits, temperature, topP, rng);
        if (next === tokenizer.bosId || next === tokenizer.eosId) break;
        emit(next);
        generatedTokens.push(next);
        if (pos + 1 < limit) logits = await source.append(next);
      }
    } finally {
      source.destroy();
    }
  }
  return { tokens, text: tokenizer.decode(tokens), promptTokens, generatedTokens };
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
