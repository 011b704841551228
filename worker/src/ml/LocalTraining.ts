import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import { activeTf } from "./backend.js";
import { seededPermutation, type DigitSet } from "./MnistDataset.js";
import { rocAuc, scoreOf, tfLossOf, type Metric, type TrainingObjective } from "./TrainingObjective.js";
import { exampleSizeOf, inputTensor, labelTensor, selectExamples, trainingSetOfDigits, type TrainingSet } from "./TrainingSet.js";

/** What a classifier of MNIST digits has always been trained and scored with. */
const CATEGORICAL: TrainingObjective = { loss: "categorical-crossentropy", metric: "accuracy" };

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
  /** The loss (and the metric reported per epoch); default categorical cross-entropy and accuracy. */
  objective?: TrainingObjective;
  /** Seeds the per-epoch shuffle of the training order. */
  seed?: number;
  onEpoch?: (epoch: number, metrics: EpochMetrics) => void | Promise<void>;
}

export interface EpochMetrics {
  loss: number;
  /** Training accuracy of a classifier (NaN for a regression). */
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
 * Trains `model` on `data` (MNIST digits, or examples of any schema as the model takes them) with the objective's
 * loss. Compiles it with a fresh optimizer each call (a FedAvg client starts every round from the global weights with
 * no optimizer state); the order is shuffled per epoch by a seeded permutation, so a run is reproducible.
 */
export async function trainModel(model: LayersModel, data: DigitSet | TrainingSet, options: TrainOptions): Promise<TrainResult> {
  const tf = activeTf();
  const set = asTrainingSet(model, data);
  const objective = options.objective ?? CATEGORICAL;
  const units = outputUnits(model);
  const momentum = options.momentum ?? 0;
  if (!(momentum >= 0 && momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${options.momentum}`);
  const optimizer =
    options.optimizer === "adam"
      ? tf.train.adam(options.learningRate)
      : momentum > 0
        ? tf.train.momentum(options.learningRate, momentum)
        : tf.train.sgd(options.learningRate);
  model.compile({ optimizer, loss: tfLossOf(objective.loss), metrics: objective.loss === "mean-squared-error" ? [] : ["accuracy"] });
  const history: EpochMetrics[] = [];
  let trainingSeconds = 0;
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      const shuffled = selectExamples(set, seededPermutation(set.count, (options.seed ?? 0) + epoch));
      const xs = inputTensor(shuffled);
      const ys = labelTensor(shuffled, objective, units);
      try {
        const started = performance.now();
        const fitted = await model.fit(xs, ys, { epochs: 1, batchSize: options.batchSize, shuffle: false, verbose: 0 });
        const seconds = (performance.now() - started) / 1000;
        trainingSeconds += seconds;
        const accuracy = fitted.history.acc ?? fitted.history.accuracy;
        const metrics: EpochMetrics = {
          loss: Number(fitted.history.loss[0]),
          accuracy: accuracy === undefined ? Number.NaN : Number(accuracy[0]),
          seconds,
          samplesPerSecond: set.count / seconds,
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
  return { history, seconds: trainingSeconds, samplesPerSecond: trainingSeconds > 0 ? (set.count * options.epochs) / trainingSeconds : 0 };
}

export interface Evaluation {
  /** Accuracy of a classifier (NaN for a regression). */
  accuracy: number;
  /** Mean loss of the objective (categorical or binary cross-entropy, or squared error). */
  loss: number;
  /** The objective's metric and its value (accuracy, AUC or mean absolute error). */
  metric: Metric;
  value: number;
  /** What evaluators post on chain: the metric as a score in [0, 1], higher is better (see TrainingObjective). */
  score: number;
}

/** The objective's loss and metric of `model` on `data`; works on uncompiled (e.g. freshly loaded) models. */
export async function evaluate(model: LayersModel, data: DigitSet | TrainingSet, options: { objective?: TrainingObjective; batchSize?: number } = {}): Promise<Evaluation> {
  const tf = activeTf();
  const set = asTrainingSet(model, data);
  const objective = options.objective ?? CATEGORICAL;
  const batchSize = options.batchSize ?? 500;
  const units = outputUnits(model);
  let correct = 0;
  let lossSum = 0;
  let absoluteError = 0;
  const probabilities: number[] = [];
  for (let start = 0; start < set.count; start += batchSize) {
    const batch = selectExamples(set, Array.from({ length: Math.min(batchSize, set.count - start) }, (_, i) => start + i));
    const outputs = tf.tidy(() => {
      const xs = inputTensor(batch);
      const predicted = model.predict(xs) as Tensor;
      const ys = labelTensor(batch, objective, units);
      if (objective.loss === "categorical-crossentropy") {
        const hits = tf.equal(predicted.argMax(-1), ys.argMax(-1)).sum();
        return [hits, ys.mul(predicted.clipByValue(1e-7, 1).log()).sum().neg()];
      }
      if (objective.loss === "binary-crossentropy") {
        const p = predicted.clipByValue(1e-7, 1 - 1e-7);
        const loss = ys.mul(p.log()).add(tf.scalar(1).sub(ys).mul(tf.scalar(1).sub(p).log())).sum().neg();
        const hits = tf.equal(predicted.greaterEqual(0.5).toFloat(), ys).sum();
        return [hits, loss, predicted.reshape([-1])];
      }
      const error = predicted.reshape([-1, 1]).sub(ys);
      return [error.abs().sum(), error.square().sum()];
    });
    const values = await Promise.all(outputs.map((t) => t.data()));
    outputs.forEach((t) => t.dispose());
    if (objective.loss === "mean-squared-error") absoluteError += values[0][0];
    else correct += values[0][0];
    lossSum += values[1][0];
    if (values[2] !== undefined) probabilities.push(...values[2]);
  }
  const accuracy = objective.loss === "mean-squared-error" ? Number.NaN : correct / set.count;
  const value = objective.metric === "accuracy" ? accuracy : objective.metric === "auc" ? rocAuc(probabilities, set.labels) : absoluteError / set.count;
  return { accuracy, loss: lossSum / set.count, metric: objective.metric, value, score: scoreOf(objective.metric, value) };
}

function asTrainingSet(model: LayersModel, data: DigitSet | TrainingSet): TrainingSet {
  if (!("images" in data)) {
    const modelSize = model.inputs[0].shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
    if (modelSize !== exampleSizeOf(data)) throw new RangeError(`the model takes ${modelSize} values per example, the data has ${exampleSizeOf(data)}`);
    return { ...data, exampleShape: model.inputs[0].shape.slice(1) as number[] };
  }
  return trainingSetOfDigits(data, model.inputs[0].shape.slice(1) as number[]);
}

function outputUnits(model: LayersModel): number {
  return model.outputs[0].shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
}
