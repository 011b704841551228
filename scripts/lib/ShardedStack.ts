import { createServer } from "node:net";
import type { LayersModel } from "@tensorflow/tfjs";
import { HDNodeWallet, Mnemonic, type Signer } from "ethers";
import { ShardRegistry__factory } from "../../typechain-types/index.js";
import { CAP_INFER } from "../../worker/src/chain/Capabilities.js";
import { MNIST_CODECS } from "../../worker/src/ml/ModelArtifacts.js";
import type { SplitPlan } from "../../worker/src/ml/sharding/ModelSplit.js";
import { versionInputOf } from "../../worker/src/ml/VersionInput.js";
import { storeShardedModel, type ShardRecord } from "../../worker/src/shards/ShardedModels.js";
import { PRICE_TOKEN, PRICE_WEI, ROYALTY_BPS, type EmbeddedStack } from "./EmbeddedStack.js";
import { WorkerProcess } from "./WorkerProcess.js";

/** Hardhat's and Anvil's development mnemonic: its accounts are funded on both; never a real key. */
const DEV_MNEMONIC = Mnemonic.fromPhrase("test test test test test test test test test test test junk");

/**
 * Development account `index` of the mnemonic: a host's key in demos, tests and benches. Indices from 100 up are beyond
 * the chain's funded (and otherwise used) accounts: `stakeAndAnnounce` gives them gas money.
 */
export function devWallet(index: number): HDNodeWallet {
  return HDNodeWallet.fromMnemonic(DEV_MNEMONIC, `m/44'/60'/0'/0/${index}`);
}

/** A free TCP port on 127.0.0.1 (for a shard host's SHARD_HOST_PORT). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/**
 * A trained MNIST model (its weights as published whole) published again as a sharded version of the same model: its
 * answers must equal the whole version's.
 */
export async function publishShardedMnist(stack: EmbeddedStack, trained: { model: LayersModel; modelId: bigint }, plan: SplitPlan): Promise<{ versionId: bigint; records: ShardRecord[] }> {
  const stored = await storeShardedModel(stack.store, trained.model, plan, MNIST_CODECS, { name: "mnist-2nn (sharded)" });
  const registry = stack.contracts.modelRegistry.connect(stack.signers.modelOwner);
  const input = versionInputOf(stored.whole, { priceWei: PRICE_WEI, priceToken: PRICE_TOKEN, royaltyBps: ROYALTY_BPS });
  const versionId = await registry.publishShardedVersion.staticCall(trained.modelId, input, stored.records);
  await (await registry.publishShardedVersion(trained.modelId, input, stored.records)).wait();
  return { versionId, records: stored.records };
}

/** Stakes `host` as an inference worker (minted TSR) and announces it for `shardIndex` of `versionId` at `endpoint`. */
export async function stakeAndAnnounce(stack: EmbeddedStack, host: Signer, versionId: bigint, shardIndex: number, endpoint: string): Promise<void> {
  const { token, workerRegistry } = stack.contracts;
  const address = await host.getAddress();
  // Gas money for a host key beyond the chain's funded accounts.
  if ((await stack.connection.ethers.provider.getBalance(address)) === 0n) {
    await (await stack.signers.deployer.sendTransaction({ to: address, value: 10n ** 18n })).wait();
  }
  const stake = (await workerRegistry.minStake()) * 2n;
  if (!(await workerRegistry.workerOf(address)).registered) {
    await (await token.connect(stack.signers.deployer).mint(address, stake)).wait();
    await (await token.connect(host).approve(await workerRegistry.getAddress(), stake)).wait();
    await (await workerRegistry.connect(host).register(stake, CAP_INFER, "0x02" + "22".repeat(32), endpoint)).wait();
  }
  const shards = ShardRegistry__factory.connect(stack.deployment.contracts.ShardRegistry!, host);
  await (await shards.announce(versionId, shardIndex, endpoint)).wait();
}

/** A shard host as its own OS process (the shard-host role, nothing else), serving what its key announced. */
export async function startShardHost(options: { name: string; rpcUrl: string; key: string; dataDir: string; redisUrl: string; port: number; env?: Record<string, string> }): Promise<WorkerProcess> {
  const host = new WorkerProcess({
    name: options.name,
    rpcUrl: options.rpcUrl,
    workerKey: options.key,
    dataDir: options.dataDir,
    redisUrl: options.redisUrl,
    // Its own queue names: a host consumes no inference queue.
    queuePrefix: `${options.name}-${process.pid}`,
    roles: "shard-host",
    env: { SHARD_HOST_PORT: String(options.port), ...options.env },
  });
  try {
    await host.waitFor((r) => r.msg === "serving shards" || r.msg === "this worker announced no shard: it serves none (see `npx hardhat host announce`)", 120_000, "the shard host serving");
  } catch (err) {
    host.kill();
    throw err;
  }
  return host;
}
