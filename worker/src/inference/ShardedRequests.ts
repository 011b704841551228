import type { ContentStore } from "../ipfs/ContentStore.js";
import type { Logger } from "../logger.js";
import { readManifest } from "../ml/ModelArtifacts.js";
import { codecsOf } from "../ml/ModelManifest.js";
import { NoLiveHostError, type ShardRouter } from "../shards/ShardRouter.js";
import type { SignedStage } from "../shards/StageSignature.js";
import { InputKind, type PendingInference } from "./PendingInference.js";
import { DeclineReason, loadRequestInput } from "./RequestInput.js";

/** What the processor keeps for one request of a sharded version. */
export interface ShardedWork {
  readonly item: PendingInference;
  output?: Uint8Array;
  /** The hosts' signed stages, fulfilled by `fulfillSharded`. */
  stages?: SignedStage[];
  decline?: { reason: DeclineReason; detail: string };
  modelError?: string;
  /** Every host of a shard stayed busy: not declined, looked at again later (the request stays open). */
  hostsBusy?: string;
}

/**
 * A sharded version's requests, each routed through a host of every shard (concurrently: different requests are in
 * different stages on different hosts at once). Inputs are fetched and checked first, as for whole models; a shard
 * with no live host declines the request as "model unavailable" (never claimed; the requester is refunded after the
 * deadline, and the log and `host list` name the shard); one whose hosts all stayed busy leaves it open for a later
 * look (`hostsBusy`).
 */
export async function routeShardedRequests(
  deps: { router: ShardRouter | undefined; store: ContentStore; inputTimeoutMs?: number; logger: Logger },
  versionId: bigint,
  version: { manifestCid: string; shardCount: number },
  group: ShardedWork[],
): Promise<void> {
  const { router } = deps;
  if (router === undefined) {
    for (const w of group) w.modelError = `version ${versionId} is sharded and this worker routes no sharded versions (no ShardRegistry)`;
    return;
  }
  let expectedBytes: number;
  try {
    expectedBytes = codecsOf(await readManifest(deps.store, version.manifestCid)).input.byteLength;
  } catch (err) {
    for (const w of group) w.modelError = (err as Error).message;
    return;
  }
  await Promise.all(
    group.map(async (w) => {
      const input = await loadRequestInput(w.item, { store: deps.store, expectedBytes, timeoutMs: deps.inputTimeoutMs ?? 10_000 });
      if (!input.ok) {
        w.decline = { reason: input.reason, detail: input.detail };
        return;
      }
      try {
        const run = await router.run({
          requestId: w.item.requestId,
          versionId,
          shardCount: version.shardCount,
          input: input.bytes,
          inputHash: w.item.terms.inputHash,
          ...(w.item.inputKind === InputKind.Cid ? { inputRef: w.item.input } : {}),
        });
        w.output = run.output;
        w.stages = run.stages;
      } catch (err) {
        if (!(err instanceof NoLiveHostError)) throw err;
        if (err.busy) {
          // A shard's hosts are full now, not gone: no decline (it would cost gas and close nothing), a later look.
          deps.logger.warn({ requestId: w.item.requestId.toString(), versionId: versionId.toString(), shard: err.shardIndex, err: err.message }, "sharded request waits: the shard's hosts are busy");
          w.hostsBusy = err.message;
          return;
        }
        deps.logger.warn({ requestId: w.item.requestId.toString(), versionId: versionId.toString(), shard: err.shardIndex, err: err.message }, "sharded request unservable");
        w.decline = { reason: DeclineReason.ModelUnavailable, detail: err.message };
      }
    }),
  );
}
