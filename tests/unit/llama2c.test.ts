import { describe, it, expect, beforeAll } from 'vitest';
import { FormatError } from '../../src/io/errors';
import {
  parseLlama2c,
  permuteQKForHalfRope,
  unpermuteQKFromHalfRope,
  type Llama2cCheckpoint,
} from '../../src/io/llama2c';
import { readFileBytes } from '../../src/io/node-files';
import { mirrorPath } from './mirror';

const STORIES = 'models/stories260K/stories260K.bin';

function sum(values: Float32Array): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/** A llama2.c file: the 7 int32 header, then `floats` f32 values 0, 1, 2, … (value = index). */
function syntheticFile(header: number[], floats: number): Uint8Array {
  const bytes = new Uint8Array(28 + 4 * floats);
  const view = new DataView(bytes.buffer);
  header.forEach((v, i) => view.setInt32(4 * i, v, true));
  for (let i = 0; i < floats; i++) view.setFloat32(28 + 4 * i, i, true);
  return bytes;
}

function thrown(parse: () => unknown): FormatError {
  try {
    parse();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return e as FormatError;
  }
  throw new Error('expected a FormatError, but parsing succeeded');
}

describe('llama2.c checkpoint: the real stories260K', () => {
  let bytes: Uint8Array;
  let checkpoint: Llama2cCheckpoint;
  beforeAll(async () => {
    bytes = await readFileBytes(mirrorPath(STORIES));
    checkpoint = parseLlama2c(bytes, 'stories260K.bin');
  });

  it('reads the config', () => {
    expect(checkpoint.config).toEqual({
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      vocabSize: 512,
      seqLen: 512,
      sharedClassifier: true,
    });
  });

  it('names every tensor the Hugging Face way, with (out, in) shapes', () => {
    const { weights } = checkpoint;
    expect(weights.size).toBe(1 + 5 * 9 + 1);
    expect(weights.has('lm_head.weight')).toBe(false);
    const shapes = Object.fromEntries([...weights].map(([name, w]) => [name, w.shape]));
    expect(shapes['model.embed_tokens.weight']).toEqual([512, 64]);
    expect(shapes['model.layers.3.input_layernorm.weight']).toEqual([64]);
    expect(shapes['model.layers.3.self_attn.q_proj.weight']).toEqual([64, 64]);
    expect(shapes['model.layers.3.self_attn.k_proj.weight']).toEqual([32, 64]);
    expect(shapes['model.layers.3.self_attn.v_proj.weight']).toEqual([32, 64]);
    expect(shapes['model.layers.3.self_attn.o_proj.weight']).toEqual([64, 64]);
    expect(shapes['model.layers.3.post_attention_layernorm.weight']).toEqual([64]);
    expect(shapes['model.layers.3.mlp.gate_proj.weight']).toEqual([172, 64]);
    expect(shapes['model.layers.3.mlp.down_proj.weight']).toEqual([64, 172]);
    expect(shapes['model.layers.3.mlp.up_proj.weight']).toEqual([172, 64]);
    expect(shapes['model.norm.weight']).toEqual([64]);
    for (const [name, w] of weights) {
      expect(w.data.length, name).toBe(w.shape.reduce((a, b) => a * b, 1));
    }
  });

  it('matches checksums computed independently from the raw file', () => {
    const w = (name: string) => {
      const weight = checkpoint.weights.get(name);
      if (weight === undefined) throw new Error(`no ${name}`);
      return weight.data;
    };
    const embed = w('model.embed_tokens.weight');
    expect(Array.from(embed.subarray(0, 3))).toEqual([-0.29474878311157227, 0.5618956089019775, 0.1754225343465805]);
    expect(sum(embed)).toBe(-752.3677446640068);
    expect(Array.from(w('model.layers.0.self_attn.q_proj.weight').subarray(0, 2))).toEqual([
      0.04439278692007065, 0.07974770665168762,
    ]);
    expect(sum(w('model.layers.0.self_attn.q_proj.weight'))).toBe(-23.827822908671806);
    expect(sum(w('model.layers.4.self_attn.k_proj.weight'))).toBe(2.2722628523088133);
    expect(w('model.layers.4.self_attn.k_proj.weight').at(-1)).toBe(-0.2651301622390747);
    expect(sum(w('model.layers.2.mlp.down_proj.weight'))).toBe(-4.021498598276594);
    expect(w('model.layers.2.mlp.down_proj.weight')[0]).toBe(-0.004114390816539526);
    expect(Array.from(w('model.layers.0.input_layernorm.weight').subarray(0, 2))).toEqual([
      0.9722429513931274, 0.6754933595657349,
    ]);
    expect(sum(w('model.norm.weight'))).toBe(115.95276230573654);
  });

  it('reads each array where the layout puts it (checked against the raw bytes)', () => {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // Byte offsets from the layout: header 28, embedding 512·64, rms_att 5·64, wq 5·64·64, …
    const rmsFinal = 28 + 4 * (512 * 64 + 5 * 64 + 5 * 64 * 64 + 2 * 5 * 32 * 64 + 5 * 64 * 64 + 5 * 64 + 3 * 5 * 172 * 64);
    expect(checkpoint.weights.get('model.norm.weight')?.data[0]).toBe(view.getFloat32(rmsFinal, true));
    expect(checkpoint.weights.get('model.layers.4.mlp.up_proj.weight')?.data.at(-1)).toBe(view.getFloat32(rmsFinal - 4, true));
    // wk of layer 1 starts after all of wq and layer 0's 32·64 wk values.
    const wk1 = 28 + 4 * (512 * 64 + 5 * 64 + 5 * 64 * 64 + 32 * 64);
    expect(checkpoint.weights.get('model.layers.1.self_attn.k_proj.weight')?.data[0]).toBe(view.getFloat32(wk1, true));
  });

  it('says where a truncated copy ends, with expected and found sizes', () => {
    const expected =
      'expected 1056540 bytes for dim 64, hidden_dim 172, n_layers 5, n_heads 8, n_kv_heads 4, vocab_size 512, seq_len 512';
    expect(() => parseLlama2c(bytes.slice(0, 131200), 'stories260K.bin')).toThrow(
      `stories260K.bin: 131200 bytes: the file ends inside array rms_att (bytes [131100, 132380)); ${expected}`,
    );
    expect(() => parseLlama2c(bytes.slice(0, 132380), 'stories260K.bin')).toThrow(
      `stories260K.bin: 132380 bytes: the file ends before array wq (bytes [132380, 214300)); ${expected}`,
    );
    expect(() => parseLlama2c(bytes.slice(0, bytes.length - 1), 'stories260K.bin')).toThrow(
      `stories260K.bin: 1056539 bytes: the file ends inside array freq_cis_imag (bytes [1048348, 1056540)); ${expected}`,
    );
    const longer = new Uint8Array(bytes.length + 8);
    longer.set(bytes);
    expect(() => parseLlama2c(longer, 'stories260K.bin')).toThrow(
      `stories260K.bin: 1056548 bytes: 8 bytes after the last array (freq_cis_imag); ${expected}`,
    );
    expect(() => parseLlama2c(bytes.slice(0, 20), 'stories260K.bin')).toThrow(
      'stories260K.bin: 20 bytes; expected at least the 28-byte header of 7 int32',
    );
  });
});

