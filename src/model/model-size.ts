// How big a model a config describes, checked twice:
//   checkPlausibleModel   when the config is read (src/io/hf-config.ts), before anything is
//                         allocated: each width, count and the context against a bound no real
//                         checkpoint comes near, and the parameter count against one the engine
//                         could hold, so that a 1 KB config.json claiming 10^8 layers fails at
//                         once, naming the field, instead of after gigabytes of bookkeeping;
//   checkModelFitsDevice  once a device is known (the run core, right after loading): the largest
//                         buffer the model needs (embedding table, MLP weight, attention weight,
//                         RoPE or position table) against the device's maxBufferSize and
//                         maxStorageBufferBindingSize, naming the fields that make it that big.
// Messages name the config's own fields (config.json's "num_hidden_layers", a llama2.c header's
// "n_layers"): a ConfigSource says what the file calls each of them.

import { FormatError } from '../io/errors';
import type { ModelConfig } from './config';
import { expectedWeights } from './names';

/** The ModelConfig fields a config's size comes from. */
export type SizeField = 'vocabSize' | 'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' | 'maxPositions';

/** Where a config came from, for messages: the file, and its own name for each size field. */
export interface ConfigSource {
  file: string;
  /** e.g. "field" (config.json) or "header field" (a llama2.c .bin). */
  fieldKind: string;
  /** The file's name for each field; a derived one reads as its formula ("hidden_size / num_attention_heads"). */
  fields: Record<SizeField, string>;
}

/**
 * The largest value each field may have, and why: far above every published checkpoint (the
 * largest Llama has 126 layers, width 16,384, MLP width 53,248 and 128 heads; the largest
 * vocabularies about 262,000 tokens; Qwen2.5-1M declares 1,010,000 positions), far below what
 * would make the bookkeeping itself (a name per tensor, a RoPE table per position) a problem.
 */
export const MODEL_FIELD_BOUNDS: Readonly<Partial<Record<SizeField, number>>> = {
  numLayers: 1024,
  hiddenSize: 65_536,
  intermediateSize: 262_144,
  numHeads: 1024,
  vocabSize: 1_048_576,
  maxPositions: 4_194_304,
};

/**
 * The most parameters a model may have: 10^10. The engine keeps every weight in f32 on the host
 * and again on the GPU (40 GB each at this bound), beyond what a browser tab or any GPU this
 * engine targets holds; a config past it is a mistake, not a model to try.
 */
export const MAX_PARAMETERS = 1e10;

/** Weights, norms and biases of the model the config describes: outside its layers + layers × one layer. */
export function parameterCounts(c: ModelConfig): { total: number; perLayer: number; outsideLayers: number } {
  const count = (layers: number) => [...expectedWeights({ ...c, numLayers: layers }).values()].reduce((sum, shape) => sum + shape.reduce((a, b) => a * b, 1), 0);
  const outsideLayers = count(0);
  const perLayer = count(1) - outsideLayers;
  return { total: outsideLayers + c.numLayers * perLayer, perLayer, outsideLayers };
}

/**
 * Throws a FormatError naming the field when one is past its bound (MODEL_FIELD_BOUNDS), or the
 * parameter count is past MAX_PARAMETERS. Allocates nothing that grows with the config.
 */
export function checkPlausibleModel(c: ModelConfig, source: ConfigSource): void {
  for (const [field, max] of Object.entries(MODEL_FIELD_BOUNDS) as [SizeField, number][]) {
    if (c[field] > max) {
      throw new FormatError({
        file: source.file,
        field: `${source.fieldKind} "${source.fields[field]}"`,
        found: `${c[field]}`,
        expected: `at most ${max}, far more than any published model has; a larger value means a broken config`,
      });
    }
  }
  const { total, perLayer, outsideLayers } = parameterCounts(c);
  if (total > MAX_PARAMETERS) {
    const f = source.fields;
    throw new FormatError({
      file: source.file,
      found:
        `a model of ${total.toExponential(2)} parameters (${f.numLayers} ${c.numLayers} × ${perLayer} per layer, ` +
        `${outsideLayers} in the embeddings and the final norm)`,
      expected: `at most ${MAX_PARAMETERS.toExponential(0)} parameters, 40 GB in f32 on the host and again on the GPU (check ${f.numLayers}, ${f.hiddenSize}, ${f.intermediateSize} and ${f.vocabSize})`,
    });
  }
}

