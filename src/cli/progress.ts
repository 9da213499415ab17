// Terminal progress: download bars and the training line, redrawn in place on a TTY and
// printed as occasional plain lines otherwise (CI logs).

import type { FetchProgress } from '../io/fetch-cache';

const isTty = process.stderr.isTTY === true;

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

/** A reporter for loadModel's onProgress: one line per file, updated at most 10× a second. */
export function downloadProgress(): (p: FetchProgress) => void {
  let last = 0;
  let lastFile = '';
  return (p) => {
    const now = performance.now();
    const finished = p.total !== null && p.loaded >= p.total;
    if (p.file === lastFile && !finished && now - last < 100) return;
    last = now;
    const pct = p.total ? ` ${((100 * p.loaded) / p.total).toFixed(0)}%` : '';
    const line = `${p.file}: ${mib(p.loaded)}${p.total ? ` / ${mib(p.total)}` : ''} MiB${pct}`;
    if (isTty) process.stderr.write(`\r\x1b[2K${line}${finished ? '\n' : ''}`);
    else if (finished || p.file !== lastFile) process.stderr.write(`${line}\n`);
    lastFile = p.file;
  };
}

/** A fixed-width bar for a fraction in [0, 1]. */
export function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Writes a status line: in place on a TTY, else as a plain line when `always` or every ~5 s. */
export function statusLine(): (text: string, always?: boolean) => void {
  let last = 0;
  return (text, always = false) => {
    if (isTty) {
      process.stderr.write(`\r\x1b[2K${text}`);
      return;
    }
    const now = performance.now();
    if (always || now - last > 5000) {
      process.stderr.write(`${text}\n`);
      last = now;
    }
  };
}
