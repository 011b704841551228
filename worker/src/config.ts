import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseDotenv } from "dotenv";
import { parseUnits } from "ethers";
import { z } from "zod";
import { TesseraError } from "./errors.js";

const emptyAsUndefined = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
const optionalUrl = z.preprocess(emptyAsUndefined, z.url().optional());
/** A yes/no setting: true, false, 1 or 0 (any case); empty means `fallback`. */
const trimmedLowercase = (v: unknown) => (typeof v === "string" ? (v.trim() === "" ? undefined : v.trim().toLowerCase()) : v);
const yesNo = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")]);
const flag = (fallback: boolean) => z.preprocess(trimmedLowercase, yesNo.default(fallback));
const int = (min: number, fallback: number) =>
  z.preprocess(emptyAsUndefined, z.coerce.number().int().min(min).default(fallback));
const optionalInt = (min: number) => z.preprocess(emptyAsUndefined, z.coerce.number().int().min(min).optional());

const schema = z.object({
  rpcUrl: optionalUrl,
  workerKey: z.preprocess(
    emptyAsUndefined,
    z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, "must be a 32-byte hex private key").optional(),
  ),
  encryptionKey: z.preprocess(
    emptyAsUndefined,
    z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, "must be a 32-byte hex secp256k1 private key").optional(),
  ),
  redisUrl: optionalUrl,
  ipfsApiUrl: optionalUrl,
  dataDir: z.preprocess(emptyAsUndefined, z.string().default(".tessera")),
  deployment: optionalString,
  /** Unset: by chain id (`defaultConfirmations`: 0 only on the embedded 31337 chain). */
  confirmations: optionalInt(0),
  /** Longest wait for one JSON-RPC answer before it counts as a (retryable) timeout. */
  rpcTimeoutMs: int(1_000, 30_000),
  /** A worker transaction still pending after this long is replaced with higher fees (same nonce). */
  txReplaceAfterMs: int(1_000, 60_000),
  /** Port of /healthz and /metrics; 0 = off. */
  metricsPort: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(0).max(65_535).default(0)),
  metricsHost: z.preprocess(emptyAsUndefined, z.string().default("127.0.0.1")),
  /**
   * With the shard-host role: serve the shards this worker announced (ShardRegistry) over HTTP/2 on this port (the
   * endpoint announced on chain must reach it).
   */
  shardHostPort: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(65_535).optional()),
  shardHostBind: z.preprocess(emptyAsUndefined, z.string().default("127.0.0.1")),
  /** Shard host: its TLS certificate and key (PEM files); required when SHARD_HOST_BIND is not a loopback address. */
  shardHostTlsCert: z.preprocess(emptyAsUndefined, z.string().optional()),
  shardHostTlsKey: z.preprocess(emptyAsUndefined, z.string().optional()),
  /** Router: extra CA certificates (a PEM file) to trust for https:// shard hosts (self-signed hosts); default the system's. */
  shardTlsCa: z.preprocess(emptyAsUndefined, z.string().optional()),
  /**
   * Shard host: the most stages of one shard run as one prediction (those that arrive while it computes; 1 = each
   * alone). On WASM only, where batched rows are bit for bit their lone outputs; other backends run stages alone.
   */
  shardHostMaxBatch: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(256).default(8)),
  /**
   * Router: the most stages sent to one shard host at once (more wait for a slot, on whichever host of the shard frees
   * one first); a host that admits fewer (max(4, its SHARD_HOST_MAX_BATCH) per caller: 8 by default) is sent fewer
   * once it answered 429 (HostSlots).
   */
  shardStagesPerHost: z.preprocess(emptyAsUndefined, z.coerce.number().int().min(1).max(256).default(8)),
  /**
   * Shard host: the shards' models run in a thread of their own (RestartingStageThread), so that a worker that also
   * routes requests (the processor role) keeps routing while its shard predicts. `auto` (default): on for a worker with
   * the processor role on the WASM or JS backend (where it is tested), off for a shard host alone (a thread costs a
   * host about 70 MB and gains it nothing on a busy machine) and on tfjs-node; true or false to choose.
   */
  shardHostThread: z.preprocess(trimmedLowercase, z.union([z.literal("auto"), yesNo]).default("auto")),
  /** Shard host: how long a caller that was given a stage and paid another host for it is refused (ServedStages). */
  shardUnpaidRefusalMs: int(0, 24 * 3_600_000),
  blockRange: int(1, 500),
  /** After a reorg, blocks at and before the common ancestor whose events are enqueued again (0 = none). */
  reorgReplayBlocks: int(0, 256),
  pollIntervalMs: int(10, 2_000),
  queuePrefix: z.preprocess(
    emptyAsUndefined,
    z.string().regex(/^[A-Za-z0-9_-]+$/, "letters, digits, '_' and '-' only").default("tessera"),
  ),
  workerConcurrency: int(1, 4),
  batchMaxSize: int(1, 16),
  batchMaxWaitMs: int(0, 50),
  /** Batches one process handles at once; unset: WORKER_CONCURRENCY / BATCH_MAX_SIZE, at least 2 (one claiming while one fulfils). */
  batchMaxInFlight: optionalInt(1),
  /** How long an idle process waits for more requests before it starts a batch (0: at once). */
  batchIdleWaitMs: int(0, 0),
  jobLockMs: int(500, 30_000),
  claimMode: z.preprocess(emptyAsUndefined, z.enum(["claim", "optimistic"]).default("claim")),
  roles: z.preprocess(
    (v) => (typeof v === "string" ? v.split(",").map((r) => r.trim()).filter((r) => r !== "") : v),
    z.array(z.enum(["listener", "processor", "validator", "trainer", "evaluator", "shard-host"])).min(1, "name at least one role").default(["listener", "processor"]),
  ),
  /** The trainer role enrolls in every new training job it is eligible for. */
  trainingAutoEnroll: flag(true),
  /** Least pay per round's update, in TSR (decimal), for the trainer to enroll in a job: below it, it does not risk its stake. */
  trainingMinPayPerRound: z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^\d+(\.\d{1,18})?$/, "a decimal amount of TSR, e.g. 1 or 0.5")
      .default("1")
      .transform((v) => parseUnits(v, 18)),
  ),
  trainingConcurrency: int(1, 2),
  /** How often the training keeper checks its jobs' deadlines (0 = off). */
  keeperIntervalMs: int(0, 15_000),
  tfBackend: z.preprocess(
    emptyAsUndefined,
    z.enum(["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu"]).default("auto"),
  ),
  logLevel: z.preprocess(
    emptyAsUndefined,
    z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  ),
});

