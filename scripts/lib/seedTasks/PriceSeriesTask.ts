import type { LayersModel } from "@tensorflow/tfjs";
import { builtinSchema } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import type { Samples } from "../../../worker/src/data/schema/DatasetEncoding.js";
import { activeTf } from "../../../worker/src/ml/backend.js";
import { generatePriceSeries, priceWindows, WINDOW } from "./PriceSeries.js";
import { onlyClass, type SeedTask, type TaskContribution } from "./SeedTask.js";

const SCHEMA = builtinSchema("price-window-20x2/next-up-down")!;

export interface PriceSeriesTaskOptions {
  /** Windows per contribution and in the evaluation set (default 600). */
  readonly windows?: number;
}

/** Accuracy of always answering "up" (the naive baseline of a price series that drifts upwards). */
function alwaysUp(samples: Samples): { name: string; score: number } {
  let up = 0;
  for (let i = 0; i < samples.count; i++) up += samples.labels[i];
  return { name: "always up", score: up / samples.count };
}

/**
 * The seeds' stock example: will tomorrow close above today? Each contributor brings the windows of its own
 * generated series (seeds 1, 2, 3: no window repeats another's), the evaluation set is a fourth series (seed 4);
 * the bad contribution holds only its "up" days (class balance, reason 1). A binary classifier (flatten -> 16 relu ->
 * 1 sigmoid) answers a probability; trained with binary cross-entropy, scored by accuracy against always-up.
 */
export function priceSeriesTask(options: PriceSeriesTaskOptions = {}): SeedTask {
  const windows = options.windows ?? 600;
  const series = (seed: number) => priceWindows(generatePriceSeries(windows + WINDOW + 1, seed));
  return {
    name: "price-up-down",
    description: "next-day up/down from 20 days of returns and volume changes: 40-16-1 MLP, binary probability",
    schema: SCHEMA,
    async contributions(): Promise<TaskContribution[]> {
      return [
        { name: "series 1", samples: series(1) },
        { name: "series 2", samples: series(2) },
        { name: "series 3", samples: series(3) },
        { name: "up days only", samples: onlyClass(SCHEMA.document, series(5), 1), bad: { reason: 1, what: "class balance: up days only" } },
      ];
    },
    async evalSet() {
      return series(4);
    },
    initialModel(): LayersModel {
      const tf = activeTf();
      return tf.sequential({
        layers: [
          tf.layers.flatten({ inputShape: [WINDOW, 2] }),
          tf.layers.dense({ units: 16, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 51 }) }),
          tf.layers.dense({ units: 1, activation: "sigmoid", kernelInitializer: tf.initializers.glorotUniform({ seed: 52 }) }),
        ],
      });
    },
    codecs: { inputCodec: { name: "float32-tensor" }, outputCodec: { name: "binary-probability" } },
    training: { rounds: 3, localEpochs: 5, batchSize: 20, learningRate: 0.1 },
    minScore: 0.55,
    baseline: alwaysUp,
  };
}