/** The device limits that bound one buffer (a GPUDevice's `limits` has both). */
export interface DeviceBufferLimits {
  readonly maxBufferSize: number;
  readonly maxStorageBufferBindingSize: number;
}

export class DeviceLimitError extends Error {
  override name = 'DeviceLimitError';
}

/** One f32 buffer the model needs, as a product of config fields. */
interface ModelBuffer {
  what: string;
  factors: { field: SizeField | null; value: number }[];
  /** What to do when it does not fit, besides another device. */
  remedy: string;
}

/**
 * Throws a DeviceLimitError when the largest buffer the model needs on the GPU (every weight is
 * one f32 buffer bound as storage, as is the RoPE table) is over the device's maxBufferSize or
 * maxStorageBufferBindingSize, naming the config fields that make it that big and what to do.
 * Activations are not checked here: their size is the run's batch and sequence length, which the
 * GPU context checks when they are allocated.
 */
export function checkModelFitsDevice(c: ModelConfig, source: ConfigSource, limits: DeviceBufferLimits): void {
  const f = (field: SizeField) => ({ field, value: c[field] });
  const smaller = (...fields: SizeField[]) => `or a model with a smaller ${fields.map((x) => source.fields[x]).join(' or ')}`;
  const buffers: ModelBuffer[] = [
    { what: 'the embedding table', factors: [f('vocabSize'), f('hiddenSize')], remedy: smaller('vocabSize', 'hiddenSize') },
    { what: 'an MLP weight', factors: [f('intermediateSize'), f('hiddenSize')], remedy: smaller('intermediateSize', 'hiddenSize') },
  ];
  if (c.family === 'gpt2') {
    buffers.push(
      { what: 'the fused q/k/v weight (c_attn)', factors: [{ field: null, value: 3 }, f('hiddenSize'), f('hiddenSize')], remedy: smaller('hiddenSize') },
      {
        what: 'the position embedding table',
        factors: [f('maxPositions'), f('hiddenSize')],
        remedy: `or a model with fewer ${source.fields.maxPositions} (its learned positions cannot be cut in the config)`,
      },
    );
  } else {
    buffers.push(
      { what: 'the query and output weights', factors: [f('numHeads'), f('headDim'), f('hiddenSize')], remedy: smaller('numHeads', 'hiddenSize') },
      {
        what: 'the RoPE table',
        factors: [f('maxPositions'), f('headDim')],
        remedy: `or lower ${source.fields.maxPositions} in ${source.file} to at most ${Math.floor(Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize) / (4 * c.headDim))} (a run uses only its longest sequence's positions)`,
      },
    );
  }
  const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const limitName = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
  const bytesOf = (b: ModelBuffer) => 4 * b.factors.reduce((n, x) => n * x.value, 1);
  const over = buffers.filter((b) => bytesOf(b) > limit).sort((a, b) => bytesOf(b) - bytesOf(a));
  if (over.length === 0) return;
  const worst = over[0];
  const names = worst.factors.map((x) => (x.field === null ? `${x.value}` : source.fields[x.field])).join(' × ');
  const values = worst.factors.map((x) => x.value).join(' × ');
  const others = over.length > 1 ? ` (and ${over.slice(1).map((b) => b.what).join(', ')} too)` : '';
  throw new DeviceLimitError(
    `${source.file}: this device allows at most ${limit} bytes per buffer (${limitName}); ${worst.what} ${names} ` +
      `(${values} f32) needs ${bytesOf(worst)}${others}. Use a GPU or browser that allows larger buffers, ${worst.remedy}`,
  );
}
