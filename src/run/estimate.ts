// What a run will cost, from the model's config and the spec alone, before anything is loaded on
// the GPU: the trainable parameters, the training steps, and the GPU memory of a training step
// (and of the evaluations around it), checked against the device's per-buffer limits.
//
// The memory model follows what the engine allocates (every buffer f32 or u32, each rounded up
// to the runtime's 256-byte alignment), with rows = batch × seq:
//   weights      every base tensor the family needs (expectedWeights) and the RoPE table;
//   adapters     per adapted module U (out×R), D (R×in), σ (R), their gradients and AdamW's two
//                moments (R = 2r for D2-LoRA, r otherwise); the rescaled forms keep c (out) and
//                DoRA its magnitude m (out) with its gradient and moments;
//   activations  what each layer's forward keeps for its backward (gpu-model.ts LayerSaved):
//                x, h, q, k, v, attn, lse, x2, h2 and the MLP's tensors, plus each adapted
//                module's cache (adapted.ts: Hs rows×R, and for the rescaled forms Q rows×out
//                and the column-norm pass's out×R products); with recomputeActivations, every
//                layer's input x and one layer's saved tensors (the layer being recomputed);
//   backward     the gradients alive at once while one layer's backward runs (the MLP's three
//                rows×I, the attention's dq, dk, dv, dh and their partners), and dres;
//   loss head    per chunk of loss rows (at most 32 MiB of logits, gpu-model.ts lossChunkRows):
//                logits and their gradient (rows×V each) and the rows' hidden states;
//   evaluation   a forward pass of evalBatch (item, choice) sequences, nothing kept between
//                layers, which the runtime's buffer pool keeps beside the training step's;
//   merge        the merged copy of every adapted weight (mergedView) and one more while the
//                checkpoint is read back.
// The estimate is checked against ctx.memory.peak of real training steps in the kernel tier
// (tests/kernels/setup-inspect.test.ts), where it is within the stated factor.
//
// WebGPU says nothing about a device's total memory; what it does say is the largest buffer it
// allows (maxBufferSize) and binds (maxStorageBufferBindingSize), and every tensor here is one
// buffer bound as storage. The model's own tensors are checked against them where it is loaded
// (src/model/model-size.ts checkModelFitsDevice, which the Run and the page's model inspection
// call); the fit check here adds what the run's settings make: the activations of a training and
// an evaluation batch, and the loss head's logits. A run with one over either limit cannot start;
// the check says which buffer, and which batch or sequence length would fit.

import type { ModelConfig } from '../model/config';
import { defaultTargets, expectedWeights, linearModules, targetMatches } from '../model/names';
import type { RunSpec } from './spec';

/** The runtime's buffer alignment (src/gpu/context.ts): every tensor's buffer is a multiple of it. */
const BUFFER_ALIGN = 256;
/** Rows of logits the loss head computes at once (as gpu-model.ts lossChunkRows). */
const LOSS_CHUNK_BYTES = 32 * 1024 * 1024;

/** The bytes of one tensor's buffer of `elements` 4-byte values, as the runtime allocates it. */
export function bufferBytes(elements: number): number {
  return Math.ceil(Math.max(4 * elements, 16) / BUFFER_ALIGN) * BUFFER_ALIGN;
}

// ---------------------------------------------------------------------------------------------
// Targets and trainable parameters

/** One linear module of a layer with its shape. */
export interface ModuleShape {
  module: string;
  in: number;
  out: number;
}

/** The modules a spec's targets adapt in each layer, and the targets that match none. */
export function resolveTargets(config: ModelConfig, targets: readonly string[] | null): { targets: string[]; adapted: ModuleShape[]; unmatched: string[] } {
  const names = targets === null ? defaultTargets(config.family) : [...targets];
  const modules = linearModules(config, 0);
  return {
    targets: names,
    adapted: modules.filter((m) => names.some((t) => targetMatches(t, m.module))).map((m) => ({ module: m.module, in: m.in, out: m.out })),
    unmatched: names.filter((t) => !modules.some((m) => targetMatches(t, m.module))),
  };
}

