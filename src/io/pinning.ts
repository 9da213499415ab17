// Pinning the files a run reads: each file's name (relative to the folder it came from) and
// sha256, recorded as it is read so that a spec can name exactly the files it was run on; and,
// when the spec already names them, each file checked against its sha256 before it is used.
// Works on local paths (Node) and on picked files (the browser) alike.

import { ChecksumError, sha256Hex } from './fetch-cache';
import { FormatError } from './errors';
import type { LocalFiles, PickedFile } from './load';

export interface PinnedFile {
  name: string;
  sha256: string;
}

/** Records and checks what is read; `files()` lists what was, in reading order. */
export class FilePins {
  private readonly read: PinnedFile[] = [];

  /**
   * @param expected the files a spec pins; empty when it pins none yet (then nothing is checked)
   * @param where what the files are, for messages (e.g. the folder's path)
   */
  constructor(
    private readonly expected: readonly PinnedFile[],
    private readonly where: string,
  ) {}

  /** Checks and records one file's bytes. */
  async pin(name: string, bytes: Uint8Array): Promise<void> {
    const sha256 = await sha256Hex(bytes);
    if (this.expected.length > 0) {
      const want = this.expected.find((f) => f.name === name);
      if (want === undefined) {
        throw new FormatError({
          file: `${this.where}/${name}`,
          found: 'a file the run spec does not pin',
          expected: `one of the files the spec names (${this.expected.map((f) => f.name).join(', ')})`,
        });
      }
      if (want.sha256 !== sha256) throw new ChecksumError(`${this.where}/${name}`, want.sha256, sha256);
    }
    if (!this.read.some((f) => f.name === name)) this.read.push({ name, sha256 });
  }

  files(): PinnedFile[] {
    return [...this.read];
  }

  /** Local file access under `root` whose reads are pinned by their path relative to `root`. */
  local(inner: LocalFiles, root: string): LocalFiles {
    const prefix = root.replace(/[\\/]+$/, '');
    return {
      read: async (path, limit) => {
        const bytes = await inner.read(path, limit);
        if (bytes !== null) await this.pin(relativeName(path, prefix), bytes);
        return bytes;
      },
    };
  }

  /** Picked files whose reads are pinned by their names. */
  picked(files: readonly PickedFile[]): PickedFile[] {
    return files.map((f) => ({
      name: f.name,
      bytes: async () => {
        const bytes = await f.bytes();
        await this.pin(f.name, bytes);
        return bytes;
      },
    }));
  }
}

/** `path` relative to `root` when inside it, else its last segment. */
function relativeName(path: string, root: string): string {
  const normalized = path.replace(/\\/g, '/');
  const base = root.replace(/\\/g, '/');
  if (base !== '' && normalized.startsWith(`${base}/`)) return normalized.slice(base.length + 1);
  return normalized.slice(normalized.lastIndexOf('/') + 1);
}
