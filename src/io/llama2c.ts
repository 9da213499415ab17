// llama2.c checkpoints (the legacy `.bin` that karpathy/llama2.c's run.c reads), e.g. stories260K.
//
// Layout, little-endian:
//   7 × int32   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//               (a negative vocab_size means an untied classifier, wcls, ends the file)
//   f32 arrays, back to back, each layer-stacked one holding all L layers in order:
//     token_embedding (vocab, dim)       rms_att (L, dim)
//     wq (L, dim, dim)                   wk (L, kv_dim, dim)        wv (L, kv_dim, dim)
//     wo (L, dim, dim)                   rms_ffn (L, dim)
//     w1 (L, hidden, dim)                w2 (L, dim, hidden)        w3 (L, hidden, dim)
//     rms_final (dim)
//     freq_cis_real (seq_len, head_size/2)   freq_cis_imag (seq_len, head_size/2)   [skipped]
//     wcls (vocab, dim)                  only when untied
//   with kv_dim = dim · n_kv_heads / n_heads and head_size = dim / n_heads.
// Matrices are (out, in) row-major, as nn.Linear stores them, so they keep their shapes under
// Hugging Face Llama names. run.c's other constants: RoPE base 10000, RMSNorm ε = 1e-5.
//
// RoPE convention: llama2.c rotates ADJACENT pairs (q[2j], q[2j+1]) of each head by pos·θ_j,
// while Hugging Face's Llama rotates (q[j], q[j + head_size/2]) ("rotate_half"); θ_j is the same.
// The weights below keep llama2.c's row order, so a model built from them must run its RoPE with
// ropeStyle 'interleaved' — or permute wq and wk with permuteQKForHalfRope and use 'half'.

import { shapeSize } from '../util/shape';
import { failIn, type Fail } from './errors';
import { checkFinite } from './finite';
import { MAX_FILE_BYTES, type DeclaredSize, type ReadLimit } from './read-limits';

export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** True when the classifier is the token embedding (no lm_head.weight). */
  sharedClassifier: boolean;
}

export interface NamedWeight {
  /** (out, in) for matrices, (n) for norm weights. */
  shape: number[];
  /** Row-major; a view into one f32 copy of the file's weights. */
  data: Float32Array;
}

export interface Llama2cCheckpoint {
  config: Llama2cConfig;
  /** Hugging Face Llama tensor names, in file order. */
  weights: Map<string, NamedWeight>;
}

const HEADER_BYTES = 7 * 4;

/** The header's names for the model's size fields, for messages about them (src/model/model-size.ts). */
export const LLAMA2C_CONFIG_SOURCE_FIELDS = {
  vocabSize: 'vocab_size',
  hiddenSize: 'dim',
  intermediateSize: 'hidden_dim',
  numLayers: 'n_layers',
  numHeads: 'n_heads',
  numKvHeads: 'n_kv_heads',
  headDim: 'dim / n_heads',
  maxPositions: 'seq_len',
} as const;
const HEADER_FIELDS = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
/** "ak42" as a little-endian u32: the magic of llama2.c's newer (version ≥ 1) exports. */
const VERSIONED_EXPORT_MAGIC = 0x616b3432;

/** One f32 array of the file: `shape` per layer when layer-stacked, else for the whole array. */
interface FileArray {
  name: string;
  layerStacked: boolean;
  shape: number[];
  /** The Hugging Face name (of layer i when layer-stacked); null for arrays that are skipped. */
  hfName: ((layer: number) => string) | null;
}

