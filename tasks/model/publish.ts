import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { selectBackend } from "../../worker/src/ml/backend.js";
import { loadMnist } from "../../worker/src/ml/MnistDataset.js";
import { publishModel } from "../../worker/src/ml/ModelArtifacts.js";
import { versionInputOf } from "../../worker/src/ml/VersionInput.js";
import { buildMlp, evaluate, trainModel } from "../../worker/src/ml/models.js";
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
}

export interface PublishResult {
  modelId: bigint;
  versionId: bigint;
  manifestCid: string;
  weightsCid: string;
  contentHash: string;
  testAccuracy: number;
  txHashes: string[];
}

/**
 * Trains the 2NN on the MNIST train split, publishes manifest + weights to IPFS and registers the
 * model (unless --model-id names one the account owns) and the version with its prices.
 */
export default async function publish(args: PublishArgs, hre: HardhatRuntimeEnvironment): Promise<PublishResult> {
  if (args.name.trim() === "") throw taskError("--name must not be empty");
  if (!Number.isInteger(args.epochs) || args.epochs < 1) throw taskError(`--epochs must be a positive integer, got ${args.epochs}`);
  if (!Number.isInteger(args.royaltyBps) || args.royaltyBps < 0 || args.royaltyBps > 10_000) {
    throw taskError(`--royalty-bps must be an integer in 0..10000, got ${args.royaltyBps}`);
  }
  checkUint96(args.priceWei, "--price-wei");
  checkUint96(args.priceToken, "--price-token");

  const session = await Session.open(hre, args.deployment);
  const owner = await session.signer(args.account);
  const { modelRegistry } = session.contracts;
  if (args.modelId !== 0n) {
    const model = await modelRegistry.getModel(args.modelId).catch((err: unknown) => {
      throw taskError(`model ${args.modelId} does not exist`, err);
    });
    if (model.owner !== owner.address) throw taskError(`model ${args.modelId} is owned by ${model.owner}, not by ${owner.address}`);
  }

  const backend = await selectBackend((process.env.TF_BACKEND as "auto" | undefined) ?? "auto");
  const data = await loadMnist(MNIST_SPLIT);
  const model = buildMlp({ seed: 7 });
  let published;
  let accuracy: number;
  let samplesPerSecond: number;
  const store = await openContentStore(args.dataDir);
  try {
    const training = await trainModel(model, data.train, {
      epochs: args.epochs,
      batchSize: 32,
      learningRate: 0.001,
      optimizer: "adam",
      seed: 1,
    });
    samplesPerSecond = training.samplesPerSecond;
    ({ accuracy } = await evaluate(model, data.test));
    published = await publishModel(store, model, { name: args.name, description: "784-200-200-10 MLP (McMahan et al. 2017)" });
  } finally {
    model.dispose();
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
  const input = versionInputOf(published, { priceWei: args.priceWei, priceToken: args.priceToken, royaltyBps: args.royaltyBps });
  const receipt = await session.send(owner, modelRegistry, "publishVersion", [modelId, input]);
  txHashes.push(receipt.hash);
  const event = receipt.logs.map((l) => modelRegistry.interface.parseLog(l)).find((e) => e?.name === "VersionPublished");
  const versionId = event!.args.versionId as bigint;

  printFields(`Published model "${args.name}" version ${versionId}`, [
    ["owner", owner.address],
    ["model id", modelId],
    ["version id", versionId],
    ["training", `${args.epochs} epoch(s) on ${data.train.count} MNIST digits, ${samplesPerSecond.toFixed(0)} samples/s (${backend.name})`],
    ["held-out accuracy", `${(accuracy * 100).toFixed(2)} % on ${data.test.count} digits`],
    ["manifest CID", published.manifestCid],
    ["weights CID", published.weightsCid],
    ["content hash", published.contentHash],
    ["ipfs", describeStore(store, args.dataDir)],
    ["price", `${formatEth(args.priceWei)} or ${formatTsr(args.priceToken)} per request`],
    ["royalty", `${args.royaltyBps} bps (${args.royaltyBps / 100} %)`],
    ["transactions", txHashes.join(", ")],
  ]);
  return { modelId, versionId, ...published, testAccuracy: accuracy, txHashes };
}
