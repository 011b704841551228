import type { LayersModel, Sequential } from "@tensorflow/tfjs";
import { activeTf } from "./backend.js";
import { MNIST_CLASSES, MNIST_IMAGE_SIZE, MNIST_PIXELS } from "./MnistDataset.js";

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

export { evaluate, trainModel, type EpochMetrics, type Evaluation, type TrainOptions, type TrainResult } from "./LocalTraining.js";

/** Whether the model takes flat `[n, 784]` vectors or `[n, 28, 28, 1]` images. */
export function inputLayout(model: LayersModel): "flat" | "image" {
  const shape = model.inputs[0].shape;
  if (shape.length === 2) return "flat";
  if (shape.length === 4) return "image";
  throw new Error(`unsupported model input shape ${JSON.stringify(shape)}`);
}
