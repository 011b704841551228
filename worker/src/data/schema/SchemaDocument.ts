import canonicalize from "canonicalize";
import { sha256 } from "ethers";
import { z } from "zod";
import { rawBlockCid } from "../../ipfs/ContentStore.js";
import { tokenizerSchema } from "../../ml/Tokenizer.js";
import { DatasetError } from "../DatasetError.js";

/**
 * A dataset schema as data: what one sample is (a feature tensor of a dtype and shape, with its value range), what
 * its label is (one of named classes, or a regression target), the file formats contributors may bring, and the
 * checks validators run. Content-addressed: the document's canonical bytes (RFC 8785 JSON canonicalisation, after
 * defaults are filled in) hash to the schema id that datasets carry on chain (sha256, bytes32), and the same bytes
 * stored as one raw IPFS block have the CID `schemaCidOf(id)`, so anyone can fetch a schema from its on-chain id.
 *
 * Imports nothing Node-only: the dApp bundles it.
 */
export const SCHEMA_DOCUMENT_KIND = "tessera.dataset-schema/1";

export const FEATURE_DTYPES = ["uint8", "int32", "float32"] as const;
export type FeatureDtype = (typeof FEATURE_DTYPES)[number];

export const FILE_FORMATS = ["csv", "json", "jsonl", "npy", "idx", "image-folder"] as const;
export type FileFormat = (typeof FILE_FORMATS)[number];

/** Reference classifiers validators build themselves, by name (every other reference is a published model, by manifest CID). */
export const BUILTIN_REFERENCES = ["tessera:mnist-2nn"] as const;

/** At most this many feature values per sample (a 1,024 x 1,024 x 4 image). */
export const MAX_FEATURE_VALUES = 1 << 22;

const finite = z.number().refine(Number.isFinite, { message: "must be a finite number" });

const featuresSchema = z
  .strictObject({
    dtype: z.enum(FEATURE_DTYPES),
    shape: z.array(z.number().int().positive()).min(1).max(4),
    /** Column names of a table (one per value, in order): how CSV headers and JSON objects are read. */
    names: z.array(z.string().min(1)).optional(),
    /** Inclusive value range; uint8 is always within 0..255. */
    min: finite.optional(),
    max: finite.optional(),
    /** Text schemas: JSONL `text` fields become token ids through this tokenizer (int32 features of shape [length]). */
    tokenizer: tokenizerSchema.optional(),
    /** Text schemas: the id shorter texts are padded with (default 0). */
    padId: z.number().int().nonnegative().optional(),
  })
  .superRefine((f, ctx) => {
    const size = f.shape.reduce((a, b) => a * b, 1);
    if (size > MAX_FEATURE_VALUES) ctx.addIssue({ code: "custom", message: `shape [${f.shape}] holds ${size} values, more than ${MAX_FEATURE_VALUES}` });
    if (f.names !== undefined && f.names.length !== size) ctx.addIssue({ code: "custom", message: `${f.names.length} names for ${size} values` });
    if (f.names !== undefined && new Set(f.names).size !== f.names.length) ctx.addIssue({ code: "custom", message: "a feature name repeats" });
    if (f.min !== undefined && f.max !== undefined && f.min > f.max) ctx.addIssue({ code: "custom", message: `min ${f.min} is above max ${f.max}` });
    if (f.dtype === "uint8" && ((f.min ?? 0) < 0 || (f.max ?? 255) > 255)) ctx.addIssue({ code: "custom", message: "a uint8 range must lie within 0..255" });
    if (f.tokenizer !== undefined && (f.dtype !== "int32" || f.shape.length !== 1)) ctx.addIssue({ code: "custom", message: "a tokenizer needs int32 features of shape [length]" });
    if (f.padId !== undefined && f.tokenizer === undefined) ctx.addIssue({ code: "custom", message: "padId goes with a tokenizer" });
  });

const classLabelSchema = z.strictObject({
  kind: z.literal("class"),
  classes: z
    .array(z.string().min(1))
    .min(2)
    .max(65_535)
    .refine((c) => new Set(c).size === c.length, { message: "a class name repeats" }),
  /** The label's column in a CSV file or its key in a JSON object (default "label"). */
  column: z.string().min(1).default("label"),
});

const regressionLabelSchema = z
  .strictObject({
    kind: z.literal("regression"),
    min: finite.optional(),
    max: finite.optional(),
    column: z.string().min(1).default("label"),
  })
  .refine((l) => l.min === undefined || l.max === undefined || l.min <= l.max, { message: "min is above max" });

const referenceSchema = z.strictObject({
  /** A published classifier's manifest CID, or a built-in reference (BUILTIN_REFERENCES). */
  model: z.string().min(1),
  /** The version's weights CID when they are not the manifest's own. */
  weightsCid: z.string().min(1).optional(),
  /** Reject below this fraction of labels the reference agrees with. */
  minAgreement: z.number().min(0).max(1).default(0.6),
  /** At most this many samples, evenly spread, are checked. */
  samples: z.number().int().positive().default(2_000),
});

const checksSchema = z.strictObject({
  /** Reject above this fraction of samples that repeat accepted data or each other (features only). */
  maxDuplicateFraction: z.number().min(0).max(1).default(0.05),
  /** Class schemas: reject when some class holds less than this fraction of the samples (0: no balance check). */
  minClassFraction: z.number().min(0).max(1).default(0),
  /** Class schemas: the label-noise check against this reference classifier (none: structural checks only). */
  reference: referenceSchema.optional(),
});

