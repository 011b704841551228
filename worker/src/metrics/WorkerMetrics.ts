import type { Queue } from "bullmq";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { AccountNonceManager } from "../chain/AccountNonceManager.js";
import type { ChainListenerStats } from "../chain/ChainListener.js";
import type { ReadinessReport } from "../ops/WorkerReadiness.js";
import { follow } from "./FollowedCounter.js";
import { registerShardMetrics, type ShardMetricsSource } from "./ShardMetrics.js";

/** What the metrics read at each scrape; every source is optional (a process runs only some roles). */
export interface WorkerMetricsSources {
  /** The chain listeners with their stats. */
  readonly listeners: () => readonly { readonly name: string; readonly stats: ChainListenerStats | undefined }[];
  /** Completed jobs by queue and outcome (counts since start). */
  readonly outcomes: () => Readonly<Record<string, Readonly<Record<string, number>> | undefined>>;
  readonly queues: readonly Queue[];
  readonly readiness: () => ReadinessReport | undefined;
  /** The key's nonce manager: transactions, gas, replacements, drops and nonce resyncs. */
  readonly account?: AccountNonceManager;
  /** The TensorFlow.js backend in use. */
  readonly backend?: string;
  /** The shard host's and the shard router's counts, where this process runs them. */
  readonly shards?: ShardMetricsSource;
}

/**
 * The worker's Prometheus metrics (prom-client), in a registry of their own: queue depths, jobs by
 * outcome, transactions and gas by method, replacements, drops, nonce resyncs, chain head and lag
 * per listener, reorgs and restarts detected, earnings not yet withdrawn, claim lapses, eligibility
 * per role, the tfjs backend, and the shard host's and router's stages (ShardMetrics.ts); plus the process's default
 * metrics.
 */
export class WorkerMetrics {
  readonly registry = new Registry();

  constructor(sources: WorkerMetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "tessera_process_" });

    new Gauge({
      name: "tessera_queue_jobs",
      help: "Jobs in each BullMQ queue by state",
      labelNames: ["queue", "state"],
      registers,
      async collect() {
        this.reset();
        for (const queue of sources.queues) {
          const counts = await queue.getJobCounts("wait", "active", "delayed", "prioritized", "failed", "completed");
          for (const [state, n] of Object.entries(counts)) this.set({ queue: queue.name, state }, n);
        }
      },
    });

    const outcomesSeen = new Map<string, number>();
    new Counter({
      name: "tessera_jobs_total",
      help: "Jobs finished by this process, by queue and outcome (fulfilled, skipped:<reason>, failed, ...)",
      labelNames: ["queue", "outcome"],
      registers,
      collect() {
        for (const [queue, counts] of Object.entries(sources.outcomes())) {
          for (const [outcome, n] of Object.entries(counts ?? {})) follow(this, { queue, outcome }, n, outcomesSeen);
        }
      },
    });

    const listenerSeen = new Map<string, number>();
    new Counter({
      name: "tessera_reorgs_total",
      help: "Cursors found off the chain: kind=reorg (rewound to a common ancestor) or restart (rescanned from the start block)",
      labelNames: ["listener", "kind"],
      registers,
      collect() {
        for (const { name, stats } of sources.listeners()) {
          follow(this, { listener: name, kind: "reorg" }, stats?.reorgs ?? 0, listenerSeen);
          follow(this, { listener: name, kind: "restart" }, stats?.restarts ?? 0, listenerSeen);
        }
      },
    });
    new Gauge({
      name: "tessera_chain_head_block",
      help: "Latest block seen by each listener",
      labelNames: ["listener"],
      registers,
      collect() {
        for (const { name, stats } of sources.listeners()) if (stats?.latestBlock !== undefined) this.set({ listener: name }, stats.latestBlock);
      },
    });
    new Gauge({
      name: "tessera_listener_lag_blocks",
      help: "Blocks between the chain head and the listener's cursor (its confirmations included)",
      labelNames: ["listener"],
      registers,
      collect() {
        for (const { name, stats } of sources.listeners()) if (stats?.lag !== undefined) this.set({ listener: name }, stats.lag);
      },
    });
    new Gauge({
      name: "tessera_listener_cursor_block",
      help: "Last block whose events each listener has enqueued",
      labelNames: ["listener"],
      registers,
      collect() {
        for (const { name, stats } of sources.listeners()) if (stats?.cursor !== undefined) this.set({ listener: name }, stats.cursor);
      },
    });

    const txs = new Counter({ name: "tessera_transactions_total", help: "Worker transactions mined to their confirmations, by method", labelNames: ["method"], registers });
    const gas = new Counter({ name: "tessera_gas_used_total", help: "Gas used by the worker's transactions, by method", labelNames: ["method"], registers });
    const fees = new Counter({ name: "tessera_gas_spent_wei_total", help: "Fees paid for the worker's transactions (gas used x effective gas price), in wei", registers });
    const failed = new Counter({ name: "tessera_tx_failed_total", help: "Worker transactions mined but failed (their fees are in tessera_gas_spent_wei_total), by method and reason", labelNames: ["method", "reason"], registers });
    const replaced = new Counter({ name: "tessera_tx_replacements_total", help: "Stuck transactions re-sent with the same nonce and higher fees", registers });
    const dropped = new Counter({ name: "tessera_tx_dropped_total", help: "Transactions that vanished (dropped by the node or reorged out) and were sent again", registers });
    const resyncs = new Counter({ name: "tessera_nonce_resyncs_total", help: "Times the nonce was re-read from the chain (drops, timeouts, nonce errors)", registers });
    const account = sources.account;
    if (account !== undefined) {
      account.on("mined", (m) => {
        txs.inc({ method: m.method });
        gas.inc({ method: m.method }, Number(m.gasUsed));
        fees.inc(Number(m.feeWei));
      });
      account.on("failed", (f) => {
        failed.inc({ method: f.method, reason: f.reason });
        gas.inc({ method: f.method }, Number(f.gasUsed));
        fees.inc(Number(f.feeWei));
      });
      account.on("replaced", () => replaced.inc());
      account.on("dropped", () => dropped.inc());
      account.on("resync", () => resyncs.inc());
    }

    new Gauge({
      name: "tessera_earnings_unwithdrawn_wei",
      help: "Market credits of this worker not yet withdrawn, by currency",
      labelNames: ["currency"],
      registers,
      collect() {
        const report = sources.readiness();
        if (report === undefined) return;
        this.set({ currency: "eth" }, Number(report.earnings.eth));
        this.set({ currency: "tsr" }, Number(report.earnings.token));
      },
    });
    new Gauge({
      name: "tessera_claim_lapses",
      help: "Claims of this worker that lapsed (slashed and taken over), since the deployment",
      registers,
      collect() {
        const report = sources.readiness();
        if (report !== undefined) this.set(report.lapses);
      },
    });
    new Gauge({
      name: "tessera_role_eligible",
      help: "1 when the chain lets this key do the role's work (registered, staked, capability, served versions)",
      labelNames: ["role"],
      registers,
      collect() {
        this.reset();
        for (const r of sources.readiness()?.roles ?? []) this.set({ role: r.role }, r.ok ? 1 : 0);
      },
    });
    new Gauge({
      name: "tessera_tfjs_backend_info",
      help: "The TensorFlow.js backend in use (value 1)",
      labelNames: ["backend"],
      registers,
      collect() {
        if (sources.backend !== undefined) this.set({ backend: sources.backend }, 1);
      },
    });
    if (sources.shards !== undefined) registerShardMetrics(registers, sources.shards);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
