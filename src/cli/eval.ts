// `d2lora eval`: accuracy of any checkpoint (a preset, a merged output folder, a Hugging Face
// folder or URL), optionally with an adapter applied unmerged, on any task, by the run protocol's
// evaluation split.

import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { acquireNodeContext } from '../gpu/node';
import { readAdapter } from '../io/adapter';
import { ADAPTER_FILES } from '../io/adapter-format';
import { readFileIfPresent } from '../io/node-source';
import { TEXT_FILE_LIMIT } from '../io/read-limits';
import { SAFETENSORS_READ_LIMIT } from '../io/safetensors';
import { GpuModel } from '../model/gpu-model';
import { checkModelFitsDevice } from '../model/model-size';
import { ADAPTER_FOLDER } from '../run/artifacts';
import { nodeRunEnvironment } from '../run/node-env';
import { prepareTask, tokenizeMultipleChoiceItems } from '../tasks/protocol';
import { accuracyOf, scoreMultipleChoice } from '../train/eval';
import { StepGate } from '../util/gate';
import { UsageError, type FlagSpec, type FlagValues } from './args';
import { bar, downloadProgress, statusLine } from './progress';
import { runFromFlags, SPEC_FLAGS } from './spec-flags';

/** The spec flags that decide what is evaluated: the model, the task (and its file's columns), the protocol's evaluation limits, the scoring. */
const EVAL_SPEC_FLAGS = [
  ...['model', 'task', 'task-train', 'task-name', 'task-format', 'template', 'question', 'context', 'choices', 'choice-columns', 'answer', 'answer-format', 'item-id'],
  ...['seq-len', 'max-eval', 'eval-batch', 'scoring'],
  ...['story-types', 'story-characters', 'story-choices', 'story-test', 'story-seed'],
];

export const evalFlags: Record<string, FlagSpec> = {
  ...Object.fromEntries(EVAL_SPEC_FLAGS.map((k) => [k, SPEC_FLAGS[k]!])),
  model: { ...SPEC_FLAGS.model!, help: 'checkpoint: preset, output folder of train, Hugging Face folder or URL, llama2.c .bin' },
  adapter: { type: 'string', help: `an adapter folder (or an output folder with ${ADAPTER_FOLDER}/ in it), applied unmerged` },
};

/** The adapter files of `folder`, or of its adapter/ subfolder (an output folder of train), and where they are. */
async function adapterFiles(folder: string): Promise<{ files: Map<string, Uint8Array>; where: string }> {
  const inner = join(folder, ADAPTER_FOLDER);
  const where = (await stat(inner).catch(() => null))?.isDirectory() ? inner : folder;
  const files = new Map<string, Uint8Array>();
  for (const name of ADAPTER_FILES) {
    const bytes = await readFileIfPresent(join(where, name), name.endsWith('.json') ? TEXT_FILE_LIMIT : SAFETENSORS_READ_LIMIT);
    if (bytes) files.set(name, bytes);
  }
  if (files.size === 0) throw new UsageError(`--adapter ${folder}: no adapter files there (${ADAPTER_FILES.join(', ')}) nor in ${inner}`);
  return { files, where };
}

export async function evalCommand(flags: FlagValues): Promise<number> {
  const { spec, locations } = await runFromFlags(flags);
  const ctx = await acquireNodeContext();
  const env = nodeRunEnvironment(ctx, locations);
  const hooks = { onProgress: downloadProgress(), signal: new StepGate().signal };
  let gpuModel: GpuModel | null = null;
  try {
    const { model } = await env.loadModel(spec.model, hooks);
    for (const w of model.warnings) process.stderr.write(`warning: ${w}\n`);
    checkModelFitsDevice(model.config, model.configSource, ctx.limits);
    const task = await env.loadTask(spec.task, hooks);
    // The evaluation split does not depend on the run's seed (the protocol's evalSeed).
    const prepared = prepareTask(task, { seed: spec.seed, maxTrain: spec.limits.maxTrain, maxEval: spec.limits.maxEval });
    if (prepared.kind !== 'multiple-choice') throw new Error(`eval: task ${task.name} is ${prepared.kind}; eval scores multiple-choice tasks`);
    const { items, report } = tokenizeMultipleChoiceItems(prepared.eval, prepared.template, model.tokenizer, Math.min(spec.limits.maxLength, model.config.maxPositions));
    if (typeof flags.adapter === 'string') {
      const { files, where } = await adapterFiles(flags.adapter);
      const adapter = readAdapter(files, model.config, where);
      gpuModel = new GpuModel(ctx, model.config, model.weights, { config: adapter.cfg, targets: adapter.targets });
      const byName = new Map(adapter.adapters.map((a) => [a.name, a.params]));
      for (const { name, layer } of gpuModel.adapters()) {
        const p = byName.get(name);
        if (!p) throw new Error(`eval: the adapter has no factors for ${name}`);
        layer.writeParams(p);
      }
    } else {
      gpuModel = new GpuModel(ctx, model.config, model.weights);
    }
    const status = statusLine();
    const r = await scoreMultipleChoice(gpuModel, items, {
      sequencesPerBatch: spec.limits.evalBatch,
      onProgress: (d, t) => status(`scoring ${bar(d / t)} ${d}/${t} sequences`, d === t),
    });
    const chance = items.reduce((a, it) => a + 1 / it.choices.length, 0) / Math.max(1, items.length);
    console.log(
      `${model.name}${typeof flags.adapter === 'string' ? ` + adapter ${flags.adapter}` : ''} on ${task.name}: ` +
        `accuracy ${(100 * accuracyOf(r, spec.scoring)).toFixed(1)}% (${spec.scoring}; by sum ${(100 * r.accuracySum).toFixed(1)}%, by mean ${(100 * r.accuracyMean).toFixed(1)}%) ` +
        `over ${r.items} items, chance ${(100 * chance).toFixed(1)}%, ${r.itemsPerSecond.toFixed(1)} items/s; ${report.truncated} prompts truncated`,
    );
    return 0;
  } finally {
    gpuModel?.destroy();
    ctx.destroy();
  }
}
