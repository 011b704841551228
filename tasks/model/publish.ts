import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { CID } from "multiformats/cid";
import { activeTf, selectBackend } from "../../worker/src/ml/backend.js";
import { loadMnist } from "../../worker/src/ml/MnistDataset.js";
import { MNIST_CODECS, publishArtifacts, publishModel, type PublishedModel } from "../../worker/src/ml/ModelArtifacts.js";
import { ModelError } from "../../worker/src/ml/ModelError.js";
import { readModelFolder, type ModelFolder } from "../../worker/src/ml/ModelFolder.js";
import { versionShapesOf } from "../../worker/src/ml/ModelManifest.js";
import { versionInputOf } from "../../worker/src/ml/VersionInput.js";
import { buildMlp, evaluate, trainModel } from "../../worker/src/ml/models.js";
import type { SplitPlan } from "../../worker/src/ml/sharding/ModelSplit.js";
import { storeShardedModel, type ShardRecord } from "../../worker/src/shards/ShardedModels.js";
import { shardPlanOf } from "./ShardPlan.js";
import { checkUint96, formatEth, formatTsr } from "../lib/Amounts.js";
import { describeStore, openContentStore } from "../lib/ContentStores.js";
import { MNIST_SPLIT } from "../lib/Defaults.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface PublishArgs {
  deployment: string;
  dataDir: string;
  account: string;
  name: string;
  epochs: number;
  priceWei: bigint;
  priceToken: bigint;
  royaltyBps: number;
  modelId: bigint;
  /** A folder holding a tfjs LayersModel (model.json + weight files): published as it is, no training. */
  dir: string;
  /** Cut the model into this many shards (0: a whole-model version). */
  shards: number;
  /** Or: the fewest shards whose weights each fit in this many bytes (0: not by budget). */
  maxShardBytes: number;
  /** Codec name or JSON object; overrides the folder's tessera.json. */
  inputCodec: string;
  outputCodec: string;
}

export interface PublishResult {
  modelId: bigint;
  versionId: bigint;
  manifestCid: string;
  weightsCid: string;
  contentHash: string;
  /** Held-out accuracy of the MNIST 2NN trained by the task (absent with --dir). */
  testAccuracy?: number;
  inputShape: number[];
  outputShape: number[];
  txHashes: string[];
  /** 1 for a whole-model version. */
  shardCount: number;
}

/**
 * Publishes manifest + weights to IPFS and registers the model (unless --model-id names one the
 * account owns) and the version with its prices. With --dir, the tfjs LayersModel in that folder
 * (model.json + weight files) with the codecs of --input-codec/--output-codec or its tessera.json;
 * without, the 2NN trained here on the MNIST train split. The folder and the codecs are checked
 * before anything is stored or sent.
 */
