import type { HardhatEthers, HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { ContractTransactionReceipt } from "ethers";
import type { InferenceMarket, ModelRegistry, ShardRegistry, TesseraToken, WorkerRegistry } from "../../typechain-types/index.js";

export const ETH = "0x0000000000000000000000000000000000000000";
export const InputKind = { Inline: 0, Cid: 1 } as const;
export const OutputKind = { Inline: 0, Cid: 1 } as const;
export const RequestStatus = { None: 0n, Open: 1n, Claimed: 2n } as const;
export const CAP_TRAIN = 1;
export const CAP_INFER = 2;
export const CAP_VALIDATE = 4;

/** A 36-byte CIDv1 (sha2-256, raw) like the ones the worker posts. */
export const SAMPLE_CID = "0x01551220" + "ab".repeat(32);
/** A compressed secp256k1 public key (the generator point). */
export const SAMPLE_PUBKEY = "0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
export const UNBONDING_DELAY = 7 * 24 * 3600;
/** Seconds a withdrawn shard host stays answerable (as the Ignition default: request lifetime + refund grace). */
export const SHARD_RELEASE_DELAY = 30 * 3600;
export const MIN_STAKE = 1_000n * 10n ** 18n;

/** The market's constructor inputs: `claimWindow` (immutable) and the tunable `MarketParams`. */
export interface MarketParamsInput {
  protocolFeeBps: number;
  claimWindow: number;
  maxRequestLifetime: number;
  refundGracePeriod: number;
  maxInlineInputBytes: number;
  callbackGasPriceWei: bigint;
  callbackGasPriceToken: bigint;
  lapseSlash: bigint;
}

export const DEFAULT_PARAMS: MarketParamsInput = {
  protocolFeeBps: 250,
  claimWindow: 60,
  maxRequestLifetime: 24 * 3600,
  refundGracePeriod: 6 * 3600,
  maxInlineInputBytes: 4096,
  callbackGasPriceWei: 1_000_000_000n,
  callbackGasPriceToken: 10n ** 12n,
  lapseSlash: 10n * 10n ** 18n,
};

export interface VersionInputStruct {
  manifestCid: string;
  weightsCid: string;
  contentHash: string;
  inputShape: number[];
  outputShape: number[];
  priceWei: bigint;
  priceToken: bigint;
  royaltyBps: number;
}

export function versionInput(overrides: Partial<VersionInputStruct> = {}): VersionInputStruct {
  return {
    manifestCid: SAMPLE_CID,
    weightsCid: "0x01551220" + "cd".repeat(32),
    contentHash: "0x" + "11".repeat(32),
    inputShape: [1, 28, 28, 1],
    outputShape: [1, 10],
    priceWei: 10n ** 15n,
    priceToken: 10n ** 18n,
    royaltyBps: 1_000,
    ...overrides,
  };
}

export interface Deployment {
  token: TesseraToken;
  workers: WorkerRegistry;
  models: ModelRegistry;
  market: InferenceMarket;
  shards: ShardRegistry;
}

/** Deploys the four contracts as the Ignition module does (market holds SLASHER_ROLE). */
export async function deployTessera(
  ethers: HardhatEthers,
  admin: HardhatEthersSigner,
  treasury: string,
  params: MarketParamsInput = DEFAULT_PARAMS,
): Promise<Deployment> {
  const token = await ethers.deployContract("TesseraToken", [admin.address, 10n ** 27n], admin);
  await token.grantRole(await token.MINTER_ROLE(), admin.address);
  const workers = await ethers.deployContract(
    "WorkerRegistry",
    [admin.address, await token.getAddress(), MIN_STAKE, UNBONDING_DELAY],
    admin,
  );
  const models = await ethers.deployContract("ModelRegistry", [admin.address], admin);
  const { claimWindow, ...marketParams } = params;
  const market = await ethers.deployContract(
    "InferenceMarket",
    [
      admin.address,
      await token.getAddress(),
      await workers.getAddress(),
      await models.getAddress(),
      treasury,
      claimWindow,
      marketParams,
    ],
    admin,
  );
  await workers.grantRole(await workers.SLASHER_ROLE(), await market.getAddress());
  await models.setInferenceMarket(await market.getAddress());
  const shards = await ethers.deployContract(
    "ShardRegistry",
    [await workers.getAddress(), await models.getAddress(), SHARD_RELEASE_DELAY],
    admin,
  );
  await market.setShardRegistry(await shards.getAddress());
  await workers.grantRole(await workers.STAKE_LOCKER_ROLE(), await shards.getAddress());
  return { token, workers, models, market, shards };
}

/** Mints stake to `worker`, registers it as an inferrer and makes it serve `versionIds`. */
export async function registerInferrer(
  d: Deployment,
  worker: HardhatEthersSigner,
  versionIds: bigint[],
  stake: bigint = MIN_STAKE * 2n,
): Promise<void> {
  await d.token.mint(worker.address, stake);
  await d.token.connect(worker).approve(await d.workers.getAddress(), stake);
  await d.workers.connect(worker).register(stake, CAP_INFER, SAMPLE_PUBKEY, "https://worker.example");
  await d.workers.connect(worker).setServedModels(versionIds, true);
}

export interface InferenceRequestStruct {
  requester: string;
  modelVersionId: bigint;
  paymentToken: string;
  fee: bigint;
  deadline: bigint;
  callbackGasLimit: bigint;
  royaltyBps: bigint;
  protocolFeeBps: bigint;
  salt: bigint;
  inputHash: string;
}

/** The `InferenceRequest` terms and id of every `InferenceRequested` log in `receipt`. */
export function requestsOf(
  market: InferenceMarket,
  receipt: ContractTransactionReceipt | null,
): { requestId: bigint; request: InferenceRequestStruct }[] {
  const out: { requestId: bigint; request: InferenceRequestStruct }[] = [];
  for (const log of receipt?.logs ?? []) {
    const parsed = market.interface.parseLog(log);
    if (parsed?.name !== "InferenceRequested") continue;
    const r = parsed.args.request;
    out.push({
      requestId: parsed.args.requestId,
      request: {
        requester: r.requester,
        modelVersionId: r.modelVersionId,
        paymentToken: r.paymentToken,
        fee: r.fee,
        deadline: r.deadline,
        callbackGasLimit: r.callbackGasLimit,
        royaltyBps: r.royaltyBps,
        protocolFeeBps: r.protocolFeeBps,
        salt: r.salt,
        inputHash: r.inputHash,
      },
    });
  }
  return out;
}

/** Signs an ERC-2612 permit of `value` from `owner` to `spender`. */
export { signPermit } from "../../worker/src/chain/Permit.js";