export type Config = Readonly<z.infer<typeof schema>>;

/**
 * Inference batches one processor process handles at once: BATCH_MAX_IN_FLIGHT, else as many full
 * batches as WORKER_CONCURRENCY jobs hold, and at least 2, so that the claim of one batch overlaps
 * the fulfilment of the one before.
 */
export function batchesInFlight(config: Pick<Config, "batchMaxInFlight" | "workerConcurrency" | "batchMaxSize">): number {
  return config.batchMaxInFlight ?? Math.max(2, Math.ceil(config.workerConcurrency / config.batchMaxSize));
}

/** Settings a caller (CLI flags, the demo, tests) may override; the worker and encryption keys come from env only. */
export type ConfigOverrides = Partial<Omit<{ -readonly [K in keyof Config]: Config[K] }, "workerKey" | "encryptionKey">>;

/** The environment variable behind each setting. */
export const CONFIG_ENV_KEYS = {
  rpcUrl: "TESSERA_RPC_URL",
  workerKey: "TESSERA_WORKER_KEY",
  encryptionKey: "TESSERA_ENCRYPTION_KEY",
  redisUrl: "REDIS_URL",
  ipfsApiUrl: "IPFS_API_URL",
  dataDir: "TESSERA_DATA_DIR",
  deployment: "TESSERA_DEPLOYMENT",
  confirmations: "CONFIRMATIONS",
  rpcTimeoutMs: "RPC_TIMEOUT_MS",
  txReplaceAfterMs: "TX_REPLACE_AFTER_MS",
  metricsPort: "METRICS_PORT",
  metricsHost: "METRICS_HOST",
  shardHostPort: "SHARD_HOST_PORT",
  shardHostBind: "SHARD_HOST_BIND",
  shardHostMaxBatch: "SHARD_HOST_MAX_BATCH",
  shardStagesPerHost: "SHARD_STAGES_PER_HOST",
  shardHostThread: "SHARD_HOST_THREAD",
  shardUnpaidRefusalMs: "SHARD_UNPAID_REFUSAL_MS",
  shardHostTlsCert: "SHARD_HOST_TLS_CERT",
  shardHostTlsKey: "SHARD_HOST_TLS_KEY",
  shardTlsCa: "SHARD_TLS_CA",
  blockRange: "BLOCK_RANGE",
  reorgReplayBlocks: "REORG_REPLAY_BLOCKS",
  pollIntervalMs: "POLL_INTERVAL_MS",
  queuePrefix: "QUEUE_PREFIX",
  workerConcurrency: "WORKER_CONCURRENCY",
  batchMaxSize: "BATCH_MAX_SIZE",
  batchMaxWaitMs: "BATCH_MAX_WAIT_MS",
  batchMaxInFlight: "BATCH_MAX_IN_FLIGHT",
  batchIdleWaitMs: "BATCH_IDLE_WAIT_MS",
  jobLockMs: "JOB_LOCK_MS",
  claimMode: "CLAIM_MODE",
  roles: "WORKER_ROLES",
  trainingAutoEnroll: "TRAINING_AUTO_ENROLL",
  trainingMinPayPerRound: "TRAINING_MIN_PAY_PER_ROUND",
  trainingConcurrency: "TRAINING_CONCURRENCY",
  keeperIntervalMs: "KEEPER_INTERVAL_MS",
  tfBackend: "TF_BACKEND",
  logLevel: "LOG_LEVEL",
} as const satisfies Record<keyof Config, string>;

