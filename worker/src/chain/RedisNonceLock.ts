import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { RetryableError } from "../errors.js";

/** Deletes the lock only if this holder still owns it (a holder whose lease ran out must not free another's). */
const RELEASE = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;

/**
 * A lease in Redis (SET NX PX, released by compare-and-delete) that serializes nonce assignment and broadcast
 * across the processes of one operator signing with one key: without it two processor processes read the same
 * pending count and send two transactions with one nonce. The lease expires by itself if its holder dies.
 */
export class RedisNonceLock {
  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly options: { readonly leaseMs?: number; readonly waitMs?: number } = {},
  ) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const token = randomUUID();
    const leaseMs = this.options.leaseMs ?? 15_000;
    const until = Date.now() + (this.options.waitMs ?? 60_000);
    while ((await this.redis.set(this.key, token, "PX", leaseMs, "NX")) !== "OK") {
      if (Date.now() > until) throw new RetryableError(`nonce lock ${this.key} still held by another process`, { code: "NONCE_LOCK_TIMEOUT" });
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
    }
    try {
      return await fn();
    } finally {
      await this.redis.eval(RELEASE, 1, this.key, token).catch(() => undefined);
    }
  }
}
