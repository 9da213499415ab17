// The llama2.c readers under mutation: the checkpoint (parseLlama2c) and the vocabulary
// (Llama2cTokenizer.parse, then an encode and a decode). Mutations: the generic byte ones, boundary
// values in the seven int32 header fields and in every token's score (f32) and piece length (int32),
// checkpoints rebuilt to match an odd but valid header, and vocabularies read with vocab sizes the
// model might declare (1 … 2^53 − 1) instead of their own.

import { beforeAll, describe, expect, it } from 'vitest';
import { parseLlama2c, type Llama2cCheckpoint } from '../../../src/io/llama2c';
import { Llama2cTokenizer } from '../../../src/tokenizer/llama2c';
import { shapeSize } from '../../../src/util/shape';
import { allSamples, llama2cBytes, llama2cSamples, llama2cVocabSamples, TINY_LLAMA2C, type Llama2cHeader, type VocabSample } from './corpus';
import { below, byteTarget, formatErrorOutcome, FUZZ_TEST_TIMEOUT_MS, InvalidResult, pick, retainedBytesOf, runFuzz, type Mutator, type NumberField, type Sample } from './harness';

const CHECKPOINT = 'models/fuzzed/model.bin';
const VOCAB = 'models/fuzzed/tokenizer.bin';
const HEADER_FIELDS = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'] as const;

/** "ak42", the magic of llama2.c's versioned exports, where the legacy layout has dim. */
const VERSIONED_MAGIC = 0x616b3432;

function headerFields(bytes: Uint8Array): NumberField[] {
  return HEADER_FIELDS.map((name, i) => ({
    at: 4 * i,
    type: 'i32',
    name: `header field "${name}"`,
    special: [bytes.length, Math.floor((bytes.length - 28) / 4), ...(i === 0 ? [VERSIONED_MAGIC] : [])],
  }));
}

/** A fresh checkpoint whose header has one field changed to a small value, and data of the size it implies. */
const rebuildForHeader: Mutator = {
  name: 'valid header',
  weight: 2,
  apply(rng) {
    const header: Llama2cHeader = { ...TINY_LLAMA2C };
    const key = pick(rng, Object.keys(header) as (keyof Llama2cHeader)[]);
    header[key] = pick(rng, [1, 2, 3, 4, 6, 8, -8, -1]);
    const { vocabSize: _signed, ...counts } = header;
    if (Object.values(counts).some((v) => v <= 0)) return null;
    if (header.dim % header.nHeads !== 0 || (header.dim / header.nHeads) % 2 !== 0 || header.nHeads % header.nKvHeads !== 0) return null;
    return { bytes: llama2cBytes(header, below(rng, 1000)), what: `a checkpoint built for ${JSON.stringify(header)}` };
  },
};

function checkCheckpoint(c: Llama2cCheckpoint, bytes: Uint8Array): number {
  for (const [name, w] of c.weights) {
    if (w.data.length !== shapeSize(w.shape)) throw new InvalidResult(`${name}: ${w.data.length} values for shape [${w.shape}]`);
    if (w.data.byteLength > bytes.length) throw new InvalidResult(`${name}: ${w.data.byteLength} bytes from a file of ${bytes.length}`);
  }
  return retainedBytesOf(c);
}

/** The score and length of each token, as far as the lengths lead through the file. */
function vocabFields(bytes: Uint8Array): NumberField[] {
  if (bytes.length < 4) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxLength = view.getInt32(0, true);
  const fields: NumberField[] = [{ at: 0, type: 'i32', name: 'max_token_length', special: [bytes.length, 2 ** 20] }];
  for (let at = 4, id = 0; at + 8 <= bytes.length; id++) {
    const length = view.getInt32(at + 4, true);
    fields.push({ at, type: 'f32', name: `token ${id} score` });
    // The rest of the file, one more than that, the longest allowed and one more.
    fields.push({ at: at + 4, type: 'i32', name: `token ${id} length`, special: [bytes.length - at - 8, bytes.length - at - 7, maxLength, maxLength + 1] });
    if (length < 0) break;
    at += 8 + length;
  }
  return fields;
}

/**
 * One token's piece made long (a thousand or 250,000 bytes) with its length and max_token_length
 * raised to match: the lengths are consistent, so the parser reads the piece itself.
 */