/** The packed rank R of a method: D2-LoRA's two branches of rank r make 2r. */
export function packedRank(adapter: Pick<RunSpec['adapter'], 'method' | 'r'>): number {
  return adapter.method === 'd2lora' ? 2 * adapter.r : adapter.r;
}

/**
 * Trainable parameters: per adapted module LoRA r·(in+out), DoRA r·(in+out) + out (its
 * magnitude), D2-LoRA 2r·(in+out), over every layer (as the Run counts its adapters' params).
 */
export function trainableParameters(config: ModelConfig, spec: Pick<RunSpec, 'adapter' | 'targets'>): number {
  const R = packedRank(spec.adapter);
  const perLayer = resolveTargets(config, spec.targets).adapted.reduce((a, m) => a + R * (m.in + m.out) + (spec.adapter.method === 'dora' ? m.out : 0), 0);
  return perLayer * config.numLayers;
}

// ---------------------------------------------------------------------------------------------
// Steps

export type StepsEstimate =
  | { ok: true; examples: number; stepsPerEpoch: number; totalSteps: number }
  /** Early stopping holds out at least as many items as training has (the Run refuses it). */
  | { ok: false; problem: string };

/**
 * The training steps of a run whose task kept `trainTokenized` training items: early stopping's
 * dev items come out of them (Run's heldOutSplit), then ceil(examples / batch) steps per epoch.
 */
export function trainingSteps(spec: Pick<RunSpec, 'training'>, trainTokenized: number): StepsEstimate {
  const early = spec.training.earlyStopping;
  if (early !== null && trainTokenized <= early.devItems) {
    return {
      ok: false,
      problem: `early stopping holds out ${early.devItems} training items (devItems), but the task has only ${trainTokenized}: lower devItems or turn early stopping off`,
    };
  }
  const examples = trainTokenized - (early?.devItems ?? 0);
  const stepsPerEpoch = Math.ceil(examples / spec.training.batch);
  return { ok: true, examples, stepsPerEpoch, totalSteps: stepsPerEpoch * spec.training.epochs };
}

// ---------------------------------------------------------------------------------------------
// Memory

/** The token lengths the memory depends on; without a tokenized task, the spec's limit bounds them. */
export interface SequenceLengths {
  /** The longest training sequence (prompt + correct answer): what a batch is padded to at most. */
  train: number;
  /** The longest evaluation sequence (prompt + any choice). */
  eval: number;
  /** The longest answer of a training item: its tokens carry the loss. */
  trainAnswer: number;
  /** The longest choice of an evaluation item. */
  evalAnswer: number;
}

export type MemoryPart = 'weights' | 'adapters' | 'activations' | 'backward' | 'lossHead' | 'evaluation' | 'merge';

/** One buffer the run allocates, for the fit check: what it is and how it scales. */
export interface BufferEstimate {
  what: string;
  bytes: number;
  /** The rows it has (bytes = rows × bytesPerRow): training rows (batch × seq) or evaluation rows (evalBatch × seq); null: fixed by the model. */
  rows: { kind: 'train' | 'eval'; rows: number; seq: number } | null;
}

export interface MemoryEstimate {
  /** Bytes by part. */
  parts: Record<MemoryPart, number>;
  /** weights + adapters + activations + backward + loss head: one training step. */
  trainingStep: number;
  /** The whole run: the training step, the evaluations' buffers and the merged weights. */
  total: number;
  /** The lengths the estimate assumed. */
  lengths: SequenceLengths;
  /** The largest buffers the run's settings make (the model's own tensors are checkModelFitsDevice's), largest first. */
  buffers: BufferEstimate[];
}

/** The lengths a spec allows at most, for a model with this context: before the task is tokenized. */
export function boundingLengths(config: ModelConfig, spec: Pick<RunSpec, 'limits'>): SequenceLengths {
  const seq = Math.min(spec.limits.maxLength, config.maxPositions);
  return { train: seq, eval: seq, trainAnswer: seq, evalAnswer: seq };
}

interface Shapes {
  d: number;
  I: number;
  qDim: number;
  kvDim: number;
  heads: number;
  V: number;
  gpt2: boolean;
}

