// The setup's estimates (src/run/estimate.ts): trainable parameters by method (LoRA r·(in+out),
// DoRA + out, D2-LoRA 2r·(in+out) per adapted module), training steps (early stopping's dev items
// taken out first), the GPU memory's parts, and the fit check against a device's per-buffer
// limits with suggestions that do make the run fit. What a Run reports for the same specs, and
// the memory a real training step allocates, are checked in the kernel tier
// (tests/kernels/setup-inspect.test.ts).

import { describe, expect, it } from 'vitest';
import { validateModelConfig, type ModelConfig } from '../../src/model/config';
import { SMOLLM2_135M_SHAPE } from '../../src/bench/training';
import { boundingLengths, bufferBytes, checkFit, estimateMemory, packedRank, resolveTargets, trainableParameters, trainingSteps } from '../../src/run/estimate';
import { comparedAdapter, runSpecWith, type RunSpec, type RunSpecInput } from '../../src/run/spec';
import { STORIES260K_CONFIG } from './mirror';

const STORIES260K: ModelConfig = validateModelConfig(STORIES260K_CONFIG, 'stories260K');

const GPT2_SMALL: ModelConfig = validateModelConfig(
  { ...STORIES260K, family: 'gpt2', hiddenSize: 768, intermediateSize: 3072, numLayers: 12, numHeads: 12, numKvHeads: 12, headDim: 64, vocabSize: 50257, maxPositions: 1024, tiedEmbeddings: true },
  'gpt2',
);

const spec = (input: RunSpecInput): RunSpec => runSpecWith(input);

describe('trainable parameters', () => {
  // stories260K per layer: q 64→64, k 64→32, v 64→32, o 64→64: Σ(in+out) = 128 + 96 + 96 + 128 = 448.
  it.each([
    ['D2-LoRA r=8: 2r·(in+out)', { method: 'd2lora' }, 5 * 16 * 448],
    ['LoRA r=8: r·(in+out)', { method: 'lora' }, 5 * 8 * 448],
    ['DoRA r=8: r·(in+out) + out', { method: 'dora' }, 5 * (8 * 448 + 64 + 32 + 32 + 64)],
    ['LoRA 2r (r=16, α=32) equals D2-LoRA r=8', comparedAdapter({ method: 'lora', r: 8, alpha: 16 }, 'lora2r'), 5 * 16 * 448],
  ] as const)('%s on the attention projections of stories260K', (_, adapter, expected) => {
    expect(trainableParameters(STORIES260K, spec({ adapter }))).toBe(expected);
  });

  it('counts every layer and the MLP when targeted', () => {
    const all = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
    // gate, up 64→172, down 172→64: + 3·236 = 708 per layer.
    expect(trainableParameters(STORIES260K, spec({ adapter: { method: 'lora', r: 4 }, targets: all }))).toBe(5 * 4 * (448 + 3 * 236));
  });

  it('matches targets PEFT-style: "c_proj" selects both of GPT-2\'s, "attn.c_proj" one; unknown ones are listed', () => {
    expect(resolveTargets(GPT2_SMALL, ['c_proj']).adapted.map((m) => m.module)).toEqual(['attn.c_proj', 'mlp.c_proj']);
    expect(resolveTargets(GPT2_SMALL, null).adapted.map((m) => m.module)).toEqual(['attn.c_attn', 'attn.c_proj']);
    expect(resolveTargets(STORIES260K, ['q_proj', 'c_fc']).unmatched).toEqual(['c_fc']);
    // c_attn is 768 → 2304.
    expect(trainableParameters(GPT2_SMALL, spec({ adapter: { method: 'lora', r: 2 }, targets: ['c_attn'] }))).toBe(12 * 2 * (768 + 2304));
  });

  it('packs D2-LoRA at twice the rank', () => {
    expect(packedRank({ method: 'd2lora', r: 8 })).toBe(16);
    expect(packedRank({ method: 'dora', r: 8 })).toBe(8);
  });
});

