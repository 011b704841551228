import { z } from "zod";
import { ModelManifestError } from "../ModelError.js";

/**
 * A model's input and output signature, as the manifest records it: for each tensor its name,
 * dtype and shape, the first dimension being the batch (always variable: `null`). Other
 * dimensions are positive sizes, or `null` where the model takes any size (e.g. a sequence length,
 * which the input codec then fixes).
 */
export const tensorSpecSchema = z.object({
  name: z.string().min(1),
  dtype: z.enum(["float32", "int32"]),
  shape: z
    .array(z.number().int().positive().nullable())
    .min(2, "a shape has a batch dimension and at least one more")
    .refine((shape) => shape[0] === null, "the first (batch) dimension must be null (variable)"),
});

export const signatureSchema = z.object({
  inputs: z.array(tensorSpecSchema).min(1),
  outputs: z.array(tensorSpecSchema).min(1),
});

export type TensorSpec = z.infer<typeof tensorSpecSchema>;
export type Signature = z.infer<typeof signatureSchema>;

/** What tfjs says about a model's input or output tensor (a LayersModel's SymbolicTensor, a GraphModel's TensorInfo). */
export interface TensorInfoLike {
  readonly name: string;
  readonly shape?: ReadonlyArray<number | null> | null;
  readonly dtype: string;
  /** A LayersModel's tensors: the layer that makes them, whose name the topology keeps (tensor names get counters). */
  readonly sourceLayer?: { readonly name: string };
}

interface ModelLike {
  readonly inputs: readonly TensorInfoLike[];
  readonly outputs: readonly TensorInfoLike[];
}

/**
 * The signature of a tfjs model. A LayersModel's tensors are named after their layers (stable
 * across save and load); GraphModels mark unknown sizes with -1, which becomes `null`.
 */
export function signatureOf(model: ModelLike): Signature {
  const nameOf = (t: TensorInfoLike) => t.sourceLayer?.name ?? t.name;
  return {
    inputs: model.inputs.map((t) => tensorSpecOf(t, nameOf(t), "input")),
    outputs: model.outputs.map((t) => tensorSpecOf(t, nameOf(t), "output")),
  };
}

function tensorSpecOf(tensor: TensorInfoLike, name: string, which: "input" | "output"): TensorSpec {
  if (tensor.dtype !== "float32" && tensor.dtype !== "int32") {
    throw new ModelManifestError(`model ${which} ${name} has dtype ${tensor.dtype}; Tessera serves float32 and int32 tensors`);
  }
  if (tensor.shape === undefined || tensor.shape === null || tensor.shape.length < 2) {
    throw new ModelManifestError(`model ${which} ${name} has shape ${JSON.stringify(tensor.shape)}; a batch dimension and at least one more are needed`);
  }
  const [, ...rest] = tensor.shape;
  return { name, dtype: tensor.dtype, shape: [null, ...rest.map((d) => (d === null || d < 0 ? null : d))] };
}

/** One example's shape (the batch dimension dropped); `null` where the model takes any size. */
export function exampleShape(spec: TensorSpec): Array<number | null> {
  return spec.shape.slice(1);
}

/** One example's shape, which must be fixed. */
export function fixedExampleShape(spec: TensorSpec, forWhat: string): number[] {
  const shape = exampleShape(spec);
  if (shape.some((d) => d === null)) {
    throw new ModelManifestError(`${forWhat} needs a fixed shape, but ${spec.name} has shape ${JSON.stringify(spec.shape)}`);
  }
  return shape as number[];
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, d) => product * d, 1);
}

/** The one input and one output the codecs serve; models with more are refused with a clear sentence. */
export function singleTensors(signature: Signature): { input: TensorSpec; output: TensorSpec } {
  if (signature.inputs.length !== 1 || signature.outputs.length !== 1) {
    throw new ModelManifestError(
      `the model has ${signature.inputs.length} input(s) and ${signature.outputs.length} output(s); the codecs serve models with exactly one of each`,
    );
  }
  return { input: signature.inputs[0], output: signature.outputs[0] };
}