function shapesOf(c: ModelConfig): Shapes {
  return { d: c.hiddenSize, I: c.intermediateSize, qDim: c.numHeads * c.headDim, kvDim: c.numKvHeads * c.headDim, heads: c.numHeads, V: c.vocabSize, gpt2: c.family === 'gpt2' };
}

/** The activations one layer's forward keeps for its backward (LayerSaved, without adapters), as tensors of (name, elements). */
function savedPerLayer(s: Shapes, rows: number): [string, number][] {
  const common: [string, number][] = [
    ['x', rows * s.d],
    ['h', rows * s.d],
    ['q', rows * s.qDim],
    ['k', rows * s.kvDim],
    ['v', rows * s.kvDim],
    ['attn', rows * s.qDim],
    ['lse', rows * s.heads],
    ['x2', rows * s.d],
    ['h2', rows * s.d],
  ];
  if (s.gpt2) {
    // LayerNorm keeps mean and rstd; c_attn's fused output is kept beside its q/k/v copies.
    return [...common, ['norm stats', 4 * rows], ['qkv', rows * 3 * s.d], ['fc', rows * s.I], ['gelu', rows * s.I]];
  }
  return [...common, ['norm stats', 2 * rows], ['gate', rows * s.I], ['up', rows * s.I], ['swiglu', rows * s.I]];
}

/** An adapted module's forward cache (adapted.ts): Hs, Uσ; the rescaled forms also Q and the norm pass. */
function adapterCache(m: ModuleShape, R: number, rescaled: boolean, rows: number): number {
  const additive = bufferBytes(rows * R) + bufferBytes(m.out * R);
  if (!rescaled) return additive;
  return additive + bufferBytes(rows * m.out) + bufferBytes(m.out * R) + bufferBytes(R * R) + 2 * bufferBytes(m.out);
}

/**
 * The gradients alive at once while one layer's backward runs, beyond what the forward kept:
 * the MLP's (three rows×I for Llama, two for GPT-2, and the down projection's inputs' partner),
 * then the attention's (dq, dk, dv, their row statistics, dh and the two it sums). A rescaled
 * adapter adds its Gs and Gl (rows×out each) and Ts (rows×R).
 */
function backwardWorkingSet(s: Shapes, rows: number, batchSeqHeads: number, adapted: ModuleShape[], R: number, rescaled: boolean): number {
  const mlp = s.gpt2 ? 2 * bufferBytes(rows * s.I) + bufferBytes(rows * s.d) : 3 * bufferBytes(rows * s.I) + 2 * bufferBytes(rows * s.d);
  const attention = s.gpt2
    ? 4 * bufferBytes(rows * s.d) + bufferBytes(rows * 3 * s.d) + bufferBytes(2 * batchSeqHeads)
    : 2 * bufferBytes(rows * s.qDim) + 2 * bufferBytes(rows * s.kvDim) + 3 * bufferBytes(rows * s.d) + bufferBytes(2 * batchSeqHeads);
  const widest = adapted.reduce((a, m) => Math.max(a, m.out), 0);
  const adapterTemps = adapted.length === 0 ? 0 : bufferBytes(rows * R) + (rescaled ? 2 * bufferBytes(rows * widest) : 0);
  return Math.max(mlp, attention) + adapterTemps;
}

/** The loss head's buffers for `lossRows` rows carrying loss, in chunks of at most 32 MiB of logits. */
function lossHeadBytes(s: Shapes, lossRows: number, train: boolean): { bytes: number; chunkRows: number } {
  const chunkRows = Math.max(1, Math.floor(LOSS_CHUNK_BYTES / (4 * s.V)));
  const m = Math.max(1, Math.min(chunkRows, lossRows));
  // per chunk: index, targets, weights, losses, rstd (m each); hidden, normed (m×d); logits (m×V);
  // training adds dlogits (m×V) and dnorm, dhidden (m×d); and the losses of every row (M).
  const perChunk = 5 * bufferBytes(m) + 2 * bufferBytes(m * s.d) + bufferBytes(m * s.V);
  const backward = train ? bufferBytes(m * s.V) + 2 * bufferBytes(m * s.d) : 0;
  return { bytes: perChunk + backward + bufferBytes(lossRows), chunkRows: m };
}

