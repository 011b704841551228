import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { LayersModel, Tensor } from "@tensorflow/tfjs";
import { network } from "hardhat";
import { EmbeddedStack, PRICE_WEI } from "../../../scripts/lib/EmbeddedStack.js";
import { decodeAnswer, encodeInput, InferenceClient, InputKind, predictLocally, waitForFulfilments, type SentRequest } from "../../../scripts/lib/InferenceClient.js";
import { loadPublishedModel, publishArtifacts, readManifest, type InferenceModel } from "../../../worker/src/ml/ModelArtifacts.js";
import { readModelFolder, type CodecOverrides } from "../../../worker/src/ml/ModelFolder.js";
import { codecsOf, versionShapesOf, type ModelManifest } from "../../../worker/src/ml/ModelManifest.js";
import { versionInputOf } from "../../../worker/src/ml/VersionInput.js";
import { removeQueueData } from "../../helpers/queue.js";
import { saveDenseSoftmaxGraphFolder, saveModelFolder } from "../../helpers/tfjsFolder.js";

interface Served {
  readonly label: string;
  readonly model: InferenceModel;
  readonly manifest: ModelManifest;
  readonly versionId: bigint;
  /** The client's values for request i (features, token ids). */
  readonly example: (i: number) => number[];
  /** A dense softmax graph model's weights: its answers are also checked against the arithmetic. */
  readonly weights?: { w: number[][]; b: number[] };
}

/**
 * Models a person brings: built and trained here with plain tfjs (not the project's builders),
 * saved as model.json + weight files, published from that folder, and served by the worker daemon
 * through the InferenceMarket. Every on-chain answer must equal `model.predict` on the same input
 * bytes, encoded with the manifest's output codec.
 */
