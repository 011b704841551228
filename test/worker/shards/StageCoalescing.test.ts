import { expect } from "chai";
import { keccak256, Wallet } from "ethers";
import { HostBackoff } from "../../../worker/src/shards/HostBackoff.js";
import { NoLiveHostError, ShardRouter, type ShardHostEntry } from "../../../worker/src/shards/ShardRouter.js";
import type { BatchStageTransport } from "../../../worker/src/shards/StageCoalescing.js";
import { ShardClient, StageError } from "../../../worker/src/shards/transport/ShardClient.js";
import { CHAIN_ID, freePort, host, randomBytes, REGISTRY, REQUEST, VERSION, type Hosted } from "./transport/fixtures.js";

/**
 * The router's stages sent to one host in the same turn go as one batch call (StageCoalescing.ts), over the real
 * HTTP/2 transport: a processor routes a whole batch of requests at once.
 */
describe("Coalescing a batch's stages into one call per host and shard", function () {
  this.timeout(30_000);
  const caller = Wallet.createRandom();
  const keys = [Wallet.createRandom(), Wallet.createRandom()];
  let hosts: Hosted[] = [];
  let client: ShardClient;
  /** The calls made, as `runStage:<shard>` or `runStages:<shard>x<n>@<host index>`. */
  let calls: string[];
  let transport: BatchStageTransport;

  beforeEach(() => {
    client = new ShardClient({ signer: caller, chainId: CHAIN_ID, shardRegistry: REGISTRY });
    calls = [];
    const index = (address: string) => keys.findIndex((k) => k.address === address);
    transport = {
      runStage: (endpoint, expectedHost, stage, options) => {
        calls.push(`runStage:${stage.shardIndex}@${index(expectedHost)}`);
        return client.runStage(endpoint, expectedHost, stage, options);
      },
      runStages: (endpoint, expectedHost, stages, options) => {
        calls.push(`runStages:${stages[0]!.shardIndex}x${stages.length}@${index(expectedHost)}`);
        return client.runStages(endpoint, expectedHost, stages, options);
      },
    };
  });

  afterEach(async () => {
    client.close();
    await Promise.all(hosts.map((h) => h.server.stop()));
    hosts = [];
  });

  const request = (i: number, shardCount = 2) => {
    const input = randomBytes(64, i + 1);
    return { requestId: REQUEST + BigInt(i), versionId: VERSION, shardCount, input, inputHash: keccak256(input) };
  };

  /** One host (shards 0 and 1 of VERSION, reversing) admitting `perPeer` stages per caller. */
  async function oneHost(perPeer = 8): Promise<() => Promise<ShardHostEntry[]>> {
    hosts.push(await host(keys[0]!, [caller.address], { maxConcurrent: 2 * perPeer, maxConcurrentPerPeer: perPeer }));
    return async () => [{ host: keys[0]!.address, endpoint: hosts[0]!.endpoint }];
  }

  it("8 two-shard requests routed at once: one call of 8 per shard (not 16 calls), every answer its own input reversed twice, no replay", async () => {
    const router = new ShardRouter({ transport, hostsOf: await oneHost() });
    const done = await Promise.all(Array.from({ length: 8 }, (_, i) => router.run(request(i))));
    done.forEach((run, i) => {
      expect(Buffer.from(run.output).equals(Buffer.from(request(i).input))).to.equal(true);
      expect(run.stages.map((s) => s.host)).to.deep.equal([keys[0]!.address, keys[0]!.address]);
      expect(run.replays).to.equal(0);
    });
    expect(calls).to.deep.equal(["runStages:0x8@0", "runStages:1x8@0"]);
    expect(router.wire).to.deep.equal({ calls: 2, stages: 16 });
    expect([hosts[0]!.server.served, hosts[0]!.runner.calls.length]).to.deep.equal([16, 16]);
  });

  it("a lone request goes stage by stage on the single-stage path, as before batching", async () => {
    const router = new ShardRouter({ transport, hostsOf: await oneHost() });
    const run = await router.run(request(0));
    expect(Buffer.from(run.output).equals(Buffer.from(request(0).input))).to.equal(true);
    expect(calls).to.deep.equal(["runStage:0@0", "runStage:1@0"]);
    expect(router.wire).to.deep.equal({ calls: 2, stages: 2 });
  });

  it("20 stages at once on a host taking 32: calls of at most 16 stages (16 + 4)", async () => {
    const router = new ShardRouter({ transport, hostsOf: await oneHost(32), maxStagesPerHost: 32 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => router.run(request(i, 1))));
    expect(calls).to.deep.equal(["runStages:0x16@0", "runStages:0x4@0"]);
  });

  it("a batch sent to a host that is down: every stage of it replayed on the shard's other host, again as one call; the dead host in back-off", async () => {
    hosts.push(await host(keys[1]!, [caller.address]));
    const dead = `http://127.0.0.1:${await freePort()}`;
    const backoff = new HostBackoff();
    const router = new ShardRouter({
      transport,
      backoff,
      hostsOf: async () => [
        { host: keys[0]!.address, endpoint: dead },
        { host: keys[1]!.address, endpoint: hosts[0]!.endpoint },
      ],
    });
    const done = await Promise.all(Array.from({ length: 6 }, (_, i) => router.run(request(i, 1))));
    done.forEach((run, i) => {
      expect(Buffer.from(run.output).equals(Buffer.from(request(i).input).reverse())).to.equal(true);
      expect([run.replays, run.stages[0]!.host]).to.deep.equal([1, keys[1]!.address]);
    });
    expect(calls).to.deep.equal(["runStages:0x6@0", "runStages:0x6@1"]);
    expect(backoff.avoided(keys[0]!.address)).to.equal(true);
    expect(router.stats).to.include({ stages: 6, failed: 6, busy: 0 });
  });

  it("stages whose input came by CID go alone (the batch call carries no input refs); the rest of the batch still goes together", async () => {
    const router = new ShardRouter({ transport, hostsOf: await oneHost() });
    const ref = Uint8Array.from([0x01, 0x55, 0x12, 0x20, 7]);
    const withRef = (i: number) => ({ ...request(i, 1), inputRef: ref, inputHash: keccak256(ref) });
    const runs = [withRef(0), request(1, 1), request(2, 1), withRef(3)].map((r) => router.run(r));
    const done = await Promise.all(runs);
    expect(done.map((d) => d.stages[0]!.inputHash)).to.deep.equal([keccak256(ref), request(1).inputHash, request(2).inputHash, keccak256(ref)]);
    expect([...calls].sort()).to.deep.equal(["runStage:0@0", "runStage:0@0", "runStages:0x2@0"]);
  });

  it("a batch refused for one request (403: the host's node has not seen it yet): the others are sent alone and answered, only that one fails", async () => {
    hosts.push(await host(keys[0]!, [caller.address], { authorize: async (_peer, requestId) => requestId !== REQUEST + 2n }));
    const router = new ShardRouter({ transport, hostsOf: async () => [{ host: keys[0]!.address, endpoint: hosts[0]!.endpoint }] });
    const runs = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => router.run(request(i, 1))));
    expect(runs.map((r) => r.status)).to.deep.equal(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect((runs[2] as PromiseRejectedResult).reason).to.be.instanceOf(NoLiveHostError);
    expect(calls).to.deep.equal(["runStages:0x4@0", "runStage:0@0", "runStage:0@0", "runStage:0@0", "runStage:0@0"]);
    expect([hosts[0]!.server.served, hosts[0]!.server.refused.PEER_NOT_AUTHORIZED]).to.deep.equal([3, 2]);
  });

  it("a host of an older version that does not know the batch path (404 NOT_FOUND): its stages are sent alone, then and from now on", async () => {
    const hostsOf = await oneHost();
    const old: BatchStageTransport = {
      runStage: transport.runStage,
      runStages: async (endpoint, expectedHost, stages) => {
        calls.push(`runStages:${stages[0]!.shardIndex}x${stages.length}@0`);
        throw StageError.fromStatus(endpoint, 404, "no such path", "NOT_FOUND");
      },
    };
    const router = new ShardRouter({ transport: old, hostsOf });
    for (const round of [0, 1]) {
      const done = await Promise.all([0, 1, 2].map((i) => router.run(request(3 * round + i, 1))));
      expect(done.map((d) => d.replays)).to.deep.equal([0, 0, 0]);
    }
    expect(calls).to.deep.equal(["runStages:0x3@0", ...Array(6).fill("runStage:0@0")]);
    expect(router.stats).to.include({ stages: 6, failed: 0 });
  });

  it("a batch holds at most 8 MiB of inputs: three 3 MiB stages go as 2 + 1, three 5 MiB stages one by one", async () => {
    const router = new ShardRouter({ transport, hostsOf: await oneHost() });
    const big = (i: number, bytes: number) => {
      const input = randomBytes(bytes, i + 1);
      return { requestId: REQUEST + BigInt(i), versionId: VERSION, shardCount: 1, input, inputHash: keccak256(input) };
    };
    await Promise.all([0, 1, 2].map((i) => router.run(big(i, 3 * 2 ** 20))));
    expect(calls).to.deep.equal(["runStages:0x2@0", "runStage:0@0"]);
    calls.length = 0;
    await Promise.all([3, 4, 5].map((i) => router.run(big(i, 5 * 2 ** 20))));
    expect(calls).to.deep.equal(["runStage:0@0", "runStage:0@0", "runStage:0@0"]);
  });

  it("a transport that breaks its contract (throws at once, or answers a batch with the wrong number of outcomes): every stage of the batch fails, none is left waiting", async () => {
    const hostsOf = await oneHost();
    for (const broken of [
      () => {
        throw new Error("thrown before any promise");
      },
      async () => [],
    ]) {
      const breaking: BatchStageTransport = { runStage: transport.runStage, runStages: broken as BatchStageTransport["runStages"] };
      const router = new ShardRouter({ transport: breaking, hostsOf, backoff: new HostBackoff() });
      const started = Date.now();
      const runs = await Promise.allSettled([0, 1, 2].map((i) => router.run(request(i, 1))));
      expect(runs.map((r) => r.status)).to.deep.equal(["rejected", "rejected", "rejected"]);
      runs.forEach((r) => expect((r as PromiseRejectedResult).reason).to.be.instanceOf(NoLiveHostError));
      expect(Date.now() - started).to.be.below(2_000);
      expect(router.stats).to.include({ stages: 0, failed: 3, inFlight: 0 });
    }
    expect(hosts[0]!.runner.calls).to.have.length(0);
  });

  it("a transport without batch calls (an in-process one) is used stage by stage", async () => {
    const single: { runStage: BatchStageTransport["runStage"] } = { runStage: transport.runStage };
    const router = new ShardRouter({ transport: single, hostsOf: await oneHost() });
    await Promise.all([0, 1, 2].map((i) => router.run(request(i, 1))));
    expect(calls).to.deep.equal(["runStage:0@0", "runStage:0@0", "runStage:0@0"]);
    expect(router.wire).to.equal(undefined);
  });
});

