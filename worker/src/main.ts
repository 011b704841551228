/**
 * The worker daemon's composition root for a real chain: `npm run worker`.
 * Reads the typed config (.env / environment), connects to the chain with the worker's key,
 * refuses a deployment without code, checks what the chain lets this key serve, resolves Redis and
 * IPFS, selects the best TensorFlow.js backend, and runs the WorkerDaemon (with /healthz and
 * /metrics when METRICS_PORT is set) until SIGINT/SIGTERM. Shutdown goes in dependency order:
 * monitoring, then the daemon (listeners, then consumers drain, transactions included), then
 * the readiness checks, the chain provider, the content store and Redis.
 */
import { resolve } from "node:path";
import { Wallet } from "ethers";
import { createRpcProvider } from "./chain/RpcProvider.js";
import { AccountNonceManager } from "./chain/AccountNonceManager.js";
import { installWasmKeccak } from "./chain/WasmKeccak.js";
import { ConfigError, loadConfig } from "./config.js";
import { loadDeployment } from "./Deployment.js";
import { TesseraError } from "./errors.js";
import { createContentStore } from "./ipfs/createContentStore.js";
import { installSignalHandlers, ServiceGroup } from "./lifecycle/ServiceGroup.js";
import type { Service } from "./lifecycle/Service.js";
import { createLogger } from "./logger.js";
import { MonitoringService } from "./metrics/MonitoringService.js";
import { selectBackend } from "./ml/backend.js";
import { checkDeploymentCode } from "./ops/DeploymentCode.js";
import { WorkerReadiness, type ChainRole } from "./ops/WorkerReadiness.js";
import { resolveRedis } from "./redis/RedisConnection.js";
import { WorkerDaemon } from "./WorkerDaemon.js";

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: "tessera-worker" });
  const missing = [
    config.rpcUrl === undefined ? "TESSERA_RPC_URL" : undefined,
    config.workerKey === undefined ? "TESSERA_WORKER_KEY" : undefined,
    config.deployment === undefined ? "TESSERA_DEPLOYMENT" : undefined,
  ].filter((k) => k !== undefined);
  if (missing.length > 0) throw new TesseraError(`the worker needs ${missing.join(", ")} (see .env.example)`, { code: "CONFIG" });
  // A rejection nobody awaited must not kill a draining daemon: log it and go on.
  process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled rejection"));

  installWasmKeccak();
  const deployment = loadDeployment(resolve(config.deployment!));
  const provider = createRpcProvider(config.rpcUrl!, { timeoutMs: config.rpcTimeoutMs, pollIntervalMs: config.pollIntervalMs });
  const network = await provider.getNetwork();
  if (Number(network.chainId) !== deployment.chainId) {
    throw new TesseraError(`RPC chain id ${network.chainId} does not match the deployment's ${deployment.chainId}`, { code: "CONFIG" });
  }
  await checkDeploymentCode(provider, deployment);
  const signer = new Wallet(config.workerKey!, provider);
  const backend = await selectBackend(config.tfBackend);
  logger.info({ backend: backend.name, skipped: backend.skipped }, "TensorFlow.js backend selected");

  const redis = await resolveRedis({ redisUrl: config.redisUrl, dataDir: config.dataDir, logger });
  const store = await createContentStore({ ipfsApiUrl: config.ipfsApiUrl, ipfsDir: resolve(config.dataDir, "ipfs") });

  const roles = { listener: config.roles.includes("listener"), processor: config.roles.includes("processor"), validator: config.roles.includes("validator"), trainer: config.roles.includes("trainer"), evaluator: config.roles.includes("evaluator"), shardHost: config.roles.includes("shard-host") };
  const encryption = config.encryptionKey === undefined ? {} : { encryptionPrivateKey: config.encryptionKey };
  const daemon = new WorkerDaemon({ config, deployment, provider, signer, redisUrl: redis.url, store, logger, roles, ...encryption });
  logger.info({ redis: redis.source, ipfs: store.kind, worker: signer.address, chainId: deployment.chainId, roles: config.roles, confirmations: daemon.confirmations }, "worker starting");
  const readiness = new WorkerReadiness({
    provider,
    deployment,
    worker: signer.address,
    roles: config.roles.filter((r): r is ChainRole => r !== "listener" && r !== "shard-host"),
    blockRange: config.blockRange,
    logger,
  });
  const services: Service[] = [
    { name: "redis", start: async () => undefined, stop: () => redis.stop() },
    { name: "content-store", start: async () => undefined, stop: () => store.close() },
    { name: "provider", start: async () => undefined, stop: async () => provider.destroy() },
    readiness,
    daemon,
  ];
  if (config.metricsPort !== 0) {
    services.push(
      new MonitoringService({
        port: config.metricsPort,
        host: config.metricsHost,
        redisUrl: redis.url,
        queuePrefix: config.queuePrefix,
        provider,
        chainId: deployment.chainId,
        daemon,
        readiness,
        account: await AccountNonceManager.of(signer),
        backend: backend.name,
        logger,
      }),
    );
  }
  // Stopped in reverse: monitoring, the daemon (intake, then drain), readiness, then what they all use.
  const root = new ServiceGroup("tessera-worker", services, { logger });
  installSignalHandlers(root, logger);
  await root.start();
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError || err instanceof TesseraError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  console.error(`tessera-worker: ${message}`);
  process.exit(1);
});
