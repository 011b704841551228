import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { DataRegistry } from "../../../typechain-types/index.js";
import { encodeDataset } from "../../../worker/src/data/DatasetFormat.js";
import { builtinSchema, MNIST_SCHEMA } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import { encodeSamples } from "../../../worker/src/data/schema/DatasetEncoding.js";
import type { SchemaDocumentInput } from "../../../worker/src/data/schema/SchemaDocument.js";
import { publishSchema } from "../../../worker/src/data/schema/SchemaResolver.js";
import { cidToBytes } from "../../../worker/src/data/OnChainDataset.js";
import { ConfigError, loadConfig } from "../../../worker/src/config.js";
import { addJson, getJson } from "../../../worker/src/ipfs/ContentStore.js";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { activeTf, selectBackend } from "../../../worker/src/ml/backend.js";
import { MNIST_CODECS, publishArtifacts, publishModel, serializeModel } from "../../../worker/src/ml/ModelArtifacts.js";
import { signatureOf } from "../../../worker/src/ml/codecs/Signature.js";
import { inKerasOrder } from "../../helpers/tfjsFolder.js";
import { buildMlp } from "../../../worker/src/ml/models.js";
import { admissionRefusal } from "../../../worker/src/training/JobAdmission.js";
import { aggregationRuleOf, payPerUpdate, type TrainingJobSpec } from "../../../worker/src/training/TrainingJobSpec.js";

const TOKEN = 10n ** 18n;
const ACCEPTED = 2n;

/**
 * A trainer's admission check (issue 8, item 2): before enrolling, which bonds its stake to the job's deadlines, it
 * refuses a job that underpays its work or whose model, evaluation set or datasets it cannot obtain. Real IPFS
 * blockstore, real model; the DataRegistry is a stub answering what `locateDataset` reads.
 */
