import type { Signer } from "ethers";
import { activationHash } from "./ActivationHash.js";
import type { StageCall, StageTransport } from "./ShardRouter.js";
import { carriesBatches, type BatchStageTransport, type StageCallOutcome } from "./StageCoalescing.js";
import type { StageRunner } from "./transport/StageAdmission.js";
import { signStage, type SignedStage } from "./StageSignature.js";

export interface LocalStagesOptions {
  /** This worker's staked address: the host a local stage is signed by. */
  readonly self: string;
  /** This worker's key (the one its shard host signs with). */
  readonly signer: Signer;
  readonly chainId: bigint;
  readonly shardRegistry: string;
  /** The shards this process hosts; undefined while it hosts none (its shard host not started, or not a host). */
  readonly runner: () => StageRunner | undefined;
  /** Every other stage: the network (ShardClient). */
  readonly remote: StageTransport;
}

/**
 * A claimant that is itself a host of a shard runs that shard's stage in its own process: no hop, no activation on
 * the wire, no session to authenticate. The stage is signed by the same key as its shard host would sign it, over the
 * same hashes, so the market checks it like any other. Stages of shards it does not host, and stages routed to
 * another host of a shard it hosts, go to the network. Issue 11: "the worker that claims a request runs or routes
 * shard 0": with two shards a request crosses one hop instead of two.
 */
export class LocalFirstStages implements BatchStageTransport {
  readonly #o: LocalStagesOptions;
  readonly #self: string;
  /** Stages run here rather than sent. */
  local = 0;

  constructor(options: LocalStagesOptions) {
    this.#o = options;
    this.#self = options.self.toLowerCase();
  }

  /** Whether this process runs `shardIndex` of `versionId` itself, under its own key. */
  hosts(versionId: bigint, shardIndex: number): boolean {
    return this.#o.runner()?.serves(versionId, shardIndex) === true;
  }

  /** The address to try first for a shard: this worker when it hosts it here. */
  preferredHost(versionId: bigint, shardIndex: number): string | undefined {
    return this.hosts(versionId, shardIndex) ? this.#o.self : undefined;
  }

  async runStage(endpoint: string, expectedHost: string, stage: StageCall, options?: { timeoutMs?: number }): Promise<{ output: Uint8Array; stage: SignedStage }> {
    const runner = this.#o.runner();
    if (expectedHost.toLowerCase() !== this.#self || runner === undefined || !runner.serves(stage.versionId, stage.shardIndex)) {
      return this.#o.remote.runStage(endpoint, expectedHost, stage, options);
    }
    // The router's own input: stage 0's bytes are the request's, later stages' the previous host's checked output.
    // Bounded like a remote stage: a shard host busy with other callers' stages must not hold the claim past its
    // deadline; the router then tries the next host (the local run finishes on its own, its result unused).
    const output = await withinTimeout(runner.run(stage.versionId, stage.shardIndex, stage.input), options?.timeoutMs, stage);
    const signed = await signStage(this.#o.signer, this.#o.chainId, this.#o.shardRegistry, {
      requestId: stage.requestId,
      modelVersionId: stage.versionId,
      shardIndex: stage.shardIndex,
      inputHash: stage.inputHash,
      outputHash: activationHash(output),
    });
    this.local++;
    return { output, stage: signed };
  }

  /**
   * Stages of one shard for one host: run here, side by side (the runner batches them into one prediction), when
   * they are this worker's own; else sent to the host in one call, or one by one where the network carries no batches.
   */
  async runStages(endpoint: string, expectedHost: string, stages: readonly StageCall[], options?: { timeoutMs?: number }): Promise<StageCallOutcome[]> {
    const first = stages[0];
    const { remote } = this.#o;
    const local = first !== undefined && expectedHost.toLowerCase() === this.#self && this.hosts(first.versionId, first.shardIndex);
    if (!local && carriesBatches(remote)) return remote.runStages(endpoint, expectedHost, stages, options);
    return Promise.all(
      stages.map((stage) =>
        this.runStage(endpoint, expectedHost, stage, options).then(
          (result): StageCallOutcome => ({ ok: true, ...result }),
          (error: unknown): StageCallOutcome => ({ ok: false, error }),
        ),
      ),
    );
  }
}

/** `run`, or a retryable error once `timeoutMs` passed (no limit when undefined). */
async function withinTimeout<T>(run: Promise<T>, timeoutMs: number | undefined, stage: StageCall): Promise<T> {
  if (timeoutMs === undefined) return run;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`shard ${stage.shardIndex} of version ${stage.versionId} ran past ${timeoutMs} ms in this process`), { retryable: true })), timeoutMs);
  });
  run.catch(() => undefined); // settled later or never: not an unhandled rejection
  try {
    return await Promise.race([run, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
