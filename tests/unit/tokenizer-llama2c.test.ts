import { describe, it, expect, beforeAll } from 'vitest';
import { FormatError } from '../../src/io/errors';
import { readFileBytes } from '../../src/io/node-files';
import { Llama2cTokenizer } from '../../src/tokenizer/llama2c';
import { mirrorPath } from './mirror';

const TOK512 = 'models/stories260K/tok512.bin';

/**
 * The test's own reading of the vocabulary and run.c's encode, written the slow, obvious way:
 * rescan every adjacent pair after each merge. The oracle for the tokenizer's heap-based merge.
 */
function oracle(bytes: Uint8Array, vocabSize: number) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pieces: string[] = [];
  const scores: number[] = [];
  let offset = 4;
  for (let i = 0; i < vocabSize; i++) {
    scores.push(view.getFloat32(offset, true));
    const length = view.getInt32(offset + 4, true);
    pieces.push(Buffer.from(bytes.subarray(offset + 8, offset + 8 + length)).toString('latin1'));
    offset += 8 + length;
  }
  const lookup = (piece: string) => pieces.indexOf(piece);
  const encode = (text: string, bos: boolean, eos: boolean): number[] => {
    const tokens = bos ? [1] : [];
    if (text.length > 0) tokens.push(lookup(' '));
    for (const char of text) {
      const utf8 = Buffer.from(char, 'utf8');
      const id = lookup(utf8.toString('latin1'));
      if (id !== -1) tokens.push(id);
      else for (const byte of utf8) tokens.push(byte + 3);
    }
    for (;;) {
      let [bestScore, bestId, bestIndex] = [-1e10, -1, -1];
      for (let i = 0; i + 1 < tokens.length; i++) {
        const id = lookup(pieces[tokens[i]] + pieces[tokens[i + 1]]);
        if (id !== -1 && scores[id] > bestScore) [bestScore, bestId, bestIndex] = [scores[id], id, i];
      }
      if (bestIndex === -1) break;
      tokens.splice(bestIndex, 2, bestId);
    }
    if (eos) tokens.push(2);
    return tokens;
  };
  return { pieces, scores, lookup, encode };
}

const SENTENCES = [
  'Once upon a time, there was a little girl named Lily.',
  'Tom and Sue played in the park. They were happy!',
  'café ☃',
  'naïve 🙂 emoji, 4 bytes',
  '  two leading spaces and a trailing one ',
  'line one\nline two\ttab',
  'Numbers 0123456789 and symbols #$%&*+/<=>@[\\]^_`{|}~',
  'a',
  ' ',
];

describe('llama2.c tokenizer on tok512.bin', () => {
  let bytes: Uint8Array;
  let tokenizer: Llama2cTokenizer;
  let reference: ReturnType<typeof oracle>;
  beforeAll(async () => {
    bytes = await readFileBytes(mirrorPath(TOK512));
    tokenizer = Llama2cTokenizer.parse(bytes, 'tok512.bin', 512);
    reference = oracle(bytes, 512);
  });

  it('reads the vocabulary', () => {
    expect(tokenizer.vocabSize).toBe(512);
    expect(tokenizer.maxTokenLength).toBe(7);
    expect(new TextDecoder().decode(tokenizer.decodePiece(0, 403))).toBe(' Once');
  });

  it('encodes two sentences to the ids run.c gives', () => {
    // ' Once' ' upon' ' a' ' time' ',' ' there' ' was' ' a' ' little' ' g' 'ir' 'l' ' named' ' Lily' '.'
    expect(tokenizer.encode('Once upon a time, there was a little girl named Lily.', { bos: true, eos: false })).toEqual([
      1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
    ]);
    // ' c' 'a' 'f' 'é' ' ' then ☃ (E2 98 83) as byte tokens 0xE2 + 3, 0x98 + 3, 0x83 + 3
    expect(tokenizer.encode('café ☃', { bos: true, eos: false })).toEqual([1, 280, 412, 431, 485, 410, 229, 155, 134]);
  });

  it('adds BOS and EOS only when asked, and the dummy prefix only for non-empty text', () => {
    expect(tokenizer.encode('Once upon a time', { bos: true, eos: false })).toEqual([1, 403, 407, 261, 378]);
    expect(tokenizer.encode('Once upon a time', { bos: false, eos: false })).toEqual([403, 407, 261, 378]);
    expect(tokenizer.encode('Once upon a time', { bos: false, eos: true })).toEqual([403, 407, 261, 378, 2]);
    expect(tokenizer.encode('Once upon a time', { bos: true, eos: true })).toEqual([1, 403, 407, 261, 378, 2]);
    expect(tokenizer.encode('', { bos: false, eos: false })).toEqual([]);
    expect(tokenizer.encode('', { bos: true, eos: true })).toEqual([1, 2]);
    expect(tokenizer.decode([1, 2])).toBe('');
    expect(tokenizer.decode([])).toBe('');
  });

  it('round-trips text, byte fallback included', () => {
    for (const text of SENTENCES) {
      for (const bos of [false, true]) {
        const ids = tokenizer.encode(text, { bos, eos: true });
        expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < 512), text).toBe(true);
        expect(tokenizer.decode(ids), text).toBe(text);
      }
    }
    const snowman = tokenizer.encode('☃', { bos: false, eos: false });
    expect(snowman.slice(1)).toEqual([0xe2 + 3, 0x98 + 3, 0x83 + 3]);
  });

  it('merges until no adjacent pair can merge, exactly as the rescanning loop does', () => {
    const check = (text: string) => {
      const ids = tokenizer.encode(text, { bos: true, eos: false });
      expect(ids, JSON.stringify(text)).toEqual(reference.encode(text, true, false));
      for (let i = 0; i + 1 < ids.length; i++) {
        const merged = reference.lookup(reference.pieces[ids[i]] + reference.pieces[ids[i + 1]]);
        expect(merged === -1 || !(reference.scores[merged] > -1e10), JSON.stringify(text)).toBe(true);
      }
    };
    SENTENCES.forEach(check);
    // Random strings over letters the vocabulary merges a lot, plus ones it has to spell in bytes.
    const alphabet = [...'  eeetaoinshrdlu.,!?TLOé☃🙂\n'];
    let seed = 2024;
    const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    for (let n = 0; n < 300; n++) {
      const length = Math.floor(random() * 40);
      check(Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''));
    }
  });

  it('decodes pieces like run.c: no leading space after BOS, <0xHH> as the raw byte', () => {
    const piece = (prev: number, token: number) => Array.from(tokenizer.decodePiece(prev, token));
    expect(piece(1, 403)).toEqual([...Buffer.from('Once')]);
    expect(piece(403, 407)).toEqual([...Buffer.from(' upon')]);
    expect(piece(1, 10 + 3)).toEqual([10]); // <0x0A>
    expect(piece(5, 0xe2 + 3)).toEqual([0xe2]);
    // Bytes of one character split over pieces come back together as that character.
    expect(tokenizer.decode([1, 403, 410, 0xe2 + 3, 0x98 + 3, 0x83 + 3])).toBe('Once ☃');
    expect(() => tokenizer.decode([512])).toThrow('tok512.bin: token id 512; expected 0 to 511');
  });
});