describe('training steps', () => {
  it('is ceil(examples / batch) × epochs', () => {
    expect(trainingSteps(spec({}), 5000)).toEqual({ ok: true, examples: 5000, stepsPerEpoch: 313, totalSteps: 626 });
    expect(trainingSteps(spec({ training: { batch: 8, epochs: 1 } }), 160)).toEqual({ ok: true, examples: 160, stepsPerEpoch: 20, totalSteps: 20 });
    expect(trainingSteps(spec({ training: { batch: 7, epochs: 3 } }), 15)).toEqual({ ok: true, examples: 15, stepsPerEpoch: 3, totalSteps: 9 });
  });

  it("takes early stopping's dev items out of the training items first", () => {
    expect(trainingSteps(spec({ training: { batch: 16, epochs: 2, earlyStopping: { devItems: 200 } } }), 5000)).toEqual({ ok: true, examples: 4800, stepsPerEpoch: 300, totalSteps: 600 });
  });

  it('says why when early stopping would hold out every training item', () => {
    const s = trainingSteps(spec({ training: { earlyStopping: { devItems: 200 } } }), 200);
    expect(s).toEqual({ ok: false, problem: 'early stopping holds out 200 training items (devItems), but the task has only 200: lower devItems or turn early stopping off' });
  });
});

describe('memory', () => {
  it('rounds every buffer to the runtime\'s 256-byte alignment, at least 16 bytes', () => {
    expect(bufferBytes(0)).toBe(256);
    expect(bufferBytes(64)).toBe(256);
    expect(bufferBytes(65)).toBe(512);
    expect(bufferBytes(1024 * 1024)).toBe(4 * 1024 * 1024);
  });

  it('adds its parts: a training step, and the run with its evaluation and merge', () => {
    const m = estimateMemory(STORIES260K, spec({}), { train: 52, eval: 52, trainAnswer: 1, evalAnswer: 1 });
    const p = m.parts;
    expect(m.trainingStep).toBe(p.weights + p.adapters + p.activations + p.backward + p.lossHead);
    expect(m.total).toBe(m.trainingStep + p.evaluation + p.merge);
    // stories260K's weights: 260,032 floats in 48 tensors, plus the RoPE table (512 × 8).
    expect(p.weights).toBeGreaterThanOrEqual(4 * (260_032 + 512 * 8));
    expect(p.weights).toBeLessThan(4 * (260_032 + 512 * 8) + 48 * 256 + 256);
    // Adapters: each parameter four times (value, gradient, two moments), and σ.
    expect(p.adapters).toBeGreaterThanOrEqual(16 * trainableParameters(STORIES260K, spec({})));
  });

  it('grows with the batch and the sequence length, not with the rank alone', () => {
    const at = (input: RunSpecInput, seq: number) => estimateMemory(STORIES260K, spec(input), { train: seq, eval: seq, trainAnswer: 2, evalAnswer: 2 });
    expect(at({ training: { batch: 32 } }, 52).parts.activations).toBeGreaterThan(1.9 * at({ training: { batch: 16 } }, 52).parts.activations);
    expect(at({}, 104).parts.activations).toBeGreaterThan(1.9 * at({}, 52).parts.activations);
    // D2-LoRA with projection keeps Q (rows × out) per adapted module; LoRA does not.
    expect(at({ adapter: { method: 'd2lora' } }, 52).parts.activations).toBeGreaterThan(at({ adapter: { method: 'lora' } }, 52).parts.activations);
  });

  it('recomputing activations keeps every layer\'s input and one layer\'s saved tensors, and changes nothing else', () => {
    const at = (recomputeActivations: boolean) => estimateMemory(SMOLLM2_135M_SHAPE, spec({ limits: { recomputeActivations } }), { train: 256, eval: 256, trainAnswer: 4, evalAnswer: 4 });
    const kept = at(false);
    const recomputed = at(true);
    const x = bufferBytes(16 * 256 * 576); // one layer's input, rows × hidden size
    const perLayer = (kept.parts.activations - x - 3 * bufferBytes(16 * 256)) / 30;
    expect(recomputed.parts.activations).toBe(30 * x + perLayer - x + x + 3 * bufferBytes(16 * 256));
    expect(recomputed.parts.activations).toBeLessThan(0.15 * kept.parts.activations);
    expect({ ...recomputed.parts, activations: 0 }).toEqual({ ...kept.parts, activations: 0 });
  });

  it("bounds the lengths by the spec's max length and the model's context before a task is tokenized", () => {
    expect(boundingLengths(STORIES260K, spec({}))).toEqual({ train: 256, eval: 256, trainAnswer: 256, evalAnswer: 256 });
    expect(boundingLengths(STORIES260K, spec({ limits: { maxLength: 4096 } })).train).toBe(512);
  });

  it("names the largest buffers the run's settings make, largest first; the model's own tensors are checkModelFitsDevice's", () => {
    const m = estimateMemory(SMOLLM2_135M_SHAPE, spec({}), { train: 64, eval: 64, trainAnswer: 4, evalAnswer: 4 });
    // A chunk of logits is ⌊32 MiB / (4 · 49152)⌋ = 170 rows; the evaluation batch (64 × 64 rows) is wider than the training batch (16 × 64).
    expect(m.buffers.map((b) => [b.what, b.bytes])).toEqual([
      ["the loss head's logits (a chunk of loss rows × vocabulary)", 170 * 49152 * 4],
      ['the MLP activations (rows × intermediate size) of an evaluation batch', 64 * 64 * 1536 * 4],
      ['the MLP activations (rows × intermediate size) of a training batch', 16 * 64 * 1536 * 4],
    ]);
  });
});