export interface ConfigProblem {
  /** Environment variable name of the offending setting. */
  readonly key: string;
  readonly reason: string;
}

/** Thrown by `loadConfig`; `problems` lists every invalid key, not just the first. */
export class ConfigError extends TesseraError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  ${p.key}: ${p.reason}`).join("\n")}`, {
      code: "CONFIG_INVALID",
    });
    this.problems = problems;
  }
}

export interface LoadConfigOptions {
  /** dotenv file read under the environment (never overriding it); `false` reads none. */
  readonly envFile?: string | false;
}

/**
 * Builds the worker configuration: defaults <- `.env` <- `env` <- `overrides`, validated as a whole.
 * Throws `ConfigError` naming every bad key.
 */
export function loadConfig(
  overrides: ConfigOverrides = {},
  env: NodeJS.ProcessEnv = process.env,
  options: LoadConfigOptions = {},
): Config {
  const envFile = options.envFile ?? ".env";
  const fromFile = envFile !== false && existsSync(resolve(envFile)) ? parseDotenv(readFileSync(resolve(envFile))) : {};
  const merged: NodeJS.ProcessEnv = { ...fromFile, ...env };

  const raw: Record<string, unknown> = {};
  for (const [field, envKey] of Object.entries(CONFIG_ENV_KEYS)) raw[field] = merged[envKey];
  for (const [field, value] of Object.entries(overrides)) {
    if (field === "workerKey" || field === "encryptionKey") continue;
    if (value !== undefined) raw[field] = value;
  }

  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const field = String(issue.path[0] ?? "");
      const key = CONFIG_ENV_KEYS[field as keyof Config] ?? field;
      const given = raw[field];
      const shown = field === "workerKey" || field === "encryptionKey" || given === undefined ? "" : ` (got ${JSON.stringify(given)})`;
      return { key, reason: `${issue.message}${shown}` };
    });
    throw new ConfigError(problems);
  }
  return Object.freeze(result.data);
}
