import type { GraphModel, Tensor, io } from "@tensorflow/tfjs";
import { activeTf } from "./backend.js";
import type { Signature } from "./codecs/Signature.js";
import { ModelManifestError } from "./ModelError.js";

/**
 * tfjs GraphModels (what the TensorFlow-to-tfjs converter writes, `format: "graph-model"`) for inference.
 * A manifest of format "tfjs-graph" stores the GraphDef as its `modelTopology` and, when model.json has one, the
 * converter's TF `signature` (input and output names), which the graph needs to be loaded as converted.
 */
export async function loadGraphModelFromMemory(modelTopology: object, weightSpecs: io.WeightsManifestEntry[], weightData: Uint8Array, tfSignature?: object): Promise<GraphModel> {
  const tf = activeTf();
  // fromMemory wants an ArrayBuffer holding exactly the weights, not a view into a larger one.
  const buffer = weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) as ArrayBuffer;
  const artifacts = { modelTopology, weightSpecs, weightData: buffer, format: "graph-model", ...(tfSignature === undefined ? {} : { signature: tfSignature }) };
  return tf.loadGraphModel(tf.io.fromMemory(artifacts as io.ModelArtifacts));
}

/**
 * A GraphModel's signature. tfjs knows its inputs' shapes and dtypes from the placeholders, not its outputs'
 * (an output node carries no shape): they are read from one prediction on zeros of the input's shape. Inputs
 * must have fixed sizes but for the batch, and the model one input and one output.
 */
export function graphSignatureOf(model: GraphModel): Signature {
  const tf = activeTf();
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new ModelManifestError(`the graph model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; Tessera serves models with one of each`);
  }
  const input = model.inputs[0];
  const dtype = input.dtype;
  if (dtype !== "float32" && dtype !== "int32") throw new ModelManifestError(`graph model input ${input.name} has dtype ${dtype}; Tessera serves float32 and int32 tensors`);
  const shape = input.shape;
  if (shape === undefined || shape.length < 2) throw new ModelManifestError(`graph model input ${input.name} has shape ${JSON.stringify(shape)}; a batch dimension and at least one more are needed`);
  const rest = shape.slice(1);
  if (rest.some((d) => d === null || d < 0)) {
    throw new ModelManifestError(`graph model input ${input.name} has shape ${JSON.stringify(shape)}: every size but the batch must be fixed`);
  }
  const probe = tf.tidy(() => {
    const y = model.predict(tf.zeros([1, ...rest], dtype)) as Tensor;
    return { shape: y.shape, dtype: y.dtype };
  });
  if (probe.dtype !== "float32" && probe.dtype !== "int32") {
    throw new ModelManifestError(`graph model output ${model.outputs[0].name} has dtype ${probe.dtype}; Tessera serves float32 and int32 tensors`);
  }
  if (probe.shape.length < 2 || probe.shape[0] !== 1) {
    throw new ModelManifestError(`graph model output ${model.outputs[0].name} has shape ${JSON.stringify(probe.shape)} for one example; a batch dimension is needed`);
  }
  return {
    inputs: [{ name: input.name, dtype, shape: [null, ...rest] }],
    outputs: [{ name: model.outputs[0].name, dtype: probe.dtype, shape: [null, ...probe.shape.slice(1)] }],
  };
}
