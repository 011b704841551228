import { TesseraError } from "../errors.js";
import { silentLogger, type Logger } from "../logger.js";
import { HostBackoff } from "./HostBackoff.js";
import type { SignedStage } from "./StageSignature.js";

/** A host of one shard and where it takes activations (ShardRegistry.hostsOf). */
export interface ShardHostEntry {
  readonly host: string;
  readonly endpoint: string;
}

/** One stage to run on a host. */
export interface StageCall {
  readonly requestId: bigint;
  readonly versionId: bigint;
  readonly shardIndex: number;
  readonly inputHash: string;
  /** Stage 0 of a request whose input came by CID: the CID's bytes (what the request's inputHash hashes). */
  readonly inputRef?: Uint8Array;
  readonly input: Uint8Array;
}

/** How stages reach hosts (ShardClient over HTTP/2); errors carry `retryable`. */
export interface StageTransport {
  runStage(endpoint: string, expectedHost: string, stage: StageCall, options?: { timeoutMs?: number }): Promise<{ output: Uint8Array; stage: SignedStage }>;
}

/** No host of a shard could run its stage: the request cannot be served now (the tasks name the shard). */
export class NoLiveHostError extends TesseraError {
  constructor(
    readonly versionId: bigint,
    readonly shardIndex: number,
    readonly tried: readonly string[],
  ) {
    super(
      tried.length === 0
        ? `shard ${shardIndex} of version ${versionId} has no announced host`
        : `no host of shard ${shardIndex} of version ${versionId} could run its stage (tried ${tried.join(", ")})`,
      { code: "NO_LIVE_SHARD_HOST" },
    );
  }
}

export interface ShardRouterOptions {
  readonly transport: StageTransport;
  /** The hosts announced now for a shard (read from the chain; cached by the caller if it wants). */
  readonly hostsOf: (versionId: bigint, shardIndex: number) => Promise<readonly ShardHostEntry[]>;
  readonly backoff?: HostBackoff;
  /**
   * The host to try first for a shard, if announced and not in back-off: this worker itself where it hosts the shard
   * in its own process (LocalFirstStages), so its stage crosses no hop.
   */
  readonly preferredHost?: (versionId: bigint, shardIndex: number) => string | undefined;
  /** Longest wait for one stage on one host before the next host is tried (default 30 s). */
  readonly stageTimeoutMs?: number;
  readonly logger?: Logger;
}

/** A request's run through every shard: the answer and the signed stages `fulfillSharded` takes. */
export interface RoutedRun {
  readonly output: Uint8Array;
  readonly stages: SignedStage[];
  /** Stages run again on another host after a failure. */
  readonly replays: number;
}

/**
 * Routes a request through the hosts of every shard of a sharded version, in order: each stage goes to a host of its
 * shard (those that failed lately last, those in back-off skipped while another is left); a host that fails (down,
 * slow, overloaded, or answering with a bad signature or hash) is put in back-off and the stage is replayed from the
 * same input on the next host. Requests routed concurrently are in different stages on different hosts at once
 * (pipeline parallelism).
 */
export class ShardRouter {
  readonly #o: ShardRouterOptions;
  readonly #backoff: HostBackoff;
  readonly #logger: Logger;

  constructor(options: ShardRouterOptions) {
    this.#o = options;
    this.#backoff = options.backoff ?? new HostBackoff();
    this.#logger = options.logger ?? silentLogger;
  }

  get backoff(): HostBackoff {
    return this.#backoff;
  }

  async run(request: { requestId: bigint; versionId: bigint; shardCount: number; input: Uint8Array; inputHash: string; inputRef?: Uint8Array }): Promise<RoutedRun> {
    const stages: SignedStage[] = [];
    let input = request.input;
    let inputHash = request.inputHash;
    let replays = 0;
    for (let shardIndex = 0; shardIndex < request.shardCount; shardIndex++) {
      const call: StageCall = {
        requestId: request.requestId,
        versionId: request.versionId,
        shardIndex,
        inputHash,
        input,
        ...(shardIndex === 0 && request.inputRef !== undefined ? { inputRef: request.inputRef } : {}),
      };
      const { result, attempts } = await this.#runStage(call);
      replays += attempts - 1;
      stages.push(result.stage);
      input = result.output;
      inputHash = result.stage.outputHash;
    }
    return { output: input, stages, replays };
  }

  async #runStage(call: StageCall): Promise<{ result: { output: Uint8Array; stage: SignedStage }; attempts: number }> {
    const announced = await this.#o.hostsOf(call.versionId, call.shardIndex);
    const preferred = this.#backoff.order(announced);
    const mine = this.#o.preferredHost?.(call.versionId, call.shardIndex)?.toLowerCase();
    const own = mine === undefined ? -1 : preferred.findIndex((h) => h.host.toLowerCase() === mine);
    if (own > 0) preferred.unshift(...preferred.splice(own, 1));
    // Hosts in back-off are the last resort, not excluded: a shard whose every host failed lately may have recovered.
    const candidates = [...preferred, ...announced.filter((h) => !preferred.includes(h))];
    const tried: string[] = [];
    for (const candidate of candidates) {
      tried.push(candidate.host);
      try {
        const result = await this.#o.transport.runStage(candidate.endpoint, candidate.host, call, { timeoutMs: this.#o.stageTimeoutMs ?? 30_000 });
        this.#backoff.succeed(candidate.host);
        return { result, attempts: tried.length };
      } catch (err) {
        this.#backoff.fail(candidate.host);
        this.#logger.warn(
          { requestId: call.requestId.toString(), versionId: call.versionId.toString(), shard: call.shardIndex, host: candidate.host, endpoint: candidate.endpoint, err: (err as Error).message },
          "shard host failed its stage: trying the next host",
        );
      }
    }
    throw new NoLiveHostError(call.versionId, call.shardIndex, tried);
  }
}