describe('readFileBytes', () => {
  it('names the missing path', async () => {
    await expect(readFileBytes('/nonexistent/d2lora/stories.bin')).rejects.toThrow(
      '/nonexistent/d2lora/stories.bin: cannot read (no such file; resolved to /nonexistent/d2lora/stories.bin)',
    );
  });
});

describe('llama2.c checkpoint: layout and header checks', () => {
  // dim 8, hidden 12, 2 layers, 2 heads (head size 4), 1 kv head (kv_dim 4), vocab 5, seq 3
  const counts = {
    embedding: 5 * 8,
    rmsAtt: 2 * 8,
    wq: 2 * 8 * 8,
    wk: 2 * 4 * 8,
    wv: 2 * 4 * 8,
    wo: 2 * 8 * 8,
    rmsFfn: 2 * 8,
    w1: 2 * 12 * 8,
    w2: 2 * 8 * 12,
    w3: 2 * 12 * 8,
    rmsFinal: 8,
    freqs: 2 * 3 * 2,
    wcls: 5 * 8,
  };
  const total = Object.values(counts).reduce((a, b) => a + b, 0);

  it('reads an untied classifier and slices each layer at its offset', () => {
    const { config, weights } = parseLlama2c(syntheticFile([8, 12, 2, 2, 1, -5, 3], total), 'tiny.bin');
    expect(config.sharedClassifier).toBe(false);
    expect(config.vocabSize).toBe(5);
    const first = (name: string) => weights.get(name)?.data[0];
    // Each float's value is its index among the floats, so a tensor's first value is its offset.
    expect(first('model.embed_tokens.weight')).toBe(0);
    expect(first('model.layers.1.input_layernorm.weight')).toBe(counts.embedding + 8);
    const wkStart = counts.embedding + counts.rmsAtt + counts.wq;
    expect(first('model.layers.0.self_attn.k_proj.weight')).toBe(wkStart);
    expect(first('model.layers.1.self_attn.k_proj.weight')).toBe(wkStart + 4 * 8);
    expect(weights.get('model.layers.1.self_attn.k_proj.weight')?.shape).toEqual([4, 8]);
    const w2Start = total - counts.wcls - counts.freqs - counts.rmsFinal - counts.w3 - counts.w2;
    expect(first('model.layers.1.mlp.down_proj.weight')).toBe(w2Start + 8 * 12);
    expect(weights.get('lm_head.weight')?.shape).toEqual([5, 8]);
    expect(first('lm_head.weight')).toBe(total - counts.wcls);
    expect(weights.get('lm_head.weight')?.data.at(-1)).toBe(total - 1);
    expect([...weights.keys()].at(-1)).toBe('lm_head.weight');
  });

  it('rejects bad header fields, naming them', () => {
    const parse = (header: number[]) => () => parseLlama2c(syntheticFile(header, 0), 'tiny.bin');
    expect(thrown(parse([8, 12, 0, 2, 1, 5, 3])).message).toBe(
      'tiny.bin: header field "n_layers": 0; expected a positive integer',
    );
    expect(thrown(parse([8, 12, 2, 2, 1, 0, 3])).field).toBe('header field "vocab_size"');
    expect(thrown(parse([9, 12, 2, 2, 1, 5, 3])).message).toBe(
      'tiny.bin: header field "dim": 9; expected a multiple of n_heads (2)',
    );
    expect(thrown(parse([6, 12, 2, 2, 1, 5, 3])).message).toBe(
      'tiny.bin: header field "n_heads": 2, giving head size 3; expected an even head size (RoPE rotates pairs)',
    );
    expect(thrown(parse([12, 12, 2, 2, 3, 5, 3])).message).toBe(
      'tiny.bin: header field "n_heads": 2; expected a multiple of n_kv_heads (3)',
    );
  });

  it('refuses NaN and ±Infinity, naming the tensor, the layer and the first bad value', () => {
    // Float i of the synthetic file holds i, so float k of a tensor starting at float s is s + k.
    const withValue = (float: number, value: number, untied = false) => {
      const bytes = syntheticFile([8, 12, 2, 2, 1, untied ? -5 : 5, 3], untied ? total : total - counts.wcls);
      new DataView(bytes.buffer).setFloat32(28 + 4 * float, value, true);
      return thrown(() => parseLlama2c(bytes, 'tiny.bin'));
    };
    const wk1 = counts.embedding + counts.rmsAtt + counts.wq + 4 * 8; // layer 1's k_proj (4 × 8)
    const e = withValue(wk1 + 8 + 3, NaN);
    expect([e.file, e.field]).toEqual(['tiny.bin', 'tensor "model.layers.1.self_attn.k_proj.weight" (array wk of layer 1)']);
    expect(e.message).toBe(
      'tiny.bin: tensor "model.layers.1.self_attn.k_proj.weight" (array wk of layer 1): NaN at [1, 3] (index 11); ' +
        '1 of its 32 values is NaN or infinite; expected finite numbers (NaN and ±Infinity come from a training run that diverged, or from a damaged file)',
    );
    expect(withValue(counts.embedding + 5, Infinity).message).toMatch(
      /^tiny\.bin: tensor "model\.layers\.0\.input_layernorm\.weight" \(array rms_att of layer 0\): Infinity at index 5; 1 of its 8 values is NaN or infinite;/,
    );
    expect(withValue(total - 1, -Infinity, true).message).toMatch(/^tiny\.bin: tensor "lm_head\.weight" \(array wcls\): -Infinity at \[4, 7\] \(index 39\);/);
    // The RoPE tables run.c reads are not weights: nothing reads them, nor checks them.
    const freqs = total - counts.wcls - counts.freqs;
    const bytes = syntheticFile([8, 12, 2, 2, 1, 5, 3], total - counts.wcls);
    new DataView(bytes.buffer).setFloat32(28 + 4 * freqs, NaN, true);
    expect(parseLlama2c(bytes, 'tiny.bin').weights.size).toBe(1 + 2 * 9 + 1);
  });

  it('recognises a versioned llama2.c export', () => {
    const bytes = syntheticFile([0x616b3432, 2, 0, 0, 0, 0, 0], 0);
    expect(thrown(() => parseLlama2c(bytes, 'v2.bin')).message).toBe(
      'v2.bin: the magic "ak42" of a versioned llama2.c export (version 2); ' +
        'expected the legacy checkpoint layout that run.c reads (export with --version 0)',
    );
  });
});

