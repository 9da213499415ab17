// The Export section's ONNX download: a finished run's merged model as an onnx-community folder
// (onnx/model.onnx beside config.json, generation_config.json and the tokenizer files), zipped in
// the page from the files the worker holds. The output folder's zip holds the same files among
// the others.

import { create } from 'zustand';
import { onnxFolderNames } from '../run/output-files';
import { outputName } from '../run/spec';
import { offerDownload } from './download';
import { useRun } from './run';
import { engine, forgetIfBroken } from './worker';
import { zipParts } from './zip';

export interface OnnxDownloadState {
  downloading: boolean;
  error: string | null;
  download(): Promise<void>;
}

/** The download's file name: the run's output name, then -onnx.zip. */
export function onnxZipName(runOutputName: string): string {
  return `${runOutputName}-onnx.zip`;
}

export const useOnnxDownload = create<OnnxDownloadState>()((set, get) => ({
  downloading: false,
  error: null,

  async download() {
    const { runId, status, spec, metrics, artifacts } = useRun.getState();
    const names = onnxFolderNames(artifacts.map((a) => a.name));
    if (runId === null || status !== 'done' || metrics === null || names.length === 0 || get().downloading) return;
    const name = onnxZipName(outputName(spec));
    set({ downloading: true, error: null });
    try {
      const { files } = await (await engine()).client.export(runId, names);
      const parts = zipParts(files.map((f) => ({ name: f.name, bytes: new Uint8Array(f.bytes) })), new Date(metrics.createdAt));
      offerDownload(new Blob(parts as Uint8Array<ArrayBuffer>[], { type: 'application/zip' }), name);
      set({ downloading: false });
    } catch (e) {
      forgetIfBroken(e);
      set({ downloading: false, error: `${name}: ${e instanceof Error ? e.message : String(e)}` });
    }
  },
}));

// A new run makes the last one's download error stale.
useRun.subscribe((s, prev) => {
  if (s.runId !== prev.runId) useOnnxDownload.setState({ error: null });
});
