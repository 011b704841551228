import { mkdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import type { LayersModel } from "@tensorflow/tfjs";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { NetworkConnection } from "hardhat/types/network";
import TesseraTrainingModule from "../../ignition/modules/TesseraTraining.js";
import {
  DataRegistry__factory,
  InferenceMarket__factory,
  ModelRegistry__factory,
  TesseraToken__factory,
  TrainingJobs__factory,
  WorkerRegistry__factory,
  type DataRegistry,
  type TrainingJobs,
  type InferenceMarket,
  type ModelRegistry,
  type TesseraToken,
  type WorkerRegistry,
} from "../../typechain-types/index.js";
import { loadConfig, type ConfigOverrides } from "../../worker/src/config.js";
import { deploymentOfTraining, saveDeployment, type Deployment } from "../../worker/src/Deployment.js";
import { EmbeddedContentStore } from "../../worker/src/ipfs/EmbeddedContentStore.js";
import { silentLogger, type Logger } from "../../worker/src/logger.js";
import { selectBackend, type SelectedBackend } from "../../worker/src/ml/backend.js";
import { loadMnist, type MnistSplit } from "../../worker/src/ml/MnistDataset.js";
import { publishModel, type PublishedModel } from "../../worker/src/ml/ModelArtifacts.js";
import { versionInputOf } from "../../worker/src/ml/VersionInput.js";
import { buildMlp, evaluate, trainModel, type TrainResult } from "../../worker/src/ml/models.js";
import { resolveRedis, type ResolvedRedis } from "../../worker/src/redis/RedisConnection.js";
import { WorkerDaemon, type WorkerDaemonOptions } from "../../worker/src/WorkerDaemon.js";

import { CAP_INFER } from "../../worker/src/chain/Capabilities.js";
export { CAP_INFER };
export const PRICE_WEI = 10n ** 14n; // 0.0001 ETH per request
export const PRICE_TOKEN = 10n ** 17n; // 0.1 TSR per request
export const ROYALTY_BPS = 1_000; // 10 % to the model owner

export interface EmbeddedStackOptions {
  /** Root of everything the run keeps on disk (IPFS blocks, a private Redis, the deployment file). */
  readonly dataDir: string;
  /** BullMQ prefix, so concurrent runs sharing one Redis never see each other's jobs. */
  readonly queuePrefix: string;
  readonly worker?: ConfigOverrides;
  readonly trainEpochs?: number;
  readonly logger?: Logger;
}

export interface TrainedModel {
  readonly model: LayersModel;
  readonly data: MnistSplit;
  readonly training: TrainResult;
  readonly testAccuracy: number;
  readonly published: PublishedModel;
  readonly modelId: bigint;
  readonly versionId: bigint;
}

/**
 * Everything the embedded mode runs in one process: Hardhat's EDR chain with the contracts
 * deployed by Ignition, the embedded IPFS blockstore, Redis (REDIS_URL, the local one, or a
 * private redis-server), a 2NN trained on the real MNIST digits and published to IPFS and the
 * ModelRegistry, a staked worker serving it, and the WorkerDaemon running for that worker.
 */
export class EmbeddedStack {
  private constructor(
    readonly connection: NetworkConnection,
    readonly signers: {
      readonly deployer: HardhatEthersSigner;
      readonly worker: HardhatEthersSigner;
      readonly modelOwner: HardhatEthersSigner;
      readonly users: readonly HardhatEthersSigner[];
      readonly treasury: HardhatEthersSigner;
    },
    readonly contracts: {
      readonly token: TesseraToken;
      readonly workerRegistry: WorkerRegistry;
      readonly modelRegistry: ModelRegistry;
      readonly market: InferenceMarket;
      readonly dataRegistry: DataRegistry;
      readonly trainingJobs: TrainingJobs;
    },
    readonly deployment: Deployment,
    readonly store: EmbeddedContentStore,
    readonly redis: ResolvedRedis,
    readonly backend: SelectedBackend,
    readonly options: EmbeddedStackOptions,
  ) {}

  trained: TrainedModel | undefined;
  daemon: WorkerDaemon | undefined;

  static async start(connection: NetworkConnection, options: EmbeddedStackOptions): Promise<EmbeddedStack> {
    const logger = options.logger ?? silentLogger;
    const { ethers, ignition } = connection;
    const [deployer, worker, modelOwner, treasury, ...users] = await ethers.getSigners();
    const startBlock = await ethers.provider.getBlockNumber();
    // Over JSON-RPC Ignition journals deployments on disk by id; each embedded run is a fresh
    // chain, so it gets a fresh id and its journal is dropped (deployment.json is the record).
    const deploymentId = `embedded-${process.pid}-${Date.now()}`;
    const deployed = await ignition.deploy(TesseraTrainingModule, {
      parameters: { Tessera: { treasury: treasury.address } },
      displayUi: false,
      deploymentId,
    });
    rmSync(resolve("ignition/deployments", deploymentId), { recursive: true, force: true });
    const chainId = Number((await ethers.provider.getNetwork()).chainId);
    const deployment = await deploymentOfTraining(deployed, chainId, startBlock);
    const addresses = deployment.contracts;
    mkdirSync(options.dataDir, { recursive: true });
    saveDeployment(resolve(options.dataDir, "deployment.json"), deployment);

    const contracts = {
      token: TesseraToken__factory.connect(addresses.TesseraToken, deployer),
      workerRegistry: WorkerRegistry__factory.connect(addresses.WorkerRegistry, deployer),
      modelRegistry: ModelRegistry__factory.connect(addresses.ModelRegistry, deployer),
      market: InferenceMarket__factory.connect(addresses.InferenceMarket, deployer),
      dataRegistry: DataRegistry__factory.connect(addresses.DataRegistry, deployer),
      trainingJobs: TrainingJobs__factory.connect(addresses.TrainingJobs, deployer),
    };
    const store = await EmbeddedContentStore.open(resolve(options.dataDir, "ipfs"));
    const redis = await resolveRedis({ redisUrl: process.env.REDIS_URL, dataDir: options.dataDir, logger });
    const backend = await selectBackend((process.env.TF_BACKEND as "auto" | undefined) ?? "auto");
    logger.info({ backend: backend.name, redis: redis.source, chainId }, "embedded stack up");
    return new EmbeddedStack(
      connection,
      { deployer, worker, modelOwner, users, treasury },
      contracts,
      deployment,
      store,
      redis,
      backend,
      options,
    );
  }

  /** Trains the 2NN on the MNIST train split, publishes it to IPFS and registers it as a version. */
  async trainAndPublish(): Promise<TrainedModel> {
    const data = await loadMnist({ testCount: 2_000, seed: 42 });
    const model = buildMlp({ seed: 7 });
    const training = await trainModel(model, data.train, {
      epochs: this.options.trainEpochs ?? 3,
      batchSize: 32,
      learningRate: 0.001,
      optimizer: "adam",
      seed: 1,
    });
    const { accuracy } = await evaluate(model, data.test);
    const published = await publishModel(this.store, model, { name: "mnist-2nn", description: "784-200-200-10 MLP (McMahan et al. 2017)" });

    const registry = this.contracts.modelRegistry.connect(this.signers.modelOwner);
    const modelId = await registry.registerModel.staticCall("mnist-2nn", `ipfs://${published.manifestCid}`);
    await (await registry.registerModel("mnist-2nn", `ipfs://${published.manifestCid}`)).wait();
    const input = versionInputOf(published, { priceWei: PRICE_WEI, priceToken: PRICE_TOKEN, royaltyBps: ROYALTY_BPS });
    const versionId = await registry.publishVersion.staticCall(modelId, input);
    await (await registry.publishVersion(modelId, input)).wait();
    this.trained = { model, data, training, testAccuracy: accuracy, published, modelId, versionId };
    return this.trained;
  }

  /** Mints tokens to the worker, stakes them, declares the inference capability and the served version. */
  async stakeWorker(versionId: bigint): Promise<bigint> {
    const { token, workerRegistry } = this.contracts;
    const { deployer, worker } = this.signers;
    await (await token.grantRole(await token.MINTER_ROLE(), deployer.address)).wait();
    const stake = (await workerRegistry.minStake()) * 2n;
    await (await token.mint(worker.address, stake)).wait();
    await (await token.connect(worker).approve(await workerRegistry.getAddress(), stake)).wait();
    const pubkey = "0x02" + "11".repeat(32); // the worker's encryption key (used by data jobs, P2)
    await (await workerRegistry.connect(worker).register(stake, CAP_INFER, pubkey, "embedded://worker-1")).wait();
    await (await workerRegistry.connect(worker).setServedModels([versionId], true)).wait();
    return stake;
  }

  /** Starts the worker daemon (listener + processor, and any other `roles`) for the staked worker. */
  async startWorker(overrides: ConfigOverrides = {}, fromBlock?: number, roles?: WorkerDaemonOptions["roles"]): Promise<WorkerDaemon> {
    const config = loadConfig(
      {
        confirmations: 0,
        pollIntervalMs: 50,
        queuePrefix: this.options.queuePrefix,
        dataDir: this.options.dataDir,
        ...this.options.worker,
        ...overrides,
      },
      {},
      { envFile: false },
    );
    this.daemon = new WorkerDaemon({
      config,
      deployment: fromBlock === undefined ? this.deployment : { ...this.deployment, startBlock: fromBlock },
      provider: this.connection.ethers.provider,
      signer: this.signers.worker,
      redisUrl: this.redis.url,
      store: this.store,
      ...(roles === undefined ? {} : { roles }),
      ...(this.options.logger === undefined ? {} : { logger: this.options.logger }),
    });
    await this.daemon.start();
    return this.daemon;
  }

  /** Stops the worker daemon (the worker goes offline); `startWorker` starts a new one. */
  async stopWorker(): Promise<void> {
    const daemon = this.daemon;
    this.daemon = undefined;
    await daemon?.stop();
  }

  async stop(): Promise<void> {
    const steps: [string, () => Promise<unknown>][] = [
      ["worker", async () => this.daemon?.stop()],
      ["ipfs", () => this.store.close()],
      ["redis", () => this.redis.stop()],
    ];
    for (const [, step] of steps) {
      try {
        await step();
      } catch (err) {
        (this.options.logger ?? silentLogger).error({ err }, "embedded stack: stop step failed");
      }
    }
    this.trained?.model.dispose();
  }
}
