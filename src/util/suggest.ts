// "Did you mean": the known name nearest to a misspelt one, for messages that refuse a name
// (a preset, a task, an enum value of the run spec). A name that differs only in case wins;
// otherwise the one at the smallest edit distance, if that is small for the name's length.

/**
 * The candidate `name` most likely meant, or undefined: an exact match ignoring case, else the
 * unique nearest by edit distance (ignoring case) when it is at most 0 for names of up to 3
 * characters, 1 up to 5, 2 up to 8, and 3 beyond.
 */
export function nearestName(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const sameCase = candidates.find((c) => c.toLowerCase() === lower);
  if (sameCase !== undefined) return sameCase;
  const allowed = lower.length <= 3 ? 0 : lower.length <= 5 ? 1 : lower.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = allowed + 1;
  let tied = false;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase(), allowed + 1);
    if (d < bestDistance) [best, bestDistance, tied] = [c, d, false];
    else if (d === bestDistance && d <= allowed) tied = true;
  }
  return best !== undefined && !tied ? best : undefined;
}

/** ` (did you mean "stories260K"?)`, or '' when no candidate is near. */
export function didYouMean(name: string, candidates: readonly string[]): string {
  const near = nearestName(name, candidates);
  return near === undefined ? '' : ` (did you mean ${JSON.stringify(near)}?)`;
}

/**
 * Levenshtein distance with adjacent transpositions counted as one edit (optimal string
 * alignment), exact below `cap`; `cap` when it is at least that (it stops as soon as it knows).
 */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  // rows[i][j]: distance between a[0, i) and b[0, j); three rows suffice for transpositions.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = new Array<number>(b.length + 1);
    current[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      let d = Math.min(previous[j] + 1, current[j - 1] + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2] + 1);
      current[j] = d;
      rowMin = Math.min(rowMin, d);
    }
    if (rowMin >= cap) return cap;
    [before, previous] = [previous, current];
  }
  return Math.min(previous[b.length], cap);
}
