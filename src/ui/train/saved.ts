// Where the run on the page is saved for going on: its record's checkpoint as the history holds it
// (not merely the last one the engine sent: what a reload or a lost GPU would find).

import { useHistory } from '../../state/history';
import { useRun } from '../../state/run';
import type { CheckpointInfo } from '../../store/store';

/** The checkpoint the history holds for the run on the page; null when it holds none (or no history). */
export function useSavedCheckpoint(): CheckpointInfo | null {
  const recordId = useRun((s) => s.recordId);
  return useHistory((s) => (recordId === null ? null : (s.interrupted.find((r) => r.id === recordId)?.checkpoint ?? null)));
}

/** When a checkpoint was saved, for people: "at 14:03:07" today, "on 2 Dec, 14:03" before. */
export function formatSavedAt(iso: string, now = new Date()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return 'at an unknown time';
  const sameDay = at.toDateString() === now.toDateString();
  return sameDay
    ? `at ${at.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' })}`
    : `on ${at.toLocaleDateString('en-GB', { day: 'numeric', month: 'short' })}, ${at.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })}`;
}
