import {
  BaseWallet,
  keccak256,
  type BaseContract,
  type Interface,
  type Provider,
  type Signer,
  type TransactionReceipt,
  type TransactionRequest,
} from "ethers";
import { fullJitterDelay, sleep } from "../Backoff.js";
import {
  ContractRevertError,
  RetryableError,
  UnrecoverableError,
  classifyError,
  decodeRevert,
  formatRevert,
  isNonceError,
  minedHashOf,
  revertDataOf,
} from "../errors.js";
import { silentLogger, type Logger } from "../logger.js";
import { AccountNonceManager } from "./AccountNonceManager.js";
import { OUT_OF_GAS_SHARE_PERMILLE, OutOfGas, RevertedThenPassed, TransactionDropped, bump, maxOf, withHeadroom } from "./GasAndRetries.js";
import { headBlockNumber } from "./ChainHead.js";
import { signEip1559 } from "./FastTransactionSigning.js";

export interface TxSenderOptions {
  /** A signer connected to a provider. Every TxSender of one key shares that key's AccountNonceManager. */
  readonly signer: Signer;
  /** Every contract interface of the project, so reverts bubbling up from callees are named too. */
  readonly interfaces?: readonly Interface[];
  /**
   * Blocks, counting the one holding the tx, before `send` resolves (at least 1): a caller's work is
   * done only once its effect is this deep. A transaction reorged out meanwhile is sent again.
   * Default: the key's policy (`AccountNonceManager.configure`, set by the daemon), else 1.
   */
  readonly confirmations?: number;
  /** Attempts for retryable failures, the first included. Default 5. */
  readonly maxAttempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Per wait for the receipt; a timeout resyncs the nonce and waits again for the same nonce. Default 120 s. */
  readonly receiptTimeoutMs?: number;
  /** A transaction still pending after this long is re-sent with the same nonce and fees 12.5 % higher. Default: the key's policy, else 60 s. */
  readonly replaceAfterMs?: number;
  /** How often the receipt is looked for. Default: the provider's polling interval, or 1 s. */
  readonly pollIntervalMs?: number;
  /**
   * Percent added to the node's gas estimate (default 20; at least MIN_GAS_HEADROOM gas). The estimate is taken against the latest block; by the
   * time the transaction is mined other transactions may have moved the state it reads (a batch's first write to a
   * slot costs 20k more than a later one), and a limit cut to the estimate runs out of gas.
   */
  readonly gasHeadroomPercent?: number;
  readonly logger?: Logger;
}

export interface SendOptions {
  readonly value?: bigint;
  readonly gasLimit?: bigint;
  /**
   * The block the simulation runs in (default "latest"). "pending" sees what the transaction will see once
   * mined, e.g. the hash of the latest block (`blockhash(block.number - 1)`), which a call in "latest" cannot read.
   */
  readonly simulateAt?: "latest" | "pending";
  /**
   * Gas added to the limit on top of the estimate and its headroom: what the call may need on chain beyond what its
   * simulation used (the market's fulfilment reserves each requester callback's whole budget).
   */
  readonly extraGas?: bigint;
}

export interface SendResult {
  /** The transaction that was mined: the last replacement when the first one was stuck. */
  readonly hash: string;
  readonly nonce: number;
  readonly receipt: TransactionReceipt;
  readonly gasUsed: bigint;
  /** Attempts made, the successful one included. */
  readonly attempts: number;
  /** When each step of the last attempt ended (epoch ms), for latency traces. */
  readonly timings: SendTimings;
}

/** Epoch-ms marks of one send: where a transaction's latency goes. */
export interface SendTimings {
  /** `send` called. */
  readonly startedAt: number;
  /** Simulated, its gas estimated and its fees read: the transaction is ready but for its nonce. */
  readonly simulatedAt: number;
  /** The key's nonce turn came (in-process queue and cross-process lock). */
  readonly lockedAt: number;
  /** Broadcast accepted by the node. */
  readonly sentAt: number;
  /** Receipt accepted at the required depth. */
  readonly minedAt: number;
}

