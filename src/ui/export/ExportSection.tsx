// "Export": a finished run's output folder — exactly what `d2lora train --onnx` writes — as a zip,
// the adapter alone as a zip, the merged model as ONNX (an onnx-community folder) as a zip, and
// metrics.json, each with its size before it is downloaded, and the folder's files listed.

import { onnxFolderNames } from '../../run/output-files';
import { outputName as outputNameOf } from '../../run/spec';
import { onnxZipName, useOnnxDownload } from '../../state/onnx-download';
import { DOWNLOADS, downloadFiles, useRun, type DownloadKind } from '../../state/run';
import { formatBytes } from '../format';
import styles from './Export.module.css';

const OFFERS: { kind: DownloadKind; button: string; what: string }[] = [
  {
    kind: 'output',
    button: 'Download output (.zip)',
    what: 'The output folder: run.json, the merged model (model.safetensors, config.json, the tokenizer; onnx/ and generation_config.json), adapter/, metrics.json, report.md and loss-curve.svg.',
  },
  { kind: 'adapter', button: 'Download adapter (.zip)', what: 'adapter/ alone: the trained adapter, to apply to the base model unmerged.' },
  { kind: 'metrics', button: 'Download metrics.json', what: 'Every step, the three evaluations, the merge gap, timings, device and versions.' },
];

export function ExportSection() {
  const status = useRun((s) => s.status);
  const artifacts = useRun((s) => s.artifacts);
  const outputName = useRun((s) => outputNameOf(s.spec));
  const downloading = useRun((s) => s.downloading);
  const downloadError = useRun((s) => s.downloadError);
  const downloadExport = useRun((s) => s.downloadExport);
  const onnx = useOnnxDownload();
  const finished = status === 'done' && artifacts.length > 0;
  const onnxNames = new Set(onnxFolderNames(artifacts.map((a) => a.name)));
  const onnxFiles = artifacts.filter((a) => onnxNames.has(a.name));
  const onnxBytes = onnxFiles.reduce((a, f) => a + f.bytes, 0);
  return (
    <section className="panel" aria-labelledby="export-heading">
      <div className="panel-head">
        <h2 id="export-heading">Export</h2>
      </div>
      {!finished ? (
        <p className={styles.empty}>When a run finishes, its output folder (the merged model, the adapter, the metrics and a report) is offered here as downloads.</p>
      ) : (
        <>
          <ul className={styles.offers} data-testid="export-offers">
            {OFFERS.map((o) => {
              const files = downloadFiles(o.kind, artifacts);
              const bytes = files.reduce((a, f) => a + f.bytes, 0);
              const name = DOWNLOADS[o.kind].fileName(outputName);
              return (
                <li key={o.kind} className={styles.offer}>
                  <button
                    type="button"
                    className={o.kind === 'output' ? 'primary' : undefined}
                    onClick={() => void downloadExport(o.kind)}
                    disabled={downloading !== null}
                    aria-describedby={`export-${o.kind}-what`}
                    data-testid={o.kind === 'output' ? 'run-download' : `export-download-${o.kind}`}
                  >
                    {downloading === o.kind ? 'Preparing…' : o.button}
                  </button>
                  <span className={styles.size} data-testid={`export-size-${o.kind}`} data-bytes={bytes} title={`${bytes.toLocaleString('en-US')} bytes`}>
                    {formatBytes(bytes)}
                    {DOWNLOADS[o.kind].zip && <span className={styles.unit}> in {files.length} files</span>}
                  </span>
                  <span id={`export-${o.kind}-what`} className={styles.what}>
                    {o.what} <code className={styles.name}>{name}</code>
                  </span>
                </li>
              );
            })}
            {onnxFiles.length > 0 && (
              <li className={styles.offer}>
                <button type="button" onClick={() => void onnx.download()} disabled={downloading !== null || onnx.downloading} aria-describedby="export-onnx-what" data-testid="export-download-onnx">
                  {onnx.downloading ? 'Preparing…' : 'Download ONNX (.zip)'}
                </button>
                <span className={styles.size} data-testid="export-size-onnx" data-bytes={onnxBytes} title={`${onnxBytes.toLocaleString('en-US')} bytes`}>
                  {formatBytes(onnxBytes)}
                  <span className={styles.unit}> in {onnxFiles.length} files</span>
                </span>
                <span id="export-onnx-what" className={styles.what}>
                  The merged model for onnxruntime and transformers.js: onnx/model.onnx (opset 17, float32 weights) beside config.json, generation_config.json and the
                  tokenizer. <code className={styles.name}>{onnxZipName(outputName)}</code>
                </span>
              </li>
            )}
          </ul>
          <p className={styles.note}>
            A zip stores the weights (safetensors, ONNX) as they are and compresses the text files, so it is a little smaller than its files. The
            merged model loads with <code>AutoModelForCausalLM.from_pretrained</code> in transformers (Python) and in transformers.js (the ONNX
            folder); <code>d2lora train --spec run.json</code> runs the same run again.
          </p>
          {(downloadError ?? onnx.error) !== null && (
            <p className="error-text" role="alert" data-testid="export-error">
              {downloadError ?? onnx.error}
            </p>
          )}
          <details className={styles.files}>
            <summary>The output folder's {artifacts.length} files</summary>
            <table data-testid="export-files">
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col" className="num">
                    Size
                  </th>
                </tr>
              </thead>
              <tbody>
                {artifacts.map((a) => (
                  <tr key={a.name}>
                    <td>
                      <code>{a.name}</code>
                    </td>
                    <td className="num">{formatBytes(a.bytes)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </>
      )}
    </section>
  );
}