describe("Models people bring: published from a tfjs folder and served on chain", function () {
  this.timeout(240_000);
  let stack: EmbeddedStack;
  let dataDir: string;
  let prefix: string;
  const served: Served[] = [];

  const rng = (seed: number) => () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);

  async function publishFolder(
    label: string,
    model: LayersModel | undefined,
    overrides: CodecOverrides,
    sidecar?: object,
    shards = 1,
  ): Promise<{ manifest: ModelManifest; manifestCid: string; versionId: bigint }> {
    const dir = join(dataDir, label);
    if (model !== undefined) await saveModelFolder(model, dir, { shards }); // else the caller wrote the folder
    if (sidecar !== undefined) writeFileSync(join(dir, "tessera.json"), JSON.stringify(sidecar));
    const folder = await readModelFolder(dir, overrides);
    const published = await publishArtifacts(stack.store, folder.artifacts, folder.codecs, { ...folder.metadata, name: label });
    const manifest = await readManifest(stack.store, published.manifestCid);
    const registry = stack.contracts.modelRegistry.connect(stack.signers.modelOwner);
    const modelId = await registry.registerModel.staticCall(label, `ipfs://${published.manifestCid}`);
    await (await registry.registerModel(label, `ipfs://${published.manifestCid}`)).wait();
    const input = versionInputOf(published, { priceWei: PRICE_WEI, priceToken: 0n, royaltyBps: 0, ...versionShapesOf(manifest) });
    const versionId = await registry.publishVersion.staticCall(modelId, input);
    await (await registry.publishVersion(modelId, input)).wait();
    return { manifest, manifestCid: published.manifestCid, versionId };
  }

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-custom-models-"));
    prefix = `tessera-test-${randomUUID()}`;
    stack = await EmbeddedStack.start(await network.create(), { dataDir, queuePrefix: prefix, worker: { batchMaxSize: 8, batchMaxWaitMs: 30 } });
    const tf = stack.backend.tf;
    const random = rng(11);

    // A 3-class classifier of 4 tabular features (iris-like), answered as the top 2 classes.
    const classifier = tf.sequential();
    classifier.add(tf.layers.dense({ inputShape: [4], units: 8, activation: "relu", kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
    classifier.add(tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
    classifier.compile({ optimizer: tf.train.adam(0.05), loss: "categoricalCrossentropy" });
    const features = (i: number) => [Math.sin(i), Math.cos(i * 0.7), (i % 5) / 5, random()];
    const xs = Array.from({ length: 150 }, (_, i) => features(i));
    const labels = xs.map((x) => (x[0] + x[1] > 0.5 ? 0 : x[2] > 0.5 ? 1 : 2));
    await fitAndDispose(classifier, tf.tensor2d(xs), tf.oneHot(tf.tensor1d(labels, "int32"), 3), 20);
    const c = await publishFolder("tabular-3-class", classifier, { outputCodec: '{"name":"top-k","k":2}' }, undefined, 2);
    served.push({ label: "top-k", model: classifier, ...c, example: (i) => features(1_000 + i) });

    // A regression: 3 features -> 2 targets, answered as float32 rounded to 12 significant bits (tessera.json).
    const regression = tf.sequential();
    regression.add(tf.layers.dense({ inputShape: [3], units: 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
    regression.compile({ optimizer: tf.train.sgd(0.1), loss: "meanSquaredError" });
    const rx = Array.from({ length: 64 }, () => [random(), random(), random()]);
    await fitAndDispose(regression, tf.tensor2d(rx), tf.tensor2d(rx.map(([a, b, d]) => [2 * a - b + 0.5, d * 3])), 30);
    const r = await publishFolder("regression", regression, {}, { outputCodec: { name: "float32-tensor", significantBits: 12 }, description: "y = (2a - b + 0.5, 3c)" });
    served.push({ label: "float32-tensor", model: regression, ...r, example: () => [random() * 2, random(), random() - 0.5] });

    // A token-sequence classifier (embedding + average pooling) over int32 ids, answered as a class index.
    const tokens = tf.sequential();
    tokens.add(tf.layers.embedding({ inputDim: 20, outputDim: 4, inputLength: 6, embeddingsInitializer: tf.initializers.randomUniform({ minval: -1, maxval: 1, seed: 4 }) }));
    tokens.add(tf.layers.globalAveragePooling1d());
    tokens.add(tf.layers.dense({ units: 2, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }));
    const t = await publishFolder("tokens", tokens, { inputCodec: '{"name":"int32-tokens","vocabSize":20}', outputCodec: "class-index" });
    served.push({ label: "int32-tokens", model: tokens, ...t, example: (i) => Array.from({ length: 2 + (i % 5) }, () => Math.floor(random() * 19) + 1) });

    // A tfjs GraphModel (the converter's format), y = softmax(x W + b), answered as the top 2 classes.
    const weights = { w: [[0.5, -1, 0.25], [1.5, 0.5, -0.75], [-0.5, 2, 0.1], [0.3, -0.2, 1.2]], b: [0.1, -0.2, 0.3] };
    saveDenseSoftmaxGraphFolder(join(dataDir, "graph"), weights);
    const g = await publishFolder("graph", undefined, { outputCodec: '{"name":"top-k","k":2}' });
    // The model as the worker loads it from the manifest (the test's own reference is the arithmetic below).
    const graphModel = (await loadPublishedModel(stack.store, g.manifestCid)).model;
    served.push({ label: "graph top-k", model: graphModel, ...g, example: (i) => [random() * 2 - 1, random(), i / 6, -random()], weights });

    await stack.stakeWorker(served[0].versionId);
    await (await stack.contracts.workerRegistry.connect(stack.signers.worker).setServedModels(served.slice(1).map((s) => s.versionId), true)).wait();
  });

  after(async () => {
    await removeQueueData(stack.redis.url, prefix);
    await stack.stop();
    for (const s of served) s.model.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function fitAndDispose(model: LayersModel, x: Tensor, y: Tensor, epochs: number): Promise<void> {
    await model.fit(x, y, { epochs, batchSize: 16, shuffle: false, verbose: 0 });
    x.dispose();
    y.dispose();
  }

  it("records the format, the signature and the codecs in the manifest, and the codec's shapes on chain", async () => {
    const [classifier, regression, tokens, graph] = served.map((s) => s.manifest);
    expect(graph).to.include({ manifestVersion: 2, format: "tfjs-graph" });
    expect(graph.signature).to.deep.equal({ inputs: [{ name: "x", dtype: "float32", shape: [null, 4] }], outputs: [{ name: "probs", dtype: "float32", shape: [null, 3] }] });
    expect(graph.tfSignature).to.have.property("outputs");
    expect(classifier).to.include({ manifestVersion: 2, format: "tfjs-layers" });
    expect(classifier.signature.inputs).to.deep.equal([{ name: classifier.signature.inputs[0].name, dtype: "float32", shape: [null, 4] }]);
    expect(classifier.signature.outputs[0].shape).to.deep.equal([null, 3]);
    expect(classifier.inputCodec).to.deep.equal({ name: "float32-tensor" }); // the default for a float32 input
    expect(classifier.outputCodec).to.deep.equal({ name: "top-k", k: 2 });
    expect(regression.outputCodec).to.deep.equal({ name: "float32-tensor", significantBits: 12 });
    expect(regression.description).to.equal("y = (2a - b + 0.5, 3c)");
    expect(tokens.inputCodec).to.deep.equal({ name: "int32-tokens", padId: 0, vocabSize: 20 });
    const versions = await Promise.all(served.map((s) => stack.contracts.modelRegistry.getVersion(s.versionId)));
    expect(versions.map((v) => v.inputShape.map(Number))).to.deep.equal([[4], [3], [6], [4]]);
    expect(versions.map((v) => v.outputShape.map(Number))).to.deep.equal([[3], [2], [2], [3]]);
  });

  it("answers paid requests (inline and CID) with model.predict on the same input bytes, encoded by the output codec", async () => {
    const { market, token } = stack.contracts;
    const { ethers } = stack.connection;
    const client = new InferenceClient(market, token, stack.store);
    const fromBlock = await ethers.provider.getBlockNumber();
    await stack.startWorker();
    const deadline = (await ethers.provider.getBlock("latest"))!.timestamp + 600;
    const sent: Array<{ request: SentRequest; served: Served; input: Uint8Array }> = [];
    let salt = 0n;
    for (const s of served) {
      for (let i = 0; i < 6; i++) {
        const input = encodeInput(s.manifest, s.example(i));
        const options = { versionId: s.versionId, pixels: input, inputKind: i % 2 ? InputKind.Cid : InputKind.Inline, fee: PRICE_WEI, deadline, salt: salt++ };
        sent.push({ request: await client.requestWithEth(stack.signers.users[i % 3], options), served: s, input });
      }
    }
    const answers = await waitForFulfilments(market, sent.map((x) => x.request.requestId), { fromBlock, timeoutMs: 120_000 });

    const tf = stack.backend.tf;
    for (const s of served) {
      const mine = sent.filter((x) => x.served === s);
      const codecs = codecsOf(s.manifest);
      // model.predict, called here directly, on the values the input codec decodes from the request bytes.
      const decoded = mine.map((x) => Array.from(codecs.input.decode(x.input)));
      const ys = tf.tidy(() => s.model.predict(tf.tensor(decoded.flat(), [decoded.length, ...codecs.input.exampleShape], codecs.input.dtype)) as Tensor);
      const rows = (await ys.array()) as number[][];
      ys.dispose();
      const expected = rows.map((row) => Buffer.from(codecs.output.encode(row)).toString("hex"));
      const onChain = mine.map((x) => Buffer.from(answers.get(x.request.requestId)!.output).toString("hex"));
      expect(onChain, s.label).to.deep.equal(expected);
      const local = await predictLocally(s.model, s.manifest, mine.map((x) => x.input));
      expect(local.map((b) => Buffer.from(b).toString("hex")), s.label).to.deep.equal(expected);

      // What the answers say, read back with the codec.
      mine.forEach((x, i) => {
        const answer = decodeAnswer(s.manifest, answers.get(x.request.requestId)!.output);
        if (answer.codec === "top-k") {
          expect(answer.top[0].classIndex).to.equal(rows[i].indexOf(Math.max(...rows[i])));
          expect(Math.abs(answer.top[0].probability - Math.max(...rows[i]))).to.be.at.most(0.5 / 65_535 + 1e-9);
        } else if (answer.codec === "float32-tensor") {
          answer.values.forEach((v, j) => expect(Math.abs(v - rows[i][j])).to.be.at.most(Math.abs(rows[i][j]) * 2 ** -12 + 1e-9));
        } else if (answer.codec === "class-index") {
          expect(answer.classIndex).to.equal(rows[i][1] > rows[i][0] ? 1 : 0);
        } else {
          expect.fail(`unexpected codec ${answer.codec}`);
        }
      });
    }
    // The graph model computes softmax(x W + b): its answers checked against that arithmetic, not only against tfjs.
    const graph = served.find((s) => s.weights !== undefined)!;
    const { w, b } = graph.weights!;
    for (const x of sent.filter((y) => y.served === graph)) {
      const values = Array.from(codecsOf(graph.manifest).input.decode(x.input));
      const logits = b.map((bias, c) => bias + values.reduce((sum, v, f) => sum + v * w[f][c], 0));
      const exp = logits.map((l) => Math.exp(l - Math.max(...logits)));
      const probabilities = exp.map((e) => e / exp.reduce((a, z) => a + z, 0));
      const answer = decodeAnswer(graph.manifest, answers.get(x.request.requestId)!.output);
      if (answer.codec !== "top-k") expect.fail("the graph model answers top-k");
      const best = probabilities.map((p, c) => ({ p, c })).sort((l, r) => r.p - l.p);
      expect(answer.top.map((t) => t.classIndex)).to.deep.equal([best[0].c, best[1].c]);
      answer.top.forEach((t, k) => expect(Math.abs(t.probability - best[k].p)).to.be.at.most(1 / 65_535));
    }

    // The regression learnt its targets (a trained model, not a constant one).
    const regression = served[1];
    const probe = tf.tidy(() => (regression.model.predict(tf.tensor2d([[1, 0, 0.5]])) as Tensor).arraySync() as number[][]);
    expect(Math.abs(probe[0][0] - 2.5)).to.be.below(0.5);
  });
});