function fileArrays(c: Llama2cConfig): FileArray[] {
  const kvDim = (c.dim * c.nKvHeads) / c.nHeads;
  const headSize = c.dim / c.nHeads;
  const layer = (suffix: string) => (i: number) => `model.layers.${i}.${suffix}`;
  const arrays: FileArray[] = [
    {
      name: 'token_embedding',
      layerStacked: false,
      shape: [c.vocabSize, c.dim],
      hfName: () => 'model.embed_tokens.weight',
    },
    { name: 'rms_att', layerStacked: true, shape: [c.dim], hfName: layer('input_layernorm.weight') },
    { name: 'wq', layerStacked: true, shape: [c.dim, c.dim], hfName: layer('self_attn.q_proj.weight') },
    { name: 'wk', layerStacked: true, shape: [kvDim, c.dim], hfName: layer('self_attn.k_proj.weight') },
    { name: 'wv', layerStacked: true, shape: [kvDim, c.dim], hfName: layer('self_attn.v_proj.weight') },
    { name: 'wo', layerStacked: true, shape: [c.dim, c.dim], hfName: layer('self_attn.o_proj.weight') },
    { name: 'rms_ffn', layerStacked: true, shape: [c.dim], hfName: layer('post_attention_layernorm.weight') },
    { name: 'w1', layerStacked: true, shape: [c.hiddenDim, c.dim], hfName: layer('mlp.gate_proj.weight') },
    { name: 'w2', layerStacked: true, shape: [c.dim, c.hiddenDim], hfName: layer('mlp.down_proj.weight') },
    { name: 'w3', layerStacked: true, shape: [c.hiddenDim, c.dim], hfName: layer('mlp.up_proj.weight') },
    { name: 'rms_final', layerStacked: false, shape: [c.dim], hfName: () => 'model.norm.weight' },
    { name: 'freq_cis_real', layerStacked: false, shape: [c.seqLen, headSize / 2], hfName: null },
    { name: 'freq_cis_imag', layerStacked: false, shape: [c.seqLen, headSize / 2], hfName: null },
  ];
  if (!c.sharedClassifier) {
    arrays.push({
      name: 'wcls',
      layerStacked: false,
      shape: [c.vocabSize, c.dim],
      hfName: () => 'lm_head.weight',
    });
  }
  return arrays;
}

/**
 * Reading limits of a llama2.c checkpoint: the 4 GiB cap, and the exact size its 28-byte header
 * implies, checked before the floats are read.
 */
export const LLAMA2C_READ_LIMIT: ReadLimit = { maxBytes: MAX_FILE_BYTES, kind: 'a llama2.c checkpoint', declaredSize: llama2cDeclaredSize };

/** The file's size as its header declares it (see DeclaredSize). */
export function llama2cDeclaredSize(prefix: Uint8Array, fileName: string): DeclaredSize {
  if (prefix.length < HEADER_BYTES) return { need: HEADER_BYTES };
  const { spans, describe } = parseHeader(prefix, fileName);
  return { bytes: spans[spans.length - 1].end, parts: `the ${HEADER_BYTES}-byte header and the arrays for ${describe}` };
}

/** Where each array starts and ends in the file, as the header (its first 28 bytes) says. */
interface ArraySpan {
  array: FileArray;
  tensors: number;
  perTensor: number;
  begin: number;
  end: number;
}

function parseHeader(bytes: Uint8Array, fileName: string): { config: Llama2cConfig; spans: ArraySpan[]; describe: string } {
  const fail: Fail = failIn(fileName);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) === VERSIONED_EXPORT_MAGIC) {
    fail(
      undefined,
      `the magic "ak42" of a versioned llama2.c export (version ${view.getInt32(4, true)})`,
      'the legacy checkpoint layout that run.c reads (export with --version 0)',
    );
  }
  // dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
  const header = HEADER_FIELDS.map((_, i) => view.getInt32(4 * i, true));
  header.forEach((value, i) => {
    // vocab_size carries the classifier flag in its sign; only its magnitude must be positive.
    if ((i === 5 ? Math.abs(value) : value) <= 0) {
      fail(`header field "${HEADER_FIELDS[i]}"`, `${value}`, 'a positive integer');
    }
  });
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, signedVocab, seqLen] = header;
  const config: Llama2cConfig = {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize: Math.abs(signedVocab),
    seqLen,
    sharedClassifier: signedVocab > 0,
  };
  if (dim % nHeads !== 0) {
    fail('header field "dim"', `${dim}`, `a multiple of n_heads (${nHeads})`);
  }
  if ((dim / nHeads) % 2 !== 0) {
    fail(
      'header field "n_heads"',
      `${nHeads}, giving head size ${dim / nHeads}`,
      'an even head size (RoPE rotates pairs)',
    );
  }
  if (nHeads % nKvHeads !== 0) {
    fail('header field "n_heads"', `${nHeads}`, `a multiple of n_kv_heads (${nKvHeads})`);
  }

  // Where each array starts and ends in the file, to check the size and say where it falls short.
  const spans: ArraySpan[] = [];
  let end = HEADER_BYTES;
  for (const array of fileArrays(config)) {
    const tensors = array.layerStacked ? nLayers : 1;
    const perTensor = shapeSize(array.shape);
    spans.push({ array, tensors, perTensor, begin: end, end: end + 4 * tensors * perTensor });
    end += 4 * tensors * perTensor;
  }
  const describe =
    `dim ${dim}, hidden_dim ${hiddenDim}, n_layers ${nLayers}, ` +
    `n_heads ${nHeads}, n_kv_heads ${nKvHeads}, vocab_size ${signedVocab}, seq_len ${seqLen}`;
  return { config, spans, describe };
}

