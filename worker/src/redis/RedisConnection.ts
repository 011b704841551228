import { join } from "node:path";
import { Redis, type RedisOptions } from "ioredis";
import { TesseraError } from "../errors.js";
import { silentLogger, type Logger } from "../logger.js";
import { PrivateRedisServer, findOnPath } from "./PrivateRedisServer.js";

export const LOCAL_REDIS_URL = "redis://127.0.0.1:6379";

export interface RedisConnectionOptions {
  /**
   * For BullMQ `Worker`s (and QueueEvents): blocking commands must wait out reconnects, so
   * `maxRetriesPerRequest` is null. Producers keep ioredis' default and fail fast instead.
   */
  readonly forWorker?: boolean;
  readonly connectionName?: string;
}

/** An ioredis client set up the way BullMQ asks for. */
export function createRedisConnection(url: string, options: RedisConnectionOptions = {}): Redis {
  const redisOptions: RedisOptions = { connectionName: options.connectionName };
  if (options.forWorker) redisOptions.maxRetriesPerRequest = null;
  return new Redis(url, redisOptions);
}

/** True when a Redis at `url` answers PING within `timeoutMs`; otherwise the error met. */
export async function pingRedis(url: string, timeoutMs = 1_000): Promise<true | Error> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const reply = await client.ping();
    return reply === "PONG" ? true : new Error(`unexpected PING reply ${reply}`);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  } finally {
    client.disconnect();
  }
}

export interface ResolvedRedis {
  readonly url: string;
  /** Where it came from: REDIS_URL, the conventional local port, or a server we started. */
  readonly source: "REDIS_URL" | "local" | "private";
  /** Stops the private server if we started one; a no-op otherwise. */
  stop(): Promise<void>;
}

export interface ResolveRedisOptions {
  readonly redisUrl?: string;
  /** The private server's working folder goes under `<dataDir>/redis`. */
  readonly dataDir: string;
  readonly localUrl?: string;
  /** PATH to look for redis-server on (tests). */
  readonly path?: string;
  readonly logger?: Logger;
}

/**
 * Finds a Redis for the worker: REDIS_URL when set (and it must answer), else 127.0.0.1:6379 when
 * something answers there, else a private redis-server started from PATH.
 */
export async function resolveRedis(options: ResolveRedisOptions): Promise<ResolvedRedis> {
  const logger = options.logger ?? silentLogger;
  const noop = async () => undefined;
  if (options.redisUrl !== undefined && options.redisUrl !== "") {
    const ping = await pingRedis(options.redisUrl, 3_000);
    if (ping !== true) {
      throw new TesseraError(`REDIS_URL=${redact(options.redisUrl)} is unreachable: ${ping.message}`, {
        code: "REDIS_UNREACHABLE",
        cause: ping,
      });
    }
    return { url: options.redisUrl, source: "REDIS_URL", stop: noop };
  }
  const localUrl = options.localUrl ?? LOCAL_REDIS_URL;
  if ((await pingRedis(localUrl, 500)) === true) {
    logger.info({ url: localUrl }, "using the local Redis");
    return { url: localUrl, source: "local", stop: noop };
  }
  const binary = findOnPath("redis-server", options.path ?? process.env.PATH ?? "");
  if (binary === undefined) {
    throw new TesseraError(
      `No Redis reachable: REDIS_URL is not set, nothing answers at ${localUrl}, and redis-server is not on PATH. ` +
        "Install redis-server (e.g. apt-get install redis-server) or set REDIS_URL.",
      { code: "REDIS_UNAVAILABLE" },
    );
  }
  const server = await PrivateRedisServer.start({ binary, dir: join(options.dataDir, "redis") });
  logger.info({ url: server.url }, "started a private redis-server");
  return { url: server.url, source: "private", stop: () => server.stop() };
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}