/** One nonce's transaction in flight: every version sent (replacements), newest last. */
interface InFlight {
  readonly nonce: number;
  tx: TransactionRequest;
  readonly hashes: string[];
  lastSentAt: number;
  /** When the nonce was taken (the key's turn came), and when its first version was broadcast. */
  readonly lockedAt: number;
  readonly sentAt: number;
}

/**
 * Sends contract transactions for one signer: simulates each with `staticCall` (a revert becomes a
 * `ContractRevertError` naming the custom error, and nothing is sent), takes its nonce from the
 * key's shared AccountNonceManager, and waits until the receipt is `confirmations` deep. On the way:
 * a transaction pending longer than `replaceAfterMs` is replaced (same nonce, fees +12.5 %); one
 * that vanished (dropped by the node, or reorged out) resyncs the nonce and is simulated and sent
 * again; timeouts and nonce errors resync the nonce. Only retryable failures are retried, with
 * full-jitter exponential backoff.
 */
export class TxSender {
  readonly signer: Signer;
  readonly #provider: Provider;
  readonly #interfaces: readonly Interface[];
  readonly #confirmations: number | undefined;
  readonly #maxAttempts: number;
  readonly #backoff: { baseDelayMs: number; maxDelayMs: number };
  readonly #receiptTimeoutMs: number;
  readonly #replaceAfterMs: number | undefined;
  readonly #pollIntervalMs: number;
  readonly #gasHeadroomPercent: bigint;
  readonly #logger: Logger;
  #account: Promise<AccountNonceManager> | undefined;

