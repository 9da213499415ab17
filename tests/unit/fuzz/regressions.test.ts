// One input for each parser bug the fuzzers found, written out, so each fix is checked by name and
// not only by the chance that a seed reaches it again.

import { getHeapStatistics } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../../src/io/errors';
import { parseHfConfig } from '../../../src/io/hf-config';
import { readFileBytes } from '../../../src/io/node-files';
import { parseSafetensors, parseSafetensorsIndex } from '../../../src/io/safetensors';
import { parseCsv } from '../../../src/tasks/formats';
import { HfTokenizer } from '../../../src/tokenizer/hf';
import { Llama2cTokenizer } from '../../../src/tokenizer/llama2c';
import { jsonBytes, LLAMA_CONFIG } from '../hf-fixtures';
import { mirrorPath } from '../mirror';
import { llama2cVocabBytes, safetensorsFrame, tokenizerSamples } from './corpus';

function formatError(run: () => unknown): FormatError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected a FormatError');
}

/** Heap + external memory the call adds, in bytes (no GC in between). */
function allocatedBy(run: () => void): number {
  const stats = () => getHeapStatistics().used_heap_size + getHeapStatistics().external_memory;
  const before = stats();
  run();
  return stats() - before;
}

const BYTE_PIECES = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);

describe('parser bugs the fuzzers found', () => {
  it('safetensors: a dtype nested 20,000 levels deep is a FormatError, not a stack overflow in the message', () => {
    const header = `{"w":{"dtype":${'['.repeat(20_000)}${']'.repeat(20_000)},"shape":[1],"data_offsets":[0,4]}}`;
    const e = formatError(() => parseSafetensors(safetensorsFrame(header, new Uint8Array(4)), 'deep.safetensors'));
    expect(e.message).toBe('deep.safetensors: tensor "w": dtype JSON array of 1 item; expected one of BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64');
    const shape = `{"w":{"dtype":"F32","shape":[${'{"a":'.repeat(20_000)}0${'}'.repeat(20_000)}],"data_offsets":[0,4]}}`;
    expect(formatError(() => parseSafetensors(safetensorsFrame(shape, new Uint8Array(4)), 'deep.safetensors')).message).toBe(
      'deep.safetensors: tensor "w": shape JSON array of 1 item; expected a list of non-negative integers',
    );
  });

  it('model.safetensors.index.json: a total_size or shard nested 20,000 levels deep is a FormatError', () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    expect(formatError(() => parseSafetensorsIndex(`{"metadata":{"total_size":${deep}},"weight_map":{}}`, 'index.json')).message).toBe(
      'index.json: field "metadata.total_size": JSON array of 1 item; expected a byte count',
    );
    expect(formatError(() => parseSafetensorsIndex(`{"weight_map":{"w":${deep}}}`, 'index.json')).message).toBe(
      'index.json: weight_map entry "w": JSON array of 1 item; expected a file name ending in .safetensors, without folders',
    );
  });

  it('llama2.c vocabulary: a vocab size the file cannot hold is refused without allocating for it', async () => {
    const tok512 = await readFileBytes(mirrorPath('models/stories260K/tok512.bin'));
    for (const vocabSize of [2 ** 31 - 1, 2 ** 53 - 1]) {
      let e: FormatError | undefined;
      const bytes = allocatedBy(() => {
        e = formatError(() => Llama2cTokenizer.parse(tok512, 'tok512.bin', vocabSize));
      });
      expect(e!.message).toBe(`tok512.bin: token 512: the file ends at byte ${tok512.length}, inside its score and length; expected ${vocabSize} tokens`);
      // Before the fix: 8 GiB for 2^31 − 1 scores, and a RangeError for 2^53 − 1.
      expect(bytes).toBeLessThan(2 ** 20);
    }
  });

  it('llama2.c vocabulary: a piece of 250,000 bytes is read, not a stack overflow', () => {
    const long = 'a'.repeat(250_000);
    const pieces = ['<unk>', '\n<s>\n', '\n</s>\n', ...BYTE_PIECES, ' ', long];
    const t = Llama2cTokenizer.parse(llama2cVocabBytes(pieces, long.length), 'long.bin', pieces.length);
    expect(t.pieceBytes(pieces.length - 1).length).toBe(250_000);
  });

  it('CSV: a header of 100,000 distinct columns is read in linear time', () => {
    const header = Array.from({ length: 100_000 }, (_, i) => `c${i}`).join(',');
    const t0 = performance.now();
    expect(parseCsv(`${header}\n`, 'wide.csv').header.length).toBe(100_000);
    // Before the fix each name was looked up in the list of those before it: 9 s on this machine.
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('config.json: a head size the kernels cannot run is a FormatError naming the file', () => {
    const e = formatError(() => parseHfConfig(jsonBytes({ ...LLAMA_CONFIG, head_dim: 256 }), 'models/x/config.json'));
    expect(e.message).toBe("models/x/config.json: headDim 256 is over the attention kernel's 128; expected a configuration the engine's kernels can run");
  });

  it('tokenizer.json: an id of 2^31 is refused at once, not walked by the library', () => {
    const wordPiece = JSON.parse(new TextDecoder().decode(tokenizerSamples()[2]!.bytes)) as { model: { vocab: Record<string, number> } };
    wordPiece.model.vocab.h = 2 ** 31;
    const bytes = jsonBytes(wordPiece);
    const t0 = performance.now();
    const e = formatError(() => HfTokenizer.fromFiles({ tokenizerJson: bytes, tokenizerJsonName: 'tokenizer.json' }));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(e.message).toBe(
      `tokenizer.json: field "model.vocab", token "h": number 2147483648; expected a token id from 0 to ${bytes.length - 1} (ids number the tokens, which are fewer than the file's bytes)`,
    );
  });

  it('tokenizer.json: added-token content that is not text is refused at load, not a TypeError in decode', () => {
    const json = JSON.parse(new TextDecoder().decode(tokenizerSamples()[3]!.bytes)) as { added_tokens: { content: unknown }[] };
    json.added_tokens[0]!.content = 5;
    expect(formatError(() => HfTokenizer.fromFiles({ tokenizerJson: jsonBytes(json), tokenizerJsonName: 'tokenizer.json' })).message).toBe(
      'tokenizer.json: field "added_tokens[0].content": number 5; expected the token as a string',
    );
  });

  it('tokenizer.json: an unk_id outside the vocabulary is a FormatError on encode, not an id for the embedding lookup', () => {
    const json = JSON.parse(new TextDecoder().decode(tokenizerSamples()[3]!.bytes)) as { model: { unk_id: number } };
    json.model.unk_id = 99;
    const t = HfTokenizer.fromFiles({ tokenizerJson: jsonBytes(json), tokenizerJsonName: 'tokenizer.json' });
    expect(t.encode('hello')).toEqual([1]);
    expect(formatError(() => t.encode('hello ☃')).message).toBe('tokenizer.json: piece "☃" has the id 99; expected ids of the vocabulary, 0 to 11');
  });
});
