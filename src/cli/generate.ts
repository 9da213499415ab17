// `d2lora generate`: text from a model (preset, folder, URL or llama2.c .bin), streamed to stdout.

import { acquireNodeContext } from '../gpu/node';
import { resolveSourceString } from '../io/load';
import { loadModelInNode } from '../io/node-source';
import { generate } from '../model/generate';
import { GpuModel } from '../model/gpu-model';
import { checkModelFitsDevice } from '../model/model-size';
import type { FlagSpec, FlagValues } from './args';
import { downloadProgress } from './progress';

export const generateFlags: Record<string, FlagSpec> = {
  model: { type: 'string', help: 'preset name, Hugging Face folder or URL, or llama2.c .bin', default: 'stories260K' },
  prompt: { type: 'string', help: 'text to start from (BOS alone when empty)', default: '' },
  temperature: { type: 'number', help: '0 = greedy', default: 0 },
  'top-p': { type: 'number', help: 'nucleus sampling cut-off in (0, 1]', default: 1 },
  steps: { type: 'number', help: 'positions to run, the prompt included', default: 256 },
  seed: { type: 'number', help: 'sampling seed', default: 0 },
};

export async function generateCommand(flags: FlagValues): Promise<number> {
  const source = resolveSourceString(String(flags.model));
  const model = await loadModelInNode(source, { onProgress: downloadProgress() });
  for (const w of model.warnings) process.stderr.write(`warning: ${w}\n`);
  const ctx = await acquireNodeContext();
  try {
    checkModelFitsDevice(model.config, model.configSource, ctx.limits);
  } catch (e) {
    ctx.destroy();
    throw e;
  }
  const gpuModel = new GpuModel(ctx, model.config, model.weights);
  try {
    const t0 = performance.now();
    let streamed = false;
    const out = await generate(gpuModel, model.tokenizer, String(flags.prompt), {
      steps: Number(flags.steps),
      temperature: Number(flags.temperature),
      topP: Number(flags['top-p']),
      seed: Number(flags.seed),
      onToken: (_id, text) => {
        streamed = true;
        process.stdout.write(text);
      },
    });
    if (!streamed) process.stdout.write(out.text);
    const s = (performance.now() - t0) / 1000;
    process.stdout.write('\n');
    const generated = out.generatedTokens.length;
    process.stderr.write(
      `${model.name}: ${out.promptTokens.length} prompt tokens, ${generated} generated in ${s.toFixed(2)} s (${(generated / s).toFixed(1)} tokens/s) on ${ctx.adapter.vendor} ${ctx.adapter.architecture}\n`,
    );
    return 0;
  } finally {
    gpuModel.destroy();
    ctx.destroy();
  }
}
