// `d2lora eval`: accuracy of any checkpoint (a preset, a merged output folder, a Hugging Face
// folder or URL), optionally with an adapter folder applied unmerged, on any task.

import { join } from 'node:path';
import { acquireNodeContext } from '../gpu/node';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, readAdapter } from '../io/export';
import { resolveSourceString } from '../io/load';
import { loadModelInNode, readFileIfPresent } from '../io/node-source';
import { GpuModel } from '../model/gpu-model';
import { loadTaskInNode } from '../tasks/node';
import { prepareTask, tokenizeMultipleChoiceItems } from '../tasks/protocol';
import { accuracyOf, CHOICE_SCORINGS, scoreMultipleChoice, type ChoiceScoring } from '../train/eval';
import { UsageError, type FlagSpec, type FlagValues } from './args';
import { bar, downloadProgress, statusLine } from './progress';
import { storyOptionsFromFlags, trainFlags } from './train';

export const evalFlags: Record<string, FlagSpec> = {
  model: { type: 'string', help: 'checkpoint: preset, output folder of train, Hugging Face folder or URL, llama2.c .bin', default: 'stories260K' },
  task: { type: 'string', help: 'built-in "story" or a catalog task', default: 'story' },
  adapter: { type: 'string', help: 'folder with adapter_model.safetensors + adapter_config.json, applied unmerged' },
  'max-eval': { type: 'number', help: 'evaluation items at most', default: 1000 },
  'seq-len': { type: 'number', help: 'longest prompt + answer in tokens', default: 256 },
  scoring: { type: 'string', help: `choice scoring: ${CHOICE_SCORINGS.join(', ')}`, default: 'sum' },
  'story-types': trainFlags['story-types']!,
  'story-characters': trainFlags['story-characters']!,
};

export async function evalCommand(flags: FlagValues): Promise<number> {
  const scoring = String(flags.scoring) as ChoiceScoring;
  if (!CHOICE_SCORINGS.includes(scoring)) throw new UsageError(`--scoring must be one of ${CHOICE_SCORINGS.join(', ')}, got "${flags.scoring}"`);
  const model = await loadModelInNode(resolveSourceString(String(flags.model)), { onProgress: downloadProgress() });
  const task = await loadTaskInNode(String(flags.task), { onProgress: downloadProgress(), story: storyOptionsFromFlags(flags) });
  // The evaluation split does not depend on the training seed (the protocol's evalSeed).
  const prepared = prepareTask(task, { seed: 0, maxEval: Number(flags['max-eval']) });
  if (prepared.kind !== 'multiple-choice') throw new Error(`eval: task ${task.name} is ${prepared.kind}; eval scores multiple-choice tasks`);
  const { items, report } = tokenizeMultipleChoiceItems(prepared.eval, prepared.template, model.tokenizer, Math.min(Number(flags['seq-len']), model.config.maxPositions));
  const ctx = await acquireNodeContext();
  let gpuModel: GpuModel;
  if (typeof flags.adapter === 'string') {
    const files = new Map<string, Uint8Array>();
    for (const name of [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE]) {
      const bytes = await readFileIfPresent(join(flags.adapter, name));
      if (bytes) files.set(name, bytes);
    }
    const adapter = readAdapter(files, model.config);
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
  try {
    const r = await scoreMultipleChoice(gpuModel, items, { onProgress: (d, t) => status(`scoring ${bar(d / t)} ${d}/${t} sequences`, d === t) });
    const chance = items.reduce((a, it) => a + 1 / it.choices.length, 0) / Math.max(1, items.length);
    console.log(
      `${model.name}${typeof flags.adapter === 'string' ? ` + adapter ${flags.adapter}` : ''} on ${task.name}: ` +
        `accuracy ${(100 * accuracyOf(r, scoring)).toFixed(1)}% (${scoring}; by sum ${(100 * r.accuracySum).toFixed(1)}%, by mean ${(100 * r.accuracyMean).toFixed(1)}%) ` +
        `over ${r.items} items, chance ${(100 * chance).toFixed(1)}%, ${r.itemsPerSecond.toFixed(1)} items/s; ${report.truncated} prompts truncated`,
    );
    return 0;
  } finally {
    gpuModel.destroy();
    ctx.destroy();
  }
}
