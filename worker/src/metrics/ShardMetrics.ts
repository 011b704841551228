import { Counter, Gauge, type Registry } from "prom-client";
import type { ShardRouterStats } from "../shards/ShardRouter.js";
import type { ShardHostStats } from "../shards/ShardServices.js";
import { follow } from "./FollowedCounter.js";

/** What the shard metrics read at each scrape: the host's counts (shard-host role) and the router's (processor). */
export type ShardMetricsSource = () => { readonly host?: ShardHostStats; readonly router?: ShardRouterStats };

/**
 * A shard host's and a shard router's Prometheus metrics. Host: stages by outcome (served, abandoned by the caller,
 * refused:<CODE>: BUSY says the host is full, PEER_NOT_AUTHORIZED that callers are turned away), predictions and the
 * stages they ran (their ratio is the mean batch: how well the host batches under load). Router: stage attempts by
 * outcome (ok; failed: a host down, slow or answering badly, then replayed on the next host; busy_timeout: every
 * host of the shard stayed busy), 429s waited out, stages in flight and waiting for a slot, and hosts in back-off.
 */
export function registerShardMetrics(registers: Registry[], source: ShardMetricsSource): void {
  const hostSeen = new Map<string, number>();
  new Counter({
    name: "tessera_shard_host_stages_total",
    help: "Stages this shard host handled, by outcome: served, abandoned (the caller went away), refused:<CODE>",
    labelNames: ["outcome"],
    registers,
    collect() {
      const host = source().host;
      if (host === undefined) return;
      follow(this, { outcome: "served" }, host.served, hostSeen);
      follow(this, { outcome: "abandoned" }, host.abandoned, hostSeen);
      for (const [code, n] of Object.entries(host.refused)) follow(this, { outcome: `refused:${code}` }, n ?? 0, hostSeen);
    },
  });
  hostCounter(registers, source, "tessera_shard_host_predictions_total", "Predictions this shard host ran (each runs the stages of one shard that waited together)", (h) => h.predictions);
  hostCounter(registers, source, "tessera_shard_host_batched_stages_total", "Stages run by this shard host's predictions (divided by tessera_shard_host_predictions_total: the mean batch)", (h) => h.batchedStages);

  const routerSeen = new Map<string, number>();
  new Counter({
    name: "tessera_shard_router_stages_total",
    help: "Stage attempts this worker made on shard hosts, by outcome: ok, failed (the host put in back-off, the stage replayed on the next), busy_timeout (every host of the shard stayed busy for the stage timeout: the request waits for a later look)",
    labelNames: ["outcome"],
    registers,
    collect() {
      const router = source().router;
      if (router === undefined) return;
      follow(this, { outcome: "ok" }, router.stages, routerSeen);
      follow(this, { outcome: "failed" }, router.failed, routerSeen);
      follow(this, { outcome: "busy_timeout" }, router.busyTimeouts, routerSeen);
    },
  });
  const busySeen = new Map<string, number>();
  new Counter({
    name: "tessera_shard_router_busy_answers_total",
    help: "429 BUSY answers from shard hosts this worker waited out (each lowers that host's limit of stages at once)",
    registers,
    collect() {
      const router = source().router;
      if (router !== undefined) follow(this, {}, router.busy, busySeen);
    },
  });
  new Gauge({
    name: "tessera_shard_router_stages_waiting",
    help: "Stages waiting for a free slot on a host of their shard now",
    registers,
    collect() {
      const router = source().router;
      if (router !== undefined) this.set(router.waiting);
    },
  });
  new Gauge({
    name: "tessera_shard_router_stages_in_flight",
    help: "Stages this worker has on their way to or running on shard hosts now",
    registers,
    collect() {
      const router = source().router;
      if (router !== undefined) this.set(router.inFlight);
    },
  });
  new Gauge({
    name: "tessera_shard_router_hosts_avoided",
    help: "Shard hosts in back-off now (they failed a stage lately)",
    registers,
    collect() {
      const router = source().router;
      if (router !== undefined) this.set(router.avoidedHosts);
    },
  });
}

/** A counter of one series that follows one of the shard host's counts. */
function hostCounter(registers: Registry[], source: ShardMetricsSource, name: string, help: string, read: (host: ShardHostStats) => number): void {
  const seen = new Map<string, number>();
  new Counter({
    name,
    help,
    registers,
    collect() {
      const host = source().host;
      if (host !== undefined) follow(this, {}, read(host), seen);
    },
  });
}
