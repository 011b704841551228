import { z } from "zod";
import { getJson, type ContentStore } from "../ipfs/ContentStore.js";
import { InferenceEncodingError, ModelManifestError } from "./ModelError.js";

/**
 * A text model's tokenizer, part of the model: its manifest names the kind, the vocabulary (a JSON
 * document on IPFS, by CID) and its options, so that every client encodes a text to exactly the token
 * ids the model was trained on, and a worker can check them.
 *
 * `word-vocab`: the text is normalised (Unicode NFC, then lower-cased unless `lowercase` is false), cut
 * into words by Unicode word segmentation (UAX #29, `Intl.Segmenter` with the root locale: the same
 * rules in Node and in browsers; punctuation and spaces are not words), and each word becomes its
 * index in the vocabulary, or `unknownId`. The int32-tokens codec then pads (with its `padId`) or
 * refuses a sequence longer than its length; `truncate` (default true) cuts the words to that length
 * first, as Keras' TextVectorization does.
 */
export const tokenizerSchema = z.object({
  kind: z.literal("word-vocab"),
  vocabCid: z.string().min(1),
  lowercase: z.boolean().default(true),
  unknownId: z.number().int().nonnegative(),
  truncate: z.boolean().default(true),
});
export type TokenizerSpec = z.output<typeof tokenizerSchema>;

/** The vocabulary document: `tokens[i]` is the word of id i (ids a model reserves, such as padding, hold a placeholder). */
export const vocabularySchema = z
  .object({ tokens: z.array(z.string()).min(1) })
  .refine((v) => new Set(v.tokens).size === v.tokens.length, { message: "the vocabulary lists a token twice" });
export type Vocabulary = z.output<typeof vocabularySchema>;

const segmenter = new Intl.Segmenter("und", { granularity: "word" });

/** The words of a text as the tokenizer sees them (normalised, segmented, word-like segments only). */
export function wordsOf(text: string, lowercase: boolean): string[] {
  const normalised = lowercase ? text.normalize("NFC").toLowerCase() : text.normalize("NFC");
  const words: string[] = [];
  for (const segment of segmenter.segment(normalised)) if (segment.isWordLike) words.push(segment.segment);
  return words;
}

export class WordTokenizer {
  readonly #ids: Map<string, number>;

  constructor(
    readonly spec: TokenizerSpec,
    readonly vocabulary: Vocabulary,
  ) {
    if (spec.unknownId >= vocabulary.tokens.length) {
      throw new ModelManifestError(`tokenizer unknownId ${spec.unknownId} is not an id of its ${vocabulary.tokens.length}-token vocabulary`);
    }
    this.#ids = new Map(vocabulary.tokens.map((t, i) => [t, i]));
  }

  /** Token ids of `text`, at most `length` of them (truncated when the spec allows, else an error). */
  encode(text: string, length: number): number[] {
    const words = wordsOf(text, this.spec.lowercase);
    if (words.length === 0) throw new InferenceEncodingError("the text has no words (only spaces or punctuation)");
    if (words.length > length && !this.spec.truncate) throw new InferenceEncodingError(`the text has ${words.length} words, the model takes at most ${length}`);
    return words.slice(0, length).map((w) => this.#ids.get(w) ?? this.spec.unknownId);
  }
}

/** The tokenizer a manifest names, its vocabulary read from the store and checked. */
export async function loadTokenizer(store: ContentStore, spec: TokenizerSpec): Promise<WordTokenizer> {
  const parsed = vocabularySchema.safeParse(await getJson(store, spec.vocabCid));
  if (!parsed.success) throw new ModelManifestError(`vocabulary ${spec.vocabCid} is invalid: ${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  return new WordTokenizer(spec, parsed.data);
}