/** A forward pass with nothing kept between layers (evaluation): one layer's tensors alive at once. */
function inferenceWorkingSet(s: Shapes, rows: number, adapted: ModuleShape[], R: number, rescaled: boolean): number {
  const layer = savedPerLayer(s, rows).reduce((a, [, n]) => a + bufferBytes(n), 0);
  // the layer's output beside its input, and the attention output's temporary.
  const around = 2 * bufferBytes(rows * s.d);
  const adapterTemps = adapted.reduce((a, m) => a + bufferBytes(rows * R) + (rescaled ? bufferBytes(rows * m.out) : 0), 0);
  return layer + around + adapterTemps;
}

/** GPU memory of a run: each part, the training step, the whole run, and its largest buffers. */
export function estimateMemory(config: ModelConfig, spec: Pick<RunSpec, 'adapter' | 'targets' | 'training' | 'limits'>, lengths: SequenceLengths = boundingLengths(config, spec)): MemoryEstimate {
  const s = shapesOf(config);
  const L = config.numLayers;
  const R = packedRank(spec.adapter);
  const method = spec.adapter.method;
  const rescaled = method === 'dora' || (method === 'd2lora' && spec.adapter.project);
  const { adapted } = resolveTargets(config, spec.targets);

  // Weights: every tensor the family needs, and the RoPE table (positions × headDim).
  let weights = [...expectedWeights(config).values()].reduce((a, shape) => a + bufferBytes(shape.reduce((x, y) => x * y, 1)), 0);
  if (!s.gpt2) weights += bufferBytes(config.maxPositions * config.headDim);

  // Adapters: U, D and their gradients and moments (4 copies each), σ; c for the rescaled forms,
  // DoRA's m with its gradient and moments.
  const perModule = (m: ModuleShape) =>
    4 * (bufferBytes(m.out * R) + bufferBytes(R * m.in)) + bufferBytes(R) + (rescaled ? bufferBytes(m.out) : 0) + (method === 'dora' ? 4 * bufferBytes(m.out) : 0);
  const adapterBytes = L * adapted.reduce((a, m) => a + perModule(m), 0);

  // One training step: batch × train rows.
  const batch = spec.training.batch;
  const rows = batch * lengths.train;
  const layerSaved = savedPerLayer(s, rows).reduce((a, [, n]) => a + bufferBytes(n), 0) + adapted.reduce((a, m) => a + adapterCache(m, R, rescaled, rows), 0);
  // Recomputing: the other layers' inputs, and the saved tensors (its input among them) of the layer being recomputed.
  const kept = spec.limits.recomputeActivations ? (L - 1) * bufferBytes(rows * s.d) + layerSaved : L * layerSaved;
  const activations = kept + bufferBytes(rows * s.d) + 3 * bufferBytes(rows); // the last layer's output; tokens, positions, lengths
  const backward = backwardWorkingSet(s, rows, rows * s.heads, adapted, R, rescaled) + bufferBytes(rows * s.d); // + dres
  const trainLoss = lossHeadBytes(s, batch * Math.min(lengths.trainAnswer, lengths.train), true);

  // Evaluation: evalBatch sequences, forward only.
  const evalBatch = spec.limits.evalBatch;
  const evalRows = evalBatch * lengths.eval;
  const evalLoss = lossHeadBytes(s, evalBatch * Math.min(lengths.evalAnswer, lengths.eval), false);
  const evaluation = inferenceWorkingSet(s, evalRows, adapted, R, rescaled) + evalLoss.bytes + 3 * bufferBytes(evalRows);

  // The merge: each adapted weight merged once for the merged model and once more for the checkpoint.
  const merge = 2 * L * adapted.reduce((a, m) => a + bufferBytes(m.out * m.in), 0);

  const parts: Record<MemoryPart, number> = { weights, adapters: adapterBytes, activations, backward, lossHead: trainLoss.bytes, evaluation, merge };
  const trainingStep = weights + adapterBytes + activations + backward + trainLoss.bytes;

  // The largest buffers the run's settings make: the widest rows of each pass, and the logits.
  const widestOut = Math.max(s.I, s.gpt2 ? 3 * s.d : s.qDim, s.d);
  const widest = widestOut === s.I ? 'MLP activations (rows × intermediate size)' : s.gpt2 ? 'fused q/k/v output (rows × 3·hidden size)' : 'query projection (rows × heads·head size)';
  const rowsBuffer = (kind: 'train' | 'eval', rowCount: number, seq: number): BufferEstimate => ({
    what: `the ${widest} of ${kind === 'train' ? 'a training batch' : 'an evaluation batch'}`,
    bytes: bufferBytes(rowCount * widestOut),
    rows: { kind, rows: rowCount, seq },
  });
  const buffers: BufferEstimate[] = [
    rowsBuffer('train', rows, lengths.train),
    rowsBuffer('eval', evalRows, lengths.eval),
    { what: "the loss head's logits (a chunk of loss rows × vocabulary)", bytes: bufferBytes(Math.max(trainLoss.chunkRows, evalLoss.chunkRows) * s.V), rows: null },
  ];
  buffers.sort((a, b) => b.bytes - a.bytes);

  return { parts, trainingStep, total: trainingStep + evaluation + merge, lengths, buffers };
}

