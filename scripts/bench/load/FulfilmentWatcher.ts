import type { EIP1193Provider } from "hardhat/types/providers";
import type { InferenceMarket } from "../../../typechain-types/index.js";
import { EventDecoder } from "../../../worker/src/chain/EventDecoder.js";

export interface SeenFulfilment {
  /** Wall-clock time the first `InferenceFulfilled` of the request was seen. */
  readonly seenAtMs: number;
  /** How many `InferenceFulfilled` events the request has: exactly once means 1. */
  count: number;
  readonly worker: string;
  readonly txHash: string;
}

/**
 * Follows the market's `InferenceFulfilled` events from one block on, polling `eth_getLogs` every
 * `pollMs` (as a dApp would), and keeps, per request id, when it was first seen and how many
 * fulfilments it has. Runs beside the senders, so open-loop runs see fulfilments while sending.
 */
export class FulfilmentWatcher {
  readonly seen = new Map<bigint, SeenFulfilment>();
  #next: number;
  #running = true;
  #error: unknown;
  readonly #loop: Promise<void>;
  readonly #decoder: EventDecoder;

  constructor(
    readonly provider: EIP1193Provider,
    readonly market: InferenceMarket,
    fromBlock: number,
    readonly pollMs = 20,
  ) {
    this.#next = fromBlock;
    this.#decoder = new EventDecoder(market.interface, ["InferenceFulfilled"]);
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const address = await this.market.getAddress();
    const topic = this.market.interface.getEvent("InferenceFulfilled").topicHash;
    while (this.#running) {
      try {
        const head = Number(await this.provider.request({ method: "eth_blockNumber" }));
        if (head >= this.#next) {
          const logs = (await this.provider.request({
            method: "eth_getLogs",
            params: [{ address, topics: [topic], fromBlock: `0x${this.#next.toString(16)}`, toBlock: `0x${head.toString(16)}` }],
          })) as { topics: string[]; data: string; transactionHash: string }[];
          const now = Date.now();
          for (const log of logs) {
            const id = BigInt(log.topics[1]);
            const known = this.seen.get(id);
            if (known !== undefined) known.count += 1;
            else {
              const parsed = this.#decoder.decode(log)!;
              this.seen.set(id, { seenAtMs: now, count: 1, worker: parsed.args.worker as string, txHash: log.transactionHash });
            }
          }
          this.#next = head + 1;
        }
      } catch (err) {
        this.#error = err;
        this.#running = false;
        return;
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  /** Waits until every id was seen fulfilled, or `timeoutMs` passed; returns the ids still missing. */
  async waitFor(ids: Iterable<bigint>, timeoutMs: number): Promise<bigint[]> {
    const until = Date.now() + timeoutMs;
    let missing = [...ids].filter((id) => !this.seen.has(id));
    while (missing.length > 0 && Date.now() < until) {
      if (this.#error !== undefined) throw this.#error;
      await new Promise((r) => setTimeout(r, this.pollMs));
      missing = missing.filter((id) => !this.seen.has(id));
    }
    return missing;
  }

  /** The first block not scanned yet. */
  get nextBlock(): number {
    return this.#next;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    if (this.#error !== undefined) throw this.#error;
  }
}
