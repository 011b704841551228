import { EventEmitter } from "node:events";
import type { Queue, JobsOptions } from "bullmq";
import type { BaseContract, Interface, Log, LogDescription, Provider } from "ethers";
import type { Redis } from "ioredis";
import { silentLogger, type Logger } from "../logger.js";
import { toEventPayload, type EventPayload } from "./EventPayload.js";

export interface ListenerSource {
  /** Label carried in every payload (e.g. "InferenceMarket"). */
  readonly name: string;
  readonly contract: BaseContract | { readonly address: string; readonly interface: Interface };
  /** Event names (or full signatures) to enqueue. */
  readonly events: readonly string[];
}

export interface ChainListenerOptions {
  readonly provider: Provider;
  readonly sources: readonly ListenerSource[];
  /** Receives one job per event: name = event name, data = EventPayload. */
  readonly queue: Queue;
  readonly redis: Redis;
  /** Redis key holding the last block whose events are all enqueued. */
  readonly cursorKey: string;
  /** First block to scan when no cursor is stored yet (the contracts' deployment block). */
  readonly startBlock: number;
  /** Blocks to stay behind the head; 0 acts on the latest block. */
  readonly confirmations: number;
  /** Most blocks per `eth_getLogs`. */
  readonly blockRange: number;
  readonly pollIntervalMs: number;
  /** Extra BullMQ options for each job (the jobId is always set by the listener). */
  readonly jobOptions?: Omit<JobsOptions, "jobId">;
  readonly logger?: Logger;
}

export interface ChainListenerStats {
  /** Last block whose events are all enqueued; startBlock - 1 before the first chunk. */
  readonly cursor: number | undefined;
  /** Latest block seen on the chain. */
  readonly latestBlock: number | undefined;
  /** Blocks between the latest block and the cursor (confirmations included). */
  readonly lag: number | undefined;
  readonly blocksScanned: number;
  readonly eventsEnqueued: number;
  readonly polls: number;
  readonly pollErrors: number;
}

export interface ChunkEnqueued {
  readonly fromBlock: number;
  readonly toBlock: number;
  readonly events: readonly EventPayload[];
}

interface ChainListenerEvents {
  chunk: [ChunkEnqueued];
  /** A poll failed; the loop goes on and retries at the next interval. */
  pollError: [unknown];
}

/**
 * BullMQ forbids ':' in custom job ids (it separates Redis key parts; bullmq >= 5.58.7 throws
 * "Custom Id cannot contain :"), so the deterministic id is `txHash-logIndex` rather than
 * `txHash:logIndex`.
 */
export function eventJobId(txHash: string, logIndex: number): string {
  return `${txHash.toLowerCase()}-${logIndex}`;
}

interface ResolvedSource {
  readonly name: string;
  readonly address: string;
  readonly iface: Interface;
  readonly topics: ReadonlySet<string>;
}

/**
 * Turns contract events into queue jobs: polls for blocks `confirmations` behind the head, reads
 * their logs in chunks of at most `blockRange` blocks, enqueues each event under a deterministic
 * job id, and only then advances the cursor persisted in Redis. A crash replays at most one
 * chunk, and the replay adds nothing because the job ids already exist.
 */
export class ChainListener extends EventEmitter<ChainListenerEvents> {
  readonly #options: ChainListenerOptions;
  readonly #logger: Logger;
  #sources: Map<string, ResolvedSource[]> | undefined;
  #cursor: number | undefined;
  #latestBlock: number | undefined;
  #blocksScanned = 0;
  #eventsEnqueued = 0;
  #polls = 0;
  #pollErrors = 0;
  #running = false;
  #stopRequested = false;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  /** The running loop's current poll, bookkeeping included. */
  #tickDone: Promise<void> | undefined;

