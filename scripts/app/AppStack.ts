import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import { build, preview, type PreviewServer } from "vite";
import { EmbeddedStack } from "../lib/EmbeddedStack.js";
import { serveChain, type RpcChain } from "../lib/RpcChain.js";
import { devWallet, freePort, publishShardedMnist, stakeAndAnnounce, startShardHost } from "../lib/ShardedStack.js";
import type { WorkerProcess } from "../lib/WorkerProcess.js";
import { stakeValidators, startValidators, stopValidators, type EmbeddedValidator, type RunningValidator } from "../lib/EmbeddedValidators.js";
import { startEvaluator, type EmbeddedEvaluator } from "../lib/EmbeddedEvaluator.js";
import { startTrainers as startTrainerProcesses, type RunningTrainer } from "../lib/EmbeddedTrainers.js";
import { removeQueueData } from "../../worker/src/queue/removeQueueData.js";
import { generateEncryptionKey, type EncryptionKeyPair } from "../../worker/src/data/KeyEnvelopes.js";
import { Report } from "../lib/Report.js";
import { runSeedTaskStages } from "../lib/SeedTaskStages.js";
import { irisTask } from "../lib/seedTasks/IrisTask.js";
import type { TrainingStageResult } from "../lib/TrainingStage.js";
import { tesseraBackend } from "./TesseraBackendPlugin.js";

export interface AppStackOptions {
  /** Where the stack keeps its IPFS blocks and deployment file (a fresh temporary directory by default). */
  readonly dataDir?: string;
  /** The page's port; 0 or absent picks a free one. */
  readonly port?: number;
  readonly host?: string;
  /** Epochs of the MNIST model the stack trains and publishes (3 by default; tests use 1). */
  readonly trainEpochs?: number;
  readonly logger?: Logger;
}

/**
 * The dApp against the embedded stack, on one port: Hardhat's EDR chain served over JSON-RPC, the contracts, an
 * MNIST model trained, published and priced, a staked worker daemon serving it, and the page built by Vite and served
 * by `vite preview` with the app config, a JSON-RPC proxy (`/rpc`), an IPFS gateway (`/ipfs/<cid>`) and Kubo's upload
 * call (`/api/v0/add`) beside it; `startValidators` adds the validators that decide the page's contributions.
 * `npm run app` and the browser tests start it.
 */
export class AppStack {
  static readonly CHAIN_NAME = "Tessera local (EDR)";

  private constructor(
    readonly chain: RpcChain,
    readonly stack: EmbeddedStack,
    readonly server: PreviewServer,
    readonly url: string,
    readonly dataDir: string,
    readonly ownsDataDir: boolean,
    readonly logger: Logger | undefined,
  ) {}

