import type * as Tfjs from "@tensorflow/tfjs";

/**
 * TensorFlow.js for scoring rounds in the page: a chunk of its own, loaded the first time a person asks (never with
 * the page), on the plain `cpu` backend (no WebGL context to ask for; the models scored here are small).
 */
export async function browserTf(): Promise<typeof Tfjs> {
  const tf = await import("@tensorflow/tfjs");
  await tf.setBackend("cpu");
  return tf;
}