const longPiece: Mutator = {
  name: 'long piece',
  weight: 1,
  apply(rng, bytes) {
    const lengths = vocabFields(bytes).filter((f) => f.name.endsWith('length') && f.at > 0);
    if (lengths.length === 0) return null;
    const field = pick(rng, lengths);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const old = view.getInt32(field.at, true);
    // Past 200,000 bytes, spreading a piece into String.fromCharCode overflows the stack.
    const extra = below(rng, 8) === 0 ? 250_000 : 1000;
    if (old < 0 || field.at + 4 + old > bytes.length) return null;
    const out = new Uint8Array(bytes.length + extra);
    out.set(bytes.subarray(0, field.at + 4 + old));
    out.fill(0x61, field.at + 4 + old, field.at + 4 + old + extra);
    out.set(bytes.subarray(field.at + 4 + old), field.at + 4 + old + extra);
    const outView = new DataView(out.buffer);
    outView.setInt32(field.at, old + extra, true);
    outView.setInt32(0, pick(rng, [old + extra, 2 ** 31 - 1]), true);
    return { bytes: out, what: `${field.name} := ${old + extra} (${extra} bytes "a" added to the piece), max_token_length raised to match` };
  },
};

const TEXT = 'Once upon a time, Lily saw a big dog. "Hi!" she said — café ☃ 42\n';

function checkVocab(t: Llama2cTokenizer, vocabSize: number): number {
  if (t.vocabSize !== vocabSize) throw new InvalidResult(`${t.vocabSize} tokens for vocab size ${vocabSize}`);
  const ids = t.encode(TEXT, { bos: true, eos: true });
  if (!ids.every((id) => Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new InvalidResult(`encode gave ids outside [0, ${vocabSize})`);
  t.decode(ids);
  return retainedBytesOf(t);
}

describe('fuzz: llama2.c', () => {
  let donors: Sample[];
  beforeAll(async () => {
    donors = await allSamples();
  });

  it('10,000 mutations of llama2.c checkpoints: each accepted with every weight in the file, or refused with a FormatError naming it', { timeout: FUZZ_TEST_TIMEOUT_MS }, async () => {
    // stories260K is 1 MB: a few hundred of its mutations, the rest of the tiny checkpoints.
    const samples = (await llama2cSamples()).map((s) => ({ ...s, weight: s.bytes.length > 100_000 ? 0.1 : 1 }));
    const report = runFuzz(
      byteTarget({
        name: 'llama2.c checkpoint',
        seed: 0x11a3a2c,
        mutations: 10_000,
        samples,
        context: { donors, dictionary: [], numberFields: headerFields },
        extraMutators: [rebuildForHeader],
        run: (bytes) => formatErrorOutcome(CHECKPOINT, () => parseLlama2c(bytes, CHECKPOINT), (c) => checkCheckpoint(c, bytes)),
      }),
    );
    expect(report.failures).toEqual([]);
    expect(report.mutations).toBe(10_000);
    expect(report.accepted).toBeGreaterThan(1000);
    expect(report.rejected).toBeGreaterThan(5000);
    expect(report.distinctRefusals).toBeGreaterThanOrEqual(7);
  });

  it('10,000 mutations of llama2.c vocabularies, some read with the wrong vocab size: each accepted and used, or refused with a FormatError naming the file', { timeout: FUZZ_TEST_TIMEOUT_MS }, async () => {
    const [tok512, tiny] = await llama2cVocabSamples();
    // The vocab size comes from the model's header: any positive int32, or more from a config.json.
    const declared: VocabSample[] = [1, 258, 259, 511, 513, 65_536, 2 ** 31 - 1, 2 ** 53 - 1].map((vocabSize) => ({
      ...tok512,
      name: `${tok512.name} read as ${vocabSize} tokens`,
      vocabSize,
      weight: 0.05,
    }));
    const report = runFuzz(
      byteTarget<VocabSample>({
        name: 'llama2.c vocabulary',
        seed: 0x70c512,
        mutations: 10_000,
        samples: [tok512, tiny, ...declared],
        context: { donors, dictionary: [], numberFields: vocabFields },
        extraMutators: [longPiece],
        run: (bytes, base) => formatErrorOutcome(VOCAB, () => Llama2cTokenizer.parse(bytes, VOCAB, base.vocabSize), (t) => checkVocab(t, base.vocabSize)),
      }),
    );
    expect(report.failures).toEqual([]);
    expect(report.mutations).toBe(10_000);
    expect(report.accepted).toBeGreaterThan(1000);
    expect(report.rejected).toBeGreaterThan(3000);
    expect(report.distinctRefusals).toBeGreaterThanOrEqual(6);
  });
});
