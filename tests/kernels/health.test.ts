// Numeric health: nothing non-finite is used silently. A stories260K whose weights are NaN (as a
// llama2.c .bin and as a Hugging Face folder) and an adapter whose factors are NaN are refused by
// `generate`, `eval`, `eval --adapter` and `train` when they are read; a model whose forward
// overflows stops evaluation; a run that diverges stops with the watch's message naming the
// flags to change. Each command runs in a child process (`node scripts/d2lora.mjs …`), the only
// honest way to see an unhandled rejection: it must exit 1 with the message as its last line,
// no stack trace, nothing on stdout and no output folder.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapterTensorShapes, type AdapterParams } from '../../src/adapters/init';
import { exportAdapter } from '../../src/export/adapter';
import { exportMergedCheckpoint } from '../../src/export/checkpoint';
import { acquireNodeContext } from '../../src/gpu/node';
import type { NamedAdapter } from '../../src/io/adapter-format';
import type { LoadedModel } from '../../src/io/load';
import { loadModelInNode } from '../../src/io/node-source';
import type { WeightMap } from '../../src/model/config';
import { GpuModel } from '../../src/model/gpu-model';
import { linearModules, targetMatches } from '../../src/model/names';
import { nodeRunEnvironment } from '../../src/run/node-env';
import { Run, RunDivergedError, type RunEvent } from '../../src/run/run';
import { defaultAdapterConfig, defaultTrainConfig, runSpecWith } from '../../src/run/spec';
import type { TokenizedChoiceItem } from '../../src/tasks/protocol';
import { NonFiniteScoreError, scoreMultipleChoice } from '../../src/train/eval';
import { Trainer, TrainingDivergedError } from '../../src/train/trainer';
import { shapeSize } from '../../src/util/shape';
import { d2lora, expectCleanFailure, expectNothingWritten } from './cli';
import { gpu } from './gpu';
import { mirrorPath } from '../unit/mirror';

const FINITE = 'expected finite numbers (NaN and ±Infinity come from a training run that diverged, or from a damaged file)';
/** The short story task of the divergent runs: 128 examples, batch 8, two epochs of 16 steps. */
const SHORT = ['--story-train', '128', '--max-train', '128', '--story-test', '16', '--max-eval', '16', '--epochs', '2', '--batch', '8'];

/** Factors for q, k, v, o of every layer, every value `value`. */
function constantAdapters(model: LoadedModel, method: 'lora' | 'd2lora', value: number) {
  const cfg = defaultAdapterConfig({ method, r: 2, alpha: 4 });
  const targets = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
  const adapters: NamedAdapter[] = [];
  for (let i = 0; i < model.config.numLayers; i++) {
    for (const m of linearModules(model.config, i)) {
      if (!targets.some((t) => targetMatches(t, m.module))) continue;
      const tensors: AdapterParams['tensors'] = {};
      for (const [name, shape] of Object.entries(adapterTensorShapes(method, cfg.r, m))) tensors[name] = { shape, data: new Float32Array(shapeSize(shape)).fill(value) };
      adapters.push({ name: m.weight.replace(/\.weight$/, ''), params: { method, r: cfg.r, out: m.out, in: m.in, tensors } });
    }
  }
  return exportAdapter(model, adapters, cfg, targets);
}

