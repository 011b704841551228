import { Counter, Gauge, type Registry } from "prom-client";
import type { ShardRouterStats } from "../shards/ShardRouter.js";
import type { ShardHostStats } from "../shards/ShardServices.js";
import { follow } from "./FollowedCounter.js";

/** What the shard metrics read at each scrape: the host's counts (shard-host role) and the router's (processor). */
export type ShardMetricsSource = () => { readonly host?: ShardHostStats; readonly router?: ShardRouterStats };

/**
 * A shard host's and a shard router's Prometheus metrics. Host: stages by outcome (served, abandoned by the caller,
 * refused:<CODE>: BUSY says the host is full, PEER_NOT_AUTHORIZED that callers are turned away), predictions and the
 * stages they ran (their ratio is the mean batch: how well the host batches under load), stage threads restarted. Router: stage attempts by
 * outcome (ok; failed: a host down, slow or answering badly, then replayed on the next host; busy_timeout: every
 * host of the shard stayed busy), 429s waited out, stages in flight and waiting for a slot, and hosts in back-off.
 */
export function registerShardMetrics(registers: Registry[], source: ShardMetricsSource): void {
  const host = () => source().host;
  const router = () => source().router;

  followedByOutcome(registers, "tessera_shard_host_stages_total", "Stages this shard host handled, by outcome: served, abandoned (the caller went away), refused:<CODE>", () => {
    const h = host();
    return h === undefined ? undefined : { served: h.served, abandoned: h.abandoned, ...Object.fromEntries(Object.entries(h.refused).map(([code, n]) => [`refused:${code}`, n ?? 0])) };
  });
  followed(registers, "tessera_shard_host_predictions_total", "Predictions this shard host ran (each runs the stages of one shard that waited together)", () => host()?.predictions);
  followed(registers, "tessera_shard_host_batched_stages_total", "Stages run by this shard host's predictions (divided by tessera_shard_host_predictions_total: the mean batch)", () => host()?.batchedStages);
  followed(registers, "tessera_shard_host_stage_thread_restarts_total", "Stage threads this shard host started again after one died (SHARD_HOST_THREAD; each reloaded the shards)", () => host()?.stageThreadRestarts);

  followedByOutcome(registers, "tessera_shard_router_stages_total", "Stage attempts this worker made on shard hosts, by outcome: ok, failed (the host put in back-off, the stage replayed on the next), busy_timeout (every host of the shard stayed busy for the stage timeout: the request waits for a later look)", () => {
    const r = router();
    return r === undefined ? undefined : { ok: r.stages, failed: r.failed, busy_timeout: r.busyTimeouts };
  });
  followed(registers, "tessera_shard_router_busy_answers_total", "429 BUSY answers from shard hosts this worker waited out (each lowers that host's limit of stages at once)", () => router()?.busy);
  gauge(registers, "tessera_shard_router_stages_in_flight", "Stages this worker has on their way to or running on shard hosts now", () => router()?.inFlight);
  gauge(registers, "tessera_shard_router_stages_waiting", "Stages waiting for a free slot on a host of their shard now", () => router()?.waiting);
  gauge(registers, "tessera_shard_router_hosts_avoided", "Shard hosts in back-off now (they failed a stage lately)", () => router()?.avoidedHosts);
}

/** A counter of outcomes (label `outcome`) that follows counts kept elsewhere; `read` is undefined without the role. */
function followedByOutcome(registers: Registry[], name: string, help: string, read: () => Record<string, number> | undefined): void {
  const seen = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: ["outcome"],
    registers,
    collect() {
      for (const [outcome, n] of Object.entries(read() ?? {})) follow(this, { outcome }, n, seen);
    },
  });
}

/** A counter of one series that follows a count kept elsewhere; `read` is undefined without the role. */
function followed(registers: Registry[], name: string, help: string, read: () => number | undefined): void {
  const seen = new Map<string, number>();
  new Counter({
    name,
    help,
    registers,
    collect() {
      const count = read();
      if (count !== undefined) follow(this, {}, count, seen);
    },
  });
}

/** A gauge set at each scrape from `read` (left as it was when this process does not play the role). */
function gauge(registers: Registry[], name: string, help: string, read: () => number | undefined): void {
  new Gauge({
    name,
    help,
    registers,
    collect() {
      const value = read();
      if (value !== undefined) this.set(value);
    },
  });
}