export default async function publish(args: PublishArgs, hre: HardhatRuntimeEnvironment): Promise<PublishResult> {
  if (args.name.trim() === "") throw taskError("--name must not be empty");
  if (!Number.isInteger(args.epochs) || args.epochs < 1) throw taskError(`--epochs must be a positive integer, got ${args.epochs}`);
  if (!Number.isInteger(args.royaltyBps) || args.royaltyBps < 0 || args.royaltyBps > 10_000) {
    throw taskError(`--royalty-bps must be an integer in 0..10000, got ${args.royaltyBps}`);
  }
  checkUint96(args.priceWei, "--price-wei");
  checkUint96(args.priceToken, "--price-token");
  if (args.dir === "" && (args.inputCodec !== "" || args.outputCodec !== "")) throw taskError("--input-codec and --output-codec go with --dir");
  const plan = shardPlanOf(args);

  const backend = await selectBackend((process.env.TF_BACKEND as "auto" | undefined) ?? "auto");
  let folder: ModelFolder | undefined;
  if (args.dir !== "") {
    try {
      folder = await readModelFolder(args.dir, { inputCodec: args.inputCodec, outputCodec: args.outputCodec });
    } catch (err) {
      if (err instanceof ModelError) throw taskError(err.message, err);
      throw err;
    }
  }
  const session = await Session.open(hre, args.deployment);
  const owner = await session.signer(args.account);
  const { modelRegistry } = session.contracts;
  if (args.modelId !== 0n) {
    const model = await modelRegistry.getModel(args.modelId).catch((err: unknown) => {
      throw taskError(`model ${args.modelId} does not exist`, err);
    });
    if (model.owner !== owner.address) throw taskError(`model ${args.modelId} is owned by ${model.owner}, not by ${owner.address}`);
  }

  const store = await openContentStore(args.dataDir);
  let published: PublishedModel;
  let trained: { accuracy: number; samplesPerSecond: number; count: number; testCount: number } | undefined;
  let shapes: { inputShape: number[]; outputShape: number[] };
  let shards: ShardRecord[] | undefined;
  try {
    if (folder !== undefined) {
      shapes = versionShapesOf({ signature: folder.artifacts.signature, ...folder.codecs });
      if (plan === undefined) published = await publishArtifacts(store, folder.artifacts, folder.codecs, { ...folder.metadata, name: args.name });
      else ({ whole: published, records: shards } = await shardFolder(store, folder, plan, args.name));
    } else {
      ({ published, trained, shapes, shards } = await trainMnist(store, args, plan));
    }
  } catch (err) {
    if (err instanceof ModelError) throw taskError(err.message, err);
    throw err;
  } finally {
    await store.close();
  }

  const txHashes: string[] = [];
  let modelId = args.modelId;
  if (modelId === 0n) {
    const metadataURI = `ipfs://${published.manifestCid}`;
    const receipt = await session.send(owner, modelRegistry, "registerModel", [args.name, metadataURI]);
    txHashes.push(receipt.hash);
    const event = receipt.logs.map((l) => modelRegistry.interface.parseLog(l)).find((e) => e?.name === "ModelRegistered");
    modelId = event!.args.modelId as bigint;
  }
  const input = versionInputOf(published, { priceWei: args.priceWei, priceToken: args.priceToken, royaltyBps: args.royaltyBps, ...shapes });
  const receipt =
    shards === undefined
      ? await session.send(owner, modelRegistry, "publishVersion", [modelId, input])
      : await session.send(owner, modelRegistry, "publishShardedVersion", [modelId, input, shards]);
  txHashes.push(receipt.hash);
  const event = receipt.logs.map((l) => modelRegistry.interface.parseLog(l)).find((e) => e?.name === "VersionPublished");
  const versionId = event!.args.versionId as bigint;

  printFields(`Published model "${args.name}" version ${versionId}`, [
    ["owner", owner.address],
    ["model id", modelId],
    ["version id", versionId],
    ...(trained === undefined
      ? ([
          [
            "model",
            `${args.dir}: ${folder!.artifacts.format}, ${JSON.stringify(folder!.artifacts.signature.inputs[0].shape)} -> ${JSON.stringify(folder!.artifacts.signature.outputs[0].shape)}`,
          ],
          ...(folder!.artifacts.tokenizer === undefined
            ? []
            : ([["tokenizer", `${folder!.artifacts.tokenizer.spec.kind}, ${folder!.artifacts.tokenizer.vocabulary.tokens.length} tokens, unknownId ${folder!.artifacts.tokenizer.spec.unknownId}`]] as Array<[string, unknown]>)),
          ["input codec", `${JSON.stringify(folder!.codecs.inputCodec)} (${folder!.codecSources.input})`],
          ["output codec", `${JSON.stringify(folder!.codecs.outputCodec)} (${folder!.codecSources.output})`],
        ] as Array<[string, unknown]>)
      : ([
          ["training", `${args.epochs} epoch(s) on ${trained.count} MNIST digits, ${trained.samplesPerSecond.toFixed(0)} samples/s (${backend.name})`],
          ["held-out accuracy", `${(trained.accuracy * 100).toFixed(2)} % on ${trained.testCount} digits`],
        ] as Array<[string, unknown]>)),
    ["shapes on chain", `input ${JSON.stringify(shapes.inputShape)}, output ${JSON.stringify(shapes.outputShape)}`],
    ["manifest CID", published.manifestCid],
    ["weights CID", published.weightsCid],
    ["content hash", published.contentHash],
    ["ipfs", describeStore(store, args.dataDir)],
    ["price", `${formatEth(args.priceWei)} or ${formatTsr(args.priceToken)} per request`],
    ["royalty", `${args.royaltyBps} bps (${args.royaltyBps / 100} %)`],
    ...(shards === undefined
      ? []
      : shards.map((r, i): [string, unknown] => [
          `shard ${i}`,
          `layers ${r.firstLayer}..${r.endLayer - 1}, ${r.byteSize} weight bytes, cost weight ${r.costWeight}, ${CID.decode(r.weightsCid).toString()}`,
        ])),
    ["transactions", txHashes.join(", ")],
  ]);
  if (shards !== undefined) {
    console.log(`  hosts announce a shard with: npx hardhat${session.networkFlag} host announce --version-id ${versionId} --shard <i> --endpoint <url> --account <host>`);
  }
  return { modelId, versionId, ...published, testAccuracy: trained?.accuracy, ...shapes, txHashes, shardCount: shards?.length ?? 1 };
}

/** A LayersModel folder cut into shards (a graph model cannot be: its layers are not known). */
async function shardFolder(store: Awaited<ReturnType<typeof openContentStore>>, folder: ModelFolder, plan: SplitPlan, name: string) {
  if (folder.artifacts.format !== "tfjs-layers") throw taskError(`only a tfjs LayersModel can be sharded; this folder holds a ${folder.artifacts.format} model`);
  const tf = activeTf();
  const { modelTopology, weightSpecs, weightData } = folder.artifacts;
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs, weightData: weightData.slice().buffer as ArrayBuffer }));
  try {
    const stored = await storeShardedModel(store, model, plan, folder.codecs, { ...folder.metadata, name });
    return stored;
  } finally {
    model.dispose();
  }
}

/** Trains the MNIST 2NN and publishes it with the digit codecs (cut into shards when `plan` is given). */
async function trainMnist(store: Awaited<ReturnType<typeof openContentStore>>, args: PublishArgs, plan?: SplitPlan) {
  const data = await loadMnist(MNIST_SPLIT);
  const model = buildMlp({ seed: 7 });
  try {
    const training = await trainModel(model, data.train, { epochs: args.epochs, batchSize: 32, learningRate: 0.001, optimizer: "adam", seed: 1 });
    const { accuracy } = await evaluate(model, data.test);
    const metadata = { name: args.name, description: "784-200-200-10 MLP (McMahan et al. 2017)" };
    const trained = { accuracy, samplesPerSecond: training.samplesPerSecond, count: data.train.count, testCount: data.test.count };
    const shapes = { inputShape: [784], outputShape: [10] };
    if (plan === undefined) return { published: await publishModel(store, model, metadata), trained, shapes, shards: undefined };
    const stored = await storeShardedModel(store, model, plan, MNIST_CODECS, metadata);
    return { published: stored.whole, trained, shapes, shards: stored.records };
  } finally {
    model.dispose();
  }
}