describe('llama2.c tokenizer file checks', () => {
  let bytes: Uint8Array;
  beforeAll(async () => {
    bytes = await readFileBytes(mirrorPath(TOK512));
  });

  function thrown(parse: () => unknown): FormatError {
    try {
      parse();
    } catch (e) {
      expect(e).toBeInstanceOf(FormatError);
      return e as FormatError;
    }
    throw new Error('expected a FormatError, but parsing succeeded');
  }

  /** Byte offset of token `id`'s score in tok512.bin. */
  function tokenOffset(id: number): number {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 4;
    for (let i = 0; i < id; i++) offset += 8 + view.getInt32(offset + 4, true);
    return offset;
  }

  it('rejects a truncated file, naming the token it ends in', () => {
    const cut = tokenOffset(300) + 10; // inside token 300's piece (' w' + more, length ≥ 2)
    const e = thrown(() => Llama2cTokenizer.parse(bytes.slice(0, cut), 'tok512.bin', 512));
    expect(e.field).toBe('token 300');
    expect(e.message).toMatch(/^tok512\.bin: token 300: the file ends at byte \d+, inside its \d+-byte piece; expected 512 tokens$/);
    expect(thrown(() => Llama2cTokenizer.parse(bytes.slice(0, tokenOffset(300) + 3), 'tok512.bin', 512)).message).toBe(
      `tok512.bin: token 300: the file ends at byte ${tokenOffset(300) + 3}, inside its score and length; expected 512 tokens`,
    );
    expect(thrown(() => Llama2cTokenizer.parse(bytes, 'tok512.bin', 600)).message).toBe(
      `tok512.bin: token 512: the file ends at byte ${bytes.length}, inside its score and length; expected 600 tokens`,
    );
  });

  it('rejects a negative or too long piece length', () => {
    const patched = (length: number) => {
      const copy = bytes.slice();
      new DataView(copy.buffer).setInt32(tokenOffset(42) + 4, length, true);
      return copy;
    };
    expect(thrown(() => Llama2cTokenizer.parse(patched(-1), 'tok512.bin', 512)).message).toBe(
      'tok512.bin: token 42: piece length -1; expected 0 to max_token_length (7) bytes',
    );
    expect(thrown(() => Llama2cTokenizer.parse(patched(8), 'tok512.bin', 512)).field).toBe('token 42');
  });

  it('rejects a vocab size that leaves bytes over, and a file without byte fallback', () => {
    expect(thrown(() => Llama2cTokenizer.parse(bytes, 'tok512.bin', 511)).message).toBe(
      `tok512.bin: ${bytes.length - tokenOffset(511)} bytes after token 510 (at byte ${tokenOffset(511)}); ` +
        'expected the file to end after vocab_size = 511 tokens; is the vocab size the model\'s?',
    );
    expect(thrown(() => Llama2cTokenizer.parse(bytes.slice(0, tokenOffset(100)), 'tok512.bin', 100)).message).toBe(
      'tok512.bin: token 100: no such token; expected the byte piece "<0x61>"',
    );
    expect(thrown(() => Llama2cTokenizer.parse(new Uint8Array(2), 'tok512.bin', 512)).message).toBe(
      'tok512.bin: 2 bytes; expected at least the int32 max_token_length',
    );
  });
});
