import { z } from "zod";
import type { OutputCodecSpec } from "./codecs/OutputCodec.js";
import { ModelManifestError } from "./ModelError.js";

/**
 * What a training job optimises and how its model is scored: the loss every worker minimises in its local epochs,
 * and the metric evaluators post on chain. Named in the model's manifest (`training`), which the job's terms name by
 * CID, so every worker of a job trains and scores alike. Without one, the output codec decides:
 *
 * | output codec | loss | metric |
 * |---|---|---|
 * | class-index, top-k | categorical cross-entropy (labels one-hot) | accuracy |
 * | binary-probability | binary cross-entropy (labels 0/1) | accuracy |
 * | float32-tensor | mean squared error | mae |
 *
 * The on-chain score (`postEvaluation`'s accuracy field, in millionths, higher is better) is the accuracy, the AUC,
 * or 1 / (1 + MAE) for regressions.
 */
export const LOSSES = ["categorical-crossentropy", "binary-crossentropy", "mean-squared-error"] as const;
export const METRICS = ["accuracy", "auc", "mae"] as const;
export type Loss = (typeof LOSSES)[number];
export type Metric = (typeof METRICS)[number];

export const trainingObjectiveSchema = z
  .strictObject({ loss: z.enum(LOSSES), metric: z.enum(METRICS) })
  .refine((o) => o.loss !== "mean-squared-error" || o.metric === "mae", { message: "a mean-squared-error model is scored by mae" })
  .refine((o) => o.loss === "mean-squared-error" || o.metric !== "mae", { message: "mae scores regressions (mean-squared-error)" })
  .refine((o) => o.metric !== "auc" || o.loss === "binary-crossentropy", { message: "auc scores binary classifiers (binary-crossentropy)" });

export type TrainingObjective = z.output<typeof trainingObjectiveSchema>;

/** The objective a manifest names, or the one its output codec implies. */
export function objectiveOf(manifest: { outputCodec: OutputCodecSpec; training?: TrainingObjective | undefined }): TrainingObjective {
  if (manifest.training !== undefined) return manifest.training;
  switch (manifest.outputCodec.name) {
    case "class-index":
    case "top-k":
      return { loss: "categorical-crossentropy", metric: "accuracy" };
    case "binary-probability":
      return { loss: "binary-crossentropy", metric: "accuracy" };
    case "float32-tensor":
      return { loss: "mean-squared-error", metric: "mae" };
  }
}

/** The tfjs loss name. */
export function tfLossOf(loss: Loss): string {
  return loss === "categorical-crossentropy" ? "categoricalCrossentropy" : loss === "binary-crossentropy" ? "binaryCrossentropy" : "meanSquaredError";
}

/**
 * Checks that a model with `outputUnits` outputs per example can learn labels of this kind with this objective:
 * categorical needs one unit per class, binary one unit and two classes, a regression one unit.
 */
export function checkObjectiveFits(objective: TrainingObjective, outputUnits: number, label: { kind: "class"; classes: readonly string[] } | { kind: "regression" }): void {
  if (objective.loss === "mean-squared-error") {
    if (label.kind !== "regression") throw new ModelManifestError("a mean-squared-error model trains on regression targets, the data's labels are classes");
    if (outputUnits !== 1) throw new ModelManifestError(`a regression model has one output, this one has ${outputUnits}`);
    return;
  }
  if (label.kind !== "class") throw new ModelManifestError(`a ${objective.loss} model trains on classes, the data's labels are regression targets`);
  if (objective.loss === "binary-crossentropy") {
    if (label.classes.length !== 2) throw new ModelManifestError(`binary cross-entropy needs 2 classes, the data has ${label.classes.length}`);
    if (outputUnits !== 1) throw new ModelManifestError(`a binary classifier has one output (the probability of class 1), this one has ${outputUnits}`);
    return;
  }
  if (outputUnits !== label.classes.length) throw new ModelManifestError(`the model outputs ${outputUnits} classes, the data has ${label.classes.length}`);
}

/** Area under the ROC curve of scores against 0/1 labels (ties share their rank: the Mann-Whitney statistic). */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]] === 1) {
        positives++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return Number.NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** The on-chain score of a metric value: higher is better, in [0, 1]. */
export function scoreOf(metric: Metric, value: number): number {
  return metric === "mae" ? 1 / (1 + value) : value;
}