export const schemaDocumentSchema = z
  .strictObject({
    kind: z.literal(SCHEMA_DOCUMENT_KIND),
    name: z.string().min(1).max(200),
    description: z.string().max(2_000).optional(),
    features: featuresSchema,
    label: z.discriminatedUnion("kind", [classLabelSchema, regressionLabelSchema]),
    formats: z
      .array(z.enum(FILE_FORMATS))
      .min(1)
      .refine((f) => new Set(f).size === f.length, { message: "a format repeats" }),
    checks: checksSchema.prefault({}),
  })
  .superRefine((d, ctx) => {
    if (d.checks.reference !== undefined && d.label.kind !== "class") ctx.addIssue({ code: "custom", path: ["checks", "reference"], message: "a reference classifier needs class labels" });
    if (d.checks.minClassFraction > 0 && d.label.kind !== "class") ctx.addIssue({ code: "custom", path: ["checks", "minClassFraction"], message: "class balance needs class labels" });
    if (d.label.kind === "class" && d.checks.minClassFraction * d.label.classes.length > 1) {
      ctx.addIssue({ code: "custom", path: ["checks", "minClassFraction"], message: `no dataset can give each of ${d.label.classes.length} classes ${d.checks.minClassFraction} of its samples` });
    }
    if (d.formats.includes("image-folder") && !(d.features.dtype === "uint8" && d.features.shape.length === 3 && d.label.kind === "class")) {
      ctx.addIssue({ code: "custom", path: ["formats"], message: "image-folder needs uint8 features of shape [height, width, channels] and class labels" });
    }
  });

/** A schema as written (defaults optional). */
export type SchemaDocumentInput = z.input<typeof schemaDocumentSchema>;
/** A checked schema, every default filled in. */
export type SchemaDocument = z.output<typeof schemaDocumentSchema>;

/** A schema document that does not parse, or bytes that are not the canonical form of their hash. */
export class SchemaError extends DatasetError {
  override readonly name: string = "SchemaError";

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "DATASET_SCHEMA", cause: options.cause });
  }
}

/**
 * A schema this process cannot read now (not built in and no store, or the fetch failed): nobody's fault that a
 * vote could rest on. A validator abstains (its job is retried) rather than reject.
 */
export class SchemaUnavailableError extends SchemaError {
  override readonly name = "SchemaUnavailableError";
}

/** Checks a schema document and fills in its defaults; one sentence per problem on failure. */
export function parseSchemaDocument(value: unknown): SchemaDocument {
  const parsed = schemaDocumentSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.length === 0 ? "schema" : i.path.join(".")}: ${i.message}`);
    throw new SchemaError(`not a dataset schema (${problems.join("; ")})`, { cause: parsed.error });
  }
  return parsed.data;
}

/** The schema's canonical bytes: RFC 8785 JSON of the checked document (defaults filled in), UTF-8. */
export function canonicalSchemaBytes(document: SchemaDocumentInput | SchemaDocument): Uint8Array {
  const checked = parseSchemaDocument(document);
  return new TextEncoder().encode(canonicalize(checked)!);
}

/** The on-chain schema id: sha256 of the canonical bytes, 0x-bytes32. */
export function schemaIdOf(document: SchemaDocumentInput | SchemaDocument): string {
  return sha256(canonicalSchemaBytes(document));
}

/** The CID of the canonical bytes stored as one raw block (CIDv1, raw, sha2-256): found from the on-chain id alone. */
export function schemaCidOf(schemaId: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(schemaId)) throw new SchemaError(`schema id ${schemaId} is not a bytes32`);
  return rawBlockCid(schemaId);
}

/** Reads canonical bytes fetched for `schemaId`: they must hash to it and be the canonical form of what they say. */
export function schemaFromBytes(bytes: Uint8Array, schemaId: string): SchemaDocument {
  if (sha256(bytes) !== schemaId.toLowerCase()) throw new SchemaError(`the bytes fetched for schema ${schemaId} hash to ${sha256(bytes)}`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new SchemaError(`schema ${schemaId} is not UTF-8 JSON`, { cause: err });
  }
  // Canonical as written (RFC 8785 of the very JSON stored), not as this version would fill in defaults: a release
  // that adds a default must not make its validators read an older schema differently from the others.
  if (canonicalize(value) !== new TextDecoder().decode(bytes)) throw new SchemaError(`schema ${schemaId} is not in canonical form`);
  return parseSchemaDocument(value);
}

/** Values per sample (the product of the feature shape). */
export function featureSize(document: SchemaDocument): number {
  return document.features.shape.reduce((a, b) => a * b, 1);
}

/** Bytes per feature value. */
export function dtypeBytes(dtype: FeatureDtype): number {
  return dtype === "uint8" ? 1 : 4;
}

/** The inclusive range a feature value must lie in. */
export function featureRange(document: SchemaDocument): { min: number; max: number } {
  const { dtype, min, max } = document.features;
  if (dtype === "uint8") return { min: min ?? 0, max: max ?? 255 };
  if (dtype === "int32") return { min: min ?? -(2 ** 31), max: max ?? 2 ** 31 - 1 };
  return { min: min ?? -FLOAT32_MAX, max: max ?? FLOAT32_MAX };
}

/** The largest finite float32. */
export const FLOAT32_MAX = 3.4028234663852886e38;
