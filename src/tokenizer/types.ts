// The one tokenizer interface the tasks, batching and generation code use, whatever file the
// vocabulary came from (llama2.c tokenizer.bin / tok512.bin, Hugging Face tokenizer.json).

export interface Tokenizer {
  /** One more than the largest token id (the embedding needs at least this many rows). */
  readonly vocabSize: number;
  /** The id encode() puts first when asked for BOS; null when the model has none (Qwen2.5). */
  readonly bosId: number | null;
  /** The id encode() puts last when asked for EOS; null when the model has none. */
  readonly eosId: number | null;
  /** Token ids of the text; BOS and EOS only when asked (and the tokenizer has them). */
  encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[];
  /** The text of the ids; BOS and EOS print nothing. */
  decode(ids: readonly number[]): string;
}
