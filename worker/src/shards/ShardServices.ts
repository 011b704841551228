import type { Provider, Signer } from "ethers";
import {
  InferenceMarket__factory,
  ModelRegistry__factory,
  ShardRegistry__factory,
  WorkerRegistry__factory,
  type ShardRegistry,
} from "../../../typechain-types/index.js";
import type { Config } from "../config.js";
import type { Deployment } from "../Deployment.js";
import type { ContentStore } from "../ipfs/ContentStore.js";
import type { Service } from "../lifecycle/Service.js";
import type { Logger } from "../logger.js";
import { defaultConfirmations } from "../chain/ConfirmationDepth.js";
import { FulfilmentSettlement } from "./FulfilmentSettlement.js";
import { ServedStages } from "./ServedStages.js";
import { StageAuthorization } from "./StageAuthorization.js";
import { shardHostTls, shardTlsCa } from "./ShardTls.js";
import { LocalFirstStages } from "./LocalStages.js";
import { hostedShardsToLoad, loadHostedShard } from "./ShardedModels.js";
import { selectBackend } from "../ml/backend.js";
import { ShardRouter, type ShardHostEntry } from "./ShardRouter.js";
import { ShardStageRunner } from "./ShardStageRunner.js";
import { BatchingStageRunner, type StageBatchRunner } from "./StageBatching.js";
import { RestartingStageThread } from "./thread/RestartingStageThread.js";
import type { StageRunner } from "./transport/StageAdmission.js";
import { ShardClient } from "./transport/ShardClient.js";
import { ShardServer } from "./transport/ShardServer.js";

/** How long a shard's host list read from the chain is reused. */
const HOSTS_TTL_MS = 5_000;
/** ShardRegistry.HostStatus.Announced. */
const ANNOUNCED = 1n;

interface ShardContext {
  readonly config: Config;
  readonly deployment: Deployment;
  readonly provider: Provider;
  readonly signer: Signer;
  readonly store: ContentStore;
  readonly logger: Logger;
}

/** A shard host's counts since it started serving: for the worker's metrics. */
export interface ShardHostStats {
  /** Stages answered (200) and handed to the caller. */
  readonly served: number;
  /** Stages whose caller went away before the answer. */
  readonly abandoned: number;
  /** Refusals by code (BUSY, PEER_NOT_AUTHORIZED, …). */
  readonly refused: Readonly<Partial<Record<string, number>>>;
  /** Predictions run, and the stages they ran (batchedStages / predictions: the mean batch). */
  readonly predictions: number;
  /** Whether the models run in a stage thread (SHARD_HOST_THREAD) rather than on the event loop. */
  readonly stageThread: boolean;
  /** Stage threads started again after one died. */
  readonly stageThreadRestarts: number;
  readonly batchedStages: number;
}

/**
 * The router a processor takes sharded requests through: stages go to the hosts the ShardRegistry lists (read at
 * most every few seconds per shard), over HTTP/2, signed by this worker's staked key. A worker that also hosts shards
 * (`localRunner`: its shard host's runner, in the same daemon) runs the stages of those shards in its own process,
 * first, with no hop. Undefined for a deployment without a ShardRegistry.
 */
export function shardRouterFor(
  ctx: Omit<ShardContext, "store" | "config"> & { config?: Pick<Config, "shardTlsCa" | "shardStagesPerHost">; self: string; localRunner?: () => StageRunner | undefined },
): { router: ShardRouter; close(): void } | undefined {
  const address = ctx.deployment.contracts.ShardRegistry;
  if (address === undefined) return undefined;
  const registry = ShardRegistry__factory.connect(address, ctx.provider);
  const ca = ctx.config === undefined ? undefined : shardTlsCa(ctx.config);
  const chainId = BigInt(ctx.deployment.chainId);
  const client = new ShardClient({ signer: ctx.signer, chainId, shardRegistry: address, logger: ctx.logger, ...(ca === undefined ? {} : { ca }) });
  const stages = new LocalFirstStages({ self: ctx.self, signer: ctx.signer, chainId, shardRegistry: address, runner: ctx.localRunner ?? (() => undefined), remote: client });
  const router = new ShardRouter({
    transport: stages,
    hostsOf: cachedHosts(registry),
    preferredHost: (versionId, shardIndex) => stages.preferredHost(versionId, shardIndex),
    ...(ctx.config === undefined ? {} : { maxStagesPerHost: ctx.config.shardStagesPerHost }),
    logger: ctx.logger.child({ service: "shard-router" }),
  });
  return { router, close: () => client.close() };
}

