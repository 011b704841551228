import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import { activeTf, selectBackend } from "../ml/backend.js";
import { imagesToTensor, loadMnist, selectDigits, type DigitSet } from "../ml/MnistDataset.js";
import { buildMlp, evaluate, inputLayout, trainModel } from "../ml/models.js";

export interface TrainReferenceOptions {
  /** Digits of the mnist package's training split used to train (default 3,000). */
  trainCount?: number;
  epochs?: number;
  seed?: number;
}

/**
 * A small digit classifier that validators use to estimate label noise: on honestly labelled
 * digits it agrees with most labels, on shuffled or random labels with about one in ten. It
 * needs to be decent, not good; the 2NN after a few epochs on a few thousand digits is ~90%.
 */
export class ReferenceClassifier {
  readonly #model: LayersModel;
  /** Accuracy on the held-out test split of the mnist package, when trained here. */
  readonly heldOutAccuracy: number | undefined;

  private constructor(model: LayersModel, heldOutAccuracy?: number) {
    this.#model = model;
    this.heldOutAccuracy = heldOutAccuracy;
  }

  /** Wraps an existing model (flat `[n, 784]` or image `[n, 28, 28, 1]` input, 10-way softmax output). */
  static fromModel(model: LayersModel): ReferenceClassifier {
    return new ReferenceClassifier(model);
  }

  /** Trains the 2NN on a slice of the mnist package's training split (deterministic for a seed). */
  static async trainOnMnist(options: TrainReferenceOptions = {}): Promise<ReferenceClassifier> {
    await selectBackend();
    const mnist = await loadMnist({ testCount: 2_000, seed: 42 });
    const trainCount = Math.min(options.trainCount ?? 3_000, mnist.train.count);
    const train = selectDigits(mnist.train, Array.from({ length: trainCount }, (_, i) => i));
    const model = buildMlp({ seed: options.seed ?? 11 });
    await trainModel(model, train, { epochs: options.epochs ?? 4, batchSize: 32, learningRate: 0.001, optimizer: "adam", seed: options.seed ?? 11 });
    const { accuracy } = await evaluate(model, mnist.test);
    return new ReferenceClassifier(model, accuracy);
  }

  /** The predicted class of every digit in `set`. */
  async predict(set: DigitSet, batchSize = 1_000): Promise<Uint8Array> {
    const tf = activeTf();
    const layout = inputLayout(this.#model);
    const predictions = new Uint8Array(set.count);
    for (let start = 0; start < set.count; start += batchSize) {
      const batch = selectDigits(set, Array.from({ length: Math.min(batchSize, set.count - start) }, (_, i) => start + i));
      const classes = tf.tidy(() => {
        const xs = layout === "flat" ? imagesToTensor(batch, "flat") : imagesToTensor(batch, "image");
        return (this.#model.predict(xs) as Tensor).argMax(-1);
      });
      predictions.set(await classes.data(), start);
      classes.dispose();
    }
    return predictions;
  }

  dispose(): void {
    this.#model.dispose();
  }
}

let shared: Promise<ReferenceClassifier> | undefined;

/** One reference classifier per process, trained on first use and reused by every validation. */
export function sharedReferenceClassifier(): Promise<ReferenceClassifier> {
  shared ??= ReferenceClassifier.trainOnMnist().catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}
