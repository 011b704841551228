import type { LayersModel } from "@tensorflow/tfjs";
import { sha256 } from "ethers";
import type { Samples } from "../../../worker/src/data/schema/DatasetEncoding.js";
import { parseSchemaDocument, schemaIdOf, type SchemaDocument } from "../../../worker/src/data/schema/SchemaDocument.js";
import { publishSchema } from "../../../worker/src/data/schema/SchemaResolver.js";
import { addJson, rawBlockCid, type ContentStore } from "../../../worker/src/ipfs/ContentStore.js";
import { activeTf } from "../../../worker/src/ml/backend.js";
import { WordTokenizer, type TokenizerSpec, type Vocabulary } from "../../../worker/src/ml/Tokenizer.js";
import { CORPUS_WORDS, generateReviews } from "./SentimentCorpus.js";
import { majorityBaseline, onlyClass, type SeedTask, type TaskContribution } from "./SeedTask.js";

/** Tokens per review (the schema's and the model's sequence length); shorter reviews are padded with id 0. */
export const LENGTH = 16;
const PAD_ID = 0;
const VOCABULARY: Vocabulary = { tokens: ["<pad>", "<unk>", ...CORPUS_WORDS] };
const TOKENIZER: Omit<TokenizerSpec, "vocabCid"> = { kind: "word-vocab", lowercase: true, unknownId: 1, truncate: true };

/** The CID `addJson` gives a small JSON document: one raw block of its UTF-8 JSON. */
function jsonCid(value: unknown): string {
  return rawBlockCid(sha256(new TextEncoder().encode(JSON.stringify(value))));
}

const VOCAB_CID = jsonCid(VOCABULARY);
const DOCUMENT: SchemaDocument = parseSchemaDocument({
  kind: "tessera.dataset-schema/1",
  name: "review-16-tokens/sentiment-2",
  description: "Short English reviews as 16 word ids of the named vocabulary (padded with 0), labelled by sentiment.",
  features: { dtype: "int32", shape: [LENGTH], min: 0, max: VOCABULARY.tokens.length - 1, tokenizer: { ...TOKENIZER, vocabCid: VOCAB_CID } },
  label: { kind: "class", classes: ["negative", "positive"], column: "sentiment" },
  formats: ["jsonl", "json"],
  checks: { maxDuplicateFraction: 0.05, minClassFraction: 0.2 },
});

/** The tokenizer clients and workers share: the same ids for the same text, padded to LENGTH. */
export const reviewTokenizer = new WordTokenizer({ ...TOKENIZER, vocabCid: VOCAB_CID }, VOCABULARY);

export function reviewSamples(count: number, seed: number): Samples & { texts: string[] } {
  const reviews = generateReviews(count, seed);
  const features = new Int32Array(count * LENGTH).fill(PAD_ID);
  reviews.forEach((r, i) => features.set(reviewTokenizer.encode(r.text, LENGTH), i * LENGTH));
  return { count, features, labels: Uint16Array.from(reviews, (r) => (r.positive ? 1 : 0)), texts: reviews.map((r) => r.text) };
}

/**
 * Text: a token-sequence sentiment classifier with its tokenizer. The schema (not built in) names the vocabulary by
 * CID; `prepare` stores both, so validators find the schema from its on-chain id. Model: embedding 16 -> 1-D
 * convolution over word pairs (it sees "not great") -> max pooling -> softmax; int32-tokens in, its manifest naming
 * the same tokenizer, so `infer request --text` encodes a review exactly as the training data was. The bad
 * contribution is all negative (class balance).
 */
export function textSentimentTask(options: { reviews?: number } = {}): SeedTask {
  const reviews = options.reviews ?? 400;
  return {
    name: "review-sentiment",
    description: "sentiment of a short review: embedding + 1-D convolution + max pooling, int32 token ids with a word tokenizer",
    schema: { id: schemaIdOf(DOCUMENT), document: DOCUMENT },
    async prepare(store: ContentStore) {
      const vocabCid = await addJson(store, VOCABULARY);
      if (vocabCid !== VOCAB_CID) throw new Error(`the store gave ${vocabCid} for the vocabulary, not ${VOCAB_CID}`);
      await publishSchema(store, DOCUMENT);
    },
    async contributions(): Promise<TaskContribution[]> {
      return [
        { name: "reviews, seed 1", samples: reviewSamples(reviews, 1) },
        { name: "reviews, seed 2", samples: reviewSamples(reviews, 2) },
        { name: "reviews, seed 3", samples: reviewSamples(reviews, 3) },
        { name: "negative reviews only", samples: onlyClass(DOCUMENT, reviewSamples(reviews, 5), 0), bad: { reason: 1, what: "class balance: negative reviews only" } },
      ];
    },
    async evalSet() {
      const { texts: _texts, ...samples } = reviewSamples(400, 4);
      return samples;
    },
    initialModel(): LayersModel {
      const tf = activeTf();
      const init = (seed: number) => tf.initializers.glorotUniform({ seed });
      return tf.sequential({
        layers: [
          tf.layers.embedding({ inputDim: VOCABULARY.tokens.length, outputDim: 16, inputLength: LENGTH, embeddingsInitializer: init(71) }),
          tf.layers.conv1d({ filters: 16, kernelSize: 2, activation: "relu", kernelInitializer: init(72) }),
          tf.layers.globalMaxPooling1d(),
          tf.layers.dense({ units: 2, activation: "softmax", kernelInitializer: init(73) }),
        ],
      });
    },
    codecs: { inputCodec: { name: "int32-tokens", length: LENGTH, padId: PAD_ID, vocabSize: VOCABULARY.tokens.length }, outputCodec: { name: "class-index", scoreBits: 16 } },
    tokenizer: { spec: TOKENIZER, vocabulary: VOCABULARY },
    training: { rounds: 3, localEpochs: 5, batchSize: 10, learningRate: 0.1 },
    minScore: 0.8,
    baseline: (evalSet) => majorityBaseline(evalSet, 2),
  };
}
