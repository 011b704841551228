import { EventEmitter } from "node:events";
import type { Provider, Signer } from "ethers";
import type { RedisNonceLock } from "./RedisNonceLock.js";
import { SerialExecutor } from "./SerialExecutor.js";

/** What happened to one of the account's transactions, for logs and metrics. */
export interface AccountTxEvents {
  /** The next nonce will be read from the chain again (a dropped or timed-out transaction, a nonce error). */
  resync: [{ readonly address: string; readonly reason: string }];
  /** A transaction reached its confirmations; `feeWei` = gasUsed × effective gas price. */
  mined: [{ readonly method: string; readonly hash: string; readonly gasUsed: bigint; readonly feeWei: bigint }];
  /** A transaction was mined but failed (out of gas, or a revert): its fee is spent all the same. */
  failed: [{ readonly method: string; readonly hash: string; readonly gasUsed: bigint; readonly feeWei: bigint; readonly reason: "out-of-gas" | "reverted" }];
  /** A pending transaction was re-sent with the same nonce and higher fees. */
  replaced: [{ readonly method: string; readonly nonce: number; readonly oldHash: string; readonly newHash: string }];
  /** A transaction vanished from the chain and the node's pool (dropped, or reorged out); it is sent again. */
  dropped: [{ readonly method: string; readonly hash: string; readonly nonce: number }];
}

/** How this key's transactions are sent unless a TxSender says otherwise (set once by the daemon for every role). */
export interface AccountTxPolicy {
  /** Depth of a transaction before `send` resolves (a job is done only once its effect is this deep). */
  readonly confirmations?: number;
  /** A transaction pending this long is replaced with higher fees. */
  readonly replaceAfterMs?: number;
}

const managers = new WeakMap<Provider, Map<string, AccountNonceManager>>();

/** Sends one turn of the cross-process nonce lock may carry. */
const MAX_SENDS_PER_TURN = 8;

/**
 * The one nonce source of an account on one chain connection, shared by every TxSender of the
 * process that signs with that key (inference, validation and training roles alike), so that two
 * roles never hand out the same nonce. Nonces are assigned inside `serial`, so assignment and
 * broadcast never interleave; `resync()` makes the next assignment read the chain's pending count
 * again (after a dropped transaction, a timeout or a nonce error) instead of going on above it.
 */
export class AccountNonceManager extends EventEmitter<AccountTxEvents> {
  readonly serial = new SerialExecutor();
  #next: number | undefined;
  #resyncs = 0;
  #policy: AccountTxPolicy = {};
  #lock: RedisNonceLock | undefined;
  /** Set by a fault: this process's next turn of the cross-process lock reads the chain's pending count (the lock's stale mark tells the others). */
  #readChain = false;
  /** Sends waiting for the next turn of the cross-process lock (the first is the one a turn is queued for). */
  readonly #queued: { send: () => Promise<unknown>; resolve: (value: unknown) => void; reject: (err: unknown) => void }[] = [];

  private constructor(
    readonly provider: Provider,
    readonly address: string,
  ) {
    super();
  }

  /** The manager of `signer`'s account on `signer.provider` (created on first use). */
  static async of(signer: Signer): Promise<AccountNonceManager> {
    const provider = signer.provider;
    if (provider === null) throw new TypeError("AccountNonceManager: the signer must be connected to a provider");
    const address = (await signer.getAddress()).toLowerCase();
    let byAddress = managers.get(provider);
    if (byAddress === undefined) managers.set(provider, (byAddress = new Map()));
    let manager = byAddress.get(address);
    if (manager === undefined) byAddress.set(address, (manager = new AccountNonceManager(provider, address)));
    return manager;
  }

  get policy(): AccountTxPolicy {
    return this.#policy;
  }

  /** Sets the key's transaction policy: every TxSender of the key without its own setting follows it. */
  configure(policy: AccountTxPolicy): void {
    this.#policy = { ...policy };
  }

  /**
   * Shares the key with other processes of the operator (processor processes on other hosts): from now on every
   * assignment-and-broadcast also holds `lock`, and takes its nonce from where the lock's previous holder left
   * off (another process may have sent in between), not from this process's own count.
   */
  shareAcrossProcesses(lock: RedisNonceLock): void {
    this.#lock = lock;
  }

  /** Stops using `lock` (its daemon stopped and closed its Redis connection); another daemon's lock stays. */
  unshare(lock: RedisNonceLock): void {
    if (this.#lock === lock) this.#lock = undefined;
  }

  /**
   * Runs `send` (take a nonce, sign, broadcast) exclusively: within this process, and across processes if shared.
   * Shared, one turn of the lock serves every send of this process queued by the time it comes (up to
   * `MAX_SENDS_PER_TURN`, so that the other processes get theirs): one lock round trip for all of them. The
   * turn starts from the next nonce the previous holder left with the lock; after a fault seen by any process of
   * the operator (a dropped transaction, a failed broadcast, a nonce error, a receipt timeout), or on an idle key,
   * from the chain's pending count, read afresh.
   */
  exclusive<T>(send: () => Promise<T>): Promise<T> {
    const lock = this.#lock;
    if (lock === undefined) return this.serial.run(send);
    return new Promise<T>((resolve, reject) => {
      this.#queued.push({ send, resolve: resolve as (value: unknown) => void, reject });
      if (this.#queued.length === 1) void this.serial.run(() => this.#turn(lock));
    });
  }

  /** One turn of the cross-process lock: the queued sends, in order; the next turn is queued if any are left. */
  async #turn(lock: RedisNonceLock): Promise<void> {
    if (this.#queued.length === 0) return;
    try {
      await lock.run(async (turn) => {
        // Where the last holder left off, unless this process saw a fault since its last turn: then the chain says.
        this.#next = this.#readChain ? undefined : turn.storedNext;
        this.#readChain = false;
        for (let n = 0; n < MAX_SENDS_PER_TURN && this.#queued.length > 0; n++) {
          const queued = this.#queued[0];
          try {
            queued.resolve(await queued.send());
          } catch (err) {
            queued.reject(err);
          } finally {
            this.#queued.shift();
          }
        }
        turn.next = this.#next;
      });
    } catch (err) {
      // The lock was not had (held elsewhere too long, Redis down): every send still waiting fails, retryably.
      for (const queued of this.#queued.splice(0)) queued.reject(err);
    }
    if (this.#queued.length > 0) void this.serial.run(() => this.#turn(lock));
  }

  /** Times the nonce was re-read from the chain after a fault. */
  get resyncs(): number {
    return this.#resyncs;
  }

  /** The nonce for the next transaction; call inside `serial`, and `resync()` if it never reached the node. */
  async take(): Promise<number> {
    this.#next ??= await this.#pendingCount();
    return this.#next++;
  }

  /** The chain's pending transaction count, read past ethers' 250 ms request cache where the provider allows. */
  async #pendingCount(): Promise<number> {
    const rpc = this.provider as Provider & { send?: (method: string, params: unknown[]) => Promise<string> };
    if (typeof rpc.send === "function") return Number(await rpc.send("eth_getTransactionCount", [this.address, "pending"]));
    return this.provider.getTransactionCount(this.address, "pending");
  }

  resync(reason: string): void {
    this.#next = undefined;
    this.#readChain = true;
    // Every process of the operator: the next turn, whoever takes it, reads the chain.
    this.#lock?.markStale().catch(() => undefined);
    this.#resyncs++;
    this.emit("resync", { address: this.address, reason });
  }
}
