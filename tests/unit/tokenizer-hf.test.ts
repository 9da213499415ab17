import { describe, it, expect } from 'vitest';
import { FormatError } from '../../src/io/errors';
import { HfTokenizer } from '../../src/tokenizer/hf';
import { jsonBytes, tinyTokenizerConfig, tinyTokenizerJson } from './hf-fixtures';

function tokenizer(config?: Record<string, unknown>, modelIds?: { bosTokenId: number | null; eosTokenId: number | null }): HfTokenizer {
  return HfTokenizer.fromFiles({
    tokenizerJson: jsonBytes(tinyTokenizerJson()),
    tokenizerJsonName: 'tokenizer.json',
    tokenizerConfig: config === undefined ? undefined : { bytes: jsonBytes(config), name: 'tokenizer_config.json' },
    modelIds,
  });
}

function thrown(make: () => unknown): FormatError {
  try {
    make();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected a FormatError');
}

// Ids of the tiny vocabulary: 0..2 special, 3 + byte-level piece, then the merges from 259.
const HELLO = 262;
const SPACE_WORLD = 267;

describe('tokenizer.json through @huggingface/tokenizers', () => {
  it('applies the BPE merges and decodes back to the text', () => {
    const t = tokenizer(tinyTokenizerConfig('<|im_start|>', '<|im_end|>'));
    expect(t.vocabSize).toBe(268);
    expect(t.encode('hello world')).toEqual([HELLO, SPACE_WORLD]);
    // Unmerged bytes are their byte-level pieces: id 3 + byte ("!" 33, "\n" 10).
    const ids = t.encode('hello world!\n');
    expect(ids).toEqual([HELLO, SPACE_WORLD, 36, 13]);
    expect(t.decode(ids)).toBe('hello world!\n');
    for (const text of ['', ' hello  hello ', 'café ☃ — ok?', 'a . b , c']) {
      expect(t.decode(t.encode(text))).toBe(text);
    }
  });

  it('adds BOS and EOS only when asked, and drops them when decoding', () => {
    const t = tokenizer(tinyTokenizerConfig('<|im_start|>', '<|im_end|>'));
    expect(t.bosId).toBe(1);
    expect(t.eosId).toBe(2);
    expect(t.encode('hello', { bos: true })).toEqual([1, HELLO]);
    expect(t.encode('hello', { eos: true })).toEqual([HELLO, 2]);
    expect(t.encode('hello', { bos: true, eos: true })).toEqual([1, HELLO, 2]);
    expect(t.decode([1, HELLO, 2])).toBe('hello');
    expect(t.decode([])).toBe('');
  });

  it('reads special tokens written in the text as one id', () => {
    const t = tokenizer(tinyTokenizerConfig('<|im_start|>', '<|im_end|>'));
    expect(t.encode('<|endoftext|>hello world')).toEqual([0, HELLO, SPACE_WORLD]);
  });

  it('takes bos/eos from tokenizer_config.json, null there meaning none, else from config.json', () => {
    const qwenLike = tokenizer(tinyTokenizerConfig(null, '<|im_end|>'), { bosTokenId: 0, eosTokenId: 0 });
    expect([qwenLike.bosId, qwenLike.eosId]).toEqual([null, 2]);
    expect(qwenLike.encode('hello', { bos: true })).toEqual([HELLO]);
    const objectForm = tokenizer({ bos_token: { content: '<|endoftext|>', __type: 'AddedToken' } });
    expect(objectForm.bosId).toBe(0);
    expect(objectForm.eosId).toBeNull();
    const fromModel = tokenizer(undefined, { bosTokenId: 1, eosTokenId: 0 });
    expect([fromModel.bosId, fromModel.eosId]).toEqual([1, 0]);
    expect([tokenizer().bosId, tokenizer().eosId]).toEqual([null, null]);
  });

  it('rejects bad files naming the file and field', () => {
    const unknownBos = thrown(() => tokenizer(tinyTokenizerConfig('<s>', null)));
    expect(unknownBos.message).toBe(
      'tokenizer_config.json: field "bos_token": "<s>", which tokenizer.json does not have; expected a token of the vocabulary',
    );
    expect(thrown(() => tokenizer(undefined, { bosTokenId: 999, eosTokenId: null })).message).toContain("config.json's bos_token_id 999");
    const noModel = thrown(() =>
      HfTokenizer.fromFiles({ tokenizerJson: jsonBytes({ added_tokens: [] }), tokenizerJsonName: 'x/tokenizer.json' }),
    );
    expect(noModel.message).toBe('x/tokenizer.json: field "model": nothing; expected an object describing the tokenizer model');
    const badModel = { ...tinyTokenizerJson(), model: { type: 'Mystery', merges: [] } };
    const rejected = thrown(() => HfTokenizer.fromFiles({ tokenizerJson: jsonBytes(badModel), tokenizerJsonName: 'tokenizer.json' }));
    expect(rejected.message).toContain('Unknown TokenizerModel type: Mystery');
    const notJson = thrown(() => HfTokenizer.fromFiles({ tokenizerJson: new TextEncoder().encode('{'), tokenizerJsonName: 'tokenizer.json' }));
    expect(notJson.message).toMatch(/^tokenizer\.json: bytes that are not UTF-8 JSON/);
  });

  it('refuses pieces without an id rather than returning holes', () => {
    const json = tinyTokenizerJson();
    const model = json.model as { vocab: Record<string, number>; unk_token: string | null };
    delete model.vocab['!'];
    model.unk_token = '<unk>';
    const t = HfTokenizer.fromFiles({ tokenizerJson: jsonBytes(json), tokenizerJsonName: 'tokenizer.json' });
    expect(t.encode('hello')).toEqual([HELLO]);
    expect(() => t.encode('hello!')).toThrow('tokenizer.json: piece "<unk>" has no id in the vocabulary');
  });

  it('refuses ids outside the vocabulary when decoding', () => {
    expect(() => tokenizer().decode([268])).toThrow('tokenizer.json: token id 268; expected 0 to 267');
  });
});
