import { builtinSchema } from "../../worker/src/data/schema/BuiltinSchemas.js";
import type { Samples } from "../../worker/src/data/schema/DatasetEncoding.js";

const HEADER = "sepal_length,sepal_width,petal_length,petal_width,species";
const SPECIES = (() => {
  const label = builtinSchema("iris-4/species-3")!.document.label;
  return label.kind === "class" ? label.classes : [];
})();

/** Six real Iris flowers, two of each species, as a person's CSV with a header. */
export const SIX_FLOWERS_CSV = [HEADER, "5.1,3.5,1.4,0.2,setosa", "7,3.2,4.7,1.4,versicolor", "6.3,3.3,6,2.5,virginica", "4.9,3,1.4,0.2,setosa", "6.4,3.2,4.5,1.5,versicolor", "5.8,2.7,5.1,1.9,virginica"].join("\n");

/** Samples of the iris-4/species-3 schema as a CSV with a header, as a person would bring them (6 significant digits). */
export function irisCsv(samples: Samples): string {
  const rows = Array.from({ length: samples.count }, (_, i) => [...samples.features.subarray(i * 4, i * 4 + 4)].map((v) => Number(v.toPrecision(6))).join(",") + "," + SPECIES[samples.labels[i]!]);
  return [HEADER, ...rows].join("\n") + "\n";
}
