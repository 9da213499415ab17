// What the writers of src/export/ (the merged checkpoint, the adapter) put in their files alike.

/** transformers and PEFT load safetensors files saved with this metadata (or none) as PyTorch weights. */
export const PT_METADATA = { format: 'pt' };

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
