import {
  NonceManager,
  type BaseContract,
  type ContractTransactionResponse,
  type Interface,
  type Provider,
  type Signer,
  type TransactionReceipt,
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
  revertDataOf,
} from "../errors.js";
import { silentLogger, type Logger } from "../logger.js";
import { SerialExecutor } from "./SerialExecutor.js";

export interface TxSenderOptions {
  /** A signer connected to a provider; wrapped in a NonceManager. Use one TxSender per key. */
  readonly signer: Signer;
  /** Every contract interface of the project, so reverts bubbling up from callees are named too. */
  readonly interfaces?: readonly Interface[];
  /** Blocks, counting the one holding the tx, before `send` resolves (at least 1). Default 1. */
  readonly confirmations?: number;
  /** Attempts for retryable failures, the first included. Default 5. */
  readonly maxAttempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Per wait for the receipt; a timeout is retried by waiting again for the same hash. Default 120 s. */
  readonly receiptTimeoutMs?: number;
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
}

export interface SendResult {
  readonly hash: string;
  readonly nonce: number;
  readonly receipt: TransactionReceipt;
  readonly gasUsed: bigint;
  /** Attempts made, the successful one included. */
  readonly attempts: number;
}

/**
 * Sends contract transactions for one signer: simulates each with `staticCall` (a revert becomes a
 * `ContractRevertError` naming the custom error, and nothing is sent), serializes broadcasts so
 * concurrent callers never race on nonces, waits for the receipt, and retries only retryable
 * failures with full-jitter exponential backoff.
 */
export class TxSender {
  readonly signer: NonceManager;
  readonly #provider: Provider;
  readonly #interfaces: readonly Interface[];
  readonly #confirmations: number;
  readonly #maxAttempts: number;
  readonly #backoff: { baseDelayMs: number; maxDelayMs: number };
  readonly #receiptTimeoutMs: number;
  readonly #logger: Logger;
  readonly #serial = new SerialExecutor();

  constructor(options: TxSenderOptions) {
    if (options.signer.provider === null) throw new TypeError("TxSender: the signer must be connected to a provider");
    this.signer = options.signer instanceof NonceManager ? options.signer : new NonceManager(options.signer);
    this.#provider = options.signer.provider;
    this.#interfaces = options.interfaces ?? [];
    this.#confirmations = Math.max(1, options.confirmations ?? 1);
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#backoff = { baseDelayMs: options.baseDelayMs ?? 250, maxDelayMs: options.maxDelayMs ?? 10_000 };
    this.#receiptTimeoutMs = options.receiptTimeoutMs ?? 120_000;
    this.#logger = options.logger ?? silentLogger;
  }

  getAddress(): Promise<string> {
    return this.signer.getAddress();
  }

  async send(contract: BaseContract, method: string, args: readonly unknown[], options: SendOptions = {}): Promise<SendResult> {
    const connected = contract.connect(this.signer) as BaseContract;
    const fn = connected.getFunction(method);
    const overrides: { value?: bigint; gasLimit?: bigint } = {};
    if (options.value !== undefined) overrides.value = options.value;
    if (options.gasLimit !== undefined) overrides.gasLimit = options.gasLimit;
    const interfaces = [contract.interface, ...this.#interfaces];
    const log = this.#logger.child({ contract: await contract.getAddress(), method });

    let sent: ContractTransactionResponse | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        if (sent === undefined) {
          await fn.staticCall(...args, options.simulateAt === "pending" ? { ...overrides, blockTag: "pending" } : overrides);
          sent = await this.#serial.run(async () => {
            try {
              return await fn.send(...args, overrides);
            } catch (err) {
              // The nonce was handed out but may never have reached the node: re-read it before
              // the next queued send picks one, so no gap or collision follows.
              this.signer.reset();
              throw err;
            }
          });
          log.info({ txHash: sent.hash, nonce: sent.nonce, attempt }, "transaction sent");
        }
        const receipt = await this.#provider.waitForTransaction(sent.hash, this.#confirmations, this.#receiptTimeoutMs);
        if (receipt === null) {
          throw new RetryableError(`no receipt for ${sent.hash} after ${this.#receiptTimeoutMs} ms`, { code: "TX_RECEIPT_TIMEOUT" });
        }
        if (receipt.status !== 1) {
          throw new ContractRevertError(`${method} reverted on chain in ${sent.hash}`, { revert: null });
        }
        log.info({ txHash: sent.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed.toString() }, "transaction mined");
        return { hash: sent.hash, nonce: sent.nonce, receipt, gasUsed: receipt.gasUsed, attempts: attempt };
      } catch (err) {
        if (err instanceof UnrecoverableError) throw err;
        if (classifyError(err) === "unrecoverable") throw this.#unrecoverable(method, args, err, interfaces);
        if (isNonceError(err)) this.signer.reset();
        if (attempt >= this.#maxAttempts) {
          throw new RetryableError(`${method}: gave up after ${attempt} attempts: ${(err as Error).message}`, {
            code: "TX_RETRIES_EXHAUSTED",
            cause: err,
          });
        }
        const delay = fullJitterDelay(attempt, this.#backoff);
        log.warn({ err, attempt, delayMs: delay, txHash: sent?.hash }, "transaction failed, retrying");
        await sleep(delay);
      }
    }
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