  constructor(options: ChainListenerOptions) {
    super();
    if (!Number.isInteger(options.confirmations) || options.confirmations < 0) throw new RangeError("confirmations must be an integer >= 0");
    if (!Number.isInteger(options.blockRange) || options.blockRange < 1) throw new RangeError("blockRange must be an integer >= 1");
    if (!Number.isInteger(options.startBlock) || options.startBlock < 0) throw new RangeError("startBlock must be an integer >= 0");
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: "ChainListener" });
  }

  get stats(): ChainListenerStats {
    return {
      cursor: this.#cursor,
      latestBlock: this.#latestBlock,
      lag: this.#latestBlock !== undefined && this.#cursor !== undefined ? this.#latestBlock - this.#cursor : undefined,
      blocksScanned: this.#blocksScanned,
      eventsEnqueued: this.#eventsEnqueued,
      polls: this.#polls,
      pollErrors: this.#pollErrors,
    };
  }

  /** Starts polling now and every `pollIntervalMs` after each poll ends. Idempotent. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#stopRequested = false;
    this.#logger.info({ cursorKey: this.#options.cursorKey }, "chain listener started");
    this.#tick();
  }

  /** Stops polling and waits for the poll in flight (it ends after its current chunk). Idempotent. */
  async stop(): Promise<void> {
    const wasRunning = this.#running;
    this.#running = false;
    this.#stopRequested = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#tickDone;
    await this.#inFlight;
    this.#stopRequested = false;
    if (wasRunning) this.#logger.info(this.stats, "chain listener stopped");
  }

  /**
   * One poll: enqueues the events of every confirmed block after the cursor. Exposed for tests and
   * one-shot tools; joins the poll in flight rather than running two at once. Throws on failure.
   */
  pollOnce(): Promise<void> {
    this.#inFlight ??= this.#poll().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  #tick(): void {
    if (!this.#running) return;
    this.#tickDone = this.pollOnce()
      .catch((err: unknown) => {
        this.#pollErrors++;
        this.#logger.warn({ err, cursor: this.#cursor }, "poll failed; retrying at the next interval");
        this.emit("pollError", err);
      })
      .finally(() => {
        if (this.#running) this.#timer = setTimeout(() => this.#tick(), this.#options.pollIntervalMs);
      });
  }

  async #poll(): Promise<void> {
    const { provider, redis, cursorKey, confirmations, blockRange } = this.#options;
    this.#polls++;
    const sources = await this.#resolveSources();
    if (this.#cursor === undefined) {
      const stored = await redis.get(cursorKey);
      this.#cursor = stored === null ? this.#options.startBlock - 1 : Number.parseInt(stored, 10);
      this.#logger.info({ cursor: this.#cursor, resumed: stored !== null }, "listener cursor loaded");
    }
    this.#latestBlock = await provider.getBlockNumber();
    const head = this.#latestBlock - confirmations;

    const addresses = [...sources.keys()];
    const topics = [...new Set([...sources.values()].flat().flatMap((s) => [...s.topics]))];
    // Stop between chunks when asked to, so stop() waits for at most one chunk.
    while (this.#cursor < head && !this.#stopRequested) {
      const fromBlock = this.#cursor + 1;
      const toBlock = Math.min(head, fromBlock + blockRange - 1);
      const logs = await provider.getLogs({ fromBlock, toBlock, address: addresses, topics: [topics] });
      const events = this.#decode(logs, sources);
      if (events.length > 0) {
        await this.#options.queue.addBulk(
          events.map((e) => ({
            name: e.event,
            data: e,
            opts: { ...this.#options.jobOptions, jobId: eventJobId(e.txHash, e.logIndex) },
          })),
        );
      }
      await redis.set(cursorKey, String(toBlock));
      this.#cursor = toBlock;
      this.#blocksScanned += toBlock - fromBlock + 1;
      this.#eventsEnqueued += events.length;
      if (events.length > 0) this.#logger.debug({ fromBlock, toBlock, events: events.length }, "events enqueued");
      this.emit("chunk", { fromBlock, toBlock, events });
    }
  }

  #decode(logs: readonly Log[], sources: Map<string, ResolvedSource[]>): EventPayload[] {
    const events: EventPayload[] = [];
    for (const log of logs) {
      if (log.removed) continue;
      for (const source of sources.get(log.address.toLowerCase()) ?? []) {
        if (!source.topics.has(log.topics[0] ?? "")) continue;
        let parsed: LogDescription | null = null;
        try {
          parsed = source.iface.parseLog(log);
        } catch (err) {
          this.#logger.warn({ err, txHash: log.transactionHash, logIndex: log.index }, "undecodable log skipped");
        }
        if (parsed !== null) {
          events.push(toEventPayload(source.name, log, parsed));
          break;
        }
      }
    }
    return events.sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);
  }

  async #resolveSources(): Promise<Map<string, ResolvedSource[]>> {
    if (this.#sources !== undefined) return this.#sources;
    const byAddress = new Map<string, ResolvedSource[]>();
    for (const source of this.#options.sources) {
      const contract = source.contract;
      const address = ("getAddress" in contract ? await contract.getAddress() : contract.address).toLowerCase();
      const iface = contract.interface;
      const topics = new Set<string>();
      for (const name of source.events) {
        const fragment = iface.getEvent(name);
        if (fragment === null) throw new Error(`ChainListener: source ${source.name} has no event ${name}`);
        topics.add(fragment.topicHash);
      }
      byAddress.set(address, [...(byAddress.get(address) ?? []), { name: source.name, address, iface, topics }]);
    }
    this.#sources = byAddress;
    return byAddress;
  }
}
