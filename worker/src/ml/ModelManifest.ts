import { z } from "zod";
import { inputCodecOf, inputCodecSchema, UINT8_PIXELS, type InputCodec } from "./codecs/InputCodec.js";
import { outputCodecOf, outputCodecSchema, UINT8_CLASS, type OutputCodec } from "./codecs/OutputCodec.js";
import { signatureSchema, singleTensors } from "./codecs/Signature.js";
import { trainingObjectiveSchema } from "./TrainingObjective.js";
import { tokenizerSchema } from "./Tokenizer.js";

/**
 * The manifest a ModelRegistry version points to (by CID): the model's format and topology, its
 * weights (CID, sha256, tfjs weight specs), its input and output signature and the codecs that
 * turn request bytes into inputs and outputs into answer bytes.
 *
 * Version 2 (`manifestVersion: 2`) is what Tessera writes. Version 1 manifests (no
 * `manifestVersion`; `inputEncoding: "uint8-pixels"`, `outputEncoding: "uint8-class"`, per-example
 * `inputShape` / `outputShape`) keep loading: they are read as the equivalent version 2, a
 * uint8-image input scaled by 1/255 and a class-index output.
 */
const weightSpecSchema = z.looseObject({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.enum(["float32", "int32", "bool", "string", "complex64"]),
});

const stored = {
  modelTopology: z.record(z.string(), z.unknown()),
  weightSpecs: z.array(weightSpecSchema).min(1),
  weightsCid: z.string().min(1),
  /** sha256 of the weight bytes, as the bytes32 a registry stores. */
  contentHash: z.string().regex(/^0x[0-9a-f]{64}$/),
  name: z.string().optional(),
  description: z.string().optional(),
};

export const MODEL_FORMATS = ["tfjs-layers", "tfjs-graph"] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

export const manifestV2Schema = z
  .object({
    manifestVersion: z.literal(2),
    format: z.enum(MODEL_FORMATS),
    ...stored,
    signature: signatureSchema,
    inputCodec: inputCodecSchema,
    outputCodec: outputCodecSchema,
    /** A graph model's TF signature as the converter wrote it in model.json (input and output names). */
    tfSignature: z.record(z.string(), z.unknown()).optional(),
    /** A text model's tokenizer (its vocabulary by CID): clients turn text into the int32-tokens it takes. */
    tokenizer: tokenizerSchema.optional(),
    /** What federated training minimises and how the model is scored (default: implied by the output codec). */
    training: trainingObjectiveSchema.optional(),
  })
  .superRefine((manifest, ctx) => {
    try {
      codecsOf(manifest);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message, path: ["inputCodec"] });
    }
    const { tokenizer, inputCodec } = manifest;
    if (tokenizer === undefined) return;
    if (inputCodec.name !== "int32-tokens") {
      ctx.addIssue({ code: "custom", message: `a tokenizer feeds int32-tokens, but the input codec is ${inputCodec.name}`, path: ["tokenizer"] });
    } else if (inputCodec.vocabSize !== undefined && tokenizer.unknownId >= inputCodec.vocabSize) {
      ctx.addIssue({ code: "custom", message: `tokenizer unknownId ${tokenizer.unknownId} is not below vocabSize ${inputCodec.vocabSize}`, path: ["tokenizer"] });
    }
  });

const perExampleShape = z.array(z.number().int().positive()).min(1);

const manifestV1Schema = z
  .object({
    format: z.literal("tfjs-layers"),
    ...stored,
    inputShape: perExampleShape,
    outputShape: perExampleShape,
    inputEncoding: z.literal("uint8-pixels"),
    outputEncoding: z.literal("uint8-class"),
  })
  .transform(({ inputShape, outputShape, inputEncoding: _i, outputEncoding: _o, ...rest }): ModelManifest => ({
    manifestVersion: 2,
    ...rest,
    signature: {
      inputs: [{ name: "input", dtype: "float32", shape: [null, ...inputShape] }],
      outputs: [{ name: "output", dtype: "float32", shape: [null, ...outputShape] }],
    },
    inputCodec: UINT8_PIXELS,
    outputCodec: UINT8_CLASS,
  }));

/** A manifest of either version; parsing always gives version 2. */
export const modelManifestSchema = z.union([manifestV2Schema, manifestV1Schema]);

/**
 * Parses a manifest document: one with a `manifestVersion` is checked as version 2, any other as
 * version 1, so that errors name the fields of the version meant.
 */
export function parseModelManifest(value: unknown): z.ZodSafeParseResult<ModelManifest> {
  const v2 = typeof value === "object" && value !== null && "manifestVersion" in value;
  return v2 ? manifestV2Schema.safeParse(value) : manifestV1Schema.safeParse(value);
}

export type ModelManifest = z.output<typeof manifestV2Schema>;

/** What a prediction needs from a manifest: the signature and the codecs. */
export type ModelCodecs = Pick<ModelManifest, "signature" | "inputCodec" | "outputCodec">;

/** The manifest's codecs bound to the model's one input and one output (ModelManifestError if they do not fit). */
export function codecsOf(manifest: ModelCodecs): { input: InputCodec; output: OutputCodec } {
  const { input, output } = singleTensors(manifest.signature);
  return { input: inputCodecOf(manifest.inputCodec, input), output: outputCodecOf(manifest.outputCodec, output) };
}

/**
 * The per-example shapes a ModelRegistry version declares: the values one request carries (the
 * market checks an inline input's length against their count) and one answer's output shape.
 */
export function versionShapesOf(manifest: ModelCodecs): { inputShape: number[]; outputShape: number[] } {
  const { input, output } = codecsOf(manifest);
  return { inputShape: [...input.exampleShape], outputShape: [...output.exampleShape] };
}
