import { mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { getBytes } from "ethers";
import hre from "hardhat";
import { HardhatPluginError } from "hardhat/plugins";
import type { NetworkConnection } from "hardhat/types/network";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import type { LayersModel } from "@tensorflow/tfjs";
import type { PublishResult } from "../../tasks/model/publish.js";
import type { RequestResult } from "../../tasks/infer/request.js";
import type { StatusResult } from "../../tasks/infer/status.js";
import { InferenceMarket__factory, ModelRegistry__factory, WorkerRegistry__factory } from "../../typechain-types/index.js";
import { toEventPayload } from "../../worker/src/chain/EventPayload.js";
import { TxSender } from "../../worker/src/chain/TxSender.js";
import { InferenceProcessor } from "../../worker/src/inference/InferenceProcessor.js";
import { parsePendingInference } from "../../worker/src/inference/PendingInference.js";
import { EmbeddedContentStore } from "../../worker/src/ipfs/EmbeddedContentStore.js";
import type { DecodedOutput } from "../../worker/src/ml/codecs/OutputCodec.js";
import { ModelCache } from "../../worker/src/ml/ModelCache.js";
import { readManifest } from "../../worker/src/ml/ModelArtifacts.js";
import { getJson } from "../../worker/src/ipfs/ContentStore.js";
import { CID } from "multiformats/cid";
import type { Deployment } from "../../worker/src/Deployment.js";
import { selectBackend } from "../../worker/src/ml/backend.js";
import { float32Bytes } from "../../worker/src/ml/codecs/LittleEndian.js";
import { runTask, taskFailure } from "../helpers/taskRunner.js";
import { saveModelFolder } from "../helpers/tfjsFolder.js";

/** Writes a PNG of `width`×`height` whose pixel p is rgba(p). */
function writePng(path: string, width: number, height: number, rgba: (p: number) => [number, number, number, number]): void {
  const png = new PNG({ width, height });
  for (let p = 0; p < width * height; p++) png.data.set(rgba(p), 4 * p);
  writeFileSync(path, PNG.sync.write(png));
}

const VOCABULARY = { tokens: ["<pad>", "<unk>", "the", "cat", "sat", "on", "mat", "über"] };

/** `infer request --input values.json | --image picture.png`: a person's files as the version's codec encodes them, or one sentence before any transaction. */
describe("Hardhat task: infer request with --input, --image and --text", function () {
  this.timeout(120_000);
  let dir: string;
  let connection: NetworkConnection;
  const models: LayersModel[] = [];
  const versions: Record<"tabular" | "colour" | "grey" | "text", string> = { tabular: "", colour: "", grey: "", text: "" };
  const deployment = () => join(dir, "deployment.json");
  const common = () => ({ deployment: deployment(), dataDir: join(dir, "data"), account: "4" });
  const file = (name: string, content: string) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };

  /** The input bytes the request carried on chain (inline). */
  async function inputOnChain(txHash: string): Promise<Uint8Array> {
    const saved = JSON.parse(readFileSync(deployment(), "utf8")) as Deployment;
    const market = InferenceMarket__factory.connect(saved.contracts.InferenceMarket, connection.ethers.provider);
    const receipt = (await connection.ethers.provider.getTransactionReceipt(txHash))!;
    const event = receipt.logs.map((l) => market.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested")!;
    return getBytes(event.args.input as string);
  }

  before(async () => {
    // The chain first (see ModelPublishDir.test).
    connection = await hre.network.getOrCreate();
    dir = mkdtempSync(join(tmpdir(), "tessera-input-files-"));
    const { tf } = await selectBackend();
    const publish = async (name: keyof typeof versions, model: LayersModel, inputCodec: string, outputCodec: string, files: Record<string, object> = {}) => {
      models.push(model);
      await saveModelFolder(model, join(dir, name));
      for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, name, file), JSON.stringify(content));
      const { result } = await runTask<PublishResult>(hre, ["model", "publish"], { ...common(), account: "2", name, dir: join(dir, name), inputCodec, outputCodec });
      versions[name] = result.versionId.toString();
    };
    await runTask(hre, ["tessera", "deploy"], { deployment: deployment() });
    await publish(
      "tabular",
      tf.sequential({ layers: [tf.layers.flatten({ inputShape: [2, 2] }), tf.layers.dense({ units: 3, activation: "softmax", kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) })] }),
      "float32-tensor",
      '{"name":"top-k","k":2}',
    );
    const image = (shape: [number, number, number]) =>
      tf.sequential({ layers: [tf.layers.conv2d({ inputShape: shape, filters: 2, kernelSize: 3 }), tf.layers.flatten(), tf.layers.dense({ units: 4, activation: "softmax" })] });
    await publish("colour", image([8, 8, 3]), '{"name":"uint8-image","scale":0.00392156862745098}', "class-index");
    await publish("grey", image([6, 5, 1]), "uint8-image", "class-index"); // 6 rows of 5: width 5, height 6
    await publish(
      "text",
      tf.sequential({ layers: [tf.layers.embedding({ inputDim: 8, outputDim: 4, inputLength: 6 }), tf.layers.globalAveragePooling1d(), tf.layers.dense({ units: 1, activation: "sigmoid" })] }),
      '{"name":"int32-tokens","vocabSize":8}',
      "binary-probability",
      { "vocab.json": VOCABULARY, "tessera.json": { tokenizer: { kind: "word-vocab", vocab: "vocab.json", unknownId: 1 } } },
    );
  });

  after(() => {
    for (const m of models) m.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("--input: a nested JSON array (or {values}) of the model's shape goes on chain as the codec's bytes", async () => {
    const values = [
      [0.5, -1.25],
      [3, 1e-3],
    ];
    const nested = await runTask<RequestResult>(hre, ["infer", "request"], { ...common(), versionId: versions.tabular, input: file("x.json", JSON.stringify(values)) });
    expect(await inputOnChain(nested.result.txHash)).to.deep.equal(float32Bytes(values.flat()));
    expect(nested.result.input).to.equal("x.json: 4 values (float32-tensor)");
    expect(nested.output).to.include("x.json: 4 values (float32-tensor), 16 bytes inline");
    expect(nested.result.label).to.equal(undefined);

    const flat = await runTask<RequestResult>(hre, ["infer", "request"], { ...common(), versionId: versions.tabular, input: file("flat.json", JSON.stringify({ values: values.flat() })) });
    expect(await inputOnChain(flat.result.txHash)).to.deep.equal(float32Bytes(values.flat()));
  });

  it("--image: a PNG is sent as RGB bytes to a colour model, as BT.601 luma to a grey one; a JPEG as jpeg-js decodes it", async () => {
    const rgba = (p: number): [number, number, number, number] => [(p * 7) % 256, (p * 13) % 256, (p * 29) % 256, p % 2 ? 255 : 0];
    const colourPng = join(dir, "colour.png");
    writePng(colourPng, 8, 8, rgba);
    const colour = await runTask<RequestResult>(hre, ["infer", "request"], { ...common(), versionId: versions.colour, image: colourPng });
    const rgb = Uint8Array.from({ length: 64 * 3 }, (_, i) => rgba(Math.floor(i / 3))[i % 3]);
    expect(await inputOnChain(colour.result.txHash)).to.deep.equal(rgb);
    expect(colour.result.input).to.equal("colour.png: PNG 8×8, RGB");

    const greyPng = join(dir, "grey.png");
    writePng(greyPng, 5, 6, rgba);
    const grey = await runTask<RequestResult>(hre, ["infer", "request"], { ...common(), versionId: versions.grey, image: greyPng });
    const luma = Uint8Array.from({ length: 30 }, (_, p) => Math.round(0.299 * rgba(p)[0] + 0.587 * rgba(p)[1] + 0.114 * rgba(p)[2]));
    expect(await inputOnChain(grey.result.txHash)).to.deep.equal(luma);

    const data = Buffer.alloc(8 * 8 * 4);
    for (let p = 0; p < 64; p++) data.set(rgba(p), 4 * p);
    const jpegPath = join(dir, "colour.jpg");
    writeFileSync(jpegPath, jpeg.encode({ data, width: 8, height: 8 }, 90).data);
    const fromJpeg = await runTask<RequestResult>(hre, ["infer", "request"], { ...common(), versionId: versions.colour, image: jpegPath });
    const decoded = jpeg.decode(readFileSync(jpegPath), { useTArray: true, formatAsRGBA: true });
    expect(await inputOnChain(fromJpeg.result.txHash)).to.deep.equal(Uint8Array.from({ length: 64 * 3 }, (_, i) => decoded.data[4 * Math.floor(i / 3) + (i % 3)]));
    expect(fromJpeg.result.input).to.equal("colour.jpg: JPEG 8×8, RGB");
  });

  it("a worker answers the file's request with model.predict, and infer status reads it with the top-k codec", async () => {
    const values = [
      [1.5, -0.25],
      [0.75, 2],
    ];
    const sent = await runTask<RequestResult>(hre, ["infer", "request"], { ...common(), versionId: versions.tabular, input: file("answer.json", JSON.stringify(values)) });
    // A staked worker serves the version: the worker library's processor, on this chain and this store.
    await runTask(hre, ["tessera", "mint"], { deployment: deployment(), to: "1", amount: "3000" });
    await runTask(hre, ["worker", "register"], { deployment: deployment(), stake: "2000", serve: versions.tabular });
    const saved = JSON.parse(readFileSync(deployment(), "utf8")) as Deployment;
    const worker = (await connection.ethers.getSigners())[1];
    const market = InferenceMarket__factory.connect(saved.contracts.InferenceMarket, worker);
    const store = await EmbeddedContentStore.open(join(dir, "data", "ipfs"));
    try {
      const processor = new InferenceProcessor({
        market,
        modelRegistry: ModelRegistry__factory.connect(saved.contracts.ModelRegistry, connection.ethers.provider),
        workerRegistry: WorkerRegistry__factory.connect(saved.contracts.WorkerRegistry, connection.ethers.provider),
        txSender: new TxSender({ signer: worker }),
        provider: connection.ethers.provider,
        store,
        models: new ModelCache(store),
        workerAddress: worker.address,
      });
      const receipt = (await connection.ethers.provider.getTransactionReceipt(sent.result.txHash))!;
      const log = receipt.logs.find((l) => market.interface.parseLog(l)?.name === "InferenceRequested")!;
      const pending = parsePendingInference(toEventPayload("InferenceMarket", log, market.interface.parseLog(log)!), market.interface);
      expect((await processor.processBatch([pending])).map((o) => o.status)).to.deep.equal(["fulfilled"]);
    } finally {
      await store.close();
    }

    const { tf } = await selectBackend();
    const probabilities = Array.from(tf.tidy(() => (models[0].predict(tf.tensor3d([values])) as import("@tensorflow/tfjs").Tensor).dataSync()));
    const top = probabilities.map((p, i) => ({ i, p })).sort((a, b) => b.p - a.p || a.i - b.i).slice(0, 2);
    const { result, output } = await runTask<StatusResult>(hre, ["infer", "status"], { deployment: deployment(), dataDir: join(dir, "data"), id: sent.result.requestId.toString() });
    expect(result.status).to.equal("Fulfilled");
    const answer = (result as Extract<StatusResult, { status: "Fulfilled" }>).answer;
    expect(answer?.codec).to.equal("top-k");
    const decoded = (answer as Extract<DecodedOutput, { codec: "top-k" }>).top;
    expect(decoded.map((t) => t.classIndex)).to.deep.equal(top.map((t) => t.i));
    // Quantised to 1/65535 (the chai matchers' closeTo takes bigints only).
    decoded.forEach((t, k) => expect(Math.abs(t.probability - top[k].p) <= 1 / 65_535, `class ${t.classIndex}: ${t.probability} vs ${top[k].p}`).to.equal(true));
    expect(output).to.include(`answer         class ${top[0].i} (p ${decoded[0].probability.toFixed(4)}), class ${top[1].i} (p ${decoded[1].probability.toFixed(4)})`);
  });

  it("--text: the manifest names the tokenizer and its vocabulary by CID; the words go on chain as its ids, padded or truncated", async () => {
    const store = await EmbeddedContentStore.open(join(dir, "data", "ipfs"));
    try {
      const saved = JSON.parse(readFileSync(deployment(), "utf8")) as Deployment;
      const version = await ModelRegistry__factory.connect(saved.contracts.ModelRegistry, connection.ethers.provider).getVersion(BigInt(versions.text));
      const manifest = await readManifest(store, CID.decode(getBytes(version.manifestCid)).toString());
      expect(manifest.tokenizer).to.deep.include({ kind: "word-vocab", lowercase: true, unknownId: 1, truncate: true });
      expect(await getJson(store, manifest.tokenizer!.vocabCid)).to.deep.equal(VOCABULARY);
    } finally {
      await store.close();
    }
    const ids = async (text: string) => {
      const { result } = await runTask<RequestResult>(hre, ["infer", "request"], { ...common(), versionId: versions.text, text });
      return { ids: Array.from(new Int32Array(new Uint8Array(await inputOnChain(result.txHash)).buffer)), input: result.input };
    };
    // Lower-cased, punctuation dropped, "a" unknown (1), exactly the model's 6 tokens.
    expect(await ids("The CAT sat, on a mat!")).to.deep.equal({ ids: [2, 3, 4, 5, 1, 6], input: "text: 6 tokens (1 unknown)" });
    // Unicode words (NFC: "U" + combining diaeresis is "Ü"), padded with padId 0.
    expect((await ids("U\u0308ber cat")).ids).to.deep.equal([7, 3, 0, 0, 0, 0]);
    // Longer than the model's length: the first 6 words.
    expect((await ids("the cat sat on the mat and the cat sat again")).ids).to.deep.equal([2, 3, 4, 5, 2, 6]);
  });

  it("refuses files that do not fit the model with one sentence each, and sends nothing", async () => {
    const requester = (await connection.ethers.getSigners())[4].address;
    const nonce = await connection.ethers.provider.getTransactionCount(requester);
    const failure = async (extra: object) => {
      const err = await taskFailure(hre, ["infer", "request"], { ...common(), ...extra });
      expect(err).to.be.instanceOf(HardhatPluginError);
      return err.message;
    };
    const tabular = { versionId: versions.tabular };
    expect(await failure({ ...tabular, input: file("three.json", "[1, 2, 3]") })).to.equal("three.json holds 3 values; the model takes 2×2 (4 values, float32-tensor)");
    expect(await failure({ ...tabular, input: file("wide.json", "[[1, 2, 3, 4]]") })).to.equal("wide.json holds a 1×4 array; the model takes 2×2 (4 values, float32-tensor)");
    expect(await failure({ ...tabular, input: file("ragged.json", "[[1, 2], [3]]") })).to.equal("ragged.json: input[1] has 1 entries where its neighbours have 2 (a ragged array)");
    expect(await failure({ ...tabular, input: file("text.json", '[[1, 2], [3, "4"]]') })).to.equal('text.json: input[1][1] is "4", not a number');
    expect(await failure({ ...tabular, input: file("broken.json", "[1, 2,") })).to.match(/^broken\.json is not JSON: /);
    expect(await failure({ ...tabular, input: join(dir, "missing.json") })).to.equal(`${join(dir, "missing.json")} does not exist`);
    expect(await failure({ ...tabular, image: join(dir, "colour.png") })).to.equal("the model takes float32-tensor input, not an image: send its values with --input instead");
    expect(await failure({ ...tabular, input: join(dir, "x.json"), image: join(dir, "colour.png") })).to.equal("give one of --input, --image and --text, not --input and --image");
    expect(await failure({ ...tabular, text: "hello" })).to.equal("the model takes float32-tensor input, not text");
    expect(await failure({ ...tabular, input: join(dir, "x.json"), digitIndex: 3 })).to.equal("--digit-index picks a held-out MNIST digit: leave it out with --input");

    const grey = { versionId: versions.grey };
    writePng(join(dir, "turned.png"), 6, 5, () => [0, 0, 0, 255]);
    expect(await failure({ ...grey, image: join(dir, "turned.png") })).to.equal("turned.png is 6×5 pixels; the model takes 5×6 (width×height) images: resize it first");
    expect(await failure({ ...grey, image: file("fake.png", "not an image") })).to.equal("fake.png is neither a PNG nor a JPEG image");
    const truncated = join(dir, "truncated.png");
    writeFileSync(truncated, readFileSync(join(dir, "grey.png")).subarray(0, 40));
    expect(await failure({ ...grey, image: truncated })).to.match(/^truncated\.png could not be decoded: /);
    expect(await failure({ ...grey, input: file("bytes.json", JSON.stringify(Array.from({ length: 30 }, (_, i) => (i === 7 ? 256 : i)))) })).to.equal(
      "bytes.json: pixel 7 is 256, not a byte (an integer in 0..255)",
    );

    expect(await failure({ versionId: versions.text, text: " !?! ... " })).to.equal("--text: the text has no words (only spaces or punctuation)");
    expect(await failure({ versionId: versions.text, input: file("tokens.json", "[2, 3, 9]") })).to.equal("tokens.json: token 2 is 9, not an id in 0..7");

    expect(await connection.ethers.provider.getTransactionCount(requester)).to.equal(nonce);
  });

  it("model publish --dir refuses a tokenizer that does not fit, before anything is stored", async () => {
    const failure = async (name: string, files: Record<string, object>) => {
      const folder = join(dir, name);
      await saveModelFolder(models.at(-1)!, folder);
      for (const [file, content] of Object.entries(files)) writeFileSync(join(folder, file), JSON.stringify(content));
      const err = await taskFailure(hre, ["model", "publish"], { ...common(), account: "2", name, dir: folder, inputCodec: '{"name":"int32-tokens","vocabSize":8}', outputCodec: "binary-probability" });
      return err.message;
    };
    const sidecar = (extra: object = {}) => ({ tokenizer: { kind: "word-vocab", vocab: "vocab.json", unknownId: 1, ...extra } });
    expect(await failure("no-vocab", { "tessera.json": sidecar() })).to.equal(`tessera.json names vocabulary vocab.json, which is not in ${join(dir, "no-vocab")}`);
    expect(await failure("twice", { "tessera.json": sidecar(), "vocab.json": { tokens: ["<pad>", "a", "a"] } })).to.match(/^vocabulary vocab\.json in .* is invalid: .*the vocabulary lists a token twice/s);
    expect(await failure("too-big", { "tessera.json": sidecar(), "vocab.json": { tokens: Array.from({ length: 9 }, (_, i) => `w${i}`) } })).to.equal(
      "vocabulary vocab.json has 9 tokens, more than the input codec's vocabSize 8",
    );
    expect(await failure("unknown-id", { "tessera.json": sidecar({ unknownId: 5 }), "vocab.json": { tokens: ["<pad>", "<unk>"] } })).to.equal("tokenizer unknownId 5 is not an id of vocab.json (2 tokens)");
    expect(await failure("upper", { "tessera.json": sidecar(), "vocab.json": { tokens: ["<pad>", "<unk>", "Cat"] } })).to.equal(
      'vocabulary vocab.json: token 2 "Cat" can never be produced by the tokenizer, which reads it as ["cat"]',
    );
    expect(await failure("two-words", { "tessera.json": sidecar(), "vocab.json": { tokens: ["<pad>", "<unk>", "ice cream"] } })).to.equal(
      'vocabulary vocab.json: token 2 "ice cream" can never be produced by the tokenizer, which reads it as ["ice","cream"]',
    );
    expect(await failure("pad-unknown", { "tessera.json": sidecar({ unknownId: 0 }), "vocab.json": { tokens: ["<pad>", "<unk>"] } })).to.equal(
      "tokenizer unknownId 0 is the input codec's padId: an unknown word would read as padding",
    );
    // A vocabulary (or weight file) that links out of the folder is refused: a downloaded folder must not publish a host's file.
    writeFileSync(join(dir, "secret.json"), JSON.stringify({ tokens: ["<pad>", "<unk>", "private"] }));
    const linked = join(dir, "linked");
    await saveModelFolder(models.at(-1)!, linked);
    symlinkSync(join(dir, "secret.json"), join(linked, "vocab.json"));
    expect(await failure("linked", { "tessera.json": sidecar() })).to.equal(`tessera.json names vocabulary vocab.json, outside ${linked}`);
    const escaping = join(dir, "escaping");
    await saveModelFolder(models.at(-1)!, escaping);
    renameSync(join(escaping, "weights.bin"), join(dir, "escaped.bin"));
    symlinkSync(join(dir, "escaped.bin"), join(escaping, "weights.bin"));
    expect(await failure("escaping", {})).to.equal(`model.json names weight file weights.bin, outside ${escaping}`);
  });
});
