// llama2.c vocabulary files (tokenizer.bin, tok512.bin) and run.c's BPE encoder and decoder.
//
// File layout, little-endian: int32 max_token_length, then for each of vocab_size tokens
// (vocab_size is not stored: it comes from the model) f32 score, int32 len, len bytes of piece.
// These are sentencepiece vocabularies exported with '▁' already turned into ' ': id 0 <unk>,
// 1 BOS, 2 EOS, ids 3..258 the byte-fallback pieces <0x00>..<0xFF>.
//
// encode() reproduces run.c's encode(t, text, bos, eos, tokens, n_tokens) token for token:
//   1. BOS (1) if asked; the id of " " (the dummy prefix) if the text is not empty;
//   2. each UTF-8 codepoint's id if the vocabulary has it, else one id per byte: byte + 3;
//   3. repeatedly merge the adjacent pair (BOS included, as in run.c) whose concatenated piece is
//      in the vocabulary with the highest score (strictly above −1e10); on equal scores the
//      leftmost pair; until no pair can merge;
//   4. EOS (2) if asked.
// Step 3 runs on a heap instead of run.c's rescan of every pair, which picks the same pair at every
// step: the current pairs with the highest score, leftmost first. JavaScript strings reach the
// encoder as UTF-8 (lone surrogates become U+FFFD); a NUL character, which run.c's C string could
// not hold, is encoded like any other character.

import { failIn, type Fail } from '../io/errors';
import type { Tokenizer } from './types';

const BOS = 1;
const EOS = 2;
/** Byte b's fallback token is b + 3: ids 0..2 are <unk>, BOS and EOS. */
const BYTE_TOKEN_BASE = 3;
/** run.c starts its best score there, so pairs scoring at or below it never merge. */
export const MIN_MERGE_SCORE = -1e10;

export class Llama2cTokenizer implements Tokenizer {
  readonly bosId: number = BOS;
  readonly eosId: number = EOS;

  private constructor(
    readonly fileName: string,
    readonly maxTokenLength: number,
    /** Each token's piece; as a "binary" string (one char per byte, 0..255), for lookups. */
    private readonly pieces: string[],
    private readonly scores: Float32Array,
    /** Binary piece → id. */
    private readonly ids: Map<string, number>,
    /** The id of " ", which starts every non-empty text. */
    private readonly dummyPrefix: number,
  ) {}

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** Token `id`'s piece as the file stores it (UTF-8 bytes; byte tokens spell "<0xHH>"). */
  pieceBytes(id: number): Uint8Array {
    const piece = this.pieces[id];
    if (piece === undefined) throw new RangeError(`${this.fileName}: token ${id} is outside the vocabulary (${this.pieces.length})`);
    return Uint8Array.from(piece, (c) => c.charCodeAt(0));
  }

  /** Token `id`'s merge score (higher merges first). */
  score(id: number): number {
    return this.scores[id]!;
  }

  static parse(bytes: Uint8Array, fileName: string, vocabSize: number): Llama2cTokenizer {
    if (!Number.isSafeInteger(vocabSize) || vocabSize <= 0) {
      throw new RangeError(`${fileName}: vocab size ${vocabSize}; expected a positive integer`);
    }
    const fail: Fail = failIn(fileName);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 4) fail(undefined, `${bytes.length} bytes`, 'at least the int32 max_token_length');
    const maxTokenLength = view.getInt32(0, true);
    if (maxTokenLength <= 0) fail('field "max_token_length"', `${maxTokenLength}`, 'a positive integer');

