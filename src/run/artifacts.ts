// The output folder of a run, as file name → bytes: what `d2lora train` writes and the page zips.
//
//   run.json                      the RunSpec: `d2lora train --spec run.json` runs it again
//   config.json, model.safetensors, tokenizer files
//                                 the merged checkpoint, a plain Hugging Face model folder
//   adapter/                      the adapter alone, in its own folder so that loading the merged
//                                 model never mistakes it for an adapter to apply on top (PEFT's
//                                 files for LoRA and DoRA; D2-LoRA's own, src/io/adapter-format.ts)
//   onnx/, generation_config.json when asked (RunOptions.onnx): the merged model as an ONNX decoder,
//                                 the folder an onnx-community repository is (src/export/onnx.ts)
//   metrics.json, report.md, loss-curve.svg

import { exportAdapter } from '../export/adapter';
import { exportMergedCheckpoint } from '../export/checkpoint';
import { exportOnnx, type OnnxExportOptions } from '../export/onnx';
import type { NamedAdapter } from '../io/adapter-format';
import type { LoadedModel } from '../io/load';
import type { WeightMap } from '../model/config';
import { lossChartSvg, renderReport } from './report';
import type { RunArtifacts, RunMetrics } from './run';
import { ADAPTER_FOLDER, LOSS_CURVE_FILE, METRICS_FILE, REPORT_FILE, RUN_SPEC_FILE } from './output-files';
import { adapterConfigOf, type RunSpec } from './spec';

export { ADAPTER_FOLDER, METRICS_FILE, RUN_SPEC_FILE };

export function buildArtifacts(a: {
  spec: RunSpec;
  metrics: RunMetrics;
  model: LoadedModel;
  merged: WeightMap;
  adapters: readonly NamedAdapter[];
  /** False: only the spec, metrics and report (comparisons). */
  withCheckpoint: boolean;
  /** Also the merged model as ONNX (with the checkpoint only). */
  onnx?: OnnxExportOptions | null;
}): RunArtifacts {
  const files: RunArtifacts = new Map([[RUN_SPEC_FILE, json(a.spec)]]);
  if (a.withCheckpoint) {
    for (const [name, bytes] of exportMergedCheckpoint(a.model, a.merged)) files.set(name, bytes);
    const adapter = exportAdapter(a.model, a.adapters, adapterConfigOf(a.spec), a.metrics.adapter.targets);
    for (const [name, bytes] of adapter) files.set(`${ADAPTER_FOLDER}/${name}`, bytes);
    // Its config.json and tokenizer files are the checkpoint's (config.json adds transformers.js's external-data switch when the weights need it).
    if (a.onnx) for (const [name, bytes] of exportOnnx(a.model, a.merged, a.onnx)) files.set(name, bytes);
  }
  files.set(METRICS_FILE, json(a.metrics));
  files.set(REPORT_FILE, new TextEncoder().encode(renderReport(a.metrics)));
  files.set(LOSS_CURVE_FILE, new TextEncoder().encode(lossChartSvg(a.metrics)));
  return files;
}

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
}
