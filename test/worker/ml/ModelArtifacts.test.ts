import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { LayersModel } from "@tensorflow/tfjs";
import { addJson, getJson, type ContentStore } from "../../../worker/src/ipfs/ContentStore.js";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { activeTf, selectBackend } from "../../../worker/src/ml/backend.js";
import { encodeImage, predictClasses } from "../../../worker/src/ml/InferenceCodec.js";
import { loadMnist, selectDigits, MNIST_PIXELS, type DigitSet } from "../../../worker/src/ml/MnistDataset.js";
import {
  loadPublishedModel,
  publishModel,
  serializeModel,
  sha256Hex,
  type ModelManifest,
} from "../../../worker/src/ml/ModelArtifacts.js";
import { ModelCache } from "../../../worker/src/ml/ModelCache.js";
import { ModelIntegrityError, ModelManifestError } from "../../../worker/src/ml/ModelError.js";
import { buildCnn, buildMlp, trainModel } from "../../../worker/src/ml/models.js";

/** Counts reads so that tests can see what the cache fetched. */
class CountingStore implements ContentStore {
  readonly kind = "embedded" as const;
  gets = 0;
  constructor(private readonly inner: ContentStore) {}
  add(bytes: Uint8Array) {
    return this.inner.add(bytes);
  }
  get(cid: string) {
    this.gets++;
    return this.inner.get(cid);
  }
  cat(cid: string) {
    this.gets++;
    return this.inner.cat(cid);
  }
  size(cid: string) {
    return this.inner.size(cid);
  }
  has(cid: string) {
    return this.inner.has(cid);
  }
  pin(cid: string) {
    return this.inner.pin(cid);
  }
  close() {
    return this.inner.close();
  }
}

function encodeDigits(set: DigitSet): Uint8Array[] {
  return Array.from({ length: set.count }, (_, i) =>
    encodeImage(set.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS)),
  );
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => expect.fail("expected a rejection"),
    (error: Error) => error,
  );
}

