// Comparing logits position by position (the ONNX tests, unit and kernel tier).

/** Per position (rows of `vocab` logits), max|got − want| / max|want|; the worst over positions. */
export function worstRelative(got: ArrayLike<number>, want: ArrayLike<number>, vocab: number): number {
  if (got.length !== want.length) throw new Error(`logits: ${got.length} values against ${want.length}`);
  let w = 0;
  for (let p = 0; p < want.length / vocab; p++) {
    let diff = 0;
    let size = 0;
    for (let v = p * vocab; v < (p + 1) * vocab; v++) {
      diff = Math.max(diff, Math.abs(got[v]! - want[v]!));
      size = Math.max(size, Math.abs(want[v]!));
    }
    w = Math.max(w, diff / size);
  }
  return w;
}
