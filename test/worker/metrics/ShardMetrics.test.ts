import { expect } from "chai";
import { Registry } from "prom-client";
import { registerShardMetrics } from "../../../worker/src/metrics/ShardMetrics.js";
import type { ShardRouterStats } from "../../../worker/src/shards/ShardRouter.js";
import type { ShardHostStats } from "../../../worker/src/shards/ShardServices.js";
import { sample } from "../../helpers/PrometheusText.js";

describe("Shard metrics: a host's stages and batches, a router's outcomes", () => {
  it("follow the host's and the router's counts from scrape to scrape; a process without the router shows no routed stages", async () => {
    const registry = new Registry();
    let host: ShardHostStats | undefined = { served: 5, abandoned: 1, refused: { BUSY: 3 }, predictions: 2, batchedStages: 5, stageThread: false, stageThreadRestarts: 0 };
    let router: ShardRouterStats | undefined;
    registerShardMetrics([registry], () => ({ ...(host === undefined ? {} : { host }), ...(router === undefined ? {} : { router }) }));

    let text = await registry.metrics();
    expect(sample(text, 'tessera_shard_host_stages_total{outcome="served"}')).to.equal(5);
    expect(sample(text, 'tessera_shard_host_stages_total{outcome="abandoned"}')).to.equal(1);
    expect(sample(text, 'tessera_shard_host_stages_total{outcome="refused:BUSY"}')).to.equal(3);
    expect(sample(text, "tessera_shard_host_predictions_total")).to.equal(2);
    expect(sample(text, "tessera_shard_host_batched_stages_total")).to.equal(5);
    expect(sample(text, "tessera_shard_host_stage_thread_restarts_total")).to.equal(0);
    expect(sample(text, 'tessera_shard_router_stages_total{outcome="ok"}')).to.equal(undefined);
    expect(sample(text, "tessera_shard_router_stages_in_flight")).to.equal(0); // an unlabelled series always shows

    host = { served: 9, abandoned: 1, refused: { BUSY: 3, PEER_NOT_AUTHORIZED: 2 }, predictions: 3, batchedStages: 9, stageThread: true, stageThreadRestarts: 2 };
    router = { stages: 12, failed: 1, busy: 4, busyTimeouts: 2, inFlight: 3, waiting: 5, avoidedHosts: 1 };
    text = await registry.metrics();
    expect(sample(text, 'tessera_shard_host_stages_total{outcome="served"}')).to.equal(9);
    expect(sample(text, 'tessera_shard_host_stages_total{outcome="refused:PEER_NOT_AUTHORIZED"}')).to.equal(2);
    expect(sample(text, "tessera_shard_host_batched_stages_total")).to.equal(9);
    expect(sample(text, "tessera_shard_host_stage_thread_restarts_total")).to.equal(2);
    expect(sample(text, 'tessera_shard_router_stages_total{outcome="ok"}')).to.equal(12);
    expect(sample(text, 'tessera_shard_router_stages_total{outcome="failed"}')).to.equal(1);
    expect(sample(text, 'tessera_shard_router_stages_total{outcome="busy_timeout"}')).to.equal(2);
    expect(sample(text, "tessera_shard_router_busy_answers_total")).to.equal(4);
    expect(sample(text, "tessera_shard_router_stages_in_flight")).to.equal(3);
    expect(sample(text, "tessera_shard_router_stages_waiting")).to.equal(5);
    expect(sample(text, "tessera_shard_router_hosts_avoided")).to.equal(1);

    // The host restarted (its counts start again): the counter never goes back, and follows from there.
    host = { served: 2, abandoned: 0, refused: {}, predictions: 1, batchedStages: 2, stageThread: false, stageThreadRestarts: 0 };
    text = await registry.metrics();
    expect(sample(text, 'tessera_shard_host_stages_total{outcome="served"}')).to.equal(9);
    host = { served: 4, abandoned: 0, refused: {}, predictions: 2, batchedStages: 4, stageThread: false, stageThreadRestarts: 0 };
    text = await registry.metrics();
    expect(sample(text, 'tessera_shard_host_stages_total{outcome="served"}')).to.equal(11);
  });
});
