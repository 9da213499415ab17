// Number and name formatting for the page.

import type { AdapterSummary } from '../gpu/context';

const BYTE_UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 134217728 → "128 MiB"; exact powers stay integers, others get one decimal. */
export function formatBytes(n: number): string {
  let unit = 0;
  let v = n;
  while (v >= 1024 && unit < BYTE_UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

/** A duration for people: "45 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** "1 epoch", "2 epochs". */
export function plural(n: number, word: string): string {
  return `${formatCount(n)} ${word}${n === 1 ? '' : 's'}`;
}

/** The adapter's description, else vendor, architecture and device; empty if the browser hides all. */
export function adapterName(a: AdapterSummary): string {
  return a.description.trim() || [a.vendor, a.architecture, a.device].filter((s) => s.trim()).join(' ');
}