export function parseLlama2c(bytes: Uint8Array, fileName: string): Llama2cCheckpoint {
  const fail: Fail = failIn(fileName);
  if (bytes.length < HEADER_BYTES) {
    fail(undefined, `${bytes.length} bytes`, `at least the ${HEADER_BYTES}-byte header of 7 int32`);
  }
  const { config, spans, describe } = parseHeader(bytes, fileName);
  const expectedBytes = spans[spans.length - 1].end;
  if (bytes.length !== expectedBytes) {
    const expected = `${expectedBytes} bytes for ${describe}`;
    if (bytes.length > expectedBytes) {
      const last = spans[spans.length - 1].array.name;
      const extra = bytes.length - expectedBytes;
      fail(undefined, `${bytes.length} bytes: ${extra} bytes after the last array (${last})`, expected);
    }
    for (const span of spans) {
      if (span.end > bytes.length) {
        const where = bytes.length === span.begin ? 'before' : 'inside';
        const range = `bytes [${span.begin}, ${span.end})`;
        fail(undefined, `${bytes.length} bytes: the file ends ${where} array ${span.array.name} (${range})`, expected);
      }
    }
  }

  // One aligned copy of every float after the header; each tensor is a view into it, checked
  // finite (the RoPE tables run.c reads are skipped: nothing uses them).
  const start = bytes.byteOffset + HEADER_BYTES;
  const floats = new Float32Array(bytes.buffer.slice(start, bytes.byteOffset + expectedBytes));
  const weights = new Map<string, NamedWeight>();
  for (const { array, tensors, perTensor, begin } of spans) {
    if (array.hfName === null) continue;
    const first = (begin - HEADER_BYTES) / 4;
    for (let layer = 0; layer < tensors; layer++) {
      const offset = first + layer * perTensor;
      const data = floats.subarray(offset, offset + perTensor);
      const name = array.hfName(layer);
      checkFinite(data, array.shape, fileName, `tensor "${name}" (array ${array.name}${array.layerStacked ? ` of layer ${layer}` : ''})`);
      weights.set(name, { shape: [...array.shape], data });
    }
  }
  return { config, weights };
}

// ---------------------------------------------------------------------------------------------
// q/k row order for the two RoPE conventions.
//
// w is (nHeads·headDim, dimIn) row-major. Within head h, llama2.c's row 2j + t (t ∈ {0, 1}) is
// the t-th member of rotation pair j; under rotate-half that row must sit at t·headDim/2 + j.
// This is the permutation of Hugging Face's convert_llama_weights_to_hf.py:
//   w.view(n_heads, head_dim/2, 2, dim_in).transpose(1, 2).reshape(n_heads·head_dim, dim_in).
// With wq and wk both permuted, half-RoPE outputs are interleaved-RoPE outputs in the same
// permuted order, so every attention score q·k is unchanged.

/** Interleaved (llama2.c) row order → rotate-half (Hugging Face) row order. */
export function permuteQKForHalfRope(
  w: Float32Array,
  nHeads: number,
  headDim: number,
  dimIn: number,
): Float32Array {
  return permuteRows(w, nHeads, headDim, dimIn, 'toHalf');
}

/** Rotate-half (Hugging Face) row order → interleaved (llama2.c) row order; inverts the above. */
export function unpermuteQKFromHalfRope(
  w: Float32Array,
  nHeads: number,
  headDim: number,
  dimIn: number,
): Float32Array {
  return permuteRows(w, nHeads, headDim, dimIn, 'toInterleaved');
}

function permuteRows(
  w: Float32Array,
  nHeads: number,
  headDim: number,
  dimIn: number,
  direction: 'toHalf' | 'toInterleaved',
): Float32Array {
  if (headDim % 2 !== 0) throw new RangeError(`q/k permutation: head dim ${headDim} is odd; expected even`);
  if (w.length !== nHeads * headDim * dimIn) {
    throw new RangeError(
      `q/k permutation: weight has ${w.length} values; expected ${nHeads} × ${headDim} × ${dimIn}`,
    );
  }
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let t = 0; t < 2; t++) {
        const interleavedRow = h * headDim + 2 * j + t;
        const halfRow = h * headDim + t * half + j;
        const [from, to] = direction === 'toHalf' ? [interleavedRow, halfRow] : [halfRow, interleavedRow];
        out.set(w.subarray(from * dimIn, (from + 1) * dimIn), to * dimIn);
      }
    }
  }
  return out;
}
