import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import hre from "hardhat";
import { HardhatPluginError } from "hardhat/plugins";
import type { NetworkConnection } from "hardhat/types/network";
import type { LayersModel } from "@tensorflow/tfjs";
import type { PublishResult } from "../../tasks/model/publish.js";
import { ModelRegistry__factory } from "../../typechain-types/index.js";
import type { Deployment } from "../../worker/src/Deployment.js";
import { selectBackend } from "../../worker/src/ml/backend.js";
import { EmbeddedContentStore } from "../../worker/src/ipfs/EmbeddedContentStore.js";
import { loadPublishedModel, readManifest } from "../../worker/src/ml/ModelArtifacts.js";
import { addJson } from "../../worker/src/ipfs/ContentStore.js";
import { runTask, taskFailure } from "../helpers/taskRunner.js";
import { saveDenseSoftmaxGraphFolder, saveModelFolder } from "../helpers/tfjsFolder.js";

/** `npx hardhat model publish --dir <folder>`: a tfjs folder published as it is, or one clear sentence before any transaction. */
describe("Hardhat task: model publish --dir", function () {
  this.timeout(120_000);
  let dir: string;
  let modelDir: string;
  let model: LayersModel;
  let connection: NetworkConnection;
  const deployment = () => join(dir, "deployment.json");
  const args = (extra: object) => ({ deployment: deployment(), dataDir: join(dir, "data"), name: "iris-like", ...extra });

  before(async () => {
    // The chain first, as TesseraTasks.test does: the tasks' own `build` (noTests) can leave a build
    // info without contracts (TrainingTypes.sol) that EDR then fails to parse when it starts.
    connection = await hre.network.getOrCreate();
    dir = mkdtempSync(join(tmpdir(), "tessera-publish-dir-"));
    modelDir = join(dir, "model");
    const { tf } = await selectBackend();
    model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: "softmax" })] });
    await saveModelFolder(model, modelDir, { shards: 2 });
    writeFileSync(join(modelDir, "tessera.json"), JSON.stringify({ outputCodec: { name: "top-k", k: 2 }, description: "three classes" }));
  });

  after(() => {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a bad folder, a missing weight file and codecs that do not fit, before reading the deployment", async () => {
    const failure = async (extra: object) => {
      const err = await taskFailure(hre, ["model", "publish"], args({ deployment: join(dir, "no-deployment.json"), ...extra }));
      expect(err).to.be.instanceOf(HardhatPluginError);
      return err.message;
    };
    expect(await failure({ dir: join(dir, "nowhere") })).to.equal(`${join(dir, "nowhere")} is not a folder`);
    expect(await failure({ dir })).to.equal(`${dir} has no model.json (save the model with model.save("file://${dir}"))`);
    expect(await failure({ dir: modelDir, outputCodec: "binary-probability" })).to.equal(
      `the codecs do not fit the model in ${modelDir}: binary-probability reads a [batch, 1] output, but output ${model.outputs[0].sourceLayer.name} has shape [null,3]`,
    );
    expect(await failure({ dir: modelDir, inputCodec: '{"name":"uint8-image","mean":[0,0]}' })).to.equal(
      `the codecs do not fit the model in ${modelDir}: uint8-image mean has 2 values, the image (shape [4]) has 1 channel(s)`,
    );
    expect(await failure({ dir: modelDir, outputCodec: "{not json" })).to.match(/^--output-codec is neither a codec name nor JSON/);
    expect(await failure({ dir: modelDir, outputCodec: "uint8-class" })).to.match(/^--output-codec uint8-class is not a valid codec/);
    expect(await failure({ inputCodec: "float32-tensor" })).to.equal("--input-codec and --output-codec go with --dir");

    // A graph model whose input has an open size besides the batch: its output cannot be probed.
    const open = join(dir, "open-graph");
    saveDenseSoftmaxGraphFolder(open, { w: [[1], [2]], b: [0] });
    const modelJson = JSON.parse(readFileSync(join(open, "model.json"), "utf8"));
    modelJson.modelTopology.node[0].attr.shape.shape.dim[1].size = "-1";
    delete modelJson.signature;
    writeFileSync(join(open, "model.json"), JSON.stringify(modelJson));
    expect(await failure({ dir: open })).to.equal(`the model in ${open} does not load as a tfjs GraphModel: graph model input x has shape [-1,-1]: every size but the batch must be fixed`);

    const broken = join(dir, "broken");
    await saveModelFolder(model, broken, { shards: 2 });
    unlinkSync(join(broken, "group1-shard2of2.bin"));
    expect(await failure({ dir: broken })).to.equal(`model.json names weight file group1-shard2of2.bin, which is not in ${broken}`);
    writeFileSync(join(broken, "group1-shard2of2.bin"), new Uint8Array(3));
    expect(await failure({ dir: broken })).to.match(new RegExp(`^the weight files of ${broken} hold \\d+ bytes, model.json describes 60$`));
  });

  it("publishes the folder with its tessera.json codecs and declares the codec's shapes on chain", async () => {
    await runTask(hre, ["tessera", "deploy"], { deployment: deployment() });
    const { result, output } = await runTask<PublishResult>(hre, ["model", "publish"], args({ dir: modelDir, inputCodec: "float32-tensor" }));
    expect(result.testAccuracy).to.equal(undefined);
    expect(result.inputShape).to.deep.equal([4]);
    expect(result.outputShape).to.deep.equal([3]);
    expect(output).to.include('{"name":"top-k","k":2} (tessera.json)').and.include('{"name":"float32-tensor"} (option)');
    const store = await EmbeddedContentStore.open(join(dir, "data", "ipfs"));
    try {
      const manifest = await readManifest(store, result.manifestCid);
      expect(manifest).to.include({ manifestVersion: 2, format: "tfjs-layers", name: "iris-like", description: "three classes", weightsCid: result.weightsCid });
      expect(manifest.outputCodec).to.deep.equal({ name: "top-k", k: 2 });
    } finally {
      await store.close();
    }
    const saved = JSON.parse(readFileSync(deployment(), "utf8")) as Deployment;
    const version = await ModelRegistry__factory.connect(saved.contracts.ModelRegistry, connection.ethers.provider).getVersion(result.versionId);
    expect(version.inputShape.map(Number)).to.deep.equal([4]);
    expect(version.outputShape.map(Number)).to.deep.equal([3]);
  });

  it("publishes a tfjs graph model folder (the converter's format), with or without the converter's signature (after the deploy above)", async () => {
    for (const withSignature of [true, false]) {
      const graph = join(dir, `graph-${withSignature}`);
      saveDenseSoftmaxGraphFolder(graph, { w: [[1, 0], [0, 1], [1, 1]], b: [0, 0.5] }, { withSignature });
      const { result, output } = await runTask<PublishResult>(hre, ["model", "publish"], args({ dir: graph, outputCodec: "class-index" }));
      expect(result.inputShape).to.deep.equal([3]);
      expect(result.outputShape).to.deep.equal([2]);
      expect(output).to.include(`${graph}: tfjs-graph, [null,3] -> [null,2]`);
      const store = await EmbeddedContentStore.open(join(dir, "data", "ipfs"));
      try {
        const manifest = await readManifest(store, result.manifestCid);
        expect(manifest.format).to.equal("tfjs-graph");
        expect(manifest.tfSignature === undefined).to.equal(!withSignature);
        // A manifest whose signature the graph does not keep is refused when a worker loads it.
        const lying = await addJson(store, { ...manifest, signature: { ...manifest.signature, outputs: [{ ...manifest.signature.outputs[0], shape: [null, 5] }] } });
        const refused = await loadPublishedModel(store, lying).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        expect(refused?.message).to.equal(
          `manifest ${lying}: the graph takes and gives [[["float32",[null,3]]],[["float32",[null,2]]]], its signature says [[["float32",[null,3]]],[["float32",[null,5]]]]`,
        );
      } finally {
        await store.close();
      }
    }
  });
});