function writeFolder(folder: string, files: Map<string, Uint8Array>): void {
  mkdirSync(folder, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(join(folder, name), bytes);
}

/** The weights with every value of one tensor replaced. */
function withTensor(weights: WeightMap, name: string, value: number): WeightMap {
  const out: WeightMap = new Map(weights);
  const w = weights.get(name)!;
  out.set(name, { shape: w.shape, data: new Float32Array(w.data.length).fill(value) });
  return out;
}

describe('numeric health', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'd2lora-health-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  let model: LoadedModel;
  const nanBin = join(scratch, 'nan-llama2c', 'stories260K.bin');
  const nanFolder = join(scratch, 'nan-hf');
  const nanAdapter = join(scratch, 'nan-adapter');
  const hugeAdapter = join(scratch, 'huge-adapter');

  beforeAll(async () => {
    model = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
    // A llama2.c copy: the 7-int32 header kept, every float after it NaN; the vocabulary beside it.
    const bin = new Uint8Array(readFileSync(mirrorPath('models/stories260K/stories260K.bin')));
    new Float32Array(bin.buffer, 28, (bin.length - 28) / 4).fill(NaN);
    mkdirSync(join(scratch, 'nan-llama2c'));
    writeFileSync(nanBin, bin);
    copyFileSync(mirrorPath('models/stories260K/tok512.bin'), join(scratch, 'nan-llama2c', 'tok512.bin'));
    // A Hugging Face copy (as `train` exports it) whose final norm is NaN.
    writeFolder(nanFolder, exportMergedCheckpoint(model, withTensor(model.weights, 'model.norm.weight', NaN)));
    writeFolder(nanAdapter, constantAdapters(model, 'd2lora', NaN));
    // Finite factors so large that the adapted forward overflows float32.
    writeFolder(hugeAdapter, constantAdapters(model, 'lora', 1e30));
  });

  describe('a NaN model or adapter is refused when it is read', () => {
    const nanBinMessage = `${nanBin}: tensor "model.embed_tokens.weight" (array token_embedding): NaN at [0, 0] (index 0); all 32768 of its values are NaN or infinite; ${FINITE}`;

    it('generate (llama2.c .bin and Hugging Face folder)', async () => {
      expectCleanFailure(await d2lora(['generate', '--model', nanBin, '--steps', '8']), `d2lora generate: ${nanBinMessage}`);
      expectCleanFailure(
        await d2lora(['generate', '--model', nanFolder, '--steps', '8']),
        `d2lora generate: ${join(nanFolder, 'model.safetensors')}: tensor "model.norm.weight": NaN at index 0; all 64 of its values are NaN or infinite; ${FINITE}`,
      );
    }, 60_000);

    it('eval, and eval --adapter with NaN factors', async () => {
      expectCleanFailure(await d2lora(['eval', '--model', nanBin, '--story-test', '8', '--max-eval', '8']), `d2lora eval: ${nanBinMessage}`);
      expectCleanFailure(
        await d2lora(['eval', '--adapter', nanAdapter, '--story-test', '8', '--max-eval', '8']),
        `d2lora eval: ${join(nanAdapter, 'd2lora_model.safetensors')}: tensor "model.layers.0.self_attn.q_proj.d2lora.u_plus": NaN at [0, 0] (index 0); all 128 of its values are NaN or infinite; ${FINITE}`,
      );
    }, 60_000);

    it('train: nothing reaches training (nothing blames the learning rate), nothing is written', async () => {
      const out = join(scratch, 'out-nan');
      expectCleanFailure(await d2lora(['train', '--model', nanBin, ...SHORT, '--out', out]), `d2lora train: ${nanBinMessage}`);
      expectNothingWritten(out);
    }, 60_000);
  });

  describe('non-finite scores stop evaluation', () => {
    it('scoreMultipleChoice names the item and the choice', async () => {
      const ctx = await gpu();
      const broken = new GpuModel(ctx, model.config, withTensor(model.weights, 'model.layers.2.mlp.up_proj.weight', NaN));
      const items: TokenizedChoiceItem[] = [
        { prompt: [1, 400, 261], choices: [[301], [302, 303]], answer: 1, cut: 0, id: 'story-7' },
        { prompt: [1, 400], choices: [[301], [302]], answer: 0, cut: 0 },
      ];
      const e = await scoreMultipleChoice(broken, items).then(
        () => null,
        (err: unknown) => err,
      );
      broken.destroy();
      expect(e).toBeInstanceOf(NonFiniteScoreError);
      expect(e).toMatchObject({ item: 0, choice: 0, items: 2, choices: 2, itemId: 'story-7' });
      expect((e as Error).message).toBe(
        'evaluation stopped: choice 1 of 2 of item 1 of 2 ("story-7") scores NaN: the model\'s forward pass is not finite ' +
          '(its weights, or the adapters on them, are so large that float32 overflows), so no accuracy is computed',
      );
    });

    it('eval --adapter with factors that overflow the forward', async () => {
      expectCleanFailure(
        await d2lora(['eval', '--adapter', hugeAdapter, '--story-test', '8', '--max-eval', '8']),
        'd2lora eval: evaluation stopped: choice 1 of 4 of item 1 of 8 ("story-test-0") scores NaN: the model\'s forward pass is not finite ' +
          '(its weights, or the adapters on them, are so large that float32 overflows), so no accuracy is computed',
      );
    }, 60_000);
  });

  describe('the divergence watch', () => {
    it('a loss above ln V for 16 steps stops the run, naming the flags to change', async () => {
      const out = join(scratch, 'out-above');
      const r = await d2lora(['train', ...SHORT, '--lr', '0.3', '--max-grad-norm', '0', '--seed', '1', '--out', out]);
      expectCleanFailure(
        r,
        new RegExp(
          '^d2lora train: training diverged: the loss stayed above ln 512 = 6\\.238, the loss of calling all 512 tokens of the vocabulary equally likely, ' +
            'for 16 steps in a row \\(steps (\\d+)–(\\d+) of 32\\); it was \\d+\\.\\d{3} at the last of them\\. ' +
            'The model now predicts worse than knowing nothing, and the run was stopped\\. ' +
            'Try a lower learning rate \\(--lr 0\\.03 instead of 0\\.3\\) or clipping the gradient norm \\(--max-grad-norm 1 instead of 0\\)\\.$',
        ),
      );
      expectNothingWritten(out);
    }, 180_000);

    it('a gradient norm of exactly 0 stops the run; weight decay that flips the factors is named first', async () => {
      const out = join(scratch, 'out-zero');
      const r = await d2lora(['train', ...SHORT, '--lr', '1', '--weight-decay', '10', '--out', out]);
      expectCleanFailure(
        r,
        new RegExp(
          '^d2lora train: training diverged: the gradient norm was exactly 0 for 3 steps in a row \\(steps (\\d+)–(\\d+) of 32\\) while the loss stayed at \\d+\\.\\d{3} ' +
            '\\(ln 512 = 6\\.238 is the loss of calling every token equally likely\\)\\. .* and the run was stopped\\. ' +
            'Try less weight decay \\(--weight-decay 0\\.1 instead of 10\\) or a lower learning rate \\(--lr 0\\.1 instead of 1\\)\\.$',
        ),
      );
      expectNothingWritten(out);
    }, 180_000);

    it("the Run's error event carries the divergence in the RunSpec's terms, for the page", async () => {
      const spec = runSpecWith({
        task: { kind: 'story', trainSize: 128, testSize: 16 },
        limits: { maxTrain: 128, maxEval: 16 },
        training: { lr: 1, weightDecay: 10, batch: 8, epochs: 2 },
      });
      const run = new Run(nodeRunEnvironment(await gpu()), spec, { exportArtifacts: false });
      const errors: Extract<RunEvent, { type: 'error' }>[] = [];
      run.events.on('error', (e) => errors.push(e));
      const rejected = await run.start().then(
        () => null,
        (e: unknown) => e,
      );
      expect(rejected).toBeInstanceOf(RunDivergedError);
      expect(errors).toHaveLength(1);
      const [event] = errors;
      expect([event!.stage, event!.name, event!.message]).toEqual(['train', 'TrainingDivergedError', (rejected as Error).message]);
      expect(event!.divergence).toEqual((rejected as RunDivergedError).divergence);
      expect(event!.divergence).toMatchObject({
        kind: 'zero-gradient',
        suggestions: [
          { setting: 'weightDecay', path: ['training', 'weightDecay'], current: 10, value: 0.1 },
          { setting: 'lr', path: ['training', 'lr'], current: 1, value: 0.1 },
        ],
      });
      expect(event!.message).toMatch(/ Try less weight decay \(training\.weightDecay 0\.1 instead of 10\) or a lower learning rate \(training\.lr 0\.1 instead of 1\)\.$/);
    }, 180_000);

    /** Trains on `weights` with `lr` in a context of its own, destroyed as soon as training fails. */
    async function failedTraining(weights: WeightMap, lr: number) {
      const rejections: unknown[] = [];
      const onRejection = (e: unknown) => rejections.push(e);
      process.on('unhandledRejection', onRejection);
      const ctx = await acquireNodeContext();
      const gpuModel = new GpuModel(ctx, model.config, weights, { config: defaultAdapterConfig() });
      const examples = Array.from({ length: 64 }, (_, i) => ({ tokens: [1, 400 + (i % 7), 261, 302 + (i % 5), 2], targetStart: 3 }));
      const trainer = new Trainer(gpuModel, examples, defaultTrainConfig({ lr, batchSize: 8, epochs: 1, warmupRatio: 0 }));
      const error = await trainer.run().then(
        () => null,
        (e: unknown) => e,
      );
      const history = trainer.history.length;
      trainer.destroy();
      gpuModel.destroy();
      ctx.destroy();
      // A read-back left in flight would reject now, with the context gone.
      await new Promise((r) => setTimeout(r, 300));
      process.off('unhandledRejection', onRejection);
      return { error, rejections, history };
    }

    it('a model that is not finite from step 1 blames no setting, and leaves nothing in flight', async () => {
      const { error, rejections, history } = await failedTraining(withTensor(model.weights, 'model.norm.weight', NaN), 1e-3);
      expect(error).toBeInstanceOf(TrainingDivergedError);
      const d = (error as TrainingDivergedError).divergence;
      expect([d.kind, d.step, d.suggestions]).toEqual(['non-finite', 1, []]);
      expect((error as Error).message).toBe(
        'training stopped at step 1, before any update (loss NaN, gradient norm NaN, learning rate 0.001): the model does not compute finite values on this data, ' +
          'so no training setting is to blame; check the model (a checkpoint whose weights are too large for float32 arithmetic).',
      );
      expect(history).toBe(0);
      expect(rejections).toEqual([]);
    }, 60_000);

    it('a non-finite loss after updates stops the run with the step, and leaves nothing in flight', async () => {
      // The trainer takes any finite rate (the RunSpec caps it at 1): 1e30 overflows at once.
      const { error, rejections } = await failedTraining(model.weights, 1e30);
      expect(error).toBeInstanceOf(TrainingDivergedError);
      const d = (error as TrainingDivergedError).divergence;
      expect(d.kind).toBe('non-finite');
      expect(d.step).toBeGreaterThan(1);
      expect(d.suggestions).toEqual([{ setting: 'lr', current: 1e30, value: 1e29 }]);
      expect((error as Error).message).toMatch(
        new RegExp(
          `^training diverged: the training loss became NaN at step ${d.step} of 8 \\(loss NaN, gradient norm NaN, learning rate [0-9.e+]+\\)\\. ` +
            'The optimizer skipped that step, but training cannot go on from non-finite values, and the run was stopped\\. ' +
            'Try a lower learning rate \\(lr 1e\\+29 instead of 1e\\+30\\)\\.$',
        ),
      );
      expect(rejections).toEqual([]);
    }, 60_000);
  });
});
