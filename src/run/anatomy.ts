// Inside the adapter, for a whole model: every adapted module (layer × projection) measured by
// layerAnatomy (adapters/anatomy.ts) from its factors and the frozen weight, never building ΔW,
// with the per-row figures folded into distributions so that metrics.json, report.md and the
// page's heatmap and histograms carry the same numbers at a size independent of the model.

import { distribution, layerAnatomy, type Distribution } from '../adapters/anatomy';
import type { AdapterConfig } from '../adapters/config';
import type { AdapterParams } from '../adapters/init';
import type { ModelConfig, WeightMap } from '../model/config';
import { linearModules } from '../model/names';

export interface ModuleAnatomy {
  /** The adapter's name (the weight's name without ".weight"). */
  name: string;
  layer: number;
  /** The projection ("q_proj", "attn.c_attn"). */
  module: string;
  out: number;
  in: number;
  /** ‖ΔW‖_F / ‖W0‖_F. */
  updateRatio: number;
  deltaNorm: number;
  baseNorm: number;
  /** D2-LoRA: the Frobenius norms of s·U₊D₊ and sτ·U₋D₋. */
  branches: { plus: number; minus: number } | null;
  /** The per-row rescale g_j (D2-LoRA with projection: c_j/n_j; DoRA: m_j/n_j); null where the weight is W0 + ΔW. */
  rowScale: Distribution | null;
  /** Per row of the effective weight: ‖W_eff_j‖ / ‖W0_j‖ − 1. */
  rowDrift: Distribution;
  /** DoRA: the learned magnitude against the base row norm, m_j / ‖W0_j‖. */
  magnitudeRatio: Distribution | null;
}

export interface AdapterAnatomy {
  method: AdapterConfig['method'];
  /** The layers' module names in the model's order (the heatmap's columns). */
  modules: string[];
  layers: number;
  entries: ModuleAnatomy[];
}

/** The figures of every adapter of a run, from the base weights on the host and the adapters' factors. */
export function adapterAnatomy(config: ModelConfig, weights: WeightMap, cfg: AdapterConfig, adapters: ReadonlyMap<string, AdapterParams>): AdapterAnatomy {
  const entries: ModuleAnatomy[] = [];
  const modules: string[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const m of linearModules(config, layer)) {
      const name = m.weight.replace(/\.weight$/, '');
      const params = adapters.get(name);
      if (params === undefined) continue;
      const base = weights.get(m.weight);
      if (base === undefined) throw new Error(`inside the adapter: the base weight ${m.weight} of adapter ${name} is not loaded`);
      const a = layerAnatomy(cfg, base.data, params, m.layout);
      if (!modules.includes(m.module)) modules.push(m.module);
      entries.push({
        name,
        layer,
        module: m.module,
        out: m.out,
        in: m.in,
        updateRatio: a.updateRatio,
        deltaNorm: a.deltaNorm,
        baseNorm: a.baseNorm,
        branches: a.branches,
        rowScale: a.rowScale && distribution(a.rowScale),
        rowDrift: distribution(a.rowDrift),
        magnitudeRatio: a.magnitudeRatio && distribution(a.magnitudeRatio),
      });
    }
  }
  if (entries.length !== adapters.size) {
    const known = new Set(entries.map((e) => e.name));
    const stray = [...adapters.keys()].filter((n) => !known.has(n));
    throw new Error(`inside the adapter: ${stray.join(', ')} match no linear layer of this ${config.family} model`);
  }
  return { method: cfg.method, modules, layers: config.numLayers, entries };
}