// ---------------------------------------------------------------------------------------------
// The fit check

/** The device limits that bound one buffer. */
export interface BufferLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

/**
 * The shortest sequence length worth suggesting: BOS, a question and an answer need more, and a
 * shorter limit would leave out most items rather than fit them.
 */
const MIN_SUGGESTED_LENGTH = 16;

/** A change that would make an oversized buffer fit: a spec field and the value to try. */
export interface FitSuggestion {
  /** The RunSpec field, e.g. ['training', 'batch']. */
  path: string[];
  value: number;
  /** What the change is, in words. */
  text: string;
}

export type FitCheck =
  | { fits: true; limit: number }
  | {
      fits: false;
      limit: number;
      /** Which limit is the smaller. */
      limitName: keyof BufferLimits;
      /** The buffers over it, largest first. */
      over: BufferEstimate[];
      /** What would make them fit (empty when no batch or length can: a chunk of logits over the limit). */
      suggestions: FitSuggestion[];
      /** Why the run cannot start, in one sentence. */
      reason: string;
    };

/**
 * Whether every buffer of the estimate fits this device's per-buffer limits; when not, which are
 * over and what batch, evaluation batch or sequence length would bring them under.
 */
export function checkFit(estimate: MemoryEstimate, spec: Pick<RunSpec, 'training' | 'limits'>, limits: BufferLimits): FitCheck {
  const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const limitName: keyof BufferLimits = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
  const over = estimate.buffers.filter((b) => b.bytes > limit);
  if (over.length === 0) return { fits: true, limit };
  const suggestions: FitSuggestion[] = [];
  const add = (s: FitSuggestion) => {
    if (!suggestions.some((x) => x.path.join('.') === s.path.join('.'))) suggestions.push(s);
  };
  for (const b of over) {
    if (b.rows === null) continue;
    const perRow = b.bytes / b.rows.rows;
    const maxRows = Math.floor(limit / perRow);
    const sequences = Math.floor(maxRows / b.rows.seq);
    if (b.rows.kind === 'train') {
      if (sequences >= 1) add({ path: ['training', 'batch'], value: sequences, text: `a batch of at most ${sequences} at sequences of ${b.rows.seq} tokens` });
      const seq = Math.floor(maxRows / spec.training.batch);
      if (seq >= MIN_SUGGESTED_LENGTH) add({ path: ['limits', 'maxLength'], value: seq, text: `sequences of at most ${seq} tokens at a batch of ${spec.training.batch}` });
    } else if (sequences >= 1) {
      add({ path: ['limits', 'evalBatch'], value: sequences, text: `an evaluation batch of at most ${sequences} sequences` });
    }
  }
  const worst = over[0]!;
  const reason =
    `${worst.what} needs one buffer of ${worst.bytes.toLocaleString('en-US')} bytes; this device allows at most ${limit.toLocaleString('en-US')} (${limitName})` +
    (over.length > 1 ? `, and ${over.length - 1} more buffer${over.length > 2 ? 's are' : ' is'} over it too` : '');
  return { fits: false, limit, limitName, over, suggestions, reason };
}
