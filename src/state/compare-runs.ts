// Comparing runs of the history: the runs picked in its list, each with its whole record (spec,
// curves, metrics) loaded from the store when picked, and again when the run is saved again (a
// run that went on, a rename). What the comparison draws from the records is
// src/ui/history/compare-data.ts's.

import { create } from 'zustand';
import type { RunRecord } from '../store/record';
import type { RunEntry } from '../store/store';
import { describeStorageError, runStore } from './history';

/** At most this many runs at once: one colour each, a legible chart and table. */
export const MAX_COMPARED = 6;

/** A picked run's record: the last one loaded (shown while a newer one loads), or why it could not be. */
export interface LoadedRun {
  /** The version asked for (the list's updatedAt); the record is stale while its own differs. */
  updatedAt: string;
  record: RunRecord | null;
  error: string | null;
}

export interface CompareState {
  /** The picked runs, in the order they were picked, each with its colour (1 … MAX_COMPARED, kept while it stays picked). */
  selected: { id: string; colour: number }[];
  records: Record<string, LoadedRun>;
  /** Picks (on) or drops (off) the history's run; a picked run's record loads. Beyond MAX_COMPARED, nothing happens. */
  pick(entry: RunEntry, on: boolean): void;
  clearSelection(): void;
  /**
   * Follows the history's list: runs deleted there are dropped, runs saved again since their
   * record loaded (a run that went on, a rename) load again.
   */
  sync(runs: readonly RunEntry[]): void;
}

export const useCompareRuns = create<CompareState>()((set, get) => {
  const load = async (id: string, updatedAt: string) => {
    set((s) => ({ records: { ...s.records, [id]: { record: s.records[id]?.record ?? null, error: null, updatedAt } } }));
    let loaded: Pick<LoadedRun, 'record' | 'error'>;
    try {
      const record = await (await runStore()).getRun(id);
      loaded = record === null ? { record: null, error: `the history holds no run ${id} any more` } : { record, error: null };
    } catch (e) {
      loaded = { record: null, error: describeStorageError(e) };
    }
    // A run dropped, or asked for again since, keeps what the later call says.
    if (get().selected.some((p) => p.id === id) && get().records[id]?.updatedAt === updatedAt) set((s) => ({ records: { ...s.records, [id]: { updatedAt, ...loaded } } }));
  };
  return {
    selected: [],
    records: {},

    pick(entry, on) {
      const { selected, records } = get();
      if (on === selected.some((p) => p.id === entry.id)) return;
      if (!on) {
        const { [entry.id]: _dropped, ...rest } = records;
        set({ selected: selected.filter((p) => p.id !== entry.id), records: rest });
        return;
      }
      if (selected.length >= MAX_COMPARED) return;
      const used = new Set(selected.map((p) => p.colour));
      const colour = Array.from({ length: MAX_COMPARED }, (_, i) => i + 1).find((c) => !used.has(c))!;
      set({ selected: [...selected, { id: entry.id, colour }] });
      void load(entry.id, entry.updatedAt);
    },

    clearSelection: () => set({ selected: [], records: {} }),

    sync(runs) {
      const byId = new Map(runs.map((r) => [r.id, r]));
      const { selected, records } = get();
      const kept = selected.filter((p) => byId.has(p.id));
      if (kept.length !== selected.length) set({ selected: kept, records: Object.fromEntries(kept.flatMap((p) => (records[p.id] ? [[p.id, records[p.id]]] : []))) });
      for (const { id } of kept) {
        const updatedAt = byId.get(id)!.updatedAt;
        if (get().records[id]?.updatedAt !== updatedAt) void load(id, updatedAt);
      }
    },
  };
});