describe('q/k permutation between interleaved and rotate-half RoPE', () => {
  const BASE = 10000;

  /** llama2.c: rotate (x[2j], x[2j+1]) of each head by pos·θ_j. x is (nHeads·headDim). */
  function ropeInterleaved(x: Float64Array, headDim: number, pos: number): Float64Array {
    const out = new Float64Array(x.length);
    for (let h = 0; h < x.length / headDim; h++) {
      for (let j = 0; j < headDim / 2; j++) {
        const angle = pos * BASE ** ((-2 * j) / headDim);
        const [a, b] = [x[h * headDim + 2 * j], x[h * headDim + 2 * j + 1]];
        out[h * headDim + 2 * j] = a * Math.cos(angle) - b * Math.sin(angle);
        out[h * headDim + 2 * j + 1] = a * Math.sin(angle) + b * Math.cos(angle);
      }
    }
    return out;
  }

  /** Hugging Face: rotate (x[j], x[j + headDim/2]) of each head by pos·θ_j. */
  function ropeHalf(x: Float64Array, headDim: number, pos: number): Float64Array {
    const out = new Float64Array(x.length);
    const half = headDim / 2;
    for (let h = 0; h < x.length / headDim; h++) {
      for (let j = 0; j < half; j++) {
        const angle = pos * BASE ** ((-2 * j) / headDim);
        const [a, b] = [x[h * headDim + j], x[h * headDim + j + half]];
        out[h * headDim + j] = a * Math.cos(angle) - b * Math.sin(angle);
        out[h * headDim + j + half] = a * Math.sin(angle) + b * Math.cos(angle);
      }
    }
    return out;
  }

  /** y = W x for W (rows, cols) row-major. */
  function matvec(w: Float32Array, x: Float64Array): Float64Array {
    const out = new Float64Array(w.length / x.length);
    for (let r = 0; r < out.length; r++) {
      for (let c = 0; c < x.length; c++) out[r] += w[r * x.length + c] * x[c];
    }
    return out;
  }

  let seed = 7;
  const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;

  it('is the view(n_heads, head_dim/2, 2, dim).transpose(1, 2) row order', () => {
    const rows = (nHeads: number, headDim: number) =>
      Array.from(permuteQKForHalfRope(Float32Array.from({ length: nHeads * headDim }, (_, i) => i), nHeads, headDim, 1));
    expect(rows(1, 4)).toEqual([0, 2, 1, 3]);
    expect(rows(1, 6)).toEqual([0, 2, 4, 1, 3, 5]);
    expect(rows(2, 4)).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    // Whole rows move: with dimIn 2, row r holds (2r, 2r + 1).
    const w = Float32Array.from({ length: 8 }, (_, i) => i);
    expect(Array.from(permuteQKForHalfRope(w, 1, 4, 2))).toEqual([0, 1, 4, 5, 2, 3, 6, 7]);
  });

  it('turns interleaved RoPE of x·Wᵀ into half RoPE of x·(permuted W)ᵀ, and keeps q·k', () => {
    const [nHeads, nKvHeads, headDim, dimIn] = [4, 2, 8, 12];
    const wq = Float32Array.from({ length: nHeads * headDim * dimIn }, random);
    const wk = Float32Array.from({ length: nKvHeads * headDim * dimIn }, random);
    const x = Float64Array.from({ length: dimIn }, random);
    const wqHalf = permuteQKForHalfRope(wq, nHeads, headDim, dimIn);
    const wkHalf = permuteQKForHalfRope(wk, nKvHeads, headDim, dimIn);

    for (const pos of [0, 1, 5, 37]) {
      const qInterleaved = ropeInterleaved(matvec(wq, x), headDim, pos);
      const qHalf = ropeHalf(matvec(wqHalf, x), headDim, pos);
      // Pair j's members sit at 2j, 2j+1 in one order and at j, j + headDim/2 in the other.
      for (let h = 0; h < nHeads; h++) {
        for (let j = 0; j < headDim / 2; j++) {
          for (let t = 0; t < 2; t++) {
            expect(qHalf[h * headDim + t * (headDim / 2) + j]).toBeCloseTo(qInterleaved[h * headDim + 2 * j + t], 12);
          }
        }
      }
      // Attention scores: query head h attends with kv head h / (nHeads / nKvHeads), keys at pos 3.
      const kInterleaved = ropeInterleaved(matvec(wk, x), headDim, 3);
      const kHalf = ropeHalf(matvec(wkHalf, x), headDim, 3);
      for (let h = 0; h < nHeads; h++) {
        const kv = Math.floor(h / (nHeads / nKvHeads));
        let scoreInterleaved = 0;
        let scoreHalf = 0;
        for (let d = 0; d < headDim; d++) {
          scoreInterleaved += qInterleaved[h * headDim + d] * kInterleaved[kv * headDim + d];
          scoreHalf += qHalf[h * headDim + d] * kHalf[kv * headDim + d];
        }
        expect(scoreHalf).toBeCloseTo(scoreInterleaved, 12);
      }
    }
  });

  it('has an exact inverse, also on the real stories260K q and k weights', async () => {
    const w = Float32Array.from({ length: 3 * 6 * 5 }, random);
    expect(unpermuteQKFromHalfRope(permuteQKForHalfRope(w, 3, 6, 5), 3, 6, 5)).toEqual(w);
    expect(permuteQKForHalfRope(unpermuteQKFromHalfRope(w, 3, 6, 5), 3, 6, 5)).toEqual(w);

    const { weights } = parseLlama2c(await readFileBytes(mirrorPath(STORIES)), 'stories260K.bin');
    const wq = weights.get('model.layers.2.self_attn.q_proj.weight')?.data ?? new Float32Array(0);
    const wk = weights.get('model.layers.2.self_attn.k_proj.weight')?.data ?? new Float32Array(0);
    const wqHalf = permuteQKForHalfRope(wq, 8, 8, 64);
    expect(wqHalf).not.toEqual(wq);
    expect(unpermuteQKFromHalfRope(wqHalf, 8, 8, 64)).toEqual(wq);
    expect(unpermuteQKFromHalfRope(permuteQKForHalfRope(wk, 4, 8, 64), 4, 8, 64)).toEqual(wk);
  });

  it('checks its arguments', () => {
    expect(() => permuteQKForHalfRope(new Float32Array(10), 1, 4, 2)).toThrow(
      'q/k permutation: weight has 10 values; expected 1 × 4 × 2',
    );
    expect(() => permuteQKForHalfRope(new Float32Array(6), 1, 3, 2)).toThrow('head dim 3 is odd');
  });
});
