import { getBytes } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { CID } from "multiformats/cid";
import { selectBackend } from "../../worker/src/ml/backend.js";
import { loadPublishedModel } from "../../worker/src/ml/ModelArtifacts.js";
import { ModelError } from "../../worker/src/ml/ModelError.js";
import { versionInputOf } from "../../worker/src/ml/VersionInput.js";
import { storeShardedModel, type ShardRecord } from "../../worker/src/shards/ShardedModels.js";
import { openContentStore } from "../lib/ContentStores.js";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";
import { shardPlanOf } from "./ShardPlan.js";

interface ShardArgs {
  deployment: string;
  dataDir: string;
  account: string;
  versionId: string | undefined;
  shards: number;
  maxShardBytes: number;
}

export interface ShardResult {
  /** The new, sharded version of the same model (same prices, royalty and shapes as the version it was cut from). */
  versionId: bigint;
  fromVersionId: bigint;
  shards: ShardRecord[];
  txHash: string;
}

/**
 * Cuts a published whole-model version into shards (its model loaded from IPFS and checked against its content
 * hash), stores every shard, and publishes them as a new sharded version of the same model with the same terms.
 */
export default async function shard(args: ShardArgs, hre: HardhatRuntimeEnvironment): Promise<ShardResult> {
  const fromVersionId = parseId(args.versionId, "--version-id");
  const plan = shardPlanOf(args);
  if (plan === undefined) throw taskError("give --shards (2..16) or --max-shard-bytes");
  const session = await Session.open(hre, args.deployment);
  const { modelRegistry } = session.contracts;
  const owner = await session.signer(args.account);
  const version = await modelRegistry.getVersion(fromVersionId).catch((err: unknown) => {
    throw taskError(`version ${fromVersionId} does not exist`, err);
  });
  if (version.owner !== owner.address) throw taskError(`version ${fromVersionId} is owned by ${version.owner}, not by ${owner.address}`);
  if (version.shardCount > 1n) throw taskError(`version ${fromVersionId} is already sharded (${version.shardCount} shards)`);
  await selectBackend((process.env.TF_BACKEND as "auto" | undefined) ?? "auto");
  const store = await openContentStore(args.dataDir);
  let stored;
  try {
    const manifestCid = CID.decode(getBytes(version.manifestCid)).toString();
    const weightsCid = CID.decode(getBytes(version.weightsCid)).toString();
    const { model, manifest } = await loadPublishedModel(store, manifestCid, { expectedContentHash: version.contentHash, weightsCid });
    if (!("layers" in model)) throw taskError(`version ${fromVersionId} is a graph model: only a tfjs LayersModel can be sharded`);
    try {
      const codecs = { inputCodec: manifest.inputCodec, outputCodec: manifest.outputCodec, ...(manifest.training === undefined ? {} : { training: manifest.training }) };
      stored = await storeShardedModel(store, model, plan, codecs, { name: manifest.name ?? `version ${fromVersionId}`, description: `version ${fromVersionId} cut into shards` });
    } finally {
      model.dispose();
    }
  } catch (err) {
    if (err instanceof ModelError) throw taskError(err.message, err);
    throw err;
  } finally {
    await store.close();
  }
  const input = versionInputOf(stored.whole, {
    priceWei: version.priceWei,
    priceToken: version.priceToken,
    royaltyBps: version.royaltyBps,
    inputShape: version.inputShape.map(Number),
    outputShape: version.outputShape.map(Number),
  });
  const receipt = await session.send(owner, modelRegistry, "publishShardedVersion", [version.modelId, input, stored.records]);
  const event = receipt.logs.map((l) => modelRegistry.interface.parseLog(l)).find((e) => e?.name === "VersionPublished");
  const versionId = event!.args.versionId as bigint;
  printFields(`Version ${fromVersionId} cut into ${stored.records.length} shards: version ${versionId}`, [
    ...stored.records.map((r, i): [string, unknown] => [
      `shard ${i}`,
      `layers ${r.firstLayer}..${r.endLayer - 1}, ${r.byteSize} weight bytes, cost weight ${r.costWeight}, ${CID.decode(r.weightsCid).toString()}`,
    ]),
    ["transaction", receipt.hash],
  ]);
  console.log(`  hosts announce a shard with: npx hardhat${session.networkFlag} host announce --version-id ${versionId} --shard <i> --endpoint <url> --account <host>`);
  return { versionId, fromVersionId, shards: stored.records, txHash: receipt.hash };
}
