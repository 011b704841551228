import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { sha256 } from "ethers";
import { DatasetFormatError } from "../../../worker/src/data/DatasetError.js";
import { builtinSchema, builtinSchemaNames, MNIST_SCHEMA } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { decodeSamples, encodeSamples, sampleHashes } from "../../../worker/src/data/schema/DatasetEncoding.js";
import {
  canonicalSchemaBytes,
  parseSchemaDocument,
  schemaCidOf,
  schemaFromBytes,
  schemaIdOf,
  SchemaError,
  type SchemaDocumentInput,
} from "../../../worker/src/data/schema/SchemaDocument.js";
import { publishSchema, SchemaResolver } from "../../../worker/src/data/schema/SchemaResolver.js";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";

const REGRESSION: SchemaDocumentInput = {
  kind: "tessera.dataset-schema/1",
  name: "house-3/price",
  features: { dtype: "float32", shape: [3], names: ["rooms", "area", "age"], min: 0 },
  label: { kind: "regression", min: 0 },
  formats: ["csv", "jsonl"],
};

function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error");
}

describe("Dataset schema documents", () => {
  it("have one canonical form: key order and explicitly written defaults give the same id", () => {
    const reordered = { formats: ["csv", "jsonl"], label: { min: 0, kind: "regression" }, features: { min: 0, names: ["rooms", "area", "age"], shape: [3], dtype: "float32" }, name: "house-3/price", kind: "tessera.dataset-schema/1" };
    const withDefaults = { ...REGRESSION, label: { ...REGRESSION.label, column: "label" }, checks: { maxDuplicateFraction: 0.05, minClassFraction: 0 } };
    const id = schemaIdOf(REGRESSION);
    expect(schemaIdOf(reordered as SchemaDocumentInput)).to.equal(id);
    expect(schemaIdOf(withDefaults as SchemaDocumentInput)).to.equal(id);
    expect(sha256(canonicalSchemaBytes(REGRESSION))).to.equal(id);
    expect(new TextDecoder().decode(canonicalSchemaBytes(REGRESSION))).to.equal(
      '{"checks":{"maxDuplicateFraction":0.05,"minClassFraction":0},"features":{"dtype":"float32","min":0,"names":["rooms","area","age"],"shape":[3]},"formats":["csv","jsonl"],"kind":"tessera.dataset-schema/1","label":{"column":"label","kind":"regression","min":0},"name":"house-3/price"}',
    );
    expect(schemaIdOf({ ...REGRESSION, name: "house-3/price2" })).to.not.equal(id);
  });

  it("refuse malformed documents with one sentence per problem", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...REGRESSION, kind: "other" }, /kind: /],
      [{ ...REGRESSION, features: { ...REGRESSION.features, names: ["a", "b"] } }, /features: 2 names for 3 values/],
      [{ ...REGRESSION, features: { dtype: "uint8", shape: [2], max: 256 } }, /features: a uint8 range must lie within 0\.\.255/],
      [{ ...REGRESSION, features: { dtype: "float64", shape: [2] } }, /features\.dtype: /],
      [{ ...REGRESSION, label: { kind: "class", classes: ["a"] } }, /label\.classes: /],
      [{ ...REGRESSION, label: { kind: "class", classes: ["a", "a"] } }, /label\.classes: a class name repeats/],
      [{ ...REGRESSION, checks: { reference: { model: "bafy" } } }, /checks\.reference: a reference classifier needs class labels/],
      [{ ...REGRESSION, formats: ["image-folder"] }, /formats: image-folder needs uint8 features/],
      [{ ...REGRESSION, label: { kind: "class", classes: ["a", "b", "c"] }, checks: { minClassFraction: 0.34 } }, /no dataset can give each of 3 classes 0\.34/],
      [{ ...REGRESSION, extra: 1 }, /schema: Unrecognized key/],
    ];
    for (const [document, message] of cases) {
      const err = thrown(() => parseSchemaDocument(document));
      expect(err).to.be.instanceOf(SchemaError);
      expect(err.message).to.match(/^not a dataset schema \(/);
      expect(err.message).to.match(message);
    }
  });

  it("ship built-in schemas whose ids are the hashes of their documents", () => {
    expect(builtinSchemaNames()).to.deep.equal(["mnist-784/labels-10", "iris-4/species-3", "price-window-20x2/next-up-down", "colour-16x16x3/shapes-4"]);
    for (const name of builtinSchemaNames()) {
      const schema = builtinSchema(name)!;
      expect(schema.id).to.equal(sha256(canonicalSchemaBytes(schema.document)));
    }
    expect(MNIST_SCHEMA.document.checks.reference).to.deep.equal({ model: "tessera:mnist-2nn", minAgreement: 0.6, samples: 2_000 });
  });

  describe("on IPFS", () => {
    let dir: string;
    let store: EmbeddedContentStore;

    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), "tessera-schema-doc-"));
      store = await EmbeddedContentStore.open(path.join(dir, "ipfs"));
    });

    after(async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    });

    it("are stored as one raw block whose CID is computed from the on-chain id alone, and resolved by name, id or CID", async () => {
      const published = await publishSchema(store, REGRESSION);
      expect(published.cid).to.equal(schemaCidOf(schemaIdOf(REGRESSION)));
      expect(published.cid).to.match(/^bafkrei/);
      const resolver = new SchemaResolver(store);
      expect((await resolver.resolve(published.id)).document).to.deep.equal(parseSchemaDocument(REGRESSION));
      expect((await resolver.resolve(published.cid)).id).to.equal(published.id);
      expect((await resolver.resolve("iris-4/species-3")).id).to.equal(builtinSchema("iris-4/species-3")!.id);
      const err = await resolver.resolve("cifar-10").catch((e: Error) => e);
      expect((err as Error).message).to.equal(
        '"cifar-10" is not a known schema name (mnist-784/labels-10, iris-4/species-3, price-window-20x2/next-up-down, colour-16x16x3/shapes-4), a schema id (0x, 32 bytes) or a CID',
      );
      const missing = await new SchemaResolver(store).byId("0x" + "ab".repeat(32)).catch((e: Error) => e);
      expect((missing as Error).message).to.match(/^schema 0xabab.* \(bafkrei.*\) could not be fetched/);
    });

    it("refuse fetched bytes that are not the canonical form of their hash", () => {
      const pretty = new TextEncoder().encode(JSON.stringify(parseSchemaDocument(REGRESSION), null, 2));
      expect(thrown(() => schemaFromBytes(pretty, schemaIdOf(REGRESSION))).message).to.match(/hash to 0x/);
      expect(thrown(() => schemaFromBytes(pretty, sha256(pretty))).message).to.equal(`schema ${sha256(pretty)} is not in canonical form`);
    });
  });

  describe("the canonical dataset encoding of any schema", () => {
    const schema = { id: schemaIdOf(REGRESSION), document: parseSchemaDocument(REGRESSION) };

    it("round-trips float32 features and regression targets, writes -0 as +0 and refuses NaN", () => {
      const samples = { count: 2, features: Float32Array.of(3, 120.5, -0, 2, 64, 7.25), labels: Float32Array.of(250_000, -0) };
      const bytes = encodeSamples(schema, samples);
      expect(bytes.length).to.equal(44 + 2 * (12 + 4));
      const decoded = decodeSamples(schema, bytes);
      expect(Array.from(decoded.features)).to.deep.equal([3, 120.5, 0, 2, 64, 7.25]);
      expect(Object.is(decoded.features[2], 0)).to.equal(true);
      expect(Array.from(decoded.labels)).to.deep.equal([250_000, 0]);
      // -0 and +0 are one sample: the same hash, the same bytes.
      expect(sampleHashes(schema.document, samples)[0]).to.equal(sampleHashes(schema.document, decoded)[0]);
      expect(Buffer.from(encodeSamples(schema, decoded)).equals(Buffer.from(bytes))).to.equal(true);
      const nan = thrown(() => encodeSamples(schema, { ...samples, features: Float32Array.of(3, NaN, 0, 2, 64, 7) }));
      expect(nan).to.be.instanceOf(DatasetFormatError);
      expect(nan.message).to.equal('sample 0: feature "area" is NaN, expected a number in 0..3.4028234663852886e+38');
      const below = thrown(() => encodeSamples(schema, { ...samples, labels: Float32Array.of(-1, 0) }));
      expect(below.message).to.equal("sample 0: target -1 is outside 0..3.4028234663852886e+38");
      const negativeZeroBytes = bytes.slice();
      new DataView(negativeZeroBytes.buffer).setFloat32(44 + 4, -0, true);
      expect(thrown(() => decodeSamples(schema, negativeZeroBytes)).message).to.equal("sample 0: feature 1 is -0, which the canonical encoding writes as +0");
    });

    it("round-trips int32 token ids and names multi-dimensional positions in errors", () => {
      const tokens = { id: "", document: parseSchemaDocument({ kind: "tessera.dataset-schema/1", name: "t", features: { dtype: "int32", shape: [2, 2], min: 0, max: 9 }, label: { kind: "class", classes: ["n", "p"] }, formats: ["jsonl"] }) };
      const ref = { ...tokens, id: schemaIdOf(tokens.document) };
      const bytes = encodeSamples(ref, { count: 1, features: Int32Array.of(1, 2, 3, 9), labels: Uint16Array.of(1) });
      expect(Array.from(decodeSamples(ref, bytes).features)).to.deep.equal([1, 2, 3, 9]);
      expect(thrown(() => encodeSamples(ref, { count: 1, features: Int32Array.of(1, 2, 10, 0), labels: Uint16Array.of(1) })).message).to.equal(
        "sample 0: feature 2 [1, 0] is 10, expected an integer in 0..9",
      );
    });
  });
});