  static async start(options: AppStackOptions = {}): Promise<AppStack> {
    const ownsDataDir = options.dataDir === undefined;
    const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "tessera-app-"));
    const chain = await serveChain();
    const stack = await EmbeddedStack.start(chain.connection, {
      dataDir,
      queuePrefix: `tessera-app-${process.pid}-${Date.now()}`,
      trainEpochs: options.trainEpochs ?? 3,
      worker: { batchMaxWaitMs: 50 },
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    try {
      const trained = await stack.trainAndPublish();
      await stack.stakeWorker(trained.versionId);
      await stack.startWorker();
      const configFile = resolve("app/vite.config.ts");
      const outDir = join(dataDir, "app-dist");
      await build({ configFile, build: { outDir }, logLevel: "warn" });
      const server = await preview({
        configFile,
        build: { outDir },
        preview: { port: options.port ?? 0, host: options.host ?? "127.0.0.1", strictPort: options.port !== undefined && options.port !== 0 },
        plugins: [tesseraBackend({ deployment: stack.deployment, chainName: AppStack.CHAIN_NAME, rpcUrl: chain.rpcUrl, store: stack.store })],
        logLevel: "warn",
      });
      const url = server.resolvedUrls?.local[0];
      if (url === undefined) throw new Error("vite preview reported no local URL");
      return new AppStack(chain, stack, server, url.replace(/\/$/, ""), dataDir, ownsDataDir, options.logger);
    } catch (err) {
      await stack.stop().catch(() => undefined);
      await chain.close().catch(() => undefined);
      throw err;
    }
  }

  readonly #hosts: WorkerProcess[] = [];

  /**
   * Publishes the stack's trained model again, cut in two shards, as a version of its own, which the stack's worker
   * serves (it claims and routes) through a shard host in its own process that announces both shards: the page's
   * sharded version, asked like any other. Returns the version and the host's address.
   */
  async addShardedVersion(): Promise<{ versionId: bigint; host: string }> {
    const { stack } = this;
    const { versionId } = await publishShardedMnist(stack, stack.trained!, { shards: 2 });
    await (await stack.contracts.workerRegistry.connect(stack.signers.worker).setServedModels([versionId], true)).wait();
    const wallet = devWallet(100).connect(stack.connection.ethers.provider);
    const port = await freePort();
    for (const shard of [0, 1]) await stakeAndAnnounce(stack, wallet, versionId, shard, `http://127.0.0.1:${port}`);
    this.#hosts.push(await startShardHost({ name: "shard-host", rpcUrl: this.chain.rpcUrl, key: wallet.privateKey, dataDir: this.dataDir, redisUrl: stack.redis.url, port }));
    return { versionId, host: wallet.address };
  }

  /**
   * A model trained by a federated job on the stack, end to end (the seeds' Iris task: contributions validated by
   * three staked validators, a job of three trainer processes, evaluated and registered by TrainingJobs, then priced by
   * its requester): the page's version with provenance. Uses development accounts 10-19 (users 6-15); about 30 s.
   */
  async addTrainedVersion(): Promise<TrainingStageResult> {
    // The seed task stakes and runs its own validators on the same accounts, and its own trainers: the page's stop
    // meanwhile (its trainers would enrol in the seed's job).
    const validating = this.#validators.length > 0;
    const training = this.#trainers.length > 0;
    if (training) await this.#stopTrainers(false);
    if (validating) await this.#stopValidators();
    try {
      return (await runSeedTaskStages(this.stack, this.chain.rpcUrl, irisTask, new Report({ print: false }))).fed;
    } finally {
      if (validating) await this.startValidators();
      if (training) await this.startTrainers();
    }
  }

  #validators: RunningValidator[] = [];
  #staked: EmbeddedValidator[] = [];
  #trainers: RunningTrainer[] = [];
  #evaluators: EmbeddedEvaluator[] = [];

  /**
   * What trains the jobs people create from the page: three trainers (development accounts 101-103, staked CAP_TRAIN
   * workers, each its own OS process, enrolling on their own) and the validators (`startValidators`) as the jobs'
   * evaluators, each a listener and a TrainingService in this process. A job of up to three workers per round and
   * three evaluators then runs to the end once its datasets' contributors shared their keys. Returns the trainers'
   * addresses.
   */
  async startTrainers(): Promise<string[]> {
    if (this.#trainers.length > 0) return this.#trainers.map((t) => t.signer.address);
    await this.startValidators();
    const { stack } = this;
    const provider = stack.connection.ethers.provider;
    // Kept across a restart (addTrainedVersion): the same encryption keys (what the datasets' keys were shared with)
    // and the same queues (a trainer's commit salts live there until it reveals).
    this.#trainerKeys ??= [101, 102, 103].map(() => generateEncryptionKey());
    this.#trainingPrefix ??= `tessera-app-training-${process.pid}-${Date.now()}`;
    const prefix = this.#trainingPrefix;
    const accounts = [101, 102, 103].map((index, i) => {
      const wallet = devWallet(index).connect(provider);
      return { signer: wallet, key: wallet.privateKey, encryption: this.#trainerKeys![i]! };
    });
    this.#trainers = await startTrainerProcesses(stack, accounts, { rpcUrl: this.chain.rpcUrl, queuePrefix: prefix, name: "app-trainer" });
    for (const [i, v] of this.#staked.entries()) {
      this.#evaluators.push(
        await startEvaluator(stack, v.signer, { queuePrefix: `${prefix}-e${i + 1}`, keeperIntervalMs: 300, ...(this.logger === undefined ? {} : { logger: this.logger.child({ evaluator: v.signer.address }) }) }),
      );
    }
    return this.#trainers.map((t) => t.signer.address);
  }

  #trainerKeys: EncryptionKeyPair[] | undefined;
  #trainingPrefix: string | undefined;

  /** Stops the trainers and evaluators; `forget` also removes their queues (at the stack's stop, not at a restart). */
  async #stopTrainers(forget: boolean): Promise<void> {
    const trainers = this.#trainers;
    const evaluators = this.#evaluators;
    this.#trainers = [];
    this.#evaluators = [];
    await Promise.all(trainers.map((t) => t.process.stop()));
    for (const e of evaluators) await e.listener.stop().catch(() => undefined);
    for (const e of evaluators) await e.service.stop().catch(() => undefined);
    if (forget) await removeQueueData(this.stack.redis.url, [...trainers.map((t) => t.process.options.queuePrefix), ...evaluators.map((e) => e.queuePrefix)]);
  }

  /**
   * Three staked validators (the last three user accounts, each with a fresh encryption key), running in this
   * process until `stop`: they validate what people contribute from the page, from the current block on. The
   * DataRegistry's reward pool gets 1,000 TSR. Returns their addresses.
   */
  async startValidators(): Promise<string[]> {
    if (this.#validators.length > 0) return this.#validators.map((v) => v.signer.address);
    const { stack } = this;
    const staked = await stakeValidators(stack, stack.signers.users.slice(-3), 1_000n * 10n ** 18n);
    this.#staked = staked;
    const fromBlock = await stack.connection.ethers.provider.getBlockNumber();
    this.#validators = await startValidators(stack, staked, { queuePrefix: `tessera-app-validators-${process.pid}-${Date.now()}`, fromBlock, ...(this.logger === undefined ? {} : { logger: this.logger }) });
    return this.#validators.map((v) => v.signer.address);
  }

  async #stopValidators(): Promise<void> {
    const running = this.#validators;
    this.#validators = [];
    await stopValidators(running);
  }

  async stop(): Promise<void> {
    await this.#stopTrainers(true).catch(() => undefined);
    await this.#stopValidators().catch(() => undefined);
    await Promise.all(this.#hosts.map((h) => h.stop().catch(() => undefined)));
    await this.server.close().catch(() => undefined);
    await this.stack.stop().catch(() => undefined);
    await this.chain.close().catch(() => undefined);
    if (this.ownsDataDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
