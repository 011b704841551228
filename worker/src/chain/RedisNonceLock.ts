import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { RetryableError } from "../errors.js";

/** Takes the lease if free and returns, in the same round trip, the next nonce the last holder left (if any). */
const ACQUIRE = `if redis.call("set", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  local next = redis.call("get", KEYS[2])
  if next then return {1, next} end
  return {1}
end
return {0}`;

/**
 * Frees the lease only if this holder still owns it (a holder whose lease ran out must not free another's), and
 * leaves the next nonce for the following holder: the higher of the one stored and this holder's (a holder that
 * re-read a lower count from the chain to fill a gap must not take the others back over nonces in flight).
 */
const RELEASE = `if redis.call("get", KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= "" then
  local stored = tonumber(redis.call("get", KEYS[2]) or "-1")
  local next = tonumber(ARGV[2])
  if stored > next then next = stored end
  redis.call("set", KEYS[2], next, "PX", ARGV[3])
end
return redis.call("del", KEYS[1])`;

/** One holder's turn of the lock. */
export interface NonceTurn {
  /** The next nonce as the previous holder left it; undefined when none is stored (first use, or it expired). */
  readonly storedNext: number | undefined;
  /** Set by the holder: the next nonce after what it sent, left for the following holder. */
  next: number | undefined;
}

export interface RedisNonceLockOptions {
  /** The lease's life: a holder that died frees it after this long. Default 15 s. */
  readonly leaseMs?: number;
  /** Longest wait for the lease before failing (retryably). Default 60 s. */
  readonly waitMs?: number;
  /**
   * How long a next nonce left in Redis is trusted (default 30 s): after that (an idle key, perhaps used
   * elsewhere meanwhile), the next holder reads the chain's pending count again.
   */
  readonly nextTtlMs?: number;
}

/**
 * A lease in Redis (SET NX PX, released by compare-and-delete) that serializes nonce assignment and broadcast
 * across the processes of one operator signing with one key: without it two processor processes read the same
 * pending count and send two transactions with one nonce. The lease expires by itself if its holder dies.
 *
 * The lease carries the next nonce from one holder to the next (`<key>:next`), so that a turn does not begin with
 * a round trip to the chain for the pending count; a holder whose process saw a fault (a dropped transaction, a
 * nonce error) reads the chain instead, as an idle key's first holder does (see AccountNonceManager).
 */
export class RedisNonceLock {
  readonly nextKey: string;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly options: RedisNonceLockOptions = {},
  ) {
    this.nextKey = `${key}:next`;
  }

  async run<T>(fn: (turn: NonceTurn) => Promise<T>): Promise<T> {
    const token = randomUUID();
    const leaseMs = this.options.leaseMs ?? 15_000;
    const until = Date.now() + (this.options.waitMs ?? 60_000);
    let pause = 2;
    let acquired: [number, string?];
    while ((acquired = (await this.redis.eval(ACQUIRE, 2, this.key, this.nextKey, token, leaseMs)) as [number, string?])[0] !== 1) {
      if (Date.now() > until) throw new RetryableError(`nonce lock ${this.key} still held by another process`, { code: "NONCE_LOCK_TIMEOUT" });
      // A turn lasts one or a few broadcasts: look again soon, a little later each time, never in step with the others.
      await new Promise((r) => setTimeout(r, pause * (0.5 + Math.random())));
      pause = Math.min(20, pause * 1.5);
    }
    const turn: NonceTurn = { storedNext: acquired[1] === undefined ? undefined : Number(acquired[1]), next: undefined };
    try {
      return await fn(turn);
    } finally {
      const next = turn.next === undefined ? "" : String(turn.next);
      await this.redis.eval(RELEASE, 2, this.key, this.nextKey, token, next, this.options.nextTtlMs ?? 30_000).catch(() => undefined);
    }
  }
}
