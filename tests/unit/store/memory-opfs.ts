// Stand-ins for the browser pieces the run store uses, for its unit tests in Node.
//
// MemoryFileSystem: the subset of the origin private file system that src/store/opfs.ts uses,
// with the browser's behaviour where the store relies on it: names cannot hold "/" or be "." or
// "..", what is not there is a NotFoundError, a non-empty folder goes only with `recursive`, and
// createWritable() writes a swap file that replaces the file on close() and is dropped on
// abort(). A byte quota makes a write past it throw QuotaExceededError, as Chrome's OPFS does;
// failWrite() makes one write throw any other error; holdWrites() stops the writes of one file,
// as a tab closed during a save would leave them.
//
// MemoryLocks: navigator.locks for one name at a time, shared or exclusive, with ifAvailable. It
// never queues: a request that would have to wait throws, since no test here needs one to wait.

import type { OpfsDirectory, OpfsFile, OpfsWritable } from '../../../src/store/opfs';
import type { SaveLocks, StorageLike } from '../../../src/store/store';

export class MemoryFileSystem {
  quota = Number.POSITIVE_INFINITY;
  readonly root = new MemoryDirectory(this);
  /** Bytes in the swap files of writables not yet closed or aborted. */
  swapBytes = 0;
  private hold: { name: string; reached: () => void; released: Promise<void> } | null = null;
  private failure: { writesLeft: number; error: Error } | null = null;

  /** navigator.storage over this file system: getDirectory, and estimate() from its bytes. */
  storage(): StorageLike {
    return {
      getDirectory: () => Promise.resolve(this.root),
      estimate: () => Promise.resolve({ usage: this.usage(), quota: this.quota }),
      persisted: () => Promise.resolve(false),
      persist: () => Promise.resolve(true),
    };
  }

  usage(): number {
    return this.root.bytes() + this.swapBytes;
  }

  /** Every file as "folder/…/name", sorted. */
  paths(): string[] {
    return this.root.paths('').sort();
  }

  /** From now on a write to a file of this name waits at its start until release(); `reached` resolves when one does. */
  holdWrites(name: string): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedPromise = new Promise<void>((r) => (reached = r));
    this.hold = { name, reached, released: new Promise<void>((r) => (release = r)) };
    return { reached: reachedPromise, release: () => { this.hold = null; release(); } };
  }

  /** The n-th write from now (0: the next one) throws `error`. */
  failWrite(n: number, error: Error): void {
    this.failure = { writesLeft: n, error };
  }

  async beforeWrite(file: string): Promise<void> {
    if (this.failure !== null && this.failure.writesLeft-- === 0) {
      const { error } = this.failure;
      this.failure = null;
      throw error;
    }
    if (this.hold === null || this.hold.name !== file) return;
    this.hold.reached();
    await this.hold.released;
  }
}

class MemoryDirectory implements OpfsDirectory {
  readonly entries = new Map<string, MemoryDirectory | MemoryFile>();

  constructor(private readonly fs: MemoryFileSystem) {}

  async getDirectoryHandle(name: string, options: { create?: boolean } = {}): Promise<MemoryDirectory> {
    return this.entry(name, options.create === true, 'directory', () => new MemoryDirectory(this.fs)) as MemoryDirectory;
  }

  async getFileHandle(name: string, options: { create?: boolean } = {}): Promise<MemoryFile> {
    return this.entry(name, options.create === true, 'file', () => new MemoryFile(this.fs, name)) as MemoryFile;
  }

  async removeEntry(name: string, options: { recursive?: boolean } = {}): Promise<void> {
    checkName(name);
    const entry = this.entries.get(name);
    if (entry === undefined) throw new DOMException(`no entry named ${name}`, 'NotFoundError');
    if (entry instanceof MemoryDirectory && entry.entries.size > 0 && options.recursive !== true) {
      throw new DOMException(`folder ${name} is not empty`, 'InvalidModificationError');
    }
    this.entries.delete(name);
  }

  bytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e instanceof MemoryDirectory ? e.bytes() : e.content.length;
    return n;
  }

  paths(prefix: string): string[] {
    return [...this.entries].flatMap(([name, e]) => (e instanceof MemoryDirectory ? e.paths(`${prefix}${name}/`) : [`${prefix}${name}`]));
  }

  private entry(name: string, create: boolean, kind: 'directory' | 'file', make: () => MemoryDirectory | MemoryFile): MemoryDirectory | MemoryFile {
    checkName(name);
    const found = this.entries.get(name);
    if (found === undefined) {
      if (!create) throw new DOMException(`no ${kind} named ${name}`, 'NotFoundError');
      const made = make();
      this.entries.set(name, made);
      return made;
    }
    if ((found instanceof MemoryDirectory) !== (kind === 'directory')) throw new DOMException(`${name} is not a ${kind}`, 'TypeMismatchError');
    return found;
  }
}

class MemoryFile implements OpfsFile {
  content = new Uint8Array(0);

  constructor(
    private readonly fs: MemoryFileSystem,
    private readonly name: string,
  ) {}

  async getFile(): Promise<Blob> {
    return new Blob([this.content]);
  }

  async createWritable(): Promise<OpfsWritable> {
    const fs = this.fs;
    const parts: Uint8Array[] = [];
    let size = 0;
    let open = true;
    const finish = () => {
      if (!open) throw new TypeError('the writable is closed');
      open = false;
      fs.swapBytes -= size;
    };
    return {
      write: async (data) => {
        await fs.beforeWrite(this.name);
        if (!open) throw new TypeError('the writable is closed');
        if (fs.usage() + data.length > fs.quota) throw new DOMException('the quota is exceeded', 'QuotaExceededError');
        parts.push(data.slice());
        size += data.length;
        fs.swapBytes += data.length;
      },
      close: async () => {
        finish();
        const content = new Uint8Array(size);
        let at = 0;
        for (const p of parts) {
          content.set(p, at);
          at += p.length;
        }
        this.content = content;
      },
      abort: async () => finish(),
    };
  }
}

function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || /[/\\]/.test(name)) throw new TypeError(`the name ${JSON.stringify(name)} is not allowed`);
}

export class MemoryLocks implements SaveLocks {
  private readonly held = new Map<string, { mode: 'shared' | 'exclusive'; count: number }>();

  async request<T>(name: string, options: { mode: 'shared' | 'exclusive'; ifAvailable?: boolean }, callback: (lock: unknown) => Promise<T>): Promise<T> {
    const held = this.held.get(name);
    const available = held === undefined || (held.mode === 'shared' && options.mode === 'shared');
    if (!available) {
      if (options.ifAvailable === true) return callback(null);
      throw new Error(`MemoryLocks: the request for ${name} (${options.mode}) would wait, which this stand-in does not do`);
    }
    this.held.set(name, { mode: options.mode, count: (held?.count ?? 0) + 1 });
    try {
      return await callback({ name, mode: options.mode });
    } finally {
      const h = this.held.get(name)!;
      if (--h.count === 0) this.held.delete(name);
    }
  }
}
