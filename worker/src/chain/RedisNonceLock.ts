import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { RetryableError } from "../errors.js";

/**
 * Takes the lease if free and returns, in the same round trip, the next nonce the last holder left, unless a
 * process saw a fault since (the stale mark, consumed here): then none, and the holder reads the chain.
 */
const ACQUIRE = `if redis.call("set", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  if redis.call("del", KEYS[3]) == 1 then return {1} end
  local next = redis.call("get", KEYS[2])
  if next then return {1, next} end
  return {1}
end
return {0}`;

/**
 * Frees the lease only if this holder still owns it (a holder whose lease ran out must not free another's), and
 * leaves its next nonce for the following holder.
 */
const RELEASE = `if redis.call("get", KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= "" then redis.call("set", KEYS[2], ARGV[2], "PX", ARGV[3]) end
return redis.call("del", KEYS[1])`;

/**
 * The lock's key for one account on one chain. A chain is named by its id and its genesis block's hash: a local node
 * restarted with the same chain id (Anvil, `hardhat node`) is a new chain with new nonces, and must not be handed the
 * next nonce a holder left for the old one (the node would park every transaction above its own count).
 */
export function nonceLockKey(prefix: string, chainId: bigint | number, genesisHash: string, address: string): string {
  return `${prefix}:nonce-lock:${chainId}:${genesisHash.toLowerCase()}:${address.toLowerCase()}`;
}

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
 * a round trip to the chain for the pending count; after a fault in any process (`markStale`), and on an idle key
 * (the next nonce expires), the holder reads the chain instead (see AccountNonceManager).
 */
export class RedisNonceLock {
  readonly nextKey: string;
  readonly staleKey: string;

  constructor(
    private readonly redis: Redis,
    readonly key: string,
    private readonly options: RedisNonceLockOptions = {},
  ) {
    this.nextKey = `${key}:next`;
    this.staleKey = `${key}:stale`;
  }

  /**
   * A process of the operator saw a fault (a dropped transaction, a failed broadcast, a nonce error, a receipt
   * timeout): the next holder, whichever process it is, reads the chain's pending count instead of the next nonce
   * left with the lock, as every holder did before the lock carried it. A nonce given up (a dropped transaction not
   * sent again) is so taken by the next send of any process, not left as a gap in front of everyone's.
   */
  async markStale(): Promise<void> {
    await this.redis.set(this.staleKey, "1", "PX", 600_000);
  }

  async run<T>(fn: (turn: NonceTurn) => Promise<T>): Promise<T> {
    const token = randomUUID();
    const leaseMs = this.options.leaseMs ?? 15_000;
    const until = Date.now() + (this.options.waitMs ?? 60_000);
    let pause = 2;
    let acquired: [number, string?];
    while ((acquired = (await this.redis.eval(ACQUIRE, 3, this.key, this.nextKey, this.staleKey, token, leaseMs)) as [number, string?])[0] !== 1) {
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
