/**
 * The worker daemon's composition root for a real chain: `npm run worker`.
 * Reads the typed config (.env / environment), connects to the chain with the worker's key,
 * resolves Redis and IPFS, selects the best TensorFlow.js backend, and runs the WorkerDaemon
 * until SIGINT/SIGTERM, which stop intake, drain in-flight jobs and close every resource.
 */
import { resolve } from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import { ConfigError, loadConfig } from "./config.js";
import { loadDeployment } from "./Deployment.js";
import { TesseraError } from "./errors.js";
import { createContentStore } from "./ipfs/createContentStore.js";
import { installSignalHandlers, ServiceGroup } from "./lifecycle/ServiceGroup.js";
import { createLogger } from "./logger.js";
import { selectBackend } from "./ml/backend.js";
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

  const deployment = loadDeployment(resolve(config.deployment!));
  const provider = new JsonRpcProvider(config.rpcUrl, undefined, { staticNetwork: true, polling: true });
  provider.pollingInterval = config.pollIntervalMs; // receipts are awaited at the chain-polling cadence
  const network = await provider.getNetwork();
  if (Number(network.chainId) !== deployment.chainId) {
    throw new TesseraError(`RPC chain id ${network.chainId} does not match the deployment's ${deployment.chainId}`, { code: "CONFIG" });
  }
  const signer = new Wallet(config.workerKey!, provider);
  const backend = await selectBackend(config.tfBackend);
  logger.info({ backend: backend.name, skipped: backend.skipped }, "TensorFlow.js backend selected");

  const redis = await resolveRedis({ redisUrl: config.redisUrl, dataDir: config.dataDir, logger });
  const store = await createContentStore({ ipfsApiUrl: config.ipfsApiUrl, ipfsDir: resolve(config.dataDir, "ipfs") });
  logger.info({ redis: redis.source, ipfs: store.kind, worker: signer.address, chainId: deployment.chainId, roles: config.roles }, "worker starting");

  const roles = { listener: config.roles.includes("listener"), processor: config.roles.includes("processor"), validator: config.roles.includes("validator"), trainer: config.roles.includes("trainer"), evaluator: config.roles.includes("evaluator") };
  const encryption = config.encryptionKey === undefined ? {} : { encryptionPrivateKey: config.encryptionKey };
  const daemon = new WorkerDaemon({ config, deployment, provider, signer, redisUrl: redis.url, store, logger, roles, ...encryption });
  const root = new ServiceGroup(
    "tessera-worker",
    [
      { name: "redis", start: async () => undefined, stop: () => redis.stop() },
      { name: "content-store", start: async () => undefined, stop: () => store.close() },
      daemon,
      { name: "provider", start: async () => undefined, stop: async () => provider.destroy() },
    ],
    { logger },
  );
  installSignalHandlers(root, logger);
  await root.start();
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError || err instanceof TesseraError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  console.error(`tessera-worker: ${message}`);
  process.exit(1);
});
