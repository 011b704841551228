import { ZeroAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { formatEth, formatTsr } from "../lib/Amounts.js";
import { cidToString } from "../lib/Cids.js";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface ShowArgs {
  deployment: string;
  versionId: string | undefined;
}

export interface VersionView {
  versionId: bigint;
  modelId: bigint;
  modelName: string;
  owner: string;
  status: "Active" | "Deprecated";
  priceWei: bigint;
  priceToken: bigint;
  royaltyBps: number;
  manifestCid: string;
  weightsCid: string;
  contentHash: string;
  inputShape: number[];
  outputShape: number[];
  publishedAt: Date;
}

const STATUS = ["None", "Active", "Deprecated"] as const;

/** Prints a model version as the ModelRegistry records it, CIDs as strings. */
export default async function show(args: ShowArgs, hre: HardhatRuntimeEnvironment): Promise<VersionView> {
  const versionId = parseId(args.versionId, "--version-id");
  const session = await Session.open(hre, args.deployment);
  const { modelRegistry } = session.contracts;
  const [owner] = await modelRegistry.inferenceTerms(versionId);
  if (owner === ZeroAddress) {
    throw taskError(`unknown model version ${versionId}: the ModelRegistry at ${await modelRegistry.getAddress()} has no such version`);
  }
  const v = await modelRegistry.getVersion(versionId);
  const model = await modelRegistry.getModel(v.modelId);
  const view: VersionView = {
    versionId: versionId,
    modelId: v.modelId,
    modelName: model.name,
    owner: v.owner,
    status: STATUS[Number(v.status)] as VersionView["status"],
    priceWei: v.priceWei,
    priceToken: v.priceToken,
    royaltyBps: Number(v.royaltyBps),
    manifestCid: cidToString(v.manifestCid),
    weightsCid: cidToString(v.weightsCid),
    contentHash: v.contentHash,
    inputShape: v.inputShape.map(Number),
    outputShape: v.outputShape.map(Number),
    publishedAt: new Date(Number(v.publishedAt) * 1000),
  };
  printFields(`Model version ${view.versionId} of model ${view.modelId} "${view.modelName}"`, [
    ["owner", view.owner],
    ["status", view.status],
    ["price", `${formatEth(view.priceWei)} or ${formatTsr(view.priceToken)} per request`],
    ["royalty", `${view.royaltyBps} bps (${view.royaltyBps / 100} %)`],
    ["manifest CID", view.manifestCid],
    ["weights CID", view.weightsCid],
    ["content hash", view.contentHash],
    ["input shape", JSON.stringify(view.inputShape)],
    ["output shape", JSON.stringify(view.outputShape)],
    ["published at", view.publishedAt.toISOString()],
  ]);
  return view;
}
