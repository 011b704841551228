import type { Provider } from "ethers";
import type { InferenceMarket } from "../../../typechain-types/index.js";
import type { Logger } from "../logger.js";
import type { ServedStages, UnpaidStage } from "./ServedStages.js";

export interface FulfilmentSettlementOptions {
  readonly market: InferenceMarket;
  readonly provider: Provider;
  readonly served: ServedStages;
  readonly pollIntervalMs: number;
  /** Most blocks per log query. */
  readonly blockRange: number;
  /** Blocks a fulfilment must be under before it is judged (a reorg can replace a fulfilment read at the head). */
  readonly confirmations: number;
  readonly logger: Logger;
  /** Each unpaid stage found (the caller is refused by then). */
  readonly onUnpaid?: (stage: UnpaidStage) => void;
}

/**
 * A shard host's reading of the market's sharded fulfilments as blocks come (from the head at start: only requests
 * whose stages it answers from now on concern it): each `ShardedFulfilmentPaid` of a request it answered a stage of
 * is joined with that transaction's `InferenceFulfilled` (the claimant) and settled against its ServedStages. A failed
 * read is retried from the same block next time. Fulfilments are judged once `confirmations` blocks deep (the
 * worker's CONFIRMATIONS); a deeper reorg is local policy's risk: at worst this host refuses a peer for a while.
 */
export class FulfilmentSettlement {
  readonly #o: FulfilmentSettlementOptions;
  #next?: number;
  #timer?: NodeJS.Timeout;
  #running?: Promise<void>;
  #stopped = false;

  constructor(options: FulfilmentSettlementOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    this.#next = Math.max(0, (await this.#o.provider.getBlockNumber()) - this.#o.confirmations) + 1;
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Reads every block mined since the last read (tests call it to settle at once). */
  async poll(): Promise<UnpaidStage[]> {
    const { market, provider, served, blockRange } = this.#o;
    const head = (await provider.getBlockNumber()) - this.#o.confirmations;
    const found: UnpaidStage[] = [];
    while (this.#next !== undefined && this.#next <= head) {
      const to = Math.min(head, this.#next + blockRange - 1);
      const paid = await market.queryFilter(market.filters.ShardedFulfilmentPaid(), this.#next, to);
      for (const log of paid) {
        const requestId = log.args.requestId;
        if (!served.served(requestId)) continue;
        const fulfilled = await market.queryFilter(market.filters.InferenceFulfilled(requestId), log.blockNumber, log.blockNumber);
        const claimant = fulfilled.find((f) => f.transactionHash === log.transactionHash)?.args.worker;
        if (claimant === undefined) continue;
        for (const stage of served.settle(requestId, claimant, log.args.hosts)) {
          this.#o.logger.warn(
            { requestId: requestId.toString(), shard: stage.shardIndex, peer: stage.peer, claimant, paid: stage.paid },
            "a peer was given this host's stage and another host was paid for it: refused for a while",
          );
          this.#o.onUnpaid?.(stage);
          found.push(stage);
        }
      }
      this.#next = to + 1;
    }
    return found;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.poll()
        .then(() => undefined)
        .catch((err: unknown) => this.#o.logger.warn({ err }, "shard host: reading fulfilments failed; retried next poll"))
        .finally(() => this.#schedule());
    }, this.#o.pollIntervalMs);
  }
}
