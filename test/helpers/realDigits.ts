import { fromDigitSet, type LabelledImages } from "../../worker/src/data/DatasetFormat.js";
import { loadMnist, selectDigits } from "../../worker/src/ml/MnistDataset.js";

/**
 * `count` real MNIST digits from the mnist package's held-out test split (the reference
 * classifier trains on the other split), starting at `offset`, as uint8 samples.
 */
export async function realDigits(count: number, offset = 0): Promise<LabelledImages> {
  const { test } = await loadMnist({ testCount: 2_000, seed: 42 });
  return fromDigitSet(selectDigits(test, Array.from({ length: count }, (_, i) => offset + i)));
}
