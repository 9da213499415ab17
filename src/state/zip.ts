// A zip of a run's files as Blob parts: fflate's streaming Zip pushes the local headers, each
// file's bytes and the central directory into an array of chunks, which `new Blob(parts)` takes
// as they are. A stored file's bytes are one of those chunks (no copy, no string); only the text
// files are deflated, into chunks of their own. The whole archive is never one buffer here.

import { Zip, ZipDeflate, ZipPassThrough } from 'fflate';

export interface ZipInput {
  /** The path inside the archive ("adapter/adapter_config.json"). */
  name: string;
  bytes: Uint8Array;
}

/**
 * Stored as they are: tensors in float32 are nearly incompressible (deflate saves a few percent
 * at a cost of seconds per hundred MiB) and are by far the largest files of an output folder (the
 * safetensors weights, and the ONNX model's, inside it or in its external data file).
 */
const STORED = /\.(safetensors|onnx|onnx_data)$/;
/** fflate's default level: the text files (JSON, Markdown, SVG) are small. */
const DEFLATE_LEVEL = 6;

/**
 * The archive's bytes in order, as chunks for `new Blob(parts)`. Every entry carries `mtime`
 * (a zip has a date per file; the run's, so that one run's zips are the same bytes).
 */
export function zipParts(files: readonly ZipInput[], mtime: Date): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let failure: Error | null = null;
  const zip = new Zip((err, chunk) => {
    if (err) failure ??= err;
    else parts.push(chunk);
  });
  for (const file of files) {
    const entry = STORED.test(file.name) ? new ZipPassThrough(file.name) : new ZipDeflate(file.name, { level: DEFLATE_LEVEL });
    entry.mtime = mtime;
    zip.add(entry);
    entry.push(file.bytes, true);
  }
  zip.end();
  if (failure !== null) throw new Error(`the zip could not be built: ${(failure as Error).message}`);
  return parts;
}

