import type { LayersModel } from "@tensorflow/tfjs";
import { builtinSchema } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { activeTf } from "../../../worker/src/ml/backend.js";
import { colourShapes, SIZE } from "./ColourShapes.js";
import { majorityBaseline, onlyClass, type SeedTask, type TaskContribution } from "./SeedTask.js";

const SCHEMA = builtinSchema("colour-16x16x3/shapes-4")!;

export interface ColourShapesTaskOptions {
  /** Images per contribution (default 300) and in the evaluation set (default 400). */
  readonly images?: number;
  readonly evalImages?: number;
}

/**
 * Images beyond grey digits: 16x16 RGB images of four shapes (generated, seeds 1-3 for the contributors, 4 for the
 * evaluation set), a small CNN (two 3x3 convolutions with max pooling, softmax over the shapes) trained by FedAvg on
 * the uint8-image codec's scaled pixels; the bad contribution holds circles only (class balance, reason 1).
 */
export function colourShapesTask(options: ColourShapesTaskOptions = {}): SeedTask {
  const images = options.images ?? 300;
  return {
    name: "shapes-cnn",
    description: "shape of a 16x16 RGB image: a 2-convolution CNN, uint8 colour images",
    schema: SCHEMA,
    async contributions(): Promise<TaskContribution[]> {
      return [
        { name: "images, seed 1", samples: colourShapes(images, 1) },
        { name: "images, seed 2", samples: colourShapes(images, 2) },
        { name: "images, seed 3", samples: colourShapes(images, 3) },
        { name: "circles only", samples: onlyClass(SCHEMA.document, colourShapes(images, 5), 0), bad: { reason: 1, what: "class balance: circles only" } },
      ];
    },
    async evalSet() {
      return colourShapes(options.evalImages ?? 400, 4);
    },
    initialModel(): LayersModel {
      const tf = activeTf();
      const init = (seed: number) => ({ kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: tf.initializers.zeros() });
      return tf.sequential({
        layers: [
          tf.layers.conv2d({ inputShape: [SIZE, SIZE, 3], filters: 8, kernelSize: 3, activation: "relu", padding: "same", ...init(61) }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.conv2d({ filters: 16, kernelSize: 3, activation: "relu", padding: "same", ...init(62) }),
          tf.layers.maxPooling2d({ poolSize: 2 }),
          tf.layers.flatten(),
          tf.layers.dense({ units: 4, activation: "softmax", ...init(63) }),
        ],
      });
    },
    codecs: { inputCodec: { name: "uint8-image", scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] }, outputCodec: { name: "class-index", scoreBits: 16 } },
    training: { rounds: 3, localEpochs: 4, batchSize: 10, learningRate: 0.1 },
    minScore: 0.7,
    baseline: (evalSet) => majorityBaseline(evalSet, 4),
  };
}
