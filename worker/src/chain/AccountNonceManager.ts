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
   * assignment-and-broadcast also holds `lock`, and reads the chain's pending count afresh, since another process
   * may have sent in between.
   */
  shareAcrossProcesses(lock: RedisNonceLock): void {
    this.#lock = lock;
  }

  /** Stops using `lock` (its daemon stopped and closed its Redis connection); another daemon's lock stays. */
  unshare(lock: RedisNonceLock): void {
    if (this.#lock === lock) this.#lock = undefined;
  }

  /** Runs `send` (take a nonce, sign, broadcast) exclusively: within this process, and across processes if shared. */
  exclusive<T>(send: () => Promise<T>): Promise<T> {
    const lock = this.#lock;
    if (lock === undefined) return this.serial.run(send);
    return this.serial.run(() =>
      lock.run(async () => {
        this.#next = undefined;
        return send();
      }),
    );
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
    this.#resyncs++;
    this.emit("resync", { address: this.address, reason });
  }
}
