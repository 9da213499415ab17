// The element count of a row-major shape, for every layer (io, model, ref, gpu) to share.

/** The product of the dimensions: the number of elements (1 for a scalar's empty shape). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
