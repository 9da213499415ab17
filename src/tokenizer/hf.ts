// Hugging Face tokenizer.json (BPE, WordPiece, Unigram; normalizers, pre-tokenizers, decoders) through
// the pure-JS @huggingface/tokenizers, so the browser worker and Node encode alike, offline.
//
// BOS and EOS are the model's, not the post-processor's: encode() runs the library without its
// special-token template and adds them itself when asked, so the llama2.c and HF tokenizers
// behave the same behind the Tokenizer interface. Where they come from, first found wins:
//   1. tokenizer_config.json's bos_token / eos_token (a string, an {content} object, or null for
//      "none", as Qwen2.5's bos_token is), looked up in the vocabulary;
//   2. config.json's bos_token_id / eos_token_id (passed in as the ModelConfig's);
//   3. none.

import { Tokenizer as LibraryTokenizer } from '@huggingface/tokenizers';
import { failIn, FormatError, type Fail } from '../io/errors';
import { describeJson, isPlainObject, parseJsonObject } from '../io/json';
import type { Tokenizer } from './types';

export interface HfTokenizerFiles {
  /** tokenizer.json's bytes and the name messages give it. */
  tokenizerJson: Uint8Array;
  tokenizerJsonName: string;
  /** tokenizer_config.json, when the model has one. */
  tokenizerConfig?: { bytes: Uint8Array; name: string };
  /** config.json's bos_token_id / eos_token_id, for tokenizers whose config does not name them. */
  modelIds?: { bosTokenId: number | null; eosTokenId: number | null };
}

export class HfTokenizer implements Tokenizer {
  private constructor(
    readonly fileName: string,
    private readonly inner: LibraryTokenizer,
    readonly vocabSize: number,
    readonly bosId: number | null,
    readonly eosId: number | null,
  ) {}

  static fromFiles(files: HfTokenizerFiles): HfTokenizer {
    const jsonName = files.tokenizerJsonName;
    const json = parseJsonObject(files.tokenizerJson, jsonName);
    const fail: Fail = failIn(jsonName);
    if (!isPlainObject(json.model)) {
      fail('field "model"', describeJson(json.model), 'an object describing the tokenizer model');
    }
    if (!Array.isArray(json.added_tokens)) {
      fail('field "added_tokens"', describeJson(json.added_tokens), 'an array of added tokens');
    }
    // The library keeps the vocabulary in an array indexed by id and walks it up to the largest id,
    // so one id of 2^31 in a 1 KB file takes minutes. Real ids number the tokens: each token takes
    // bytes of the file, so every id stays below its size.
    const idLimit = files.tokenizerJson.length;
    const checkId = (field: string, id: unknown) => {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= idLimit) {
        fail(field, describeJson(id), `a token id from 0 to ${idLimit - 1} (ids number the tokens, which are fewer than the file's bytes)`);
      }
    };
    if (isPlainObject(json.model.vocab)) {
      for (const [token, id] of Object.entries(json.model.vocab)) checkId(`field "model.vocab", token ${JSON.stringify(token)}`, id);
    }
    json.added_tokens.forEach((token: unknown, i) => {
      if (!isPlainObject(token)) fail(`field "added_tokens[${i}]"`, describeJson(token), 'an object {id, content, …}');
      checkId(`field "added_tokens[${i}].id"`, token.id);
      // The library puts the content into the vocabulary as it is, and its decoders call string methods on it.
      if (typeof token.content !== 'string') fail(`field "added_tokens[${i}].content"`, describeJson(token.content), 'the token as a string');
    });
    const tokenizerConfig = files.tokenizerConfig === undefined ? {} : parseJsonObject(files.tokenizerConfig.bytes, files.tokenizerConfig.name);

    // The library's default cleans up spaces before punctuation ("a ." → "a."), which breaks
    // decode(encode(text)) === text; transformers now defaults to no cleanup, and configs that
    // want it say so.
    let inner: LibraryTokenizer;
    try {
      inner = new LibraryTokenizer(json, { clean_up_tokenization_spaces: false, ...tokenizerConfig });
    } catch (e) {
      fail(undefined, `a tokenizer the library rejects (${(e as Error).message})`, 'a tokenizer.json of the Hugging Face tokenizers format');
    }
    let vocabSize = 0;
    for (const id of inner.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
    if (vocabSize === 0) fail('field "model.vocab"', 'no tokens', 'a vocabulary');

    const special = (key: 'bos_token' | 'eos_token', fromModel: number | null | undefined): number | null => {
      if (files.tokenizerConfig !== undefined && Object.hasOwn(tokenizerConfig, key)) {
        const configFail: Fail = failIn(files.tokenizerConfig.name);
        const value = tokenizerConfig[key];
        if (value === null) return null;
        const content = isPlainObject(value) ? value.content : value;
        if (typeof content !== 'string') {
          configFail(`field "${key}"`, describeJson(value), 'a token string, an object with "content", or null');
        }
        const id = inner.token_to_id(content);
        if (id === undefined) {
          configFail(`field "${key}"`, `${JSON.stringify(content)}, which ${jsonName} does not have`, 'a token of the vocabulary');
        }
        return id;
      }
      if (fromModel === undefined || fromModel === null) return null;
      if (fromModel >= vocabSize) {
        fail(undefined, `${vocabSize} tokens, fewer than config.json's ${key}_id ${fromModel} needs`, `a vocabulary holding token ${fromModel}`);
      }
      return fromModel;
    };
    const bosId = special('bos_token', files.modelIds?.bosTokenId);
    const eosId = special('eos_token', files.modelIds?.eosTokenId);
    return new HfTokenizer(jsonName, inner, vocabSize, bosId, eosId);
  }

  /** Without options (or with a flag left out): no BOS, no EOS. */
  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    const { ids, tokens } = this.library('encode', () => this.inner.encode(text, { add_special_tokens: false }));
    // The library maps a piece it has no id for (an unk_token missing from the vocabulary) to
    // undefined, and an unknown piece to the file's unk_id whatever that is; neither may reach an
    // embedding lookup.
    const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= this.vocabSize);
    if (bad >= 0) {
      const piece = typeof tokens[bad] === 'string' ? JSON.stringify(tokens[bad]) : describeJson(tokens[bad]);
      const found = ids[bad] === undefined ? `piece ${piece} has no id in the vocabulary` : `piece ${piece} has the id ${ids[bad]}`;
      throw new FormatError({ file: this.fileName, found, expected: `ids of the vocabulary, 0 to ${this.vocabSize - 1}` });
    }
    if (opts.bos && this.bosId !== null) ids.unshift(this.bosId);
    if (opts.eos && this.eosId !== null) ids.push(this.eosId);
    return ids;
  }

  decode(ids: readonly number[]): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`${this.fileName}: token id ${id}; expected 0 to ${this.vocabSize - 1}`);
      }
    }
    const kept = ids.filter((id) => id !== this.bosId && id !== this.eosId);
    // The library refuses an empty list.
    return kept.length === 0 ? '' : this.library('decode', () => this.inner.decode(kept));
  }

  /**
   * A call into the library. It checks little of tokenizer.json when it loads it; what it left
   * unchecked (a piece that is not text, a normalizer's option of the wrong type) throws on use,
   * and that is the file's fault, said as such.
   */
  private library<T>(what: 'encode' | 'decode', call: () => T): T {
    try {
      return call();
    } catch (e) {
      throw new FormatError({
        file: this.fileName,
        found: `a tokenizer the library fails to ${what} with (${(e as Error).message})`,
        expected: 'a tokenizer.json of the Hugging Face tokenizers format',
      });
    }
  }
}
