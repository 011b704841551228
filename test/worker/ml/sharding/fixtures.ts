import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import type { Tf } from "../../../../worker/src/ml/backend.js";

/**
 * Models the sharding tests build themselves (not the project's builders): seeded initializers,
 * non-zero biases and batch-norm statistics, so that a weight copied to the wrong place shows.
 */
export function seeded(tf: Tf, seed: number) {
  return {
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
    biasInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.1, seed: seed + 1_000 }),
  };
}

/**
 * Replaces every weight with seeded random values, as training would: the rebuilt shards' own
 * (seeded) initializers would otherwise give the original weights again, copied or not.
 * Variances stay positive.
 */
export function scrambleWeights(tf: Tf, model: LayersModel, seed: number): LayersModel {
  const values = model.weights.map((w, i) =>
    tf.tidy(() => {
      const noise = tf.randomNormal(w.shape as number[], 0, 0.3, "float32", seed + i);
      return w.name.includes("moving_variance") ? tf.add(tf.abs(noise), 0.5) : noise;
    }),
  );
  model.setWeights(values);
  tf.dispose(values);
  return model;
}

/** 32 → 64 → 48 → 48 → dropout → 32 → 16 → 10 (softmax): six Dense layers and a Dropout, 39,400 weight bytes. */
export function buildTestMlp(tf: Tf): LayersModel {
  const model = tf.sequential({ name: "test_mlp" });
  model.add(tf.layers.dense({ name: "mlp_dense1", inputShape: [32], units: 64, activation: "relu", ...seeded(tf, 1) }));
  model.add(tf.layers.dense({ name: "mlp_dense2", units: 48, activation: "tanh", ...seeded(tf, 2) }));
  model.add(tf.layers.dense({ name: "mlp_dense3", units: 48, activation: "relu", ...seeded(tf, 3) }));
  model.add(tf.layers.dropout({ name: "mlp_dropout", rate: 0.25 }));
  model.add(tf.layers.dense({ name: "mlp_dense4", units: 32, activation: "relu", ...seeded(tf, 4) }));
  model.add(tf.layers.dense({ name: "mlp_dense5", units: 16, activation: "elu", ...seeded(tf, 5) }));
  model.add(tf.layers.dense({ name: "mlp_dense6", units: 10, activation: "softmax", ...seeded(tf, 6) }));
  return scrambleWeights(tf, model, 100);
}

/** Per-layer weight bytes of `buildTestMlp`, by hand: (inputs × units + units) × 4. */
export const TEST_MLP_LAYER_BYTES = [8_448, 12_480, 9_408, 0, 6_272, 2_112, 680];

/** 12×12×2 → conv 3×3 (8) → batch norm → max-pool → conv 3×3 same (16) → max-pool → flatten → dense 32 → dropout → dense 10. */
export function buildTestCnn(tf: Tf): LayersModel {
  const model = tf.sequential({ name: "test_cnn" });
  model.add(tf.layers.conv2d({ name: "cnn_conv1", inputShape: [12, 12, 2], filters: 8, kernelSize: 3, activation: "relu", ...seeded(tf, 11) }));
  model.add(
    tf.layers.batchNormalization({
      name: "cnn_bn",
      gammaInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 1.5, seed: 12 }),
      betaInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: 13 }),
      movingMeanInitializer: tf.initializers.randomNormal({ stddev: 0.1, seed: 14 }),
      movingVarianceInitializer: tf.initializers.randomUniform({ minval: 0.5, maxval: 2, seed: 15 }),
    }),
  );
  model.add(tf.layers.maxPooling2d({ name: "cnn_pool1", poolSize: 2 }));
  model.add(tf.layers.conv2d({ name: "cnn_conv2", filters: 16, kernelSize: 3, padding: "same", activation: "relu", ...seeded(tf, 16) }));
  model.add(tf.layers.maxPooling2d({ name: "cnn_pool2", poolSize: 2 }));
  model.add(tf.layers.flatten({ name: "cnn_flatten" }));
  model.add(tf.layers.dense({ name: "cnn_dense1", units: 32, activation: "relu", ...seeded(tf, 17) }));
  model.add(tf.layers.dropout({ name: "cnn_dropout", rate: 0.5 }));
  model.add(tf.layers.dense({ name: "cnn_dense2", units: 10, activation: "softmax", ...seeded(tf, 18) }));
  return scrambleWeights(tf, model, 200);
}

/** A functional model whose layers form one chain: input → five Dense layers. */
export function buildFunctionalChain(tf: Tf): LayersModel {
  const input = tf.input({ name: "chain_input", shape: [20] });
  let x = input as ReturnType<typeof tf.input>;
  [24, 24, 16, 12, 6].forEach((units, i) => {
    x = tf.layers.dense({ name: `chain_dense${i + 1}`, units, activation: i === 4 ? "softmax" : "relu", ...seeded(tf, 30 + i) }).apply(x) as typeof x;
  });
  return scrambleWeights(tf, tf.model({ name: "test_chain", inputs: input, outputs: x }), 300);
}

/** The largest absolute difference between two tensors of the same shape, and whether their argmax rows agree. */
export async function compare(tf: Tf, actual: Tensor, expected: Tensor): Promise<{ maxAbsDiff: number; sameArgmax: boolean; argmax: number[] }> {
  if (JSON.stringify(actual.shape) !== JSON.stringify(expected.shape)) throw new Error(`shapes differ: ${JSON.stringify(actual.shape)} vs ${JSON.stringify(expected.shape)}`);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(actual, expected))));
  const a = tf.tidy(() => tf.argMax(actual, -1));
  const e = tf.tidy(() => tf.argMax(expected, -1));
  const [maxAbsDiff] = await diff.data();
  const argA = Array.from(await a.data());
  const argE = Array.from(await e.data());
  tf.dispose([diff, a, e]);
  return { maxAbsDiff, sameArgmax: JSON.stringify(argA) === JSON.stringify(argE), argmax: argE };
}

/** A rejection's error (fails the test if the promise resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: Error) => error,
  );
}

/** A synchronous throw's error (fails the test if `fn` returns). */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}