describe('the fit check', () => {
  const big = { maxBufferSize: 2 ** 31, maxStorageBufferBindingSize: 2 ** 30 };

  it('passes when every buffer is within the smaller limit', () => {
    const m = estimateMemory(STORIES260K, spec({}));
    expect(checkFit(m, spec({}), big)).toEqual({ fits: true, limit: 2 ** 30 });
  });

  it('refuses a batch whose activations are over the limit, and suggests a batch and a length that fit', () => {
    // SmolLM2-135M at batch 64 × 2048 tokens: the MLP activations, 64·2048·1536·4 = 805 MB, over 128 MiB.
    const s = spec({ training: { batch: 64 }, limits: { maxLength: 2048, evalBatch: 16 } });
    const limits = { maxBufferSize: 2 ** 31, maxStorageBufferBindingSize: 128 * 2 ** 20 };
    const fit = checkFit(estimateMemory(SMOLLM2_135M_SHAPE, s), s, limits);
    if (fit.fits) throw new Error('expected the run not to fit');
    expect(fit.limitName).toBe('maxStorageBufferBindingSize');
    expect(fit.over[0]!.what).toBe('the MLP activations (rows × intermediate size) of a training batch');
    expect(fit.reason).toBe(
      'the MLP activations (rows × intermediate size) of a training batch needs one buffer of 805,306,368 bytes; this device allows at most 134,217,728 (maxStorageBufferBindingSize), and 1 more buffer is over it too',
    );
    // 134,217,728 / (1536·4) = 21,845 rows: 10 sequences of 2048, or sequences of 341 at batch 64; the evaluation: 10 of 2048.
    expect(fit.suggestions).toEqual([
      { path: ['training', 'batch'], value: 10, text: 'a batch of at most 10 at sequences of 2048 tokens' },
      { path: ['limits', 'maxLength'], value: 341, text: 'sequences of at most 341 tokens at a batch of 64' },
      { path: ['limits', 'evalBatch'], value: 10, text: 'an evaluation batch of at most 10 sequences' },
    ]);
    // Each suggestion applied on its own fixes the buffers it is for; together they fit.
    const fixed = spec({ training: { batch: 10 }, limits: { maxLength: 2048, evalBatch: 10 } });
    expect(checkFit(estimateMemory(SMOLLM2_135M_SHAPE, fixed), fixed, limits).fits).toBe(true);
  });

  it('offers no batch or length for a chunk of logits over the limit (only a vocabulary that large makes one)', () => {
    const s = spec({});
    // 170 rows × 49152 × 4 = 33 MB per chunk (the loss head keeps chunks under 32 MiB).
    const fit = checkFit(estimateMemory(SMOLLM2_135M_SHAPE, s, { train: 16, eval: 16, trainAnswer: 16, evalAnswer: 16 }), s, { maxBufferSize: 16 * 2 ** 20, maxStorageBufferBindingSize: 2 ** 30 });
    if (fit.fits) throw new Error('expected the run not to fit');
    expect(fit.limitName).toBe('maxBufferSize');
    expect(fit.over.map((b) => b.what)).toEqual(["the loss head's logits (a chunk of loss rows × vocabulary)"]);
    expect(fit.suggestions).toEqual([]);
  });
});