function cachedHosts(registry: ShardRegistry): (versionId: bigint, shardIndex: number) => Promise<readonly ShardHostEntry[]> {
  const cache = new Map<string, { at: number; hosts: Promise<ShardHostEntry[]> }>();
  return (versionId, shardIndex) => {
    const key = `${versionId}:${shardIndex}`;
    const hit = cache.get(key);
    if (hit !== undefined && Date.now() - hit.at < HOSTS_TTL_MS) return hit.hosts;
    const hosts = registry.hostsOf(versionId, shardIndex).then(([addresses, endpoints]) => addresses.map((host, i) => ({ host, endpoint: endpoints[i] })));
    hosts.catch(() => cache.delete(key));
    cache.set(key, { at: Date.now(), hosts });
    return hosts;
  };
}

/**
 * The shard host (SHARD_HOST_PORT): loads the shards this worker announced on chain, and only those, and serves their
 * stages over HTTP/2 to staked inference workers of the version for requests still open on chain. Undefined when
 * the port is not set or the deployment has no ShardRegistry.
 */
export function shardHostService(
  ctx: ShardContext,
): (Service & { readonly endpoint: string | undefined; readonly hosted: readonly string[]; readonly runner: StageRunner | undefined; readonly stats: ShardHostStats | undefined }) | undefined {
  const address = ctx.deployment.contracts.ShardRegistry;
  if (ctx.config.shardHostPort === undefined || address === undefined) return undefined;
  const logger = ctx.logger.child({ service: "shard-host" });
  let server: ShardServer | undefined;
  let runner: (StageBatchRunner & { dispose(): void | Promise<void> }) | undefined;
  let batching: BatchingStageRunner | undefined;
  let settlement: FulfilmentSettlement | undefined;
  let endpoint: string | undefined;
  let hosted: string[] = [];
  return {
    name: "shard-host",
    get endpoint() {
      return endpoint;
    },
    get hosted() {
      return hosted;
    },
    /** What the server did since it started serving (undefined while it does not serve). */
    get stats(): ShardHostStats | undefined {
      if (server === undefined || batching === undefined) return undefined;
      return { served: server.served, abandoned: server.abandoned, refused: server.refused, predictions: batching.batches, batchedStages: batching.stages, stageThread: runner instanceof RestartingStageThread, stageThreadRestarts: runner instanceof RestartingStageThread ? runner.restarts : 0 };
    },
    /** The shards loaded here, while serving (the same daemon's router runs their stages in process). */
    get runner() {
      return server === undefined ? undefined : batching;
    },
    start: async () => {
      const registry = ShardRegistry__factory.connect(address, ctx.provider);
      const models = ModelRegistry__factory.connect(ctx.deployment.contracts.ModelRegistry, ctx.provider);
      const workers = WorkerRegistry__factory.connect(ctx.deployment.contracts.WorkerRegistry, ctx.provider);
      const market = InferenceMarket__factory.connect(ctx.deployment.contracts.InferenceMarket, ctx.provider);
      const me = await ctx.signer.getAddress();
      const byVersion = await announcedShards(registry, me, ctx.deployment.startBlock);
      const toLoad = [];
      for (const [versionId, indexes] of byVersion) toLoad.push(...(await hostedShardsToLoad(ctx.store, models, versionId, indexes)));
      // With the processor role the models run in a thread of their own (SHARD_HOST_THREAD auto): this event loop keeps
      // routing requests, reading stages, checking hashes, signing and sending answers while a shard predicts.
      const backend = (await selectBackend()).name;
      // auto: on WASM and the JS backend only, where it is tested (two threads loading tfjs-node's addon is not).
      const thread = ctx.config.shardHostThread === "auto" ? ctx.config.roles.includes("processor") && (backend === "wasm" || backend === "cpu") : ctx.config.shardHostThread;
      if (thread) {
        const threaded = await RestartingStageThread.start({
          backend,
          store: ctx.store,
          onStopped: (err, restartInMs) => logger.error({ err, restartInMs }, "shard host: the stage thread stopped; its stages go to other hosts until a new one has loaded the shards"),
          onRestarted: (restarts) => logger.info({ restarts, shards: hosted }, "shard host: a new stage thread serves the shards again"),
          onRestartFailed: (err, restartInMs) => logger.error({ err, restartInMs }, "shard host: the stage thread could not be restarted; trying again later"),
        });
        try {
          for (const shard of toLoad) await threaded.load(shard);
        } catch (err) {
          await threaded.dispose(); // a shard that cannot load leaves no thread behind
          throw err;
        }
        runner = threaded;
      } else {
        const shards = [];
        for (const shard of toLoad) shards.push(await loadHostedShard(ctx.store, shard));
        runner = new ShardStageRunner(shards);
      }
      // The stages of a shard that arrive while it computes go together as its next prediction (SHARD_HOST_MAX_BATCH),
      // on WASM, where a batched row is bit for bit the row alone (tested); another backend runs each stage alone
      // until that is checked there, so a stage's output hash never depends on what it was batched with.
      const maxBatch = backend === "wasm" ? ctx.config.shardHostMaxBatch : 1;
      if (maxBatch !== ctx.config.shardHostMaxBatch) logger.info({ backend, asked: ctx.config.shardHostMaxBatch }, "shard host: stages run one at a time on this backend (batching is checked on WASM only)");
      batching = new BatchingStageRunner(runner, { maxBatch });
      hosted = toLoad.map((s) => `${s.versionId}:${s.shardIndex}`);
      try {
        // Tit for tat: a claimant given this host's stage that pays another host for it is refused for a while.
        const served = new ServedStages({ host: me, refuseForMs: ctx.config.shardUnpaidRefusalMs });
        settlement = new FulfilmentSettlement({ market, provider: ctx.provider, served, pollIntervalMs: ctx.config.pollIntervalMs, blockRange: ctx.config.blockRange, confirmations: ctx.config.confirmations ?? defaultConfirmations(ctx.deployment.chainId), logger });
        const authorization = new StageAuthorization({
          isEligibleInferrer: (peer, versionId) => workers.isEligibleInferrer(peer, versionId),
          requestState: (requestId) => market.requestState(requestId),
        });
        const tls = shardHostTls(ctx.config);
        server = new ShardServer({
          ...(tls === undefined ? {} : { tls }),
          signer: ctx.signer,
          chainId: BigInt(ctx.deployment.chainId),
          shardRegistry: address,
          runner: batching,
          // One batch computing and the next one gathering; more are told to try another host (429).
          maxConcurrent: 2 * Math.max(4, maxBatch),
          // One caller (a hostile claimant included) holds at most half of them: the others keep being served.
          maxConcurrentPerPeer: Math.max(4, maxBatch),
          hostname: ctx.config.shardHostBind,
          port: ctx.config.shardHostPort,
          logger,
          // Stages for staked inference workers of the version, on requests on chain: nobody else gets free compute.
          authorize: (peer, requestId, versionId) => authorization.authorize(peer, requestId, versionId),
          peerRefusal: (peer) => served.refusal(peer),
          onServed: (stage) => served.record(stage),
        });
        endpoint = await server.start();
        await settlement.start(); // after the server: a host that cannot listen leaves no timer behind
      } catch (err) {
        // A service whose start fails is not stopped: what it started goes now (the models, their thread).
        await server?.stop().catch(() => undefined);
        server = undefined;
        batching = undefined;
        await runner.dispose();
        runner = undefined;
        throw err;
      }
      if (hosted.length === 0) logger.warn({ host: me, endpoint }, "this worker announced no shard: it serves none (see `npx hardhat host announce`)");
      else logger.info({ host: me, endpoint, shards: hosted, stageThread: thread }, "serving shards");
    },
    stop: async () => {
      await server?.stop();
      server = undefined; // the router stops running stages here before the models go
      batching = undefined;
      await settlement?.stop();
      await runner?.dispose();
    },
  };
}

/** The shards `host` announces now, by version (from its HostAnnounced events, kept if still announced). */
async function announcedShards(registry: ShardRegistry, host: string, fromBlock: number): Promise<Map<bigint, number[]>> {
  const events = await registry.queryFilter(registry.filters.HostAnnounced(undefined, undefined, host), fromBlock);
  const seen = new Set<string>();
  const byVersion = new Map<bigint, number[]>();
  for (const e of events) {
    const versionId = e.args.modelVersionId;
    const shardIndex = Number(e.args.shardIndex);
    const key = `${versionId}:${shardIndex}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const record = await registry.hostRecord(host, versionId, shardIndex);
    if (BigInt(record.status) !== ANNOUNCED) continue;
    byVersion.set(versionId, [...(byVersion.get(versionId) ?? []), shardIndex]);
  }
  return byVersion;
}
