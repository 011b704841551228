import { builtinSchema, builtinSchemaNames } from "../../worker/src/data/schema/BuiltinSchemas.js";
import { featureSize } from "../../worker/src/data/schema/SchemaDocument.js";

export interface SchemaListEntry {
  name: string;
  id: string;
  features: string;
  label: string;
  formats: string[];
}

/** Prints every built-in schema: name, on-chain id, features, label and formats. */
export default async function schemaList(): Promise<SchemaListEntry[]> {
  const entries = builtinSchemaNames().map((name) => {
    const { id, document } = builtinSchema(name)!;
    const { features, label } = document;
    return {
      name,
      id,
      features: `${features.dtype}[${features.shape.join("x")}] (${featureSize(document)} values)`,
      label: label.kind === "class" ? `${label.classes.length} classes` : "regression",
      formats: document.formats,
    };
  });
  for (const e of entries) console.log(`${e.name}\n  id        ${e.id}\n  features  ${e.features}\n  label     ${e.label}\n  formats   ${e.formats.join(", ")}`);
  return entries;
}