describe("ModelArtifacts and ModelCache", () => {
  let directory: string;
  let store: CountingStore;
  let mlp: LayersModel;
  let inputs: Uint8Array[];

  before(async () => {
    await selectBackend();
    const { train, test } = await loadMnist({ testCount: 2_000, seed: 42 });
    mlp = buildMlp({ seed: 11 });
    await trainModel(mlp, selectDigits(train, Array.from({ length: 2_000 }, (_, i) => i)), {
      epochs: 1,
      batchSize: 50,
      learningRate: 0.001,
      optimizer: "adam",
    });
    inputs = encodeDigits(selectDigits(test, Array.from({ length: 300 }, (_, i) => i)));
  });

  after(() => mlp.dispose());

  beforeEach(async () => {
    directory = await mkdtemp(path.join(tmpdir(), "tessera-models-"));
    store = new CountingStore(await EmbeddedContentStore.open(directory));
  });

  afterEach(async () => {
    await store.close();
    await rm(directory, { recursive: true, force: true });
  });

  it("publishes weights and a manifest and loads a model that predicts identically", async () => {
    const published = await publishModel(store, mlp, { name: "mnist-2nn" });
    const manifest = (await getJson(store, published.manifestCid)) as ModelManifest;
    expect(manifest).to.include({
      manifestVersion: 2,
      format: "tfjs-layers",
      weightsCid: published.weightsCid,
      contentHash: published.contentHash,
      name: "mnist-2nn",
    });
    expect(manifest.signature.inputs.map((t) => t.shape)).to.deep.equal([[null, 784]]);
    expect(manifest.signature.outputs.map((t) => t.shape)).to.deep.equal([[null, 10]]);
    expect(manifest.inputCodec).to.deep.equal({ name: "uint8-image", scale: 1 / 255, mean: [0], std: [1] });
    expect(manifest.outputCodec).to.deep.equal({ name: "class-index", scoreBits: 16 });
    const weights = await store.get(published.weightsCid);
    expect(weights.byteLength).to.equal(199_210 * 4);
    expect(sha256Hex(weights)).to.equal(published.contentHash);
    expect(published.contentHash).to.match(/^0x[0-9a-f]{64}$/);

    const loaded = await loadPublishedModel(store, published.manifestCid);
    const model = loaded.model as LayersModel; // a tfjs-layers manifest
    const expected = await predictClasses(mlp, inputs);
    expect(await predictClasses(model, inputs)).to.deep.equal(expected);
    const accuracyProxy = new Set(expected).size;
    expect(accuracyProxy).to.equal(10); // a trained model, not a constant predictor
    const reserialized = await serializeModel(model);
    expect(sha256Hex(reserialized.weightData)).to.equal(published.contentHash);
    // Publishing the same weights again yields the same content, hence the same CIDs.
    expect(await publishModel(store, model, { name: "mnist-2nn" })).to.deep.equal(published);
    model.dispose();
  });

  it("round-trips the CNN with its image-shaped input", async () => {
    const cnn = buildCnn({ seed: 5 });
    const published = await publishModel(store, cnn);
    const { model, manifest } = await loadPublishedModel(store, published.manifestCid);
    expect(manifest.signature.inputs[0].shape).to.deep.equal([null, 28, 28, 1]);
    const some = inputs.slice(0, 40);
    expect(await predictClasses(model, some)).to.deep.equal(await predictClasses(cnn, some));
    cnn.dispose();
    model.dispose();
  });

  it("fetches once, returns the cached model after, and disposes the least recently used", async () => {
    const { tf } = await selectBackend();
    const a = await publishModel(store, mlp);
    const other = buildMlp({ seed: 12 });
    const b = await publishModel(store, other);
    other.dispose();

    const cache = new ModelCache(store, { capacity: 1 });
    const [first, concurrent] = await Promise.all([cache.load(a.manifestCid), cache.load(a.manifestCid)]);
    // Identity as booleans: chai (with Hardhat's matchers) would otherwise walk the model graph.
    expect(concurrent === first).to.equal(true);
    expect(store.gets).to.equal(2); // manifest + weights, once
    expect((await cache.load(a.manifestCid, { expectedContentHash: a.contentHash })) === first).to.equal(true);
    expect(store.gets).to.equal(2);

    const tensorsWithA = tf.memory().numTensors;
    const second = await cache.load(b.manifestCid);
    expect(cache.has(a.manifestCid)).to.equal(false);
    expect(cache.size).to.equal(1);
    expect(() => (first.model as LayersModel).getWeights()).to.throw(/disposed/);
    expect(tf.memory().numTensors).to.equal(tensorsWithA); // one MLP's weights out, one in
    expect(await predictClasses(second.model, inputs.slice(0, 5))).to.have.length(5);
    cache.clear();
    expect(tf.memory().numTensors).to.equal(tensorsWithA - 6);
  });

  it("rejects a manifest whose content hash does not match its weights", async () => {
    const published = await publishModel(store, mlp);
    const manifest = (await getJson(store, published.manifestCid)) as ModelManifest;
    const forged = await addJson(store, { ...manifest, contentHash: `0x${"ab".repeat(32)}` });

    const cache = new ModelCache(store);
    const error = await rejection(cache.load(forged));
    expect(error).to.be.instanceOf(ModelIntegrityError);
    expect(error.message).to.contain(`hash to ${published.contentHash}`);
    expect(cache.has(forged)).to.equal(false);
  });

  it("refuses a manifest whose weight specs claim more than its weights file holds before building anything (a tiny file under gigabyte layers)", async () => {
    const published = await publishModel(store, mlp);
    const manifest = (await getJson(store, published.manifestCid)) as ModelManifest;
    // The attacker commits to a 16-byte file and claims a 784 x 20,000 first layer: 62.7 MB that must never be built.
    const tiny = new Uint8Array(16).fill(7);
    const tinyCid = await store.add(tiny);
    const claimed = JSON.parse(JSON.stringify(manifest.modelTopology).replace(/"units":200\b/, '"units":20000'));
    const specs = manifest.weightSpecs.map((w, i) => (i === 0 ? { ...w, shape: [784, 20_000] } : i === 1 ? { ...w, shape: [20_000] } : i === 2 ? { ...w, shape: [20_000, 200] } : w));
    const forged = await addJson(store, { ...manifest, modelTopology: claimed, weightSpecs: specs, weightsCid: tinyCid, contentHash: sha256Hex(tiny) });
    const total = specs.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
    const tensorsBefore = activeTf().memory().numTensors;
    const error = await rejection(loadPublishedModel(store, forged));
    expect(error).to.be.instanceOf(ModelManifestError);
    expect(error.message).to.equal(`the weights file holds 16 bytes, its specs describe ${total}`);
    expect(activeTf().memory().numTensors).to.equal(tensorsBefore);
  });

  it("rejects weights swapped under an unchanged manifest hash, and a hash other than the registry's", async () => {
    const published = await publishModel(store, mlp);
    const impostor = buildMlp({ seed: 99 });
    const impostorPublished = await publishModel(store, impostor);
    impostor.dispose();
    const manifest = (await getJson(store, published.manifestCid)) as ModelManifest;
    const swapped = await addJson(store, { ...manifest, weightsCid: impostorPublished.weightsCid });

    const cache = new ModelCache(store);
    expect(await rejection(cache.load(swapped))).to.be.instanceOf(ModelIntegrityError);
    const mismatch = await rejection(
      cache.load(impostorPublished.manifestCid, { expectedContentHash: published.contentHash }),
    );
    expect(mismatch).to.be.instanceOf(ModelIntegrityError);
    expect(mismatch.message).to.contain(`expected ${published.contentHash}`);
  });

  it("loads a version's own weights (trained after its manifest) under the manifest's architecture, checked by hash", async () => {
    const initial = buildMlp({ seed: 99 });
    const manifestOnly = await publishModel(store, initial); // the job's manifest: initial weights
    initial.dispose();
    const trained = await publishModel(store, mlp); // the trained weights (same architecture)
    const cache = new ModelCache(store);
    const loaded = await cache.load(manifestOnly.manifestCid, { weightsCid: trained.weightsCid, expectedContentHash: trained.contentHash });
    expect(loaded.weightsCid).to.equal(trained.weightsCid);
    expect(loaded.contentHash).to.equal(trained.contentHash);
    expect(await predictClasses(loaded.model, inputs)).to.deep.equal(await predictClasses(mlp, inputs));
    expect(cache.has(manifestOnly.manifestCid)).to.equal(false); // cached under manifest + weights
    expect(cache.has(manifestOnly.manifestCid, trained.weightsCid)).to.equal(true);
    // Naming the manifest's own weights is the plain load.
    const plain = await cache.load(manifestOnly.manifestCid, { weightsCid: manifestOnly.weightsCid, expectedContentHash: manifestOnly.contentHash });
    expect(plain.contentHash).to.equal(manifestOnly.contentHash);
    // Other weights need the registry's hash, and must match it.
    const unchecked = await rejection(loadPublishedModel(store, manifestOnly.manifestCid, { weightsCid: trained.weightsCid }));
    expect(unchecked.message).to.contain("an expected content hash is required");
    const wrong = await rejection(cache.load(manifestOnly.manifestCid, { weightsCid: trained.weightsCid, expectedContentHash: manifestOnly.contentHash }));
    expect(wrong).to.be.instanceOf(ModelIntegrityError);
    expect(wrong.message).to.contain(`expected ${manifestOnly.contentHash}`);
    cache.clear();
  });

  it("rejects a document that is not a tfjs-layers manifest", async () => {
    const notAManifest = await addJson(store, { format: "onnx", weightsCid: "x" });
    const error = await rejection(new ModelCache(store).load(notAManifest));
    expect(error).to.be.instanceOf(ModelManifestError);
    expect(error.message).to.contain("format");
  });
});