    const pieces: string[] = [];
    // Every token takes at least 8 bytes (score and length), so the file holds at most this many;
    // a larger vocab size (the model's header may say 2^31 − 1) fails below, before any allocation for it.
    const scores = new Float32Array(Math.min(vocabSize, Math.floor((bytes.length - 4) / 8)));
    const ids = new Map<string, number>();
    let offset = 4;
    for (let id = 0; id < vocabSize; id++) {
      const field = `token ${id}`;
      if (offset + 8 > bytes.length) {
        const found = `the file ends at byte ${bytes.length}, inside its score and length`;
        fail(field, found, `${vocabSize} tokens`);
      }
      scores[id] = view.getFloat32(offset, true);
      const length = view.getInt32(offset + 4, true);
      offset += 8;
      if (length < 0 || length > maxTokenLength) {
        fail(field, `piece length ${length}`, `0 to max_token_length (${maxTokenLength}) bytes`);
      }
      if (offset + length > bytes.length) {
        const found = `the file ends at byte ${bytes.length}, inside its ${length}-byte piece`;
        fail(field, found, `${vocabSize} tokens`);
      }
      const piece = binaryString(bytes.subarray(offset, offset + length));
      offset += length;
      pieces.push(piece);
      // run.c's bsearch would return any of several equal pieces; this keeps the lowest id.
      if (!ids.has(piece)) ids.set(piece, id);
    }
    if (offset !== bytes.length) {
      fail(
        undefined,
        `${bytes.length - offset} bytes after token ${vocabSize - 1} (at byte ${offset})`,
        `the file to end after vocab_size = ${vocabSize} tokens; is the vocab size the model's?`,
      );
    }
    // The encoder's assumptions: byte fallback at ids 3..258 and a " " for the dummy prefix.
    for (let byte = 0; byte < 256; byte++) {
      const id = BYTE_TOKEN_BASE + byte;
      const want = byteTokenPiece(byte);
      if (pieces[id] !== want) {
        const found = id < vocabSize ? `piece ${JSON.stringify(pieces[id])}` : 'no such token';
        fail(`token ${id}`, found, `the byte piece "${want}"`);
      }
    }
    const dummyPrefix = ids.get(' ');
    if (dummyPrefix === undefined) fail(undefined, 'no " " token', 'a " " token for the dummy prefix');
    return new Llama2cTokenizer(fileName, maxTokenLength, pieces, scores, ids, dummyPrefix);
  }

  /** Without options (or with a flag left out): no BOS, no EOS. */
  encode(text: string, options: { bos?: boolean; eos?: boolean } = {}): number[] {
    const utf8 = new TextEncoder().encode(text);
    // Steps 1 and 2: BOS, dummy prefix, then codepoints found in the vocabulary or spelled out
    // as byte tokens.
    const tokens: number[] = options.bos ? [BOS] : [];
    if (utf8.length > 0) tokens.push(this.dummyPrefix);
    for (let start = 0; start < utf8.length; ) {
      let end = start + 1;
      while (end < utf8.length && end - start < 4 && (utf8[end] & 0xc0) === 0x80) end++;
      const id = this.ids.get(String.fromCharCode(...utf8.subarray(start, end)));
      if (id !== undefined) tokens.push(id);
      else for (let i = start; i < end; i++) tokens.push(utf8[i] + BYTE_TOKEN_BASE);
      start = end;
    }
    const merged = this.mergePairs(tokens);
    if (options.eos) merged.push(EOS);
    return merged;
  }

  /**
   * Step 3 of encode(). The tokens form a linked list (positions keep their input order); the heap
   * holds every adjacent pair that can merge, best score first and then leftmost position. A pair
   * popped after one of its tokens changed is stale and skipped; each merge pushes the two pairs
   * it creates with its neighbours.
   */
  private mergePairs(input: number[]): number[] {
    const n = input.length;
    const id = Int32Array.from(input);
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const heap = new PairHeap();
    const offer = (left: number, right: number) => {
      const mergedId = this.ids.get(this.pieces[id[left]] + this.pieces[id[right]]);
      if (mergedId === undefined || !(this.scores[mergedId] > MIN_MERGE_SCORE)) return;
      const score = this.scores[mergedId];
      heap.push({ score, left, right, leftId: id[left], rightId: id[right], mergedId });
    };
    for (let i = 0; i + 1 < n; i++) offer(i, i + 1);

    for (let pair = heap.pop(); pair !== undefined; pair = heap.pop()) {
      const { left, right } = pair;
      if (next[left] !== right || id[left] !== pair.leftId || id[right] !== pair.rightId) continue;
      id[left] = pair.mergedId;
      next[left] = next[right];
      if (next[right] !== -1) prev[next[right]] = left;
      next[right] = -2; // removed
      if (prev[left] !== -1) offer(prev[left], left);
      if (next[left] !== -1) offer(left, next[left]);
    }

    const out: number[] = [];
    for (let i = n > 0 ? 0 : -1; i !== -1; i = next[i]) out.push(id[i]);
    return out;
  }

  /**
   * run.c's decode(prev_token, token): the token's piece as bytes, without its leading space
   * when it follows BOS, and a <0xHH> piece as the one raw byte HH.
   */
  decodePiece(prev: number, token: number): Uint8Array {
    let piece = this.pieceOf(token);
    if (prev === BOS && piece.startsWith(' ')) piece = piece.slice(1);
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
    if (byte !== null) return Uint8Array.of(Number.parseInt(byte[1], 16));
    return Uint8Array.from(piece, (c) => c.charCodeAt(0));
  }

  /**
   * The text of a token sequence: BOS and EOS print nothing, the first token is read as if it
   * followed BOS (so the dummy prefix's space goes), and the bytes of all pieces are decoded as
   * UTF-8 together, so byte-fallback tokens that spell one character become that character.
   * decode(encode(text, any flags)) === text for every string without lone surrogates.
   */
  decode(tokens: readonly number[]): string {
    const parts: Uint8Array[] = [];
    tokens.forEach((token, i) => {
      if (token === BOS || token === EOS) return;
      parts.push(this.decodePiece(i === 0 ? BOS : tokens[i - 1], token));
    });
    const bytes = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.length;
    }
    return new TextDecoder().decode(bytes);
  }

  private pieceOf(token: number): string {
    if (!Number.isInteger(token) || token < 0 || token >= this.pieces.length) {
      throw new RangeError(`${this.fileName}: token id ${token}; expected 0 to ${this.pieces.length - 1}`);
    }
    return this.pieces[token];
  }
}

/**
 * Bytes as a "binary" string, one char per byte. In chunks: spreading a piece of 200,000 bytes
 * (max_token_length is any int32) into String.fromCharCode overflows the stack.
 */
function binaryString(bytes: Uint8Array): string {
  const CHUNK = 8192;
  let out = '';
  for (let i = 0; i < bytes.length; i += CHUNK) out += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return out;
}

function byteTokenPiece(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
}

interface MergeCandidate {
  score: number;
  /** Positions of the pair's tokens in the encoder's list. */
  left: number;
  right: number;
  /** The ids at those positions when the pair was offered; a change makes it stale. */
  leftId: number;
  rightId: number;
  mergedId: number;
}

/** Binary max-heap of merge candidates: higher score first, then smaller left position. */
class PairHeap {
  private readonly items: MergeCandidate[] = [];

  push(item: MergeCandidate): void {
    const items = this.items;
    items.push(item);
    for (let i = items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  pop(): MergeCandidate | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < items.length && before(items[l], items[best])) best = l;
        if (r < items.length && before(items[r], items[best])) best = r;
        if (best === i) break;
        [items[i], items[best]] = [items[best], items[i]];
        i = best;
      }
    }
    return top;
  }
}

function before(a: MergeCandidate, b: MergeCandidate): boolean {
  return a.score > b.score || (a.score === b.score && a.left < b.left);
}