  constructor(options: TxSenderOptions) {
    if (options.signer.provider === null) throw new TypeError("TxSender: the signer must be connected to a provider");
    this.signer = options.signer;
    this.#provider = options.signer.provider;
    this.#interfaces = options.interfaces ?? [];
    this.#confirmations = options.confirmations;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#backoff = { baseDelayMs: options.baseDelayMs ?? 250, maxDelayMs: options.maxDelayMs ?? 10_000 };
    this.#receiptTimeoutMs = options.receiptTimeoutMs ?? 120_000;
    this.#replaceAfterMs = options.replaceAfterMs;
    const providerPolling = (this.#provider as { pollingInterval?: unknown }).pollingInterval;
    this.#pollIntervalMs = options.pollIntervalMs ?? (typeof providerPolling === "number" ? providerPolling : 1_000);
    const headroom = options.gasHeadroomPercent ?? 20;
    if (!Number.isInteger(headroom) || headroom < 0) throw new RangeError("gasHeadroomPercent must be an integer >= 0");
    this.#gasHeadroomPercent = BigInt(headroom);
    this.#logger = options.logger ?? silentLogger;
  }

  getAddress(): Promise<string> {
    return this.signer.getAddress();
  }

  /** The nonce manager of this sender's key (shared with every other TxSender of the key). */
  account(): Promise<AccountNonceManager> {
    this.#account ??= AccountNonceManager.of(this.signer);
    return this.#account;
  }

  async send(contract: BaseContract, method: string, args: readonly unknown[], options: SendOptions = {}): Promise<SendResult> {
    const account = await this.account();
    const fn = (contract.connect(this.signer) as BaseContract).getFunction(method);
    const overrides: { value?: bigint; gasLimit?: bigint } = {};
    if (options.value !== undefined) overrides.value = options.value;
    if (options.gasLimit !== undefined) overrides.gasLimit = options.gasLimit;
    const interfaces = [contract.interface, ...this.#interfaces];
    const log = this.#logger.child({ contract: await contract.getAddress(), method });

    const startedAt = Date.now();
    let simulatedAt = startedAt;
    let inFlight: InFlight | undefined;
    // Doubled (plus 20 points) after each out-of-gas failure.
    let headroom = this.#gasHeadroomPercent;
    let revertedBefore = false;
    for (let attempt = 1; ; attempt++) {
      try {
        if (inFlight === undefined) {
          const call = await this.#prepare(fn, args, overrides, options, headroom);
          simulatedAt = Date.now();
          inFlight = await account.exclusive(() => this.#broadcast(account, call));
          log.info({ txHash: inFlight.hashes[0], nonce: inFlight.nonce, attempt }, "transaction sent");
        }
        const receipt = await this.#awaitFinal(account, method, inFlight, log);
        if (receipt.status !== 1) await this.#explainFailure({ fn, args, overrides, options, inFlight, receipt, method, interfaces, account, revertedBefore });
        const timings = { startedAt, simulatedAt, lockedAt: inFlight.lockedAt, sentAt: inFlight.sentAt, minedAt: Date.now() };
        const feeWei = receipt.gasUsed * receipt.gasPrice;
        account.emit("mined", { method, hash: receipt.hash, gasUsed: receipt.gasUsed, feeWei });
        log.info({ txHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed.toString() }, "transaction mined");
        return { hash: receipt.hash, nonce: inFlight.nonce, receipt, gasUsed: receipt.gasUsed, attempts: attempt, timings };
      } catch (err) {
        if (err instanceof TransactionDropped) inFlight = undefined; // simulate and send anew
        if (err instanceof RevertedThenPassed) {
          inFlight = undefined; // the nonce is spent: simulated and sent anew, once (a second such failure is final)
          revertedBefore = true;
        }
        if (err instanceof OutOfGas) {
          inFlight = undefined; // the nonce is spent: a new transaction with a fresh estimate and more headroom
          headroom = headroom * 2n + 20n; // 20 % -> 60 % -> 140 % ..., capped at the block's gas limit
        }
        if (err instanceof UnrecoverableError) throw err;
        if (classifyError(err) === "unrecoverable") throw this.#unrecoverable(method, args, err, interfaces);
        if (isNonceError(err)) account.resync(`nonce error: ${(err as Error).message.slice(0, 120)}`);
        if (attempt >= this.#maxAttempts) {
          throw new RetryableError(`${method}: gave up after ${attempt} attempts: ${(err as Error).message}`, {
            code: "TX_RETRIES_EXHAUSTED",
            cause: err,
          });
        }
        const delay = fullJitterDelay(attempt, this.#backoff);
        log.warn({ err, attempt, delayMs: delay, txHash: inFlight?.hashes.at(-1) }, "transaction failed, retrying");
        await sleep(delay);
      }
    }
  }

  /**
   * Simulates the call and, in the same round of requests, reads the fees: the transaction comes out complete
   * but for its nonce, so that the key's turn (which every process of the operator waits for) is spent on the
   * nonce, the signature and the broadcast alone. The gas estimate is the simulation (`eth_estimateGas` runs the
   * call and fails with its revert data as `eth_call` does): one execution of a large batch in the node, not two.
   * A call simulated in the pending block, or sent with a gas limit of its own, is simulated with `eth_call`.
   */
  async #prepare(
    fn: ReturnType<BaseContract["getFunction"]>,
    args: readonly unknown[],
    overrides: { value?: bigint; gasLimit?: bigint },
    options: SendOptions,
    headroomPercent: bigint,
  ): Promise<TransactionRequest> {
    // Encoded once (a batch's calldata is large): the simulation and the estimate use the same request.
    const call: TransactionRequest = await fn.populateTransaction(...args, overrides);
    const estimateOnly = call.gasLimit == null && options.simulateAt !== "pending";
    const [simulated, gas, fees] = await Promise.allSettled([
      estimateOnly ? Promise.resolve() : this.signer.call(options.simulateAt === "pending" ? { ...call, blockTag: "pending" } : call),
      call.gasLimit == null ? this.signer.estimateGas(call) : Promise.resolve(BigInt(call.gasLimit)),
      this.#provider.getFeeData(),
    ]);
    // The simulation's error names the revert; the others' only matter when it passed.
    if (simulated.status === "rejected") throw simulated.reason;
    if (gas.status === "rejected") throw gas.reason;
    // A limit the caller set is kept as it is; an estimate gets the headroom, at least MIN_GAS_HEADROOM.
    let gasLimit = (call.gasLimit == null ? withHeadroom(gas.value, headroomPercent) : gas.value) + (options.extraGas ?? 0n);
    if (headroomPercent > this.#gasHeadroomPercent) {
      // Raised after running out of gas: never above what a block holds (the node would refuse it).
      const block = await this.#provider.getBlock("latest");
      if (block !== null && gasLimit > block.gasLimit) gasLimit = block.gasLimit;
    }
    const prepared: TransactionRequest = { ...call, gasLimit };
    if (fees.status === "fulfilled" && call.gasPrice == null && call.maxFeePerGas == null) {
      const { maxFeePerGas, maxPriorityFeePerGas } = fees.value;
      // EIP-1559 fees as ethers would fill them in; without them (a legacy chain) ethers asks for the gas price itself.
      if (maxFeePerGas != null && maxPriorityFeePerGas != null) Object.assign(prepared, { type: 2, maxFeePerGas, maxPriorityFeePerGas });
    }
    return prepared;
  }

  /** Takes a nonce, signs and broadcasts (inside the account's exclusive turn); gas and fees are already filled in. */
  async #broadcast(account: AccountNonceManager, call: TransactionRequest): Promise<InFlight> {
    const lockedAt = Date.now();
    const nonce = await account.take();
    let tx: TransactionRequest | undefined;
    const sending: { expectedHash?: string } = {};
    try {
      tx = await this.signer.populateTransaction({ ...call, nonce });
      const hash = await this.#sendRaw(tx, sending);
      const sentAt = Date.now();
      return { nonce, tx, hashes: [hash], lastSentAt: sentAt, lockedAt, sentAt };
    } catch (err) {
      // A development node that mines on send (Hardhat's automine) answers a transaction that failed in its block with
      // an error carrying the hash: it was mined, the nonce is spent, and its receipt tells what happened.
      // Only if that hash is this very transaction (the signed bytes' hash; for a node-held key, the node's record of
      // this key's transaction of this nonce, to and data): an error naming another must not pass for ours.
      const minedHash = minedHashOf(err);
      const ours = minedHash !== undefined && tx !== undefined && (sending.expectedHash !== undefined ? minedHash === sending.expectedHash : await this.#isOurs(minedHash, nonce, tx));
      if (tx !== undefined && minedHash !== undefined && ours) {
        const sentAt = Date.now();
        return { nonce, tx, hashes: [minedHash], lastSentAt: sentAt, lockedAt, sentAt };
      }
      // The nonce was handed out but may never have reached the node: re-read it before the next send.
      account.resync(`broadcast failed: ${(err as Error).message.slice(0, 120)}`);
      throw err;
    }
  }

  /** Whether the node knows `hash` as this key's transaction of this nonce, to the same address with the same data. */
  async #isOurs(hash: string, nonce: number, tx: TransactionRequest): Promise<boolean> {
    const [known, address] = await Promise.all([this.#provider.getTransaction(hash).catch(() => null), this.signer.getAddress()]);
    return (
      known !== null &&
      known.nonce === nonce &&
      known.from.toLowerCase() === address.toLowerCase() &&
      (known.to ?? "").toLowerCase() === String(tx.to ?? "").toLowerCase() &&
      known.data.toLowerCase() === String(tx.data ?? "0x").toLowerCase()
    );
  }

  /**
   * Signs and broadcasts a complete transaction; returns its hash. A local key signs here and the signed bytes go
   * out as they are (`eth_sendRawTransaction`): ethers' `sendTransaction` would also recover the sender from the
   * signature and build a response object, CPU the worker does not need on every claim and fulfilment. Other
   * signers (a node's account) send through ethers.
   */
  async #sendRaw(tx: TransactionRequest, sending: { expectedHash?: string }): Promise<string> {
    const rpc = this.#provider as Provider & { send?: (method: string, params: unknown[]) => Promise<unknown> };
    if (!(this.signer instanceof BaseWallet) || typeof rpc.send !== "function") return (await this.signer.sendTransaction(tx)).hash;
    const signed = signEip1559(this.signer, tx) ?? (await this.signer.signTransaction(tx));
    // Hashed from the bytes (ethers would first turn a batch's tens of kilobytes of hex into bytes a pair at a time).
    sending.expectedHash = keccak256(Buffer.from(signed.slice(2), "hex"));
    const returned = await rpc.send("eth_sendRawTransaction", [signed]);
    // The hash is the signed bytes' own: a node (or proxy) answering another one is not believed, or the receipt wait
    // would look for a transaction that does not exist, call it dropped and send the call again.
    if (typeof returned === "string" && returned.toLowerCase() !== sending.expectedHash) {
      this.#logger.warn({ expected: sending.expectedHash, returned }, "the node answered another hash for a transaction: tracking the signed bytes' own");
    }
    return sending.expectedHash;
  }

  /**
   * Waits until one version of `inFlight` is mined `confirmations` deep, replacing it when stuck.
   * Throws TransactionDropped when no version is mined or pending any more.
   */
  async #awaitFinal(account: AccountNonceManager, method: string, inFlight: InFlight, log: Logger): Promise<TransactionReceipt> {
    const deadline = Date.now() + this.#receiptTimeoutMs;
    const confirmations = Math.max(1, this.#confirmations ?? account.policy.confirmations ?? 1);
    const replaceAfterMs = this.#replaceAfterMs ?? account.policy.replaceAfterMs ?? 60_000;
    for (;;) {
      let mined: TransactionReceipt | null = null;
      for (const hash of [...inFlight.hashes].reverse()) {
        mined = await this.#provider.getTransactionReceipt(hash);
        if (mined !== null) break;
      }
      if (mined !== null) {
        // A failed transaction is final at once: the caller (`send`) works out why.
        if (mined.status !== 1) return mined;
        // A receipt is one confirmation by itself; deeper ones need the head, read past ethers' request cache.
        if (confirmations <= 1 || (await headBlockNumber(this.#provider)) - mined.blockNumber + 1 >= confirmations) return mined;
      } else {
        const known = await Promise.all(inFlight.hashes.map((h) => this.#provider.getTransaction(h)));
        if (known.every((t) => t === null)) {
          const hash = inFlight.hashes.at(-1)!;
          account.emit("dropped", { method, hash, nonce: inFlight.nonce });
          account.resync(`transaction ${hash} dropped`);
          log.warn({ txHash: hash, nonce: inFlight.nonce }, "transaction vanished from the chain and the pool (dropped or reorged out): sending it again");
          throw new TransactionDropped(hash);
        }
        if (Date.now() - inFlight.lastSentAt >= replaceAfterMs) await this.#replace(account, method, inFlight, log);
      }
      if (Date.now() > deadline) {
        account.resync(`no receipt for ${inFlight.hashes.at(-1)} after ${this.#receiptTimeoutMs} ms`);
        throw new RetryableError(`no final receipt for ${inFlight.hashes.at(-1)} after ${this.#receiptTimeoutMs} ms`, { code: "TX_RECEIPT_TIMEOUT" });
      }
      await sleep(this.#pollIntervalMs);
    }
  }

  /**
   * A transaction that was mined but failed; its fee is counted (`failed`). Out of gas (it used nearly all its limit):
   * OutOfGas, sent again with a larger estimate. Otherwise the call is simulated again against the block after it,
   * with the mined transaction's gas limit and fees (so that a revert the limit or the gas price caused shows again):
   * a revert there is the reason, named (unrecoverable); a pass means the state moved between the simulation and the
   * mining (RevertedThenPassed), sent again once; failing on chain a second time after passing its simulation, it is
   * not sent again (a call whose simulation cannot be trusted costs a fee each time).
   */
  async #explainFailure(f: {
    fn: ReturnType<BaseContract["getFunction"]>;
    args: readonly unknown[];
    overrides: { value?: bigint; gasLimit?: bigint };
    options: SendOptions;
    inFlight: InFlight;
    receipt: TransactionReceipt;
    method: string;
    interfaces: readonly Interface[];
    account: AccountNonceManager;
    revertedBefore: boolean;
  }): Promise<never> {
    const { fn, args, overrides, options, inFlight, receipt, method, interfaces } = f;
    const gasLimit = BigInt(inFlight.tx.gasLimit ?? 0n);
    const outOfGas = overrides.gasLimit === undefined && gasLimit > 0n && receipt.gasUsed * 1000n >= gasLimit * OUT_OF_GAS_SHARE_PERMILLE;
    f.account.emit("failed", { method, hash: receipt.hash, gasUsed: receipt.gasUsed, feeWei: receipt.gasUsed * receipt.gasPrice, reason: outOfGas ? "out-of-gas" : "reverted" });
    this.#logger.warn({ method, txHash: receipt.hash, gasUsed: receipt.gasUsed.toString(), gasLimit: gasLimit.toString() }, "transaction failed on chain");
    if (outOfGas) throw new OutOfGas(receipt.hash, receipt.gasUsed, gasLimit);
    const call: TransactionRequest = await fn.populateTransaction(...args, overrides);
    const { tx } = inFlight;
    const asMined: TransactionRequest = { ...call, gasLimit, ...(tx.maxFeePerGas != null ? { maxFeePerGas: tx.maxFeePerGas, maxPriorityFeePerGas: tx.maxPriorityFeePerGas } : tx.gasPrice != null ? { gasPrice: tx.gasPrice } : {}) };
    try {
      await this.signer.call(options.simulateAt === "pending" ? { ...asMined, blockTag: "pending" } : asMined);
    } catch (err) {
      if (classifyError(err) === "unrecoverable") throw this.#unrecoverable(method, args, err, interfaces);
      throw err;
    }
    if (f.revertedBefore) {
      throw new ContractRevertError(`${method} failed on chain twice (${receipt.hash}) though its simulation passes: not sent again`, { revert: null });
    }
    throw new RevertedThenPassed(receipt.hash);
  }

  /** Re-sends the stuck transaction with the same nonce and both fee fields at least 12.5 % higher. */
  async #replace(account: AccountNonceManager, method: string, inFlight: InFlight, log: Logger): Promise<void> {
    const tx = inFlight.tx;
    const market = await this.#provider.getFeeData();
    let fees: Partial<TransactionRequest>;
    if (tx.maxFeePerGas != null && tx.maxPriorityFeePerGas != null) {
      const maxPriorityFeePerGas = maxOf(bump(BigInt(tx.maxPriorityFeePerGas)), market.maxPriorityFeePerGas);
      const maxFeePerGas = maxOf(maxOf(bump(BigInt(tx.maxFeePerGas)), market.maxFeePerGas), maxPriorityFeePerGas);
      fees = { maxFeePerGas, maxPriorityFeePerGas };
    } else {
      fees = { gasPrice: maxOf(bump(BigInt(tx.gasPrice ?? 0n)), market.gasPrice) };
    }
    const replacement = { ...tx, ...fees };
    try {
      const sent = await this.signer.sendTransaction(replacement);
      const oldHash = inFlight.hashes.at(-1)!;
      inFlight.hashes.push(sent.hash);
      inFlight.tx = replacement;
      account.emit("replaced", { method, nonce: inFlight.nonce, oldHash, newHash: sent.hash });
      log.warn({ nonce: inFlight.nonce, oldHash, txHash: sent.hash, ...Object.fromEntries(Object.entries(fees).map(([k, v]) => [k, String(v)])) }, "transaction stuck: replaced with higher fees");
    } catch (err) {
      // The old one may have been mined meanwhile ("nonce too low"), or the node wants a larger bump: look again.
      log.warn({ err, nonce: inFlight.nonce }, "replacement not accepted");
    }
    inFlight.lastSentAt = Date.now();
  }

  #unrecoverable(method: string, args: readonly unknown[], err: unknown, interfaces: readonly Interface[]): UnrecoverableError {
    const data = revertDataOf(err);
    const revert = decodeRevert(data, interfaces);
    if (revert !== null || data !== undefined) {
      const reason = revert !== null ? formatRevert(revert) : `unknown error data ${data}`;
      const error = new ContractRevertError(`${method}(${args.map(String).join(", ")}) reverts: ${reason}`, {
        revert,
        revertData: data,
        cause: err,
      });
      this.#logger.warn({ method, revert: reason }, "transaction would revert; not sent");
      return error;
    }
    return new UnrecoverableError(`${method}: ${(err as Error).message}`, { cause: err });
  }
}
