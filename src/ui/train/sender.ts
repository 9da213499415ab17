// The sender's result a link carries, as the Train section words it: their accuracies, whether a
// run is the link's run (so that the two can be compared), and the comparison in a sentence.

import type { RunSpec } from '../../run/spec';
import type { ResultAgreement, ResultSummary } from '../../share/result';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

const PHASE_WORDS: Record<ResultAgreement['accuracies'][number]['phase'], string> = { before: 'before training', after: 'after training', merged: 'merged' };

/** Whether `spec` is the run the sender's link describes (field for field), so the results compare. */
export function isSendersRun(spec: RunSpec, sender: { spec: RunSpec }): boolean {
  return JSON.stringify(spec) === JSON.stringify(sender.spec);
}

/** "25.0% before training, 54.2% after, 54.2% merged, on 24 items after 20 steps". */
export function describeSenderResult(r: ResultSummary): string {
  return `${pct(r.accuracy.before)} before training, ${pct(r.accuracy.after)} after, ${pct(r.accuracy.merged)} merged, on ${r.items} items after ${r.steps} steps`;
}

/**
 * This run against the sender's, in a sentence: "Your run agrees with the sender's: 54.0% after
 * training, item for item." or each accuracy that differs, by how many points and items.
 */
export function describeAgreement(a: ResultAgreement, items: number): string {
  const after = a.accuracies.find((x) => x.phase === 'after')!;
  if (a.agree) return `Your run agrees with the sender's: ${pct(after.mine)} after training, item for item.`;
  // Within half an item counts as the same number of items right (compareWithSender's rule).
  const differing = a.accuracies.filter((x) => Math.abs(x.mine - x.sender) * items >= 0.5);
  const same = a.accuracies.filter((x) => !differing.includes(x));
  const parts = differing.map((x) => {
    const n = Math.round((x.mine - x.sender) * items);
    const itemsText = `${Math.abs(n)} item${Math.abs(n) === 1 ? '' : 's'} ${n > 0 ? 'more' : 'fewer'} right`;
    return `${PHASE_WORDS[x.phase]} ${pct(x.mine)} against their ${pct(x.sender)} (${x.diffPoints > 0 ? '+' : '−'}${Math.abs(x.diffPoints).toFixed(1)} pts, ${itemsText})`;
  });
  if (same.length > 0) parts.push(`the same ${listed(same.map((x) => PHASE_WORDS[x.phase]))}`);
  const lead = a.mismatch !== null ? `Your run cannot be compared item for item with the sender's: ${a.mismatch}.` : "Your run differs from the sender's:";
  return `${lead} ${a.mismatch !== null ? capitalize(parts.join('; ')) : parts.join('; ')}.`;
}

/** "a", "a and b", "a, b and c". */
function listed(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