describe("JobAdmission: a trainer refuses jobs it cannot serve before it risks its stake", () => {
  let dir: string;
  let store: EmbeddedContentStore;
  let spec: TrainingJobSpec;
  let datasetCid: string;

  /** Dataset 1: contributed with `datasetCid` and key envelopes unless `noEnvelopes`; `status` as given. */
  function registry(o: { status?: bigint; noEnvelopes?: boolean; schemaId?: string } = {}): DataRegistry {
    const contributed = [{ args: { cid: cidToBytes(datasetCid), keyEnvelopesCid: o.noEnvelopes ? "0x" : cidToBytes(datasetCid) } }];
    const stub = {
      datasetCount: async () => 1n,
      datasetOf: async () => ({ contributor: "0x" + "11".repeat(20), commitment: "0x" + "22".repeat(32), status: o.status ?? ACCEPTED, schemaId: o.schemaId ?? MNIST_SCHEMA.id }),
      filters: { DatasetContributed: () => "contributed", KeyEnvelopesPublished: () => "published" },
      queryFilter: async (filter: string) => (filter === "contributed" ? contributed : []),
    };
    return stub as unknown as DataRegistry;
  }

  before(async () => {
    await selectBackend();
    dir = mkdtempSync(join(tmpdir(), "tessera-admission-"));
    store = await EmbeddedContentStore.open(join(dir, "ipfs"));
    const model = buildMlp({ seed: 1 });
    const published = await publishModel(store, model, { name: "admission" });
    model.dispose();
    const evalSetCid = await store.add(encodeDataset({ count: 1, pixels: new Uint8Array(784), labels: new Uint8Array([3]) }));
    datasetCid = await store.add(new Uint8Array([1, 2, 3]));
    spec = {
      jobId: 1n,
      requester: "0x" + "33".repeat(20),
      manifestCid: published.manifestCid,
      weightsCid: published.weightsCid,
      evalSetCid,
      modelName: "admission",
      datasets: [{ datasetId: 1n, samples: 100 }],
      rounds: 6,
      workersPerRound: 3,
      evaluators: 3,
      localEpochs: 1,
      batchSize: 10,
      learningRate: 0.05,
      rule: aggregationRuleOf(0),
      quorumBps: 6_666,
      budget: 300n * TOKEN,
      royaltyBps: 1_000,
      evaluationBps: 500,
      createdBlock: 0,
    };
  });

  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("admits a job that pays enough and whose inputs are all obtainable", async () => {
    // The demo's terms: 255 TSR for the workers over 6 rounds x 3 workers = 14.1666… TSR per update.
    expect(payPerUpdate(spec)).to.equal((255n * TOKEN) / 18n);
    expect(await admissionRefusal(spec, { store, dataRegistry: registry(), minPayPerRound: payPerUpdate(spec) })).to.equal(undefined);
  });

  it("refuses a job that pays less than the configured least pay per round, at the wei", async () => {
    const least = payPerUpdate(spec) + 1n;
    expect(await admissionRefusal(spec, { store, dataRegistry: registry(), minPayPerRound: least })).to.equal(`underpaid:${least - 1n}<${least}`);
    const dust = { ...spec, budget: 18n };
    expect(await admissionRefusal(dust, { store, dataRegistry: registry(), minPayPerRound: TOKEN })).to.match(/^underpaid:/);
  });

  it("refuses a job whose initial weights, manifest or evaluation set cannot be fetched or do not check", async () => {
    const o = { store, dataRegistry: registry(), minPayPerRound: 0n };
    const missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    expect(await admissionRefusal({ ...spec, weightsCid: missing }, o)).to.match(/^model-unavailable:/);
    expect(await admissionRefusal({ ...spec, manifestCid: missing }, o)).to.match(/^model-unavailable:/);
    expect(await admissionRefusal({ ...spec, weightsCid: spec.evalSetCid }, o)).to.match(/^initial-weights-size:/);
    expect(await admissionRefusal({ ...spec, evalSetCid: missing }, o)).to.match(/^eval-set-unavailable:/);
    // A graph model (served, never trained): the same manifest under format tfjs-graph.
    const manifest = (await getJson(store, spec.manifestCid)) as Record<string, unknown>;
    const graphCid = await addJson(store, { ...manifest, format: "tfjs-graph" });
    expect(await admissionRefusal({ ...spec, manifestCid: graphCid }, o)).to.equal("model-not-trainable:tfjs-graph");
  });

  it("refuses a job whose manifest lists the initial weights in another order than tfjs's (a Keras layout): its updates would load scrambled from round 2", async () => {
    const tf = activeTf();
    const net = tf.sequential();
    net.add(tf.layers.dense({ inputShape: [784], units: 8, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
    net.add(tf.layers.batchNormalization());
    net.add(tf.layers.dense({ units: 10, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }));
    const serialized = await serializeModel(net);
    const signature = signatureOf(net);
    net.dispose();
    const o = { store, dataRegistry: registry(), minPayPerRound: 0n };
    const tfjsOrder = await publishArtifacts(store, { ...serialized, format: "tfjs-layers", signature }, MNIST_CODECS, { name: "bn" });
    expect(await admissionRefusal({ ...spec, manifestCid: tfjsOrder.manifestCid, weightsCid: tfjsOrder.weightsCid }, o)).to.equal(undefined);
    const keras = inKerasOrder(serialized.modelTopology as Parameters<typeof inKerasOrder>[0], serialized.weightSpecs, serialized.weightData);
    expect(keras.reordered).to.equal(true);
    const kerasOrder = await publishArtifacts(store, { ...serialized, weightSpecs: keras.weightSpecs as typeof serialized.weightSpecs, weightData: keras.weightData, format: "tfjs-layers", signature }, MNIST_CODECS, { name: "bn" });
    expect(await admissionRefusal({ ...spec, manifestCid: kerasOrder.manifestCid, weightsCid: kerasOrder.weightsCid }, o)).to.equal("model-weight-order");
  });

  it("refuses a job whose dataset is no longer accepted, has no key envelopes or cannot be fetched", async () => {
    const base = { store, minPayPerRound: 0n };
    expect(await admissionRefusal(spec, { ...base, dataRegistry: registry({ status: 5n }) })).to.equal("dataset-not-accepted:1");
    expect(await admissionRefusal(spec, { ...base, dataRegistry: registry({ noEnvelopes: true }) })).to.equal("dataset-key-unshareable:1");
    const saved = datasetCid;
    datasetCid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    try {
      expect(await admissionRefusal(spec, { ...base, dataRegistry: registry() })).to.match(/^dataset-unavailable:1:/);
    } finally {
      datasetCid = saved;
    }
  });

  it("refuses a job whose model cannot learn its data: another schema's datasets, inputs of another size or dtype, an objective that does not fit the labels", async () => {
    const base = { store, dataRegistry: registry(), minPayPerRound: 0n };
    const iris = builtinSchema("iris-4/species-3")!;
    expect(await admissionRefusal(spec, { ...base, dataRegistry: registry({ schemaId: iris.id }) })).to.equal(`dataset-schema-mismatch:1:${iris.id}!=${MNIST_SCHEMA.id}`);
    // The MNIST 2NN over an Iris evaluation set: 784 inputs for 4 features.
    const irisEval = await store.add(encodeSamples(iris, { count: 1, features: Float32Array.of(5.1, 3.5, 1.4, 0.2), labels: Uint16Array.of(0) }));
    expect(await admissionRefusal({ ...spec, evalSetCid: irisEval }, base)).to.equal("model-does-not-fit-data:the model takes 784 values per example (784), the schema iris-4/species-3 gives 4");
    // A 4-input binary classifier (one sigmoid output) over the three species.
    const tf = activeTf();
    const binary = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 1, activation: "sigmoid" })] });
    const published = await publishModel(store, binary, { name: "binary" }, { inputCodec: { name: "float32-tensor" }, outputCodec: { name: "binary-probability" } });
    binary.dispose();
    const irisJob = { ...spec, manifestCid: published.manifestCid, weightsCid: published.weightsCid, evalSetCid: irisEval };
    expect(await admissionRefusal(irisJob, { ...base, dataRegistry: registry({ schemaId: iris.id }) })).to.equal("model-does-not-fit-data:binary cross-entropy needs 2 classes, the data has 3");
    // A uint8-image model over float32 features.
    const image = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax" })] });
    const asImage = await publishModel(store, image, { name: "image" }, { inputCodec: { name: "uint8-image", scale: 1 / 255, mean: [0], std: [1] }, outputCodec: { name: "class-index", scoreBits: 16 } });
    image.dispose();
    expect(await admissionRefusal({ ...irisJob, manifestCid: asImage.manifestCid, weightsCid: asImage.weightsCid }, { ...base, dataRegistry: registry({ schemaId: iris.id }) })).to.equal(
      "model-does-not-fit-data:the model's uint8-image input does not take the float32 features of iris-4/species-3",
    );
  });

  it("refuses a job whose schema allows values the model cannot take (one bad partition would get its trainer slashed): token ids beyond the vocabulary, unbounded floats", async () => {
    const base = { store, minPayPerRound: 0n };
    const tf = activeTf();
    const tokens = { kind: "tessera.dataset-schema/1", name: "tokens-4/classes-2", features: { dtype: "int32", shape: [4], min: 0, max: 99 }, label: { kind: "class", classes: ["n", "p"] }, formats: ["jsonl"] } as const;
    const text = tf.sequential({ layers: [tf.layers.embedding({ inputDim: 50, outputDim: 4, inputLength: 4 }), tf.layers.flatten(), tf.layers.dense({ units: 2, activation: "softmax" })] });
    const published = await publishModel(store, text, { name: "text" }, { inputCodec: { name: "int32-tokens", length: 4, padId: 0, vocabSize: 50 }, outputCodec: { name: "class-index", scoreBits: 16 } });
    text.dispose();
    const job = async (document: object) => {
      const schema = await publishSchema(store, document as SchemaDocumentInput);
      const evalSetCid = await store.add(encodeSamples(schema, { count: 1, features: Int32Array.of(1, 2, 3, 4), labels: Uint16Array.of(1) }));
      return admissionRefusal({ ...spec, manifestCid: published.manifestCid, weightsCid: published.weightsCid, evalSetCid }, { ...base, dataRegistry: registry({ schemaId: schema.id }) });
    };
    expect(await job(tokens)).to.equal("model-does-not-fit-data:the schema tokens-4/classes-2 allows token ids 0..99, the model takes 0..49");
    expect(await job({ ...tokens, name: "tokens-4/unbounded", features: { dtype: "int32", shape: [4], max: 49 } })).to.equal("model-does-not-fit-data:the schema tokens-4/unbounded allows token ids -2^31..49, the model takes 0..49");
    expect(await job({ ...tokens, name: "tokens-4/fits", features: { dtype: "int32", shape: [4], min: 0, max: 49 } })).to.equal(undefined);
    const iris = builtinSchema("iris-4/species-3")!;
    const floats = await publishSchema(store, { ...iris.document, name: "iris-4/unbounded", features: { dtype: "float32", shape: [4] } } as SchemaDocumentInput);
    const irisEval = await store.add(encodeSamples(floats, { count: 1, features: Float32Array.of(5.1, 3.5, 1.4, 0.2), labels: Uint16Array.of(0) }));
    const mlp = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax" })] });
    const irisModel = await publishModel(store, mlp, { name: "iris" }, { inputCodec: { name: "float32-tensor" }, outputCodec: { name: "class-index", scoreBits: 16 } });
    mlp.dispose();
    expect(await admissionRefusal({ ...spec, manifestCid: irisModel.manifestCid, weightsCid: irisModel.weightsCid, evalSetCid: irisEval }, { ...base, dataRegistry: registry({ schemaId: floats.id }) })).to.equal(
      "model-does-not-fit-data:the schema iris-4/unbounded must bound its float32 features within +-1000000 for training (min none, max none)",
    );
  });

  it("TRAINING_MIN_PAY_PER_ROUND: TSR in decimal, 1 by default, validated with the rest of the config", () => {
    expect(loadConfig({}, {}, { envFile: false }).trainingMinPayPerRound).to.equal(TOKEN);
    expect(loadConfig({}, { TRAINING_MIN_PAY_PER_ROUND: "0.5" }, { envFile: false }).trainingMinPayPerRound).to.equal(TOKEN / 2n);
    for (const bad of ["-1", "abc", "1e18", "0.0000000000000000001"]) {
      let error: unknown;
      try {
        loadConfig({}, { TRAINING_MIN_PAY_PER_ROUND: bad }, { envFile: false });
      } catch (err) {
        error = err;
      }
      expect(error, bad).to.be.instanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => p.key)).to.deep.equal(["TRAINING_MIN_PAY_PER_ROUND"]);
    }
  });
});
