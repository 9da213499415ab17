// Hugging Face's JSON files under mutation: config.json (parseHfConfig), tokenizer.json and
// tokenizer_config.json (HfTokenizer.fromFiles, which wraps @huggingface/tokenizers; an accepted
// tokenizer then encodes and decodes a sentence). Mutations: the generic byte ones, boundary numbers
// (0, −1, 2^31, 2^53, 1e308, NaN-text …) in place of the file's numbers, tree edits (values of other
// kinds, deleted, duplicated and renamed keys, copies) and deep nesting.

import { beforeAll, describe, expect, it, vi } from 'vitest';
import { FormatError } from '../../../src/io/errors';
import { parseHfConfig } from '../../../src/io/hf-config';
import { HfTokenizer } from '../../../src/tokenizer/hf';
import { jsonBytes, tinyTokenizerJson } from '../hf-fixtures';
import { allSamples, configSamples, tokenizerConfigSamples, tokenizerSamples } from './corpus';
import { byteTarget, formatErrorOutcome, FUZZ_TEST_TIMEOUT_MS, InvalidResult, retainedBytesOf, runFuzz, tokens, type Sample } from './harness';
import { jsonMutators, wholeFile } from './json';

const CONFIG = 'models/fuzzed/config.json';
const TOKENIZER = 'models/fuzzed/tokenizer.json';
const TOKENIZER_CONFIG = 'models/fuzzed/tokenizer_config.json';
const JSON_TOKENS = ['{', '}', '[', ']', '"', ':', ',', 'null', 'true', 'false', '-1', '0', '1e999', '"__proto__"', '\\u0000', '\\ud800', ' '];
const TEXT = 'Hello world, hello WORLD! café ☃ <|endoftext|> 42\n\t  x';

/** An accepted tokenizer encodes and decodes: ids inside its vocabulary, text out. */
function use(t: HfTokenizer): void {
  const ids = t.encode(TEXT, { bos: true, eos: true });
  if (!ids.every((id) => Number.isInteger(id) && id >= 0 && id < t.vocabSize)) throw new InvalidResult(`encode gave ids outside [0, ${t.vocabSize}): ${ids}`);
  if (typeof t.decode(ids) !== 'string') throw new InvalidResult('decode gave no text');
}

describe('fuzz: Hugging Face JSON files', () => {
  let donors: Sample[];
  beforeAll(async () => {
    donors = await allSamples();
  });

  it('10,000 mutations of config.json: each a valid ModelConfig, or refused with a FormatError naming the file', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    const report = runFuzz(
      byteTarget({
        name: 'config.json',
        seed: 0xc0f16,
        mutations: 10_000,
        samples: configSamples(),
        context: {
          donors,
          dictionary: tokens(...JSON_TOKENS, '"model_type"', '"llama"', '"qwen2"', '"gpt2"', '"head_dim"', '"n_inner"', '"rope_scaling"', '"tie_word_embeddings"', '"num_key_value_heads"', '"eos_token_id"'),
        },
        extraMutators: jsonMutators(wholeFile),
        run: (bytes) => formatErrorOutcome(CONFIG, () => parseHfConfig(bytes, CONFIG), retainedBytesOf),
      }),
    );
    expect(report.failures).toEqual([]);
    expect(report.mutations).toBe(10_000);
    expect(report.accepted).toBeGreaterThan(1000);
    expect(report.rejected).toBeGreaterThan(3000);
    expect(report.distinctRefusals).toBeGreaterThan(12);
  });

  it('10,000 mutations of tokenizer.json: each a tokenizer that encodes and decodes, or refused with a FormatError naming the file', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    // The library loads some broken files with a console warning ("Unknown pattern type"): counted, not printed.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    let refusedOnUse = 0;
    const report = runFuzz(
      byteTarget({
        name: 'tokenizer.json',
        seed: 0x70c3,
        mutations: 10_000,
        samples: tokenizerSamples(),
        context: {
          donors,
          dictionary: tokens(...JSON_TOKENS, '"type"', '"BPE"', '"WordPiece"', '"Unigram"', '"ByteLevel"', '"Metaspace"', '"Sequence"', '"Split"', '"Regex"', '"merges"', '"vocab"', '"unk_token"', '"added_tokens"', '"pattern"'),
        },
        extraMutators: jsonMutators(wholeFile),
        run: (bytes) =>
          formatErrorOutcome(TOKENIZER, () => {
            const t = HfTokenizer.fromFiles({ tokenizerJson: bytes, tokenizerJsonName: TOKENIZER, modelIds: { bosTokenId: 1, eosTokenId: 2 } });
            try {
              use(t);
            } catch (e) {
              if (e instanceof FormatError) refusedOnUse++;
              throw e;
            }
            return t;
          }),
      }),
    );
    const warnings = warn.mock.calls.length;
    warn.mockRestore();
    console.log(`fuzz tokenizer.json: ${refusedOnUse} files the library loaded were refused on their first encode or decode; the library warned ${warnings} times and went on`);
    expect(report.failures).toEqual([]);
    expect(report.mutations).toBe(10_000);
    expect(report.accepted).toBeGreaterThan(1000);
    expect(report.rejected).toBeGreaterThan(1000);
    expect(report.distinctRefusals).toBeGreaterThan(5);
  });

  it('10,000 mutations of tokenizer_config.json beside a valid tokenizer.json: each used, or refused with a FormatError naming it', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
    const tokenizerJson = jsonBytes(tinyTokenizerJson());
    const report = runFuzz(
      byteTarget({
        name: 'tokenizer_config.json',
        seed: 0x70c4,
        mutations: 10_000,
        samples: tokenizerConfigSamples(),
        context: { donors, dictionary: tokens(...JSON_TOKENS, '"bos_token"', '"eos_token"', '"content"', '"<|im_end|>"', '"clean_up_tokenization_spaces"') },
        extraMutators: jsonMutators(wholeFile),
        run: (bytes) =>
          formatErrorOutcome(TOKENIZER_CONFIG, () => {
            const t = HfTokenizer.fromFiles({ tokenizerJson, tokenizerJsonName: 'tokenizer.json', tokenizerConfig: { bytes, name: TOKENIZER_CONFIG } });
            use(t);
            return t;
          }),
      }),
    );
    expect(report.failures).toEqual([]);
    expect(report.mutations).toBe(10_000);
    expect(report.accepted).toBeGreaterThan(1000);
    expect(report.rejected).toBeGreaterThan(1000);
  });
});
