import type { LayersModel, Sequential, Tensor } from "@tensorflow/tfjs";
import { activeTf } from "./backend.js";
import {
  MNIST_CLASSES,
  MNIST_IMAGE_SIZE,
  MNIST_PIXELS,
  imagesToTensor,
  labelsToOneHot,
  seededPermutation,
  selectDigits,
  type DigitSet,
} from "./MnistDataset.js";

export interface BuildModelOptions {
  /** Seeds every kernel initializer (layer i uses seed + i): the same seed builds the same weights. */
  seed?: number;
}

/**
 * The "2NN" of McMahan et al. 2017 (Communication-Efficient Learning of Deep Networks from
 * Decentralized Data): 784-200-200-10, ReLU, softmax. 199,210 parameters.
 */
export function buildMlp(options: BuildModelOptions = {}): Sequential {
  const tf = activeTf();
  const init = seededInitializers(options.seed ?? 1);
  const model = tf.sequential({ name: "mnist_2nn" });
  model.add(tf.layers.dense({ inputShape: [MNIST_PIXELS], units: 200, activation: "relu", ...init.next() }));
  model.add(tf.layers.dense({ units: 200, activation: "relu", ...init.next() }));
  model.add(tf.layers.dense({ units: MNIST_CLASSES, activation: "softmax", ...init.next() }));
  return model;
}

/**
 * The MNIST CNN of McMahan et al. 2017: 5x5 conv (32), 2x2 max-pool, 5x5 conv (64), 2x2 max-pool,
 * 512 dense ReLU, softmax. 1,663,370 parameters.
 */
export function buildCnn(options: BuildModelOptions = {}): Sequential {
  const tf = activeTf();
  const init = seededInitializers(options.seed ?? 1);
  const model = tf.sequential({ name: "mnist_cnn" });
  model.add(
    tf.layers.conv2d({
      inputShape: [MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE, 1],
      filters: 32,
      kernelSize: 5,
      padding: "same",
      activation: "relu",
      ...init.next(),
    }),
  );
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.conv2d({ filters: 64, kernelSize: 5, padding: "same", activation: "relu", ...init.next() }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 512, activation: "relu", ...init.next() }));
  model.add(tf.layers.dense({ units: MNIST_CLASSES, activation: "softmax", ...init.next() }));
  return model;
}

function seededInitializers(seed: number) {
  const tf = activeTf();
  let layer = 0;
  return {
    next: () => ({
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + layer++ }),
      biasInitializer: tf.initializers.zeros(),
    }),
  };
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Plain SGD is what FedAvg clients run; Adam converges in fewer epochs. */
  optimizer?: "sgd" | "adam";
  /**
   * With `optimizer: "sgd"` (the default): heavy-ball momentum in [0, 1) (tf.train.momentum, the
   * velocity starting at zero on every call). 0 or absent is plain SGD. Ignored by Adam.
   */
  momentum?: number;
  /** Seeds the per-epoch shuffle of the training order. */
  seed?: number;
  onEpoch?: (epoch: number, metrics: EpochMetrics) => void | Promise<void>;
}

export interface EpochMetrics {
  loss: number;
  accuracy: number;
  seconds: number;
  samplesPerSecond: number;
}

export interface TrainResult {
  history: EpochMetrics[];
  /** Training throughput over all epochs (forward + backward + update), excluding data preparation. */
  samplesPerSecond: number;
  seconds: number;
}

/**
 * Trains `model` on `data` with categorical cross-entropy. Compiles it with a fresh optimizer each
 * call (a FedAvg client starts every round from the global weights with no optimizer state).
 */
export async function trainModel(model: LayersModel, data: DigitSet, options: TrainOptions): Promise<TrainResult> {
  const tf = activeTf();
  const momentum = options.momentum ?? 0;
  if (!(momentum >= 0 && momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${options.momentum}`);
  const optimizer =
    options.optimizer === "adam"
      ? tf.train.adam(options.learningRate)
      : momentum > 0
        ? tf.train.momentum(options.learningRate, momentum)
        : tf.train.sgd(options.learningRate);
  model.compile({ optimizer, loss: "categoricalCrossentropy", metrics: ["accuracy"] });
  const layout = inputLayout(model);
  const history: EpochMetrics[] = [];
  let trainingSeconds = 0;
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const shuffled = selectDigits(data, seededPermutation(data.count, (options.seed ?? 0) + epoch));
      const xs = layout === "flat" ? imagesToTensor(shuffled, "flat") : imagesToTensor(shuffled, "image");
      const ys = labelsToOneHot(shuffled);
      try {
        const started = performance.now();
        const fitted = await model.fit(xs, ys, {
          epochs: 1,
          batchSize: options.batchSize,
          shuffle: false,
          verbose: 0,
        });
        const seconds = (performance.now() - started) / 1000;
        trainingSeconds += seconds;
        const metrics: EpochMetrics = {
          loss: Number(fitted.history.loss[0]),
          accuracy: Number((fitted.history.acc ?? fitted.history.accuracy)[0]),
          seconds,
          samplesPerSecond: data.count / seconds,
        };
        history.push(metrics);
        await options.onEpoch?.(epoch, metrics);
      } finally {
        xs.dispose();
        ys.dispose();
      }
    }
  } finally {
    optimizer.dispose();
  }
  return {
    history,
    seconds: trainingSeconds,
    samplesPerSecond: trainingSeconds > 0 ? (data.count * options.epochs) / trainingSeconds : 0,
  };
}

export interface Evaluation {
  accuracy: number;
  /** Mean categorical cross-entropy. */
  loss: number;
}

/** Accuracy and loss of `model` on `data`; works on uncompiled (e.g. freshly loaded) models. */
export async function evaluate(model: LayersModel, data: DigitSet, batchSize = 500): Promise<Evaluation> {
  const tf = activeTf();
  const layout = inputLayout(model);
  let correct = 0;
  let lossSum = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, data.count - start) }, (_, i) => start + i);
    const batch = selectDigits(data, indices);
    const [batchCorrect, batchLoss] = tf.tidy(() => {
      const xs = layout === "flat" ? imagesToTensor(batch, "flat") : imagesToTensor(batch, "image");
      const probabilities = model.predict(xs) as Tensor;
      const labels = tf.tensor1d(batch.labels, "int32");
      const hits = tf.equal(probabilities.argMax(-1), labels).sum();
      const loss = tf.oneHot(labels, MNIST_CLASSES).mul(probabilities.clipByValue(1e-7, 1).log()).sum().neg();
      return [hits, loss];
    });
    correct += (await batchCorrect.data())[0];
    lossSum += (await batchLoss.data())[0];
    batchCorrect.dispose();
    batchLoss.dispose();
  }
  return { accuracy: correct / data.count, loss: lossSum / data.count };
}

/** Whether the model takes flat `[n, 784]` vectors or `[n, 28, 28, 1]` images. */
export function inputLayout(model: LayersModel): "flat" | "image" {
  const shape = model.inputs[0].shape;
  if (shape.length === 2) return "flat";
  if (shape.length === 4) return "image";
  throw new Error(`unsupported model input shape ${JSON.stringify(shape)}`);
}
