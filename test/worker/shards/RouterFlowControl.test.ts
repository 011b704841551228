import { expect } from "chai";
import { keccak256, Wallet } from "ethers";
import { HostBackoff } from "../../../worker/src/shards/HostBackoff.js";
import { NoLiveHostError, ShardRouter, type ShardHostEntry } from "../../../worker/src/shards/ShardRouter.js";
import { ShardClient } from "../../../worker/src/shards/transport/ShardClient.js";
import { CHAIN_ID, Gate, host, randomBytes, REGISTRY, REQUEST, until, VERSION, type Hosted } from "./transport/fixtures.js";

/**
 * Flow control between a claimant's router and its shard hosts, over the real HTTP/2 transport: a worker routes a
 * whole batch of sharded requests at once (BATCH_MAX_SIZE, 16 by default), more stages than a host admits from one
 * caller (SHARD_HOST_MAX_BATCH, 8 by default); a host's 429 BUSY says "not now", not "down".
 */
describe("Shard routing under load: stages per host, BUSY, spreading over a shard's hosts", function () {
  this.timeout(60_000);
  this.slow(10_000);
  const caller = Wallet.createRandom();
  const keys = [Wallet.createRandom(), Wallet.createRandom()];
  let hosts: Hosted[] = [];
  let client: ShardClient;

  beforeEach(() => {
    client = new ShardClient({ signer: caller, chainId: CHAIN_ID, shardRegistry: REGISTRY });
  });

  afterEach(async () => {
    for (const h of hosts) h.runner.gate?.open();
    client.close();
    await Promise.all(hosts.map((h) => h.server.stop()));
    hosts = [];
  });

  /** Hosts (each serving shards 0 and 1 of VERSION with the reversing TestRunner) listed for both shards. */
  async function start(count: number, limits: { maxConcurrent: number; maxConcurrentPerPeer?: number }, others: string[] = []) {
    for (let i = 0; i < count; i++) hosts.push(await host(keys[i]!, [caller.address, ...others], limits));
    const listed: ShardHostEntry[] = hosts.map((h, i) => ({ host: keys[i]!.address, endpoint: h.endpoint }));
    return async () => listed;
  }

  /** `count` one-stage requests routed at once (default limits) through one host admitting 2, its runner held by a gate. */
  async function burstThroughHostOfTwo(count: number) {
    const hostsOf = await start(1, { maxConcurrent: 2 });
    const router = new ShardRouter({ transport: client, hostsOf });
    const gate = new Gate();
    hosts[0]!.runner.gate = gate;
    const runs = Array.from({ length: count }, (_, i) => router.run(request(i, 1)));
    await hosts[0]!.runner.waitForCalls(2);
    return { router, gate, runs };
  }

  const request = (i: number, shardCount = 2) => {
    const input = randomBytes(64, i + 1);
    return { requestId: REQUEST + BigInt(i), versionId: VERSION, shardCount, input, inputHash: keccak256(input) };
  };

  it("a batch of 16 routed at once through a host that admits 8 per caller: all 16 answered (input reversed twice), none declined, the host never put in back-off", async () => {
    const hostsOf = await start(1, { maxConcurrent: 16, maxConcurrentPerPeer: 8 });
    const router = new ShardRouter({ transport: client, hostsOf });
    const gate = new Gate();
    hosts[0]!.runner.gate = gate;
    const runs = Array.from({ length: 16 }, (_, i) => router.run(request(i)));
    runs.forEach((r) => r.catch(() => undefined)); // failures are read below, not left unhandled
    await hosts[0]!.runner.waitForCalls(8);
    // The host holds 8 of this caller's stages: the router keeps the other 8 until slots free up.
    await new Promise((r) => setTimeout(r, 100));
    expect(hosts[0]!.runner.calls).to.have.length(8);
    expect(router.stats).to.include({ inFlight: 8, waiting: 8 });
    gate.open();
    const done = await Promise.all(runs);
    done.forEach((run, i) => {
      expect(Buffer.from(run.output).equals(Buffer.from(request(i).input))).to.equal(true);
      expect(run.stages.map((s) => s.host)).to.deep.equal([keys[0]!.address, keys[0]!.address]);
      expect(run.replays).to.equal(0);
    });
    expect(hosts[0]!.server.served).to.equal(32);
    expect(hosts[0]!.server.refused.BUSY ?? 0).to.equal(0);
    expect(router.backoff.failures(keys[0]!.address)).to.equal(0);
  });

  it("a host that admits fewer than the router sends (2 per caller): its 429s are waited out, not failures; every request answered, no replay, no back-off", async () => {
    const { router, gate, runs } = await burstThroughHostOfTwo(6);
    await until(() => (hosts[0]!.server.refused.BUSY ?? 0) > 0);
    gate.open();
    const done = await Promise.all(runs);
    done.forEach((run, i) => expect(Buffer.from(run.output).equals(Buffer.from(request(i).input).reverse())).to.equal(true));
    expect(done.map((r) => r.replays)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    expect(hosts[0]!.server.served).to.equal(6);
    expect(router.backoff.failures(keys[0]!.address)).to.equal(0);
    expect(router.backoff.avoided(keys[0]!.address)).to.equal(false);
  });

  it("stages of one shard are spread over its hosts: two hosts admitting 2 each run 2 apiece while a third request waits", async () => {
    const hostsOf = await start(2, { maxConcurrent: 2 });
    const router = new ShardRouter({ transport: client, hostsOf, maxStagesPerHost: 2 });
    const gates = [new Gate(), new Gate()];
    hosts.forEach((h, i) => (h.runner.gate = gates[i]));
    const runs = Array.from({ length: 5 }, (_, i) => router.run(request(i, 1)));
    await hosts[0]!.runner.waitForCalls(2);
    await hosts[1]!.runner.waitForCalls(2);
    await new Promise((r) => setTimeout(r, 100));
    expect([hosts[0]!.runner.calls.length, hosts[1]!.runner.calls.length]).to.deep.equal([2, 2]);
    gates[1]!.open();
    await hosts[1]!.runner.waitForCalls(3); // the fifth went to the host that freed a slot
    gates[0]!.open();
    const done = await Promise.all(runs);
    done.forEach((run, i) => expect(Buffer.from(run.output).equals(Buffer.from(request(i).input).reverse())).to.equal(true));
    expect([hosts[0]!.server.served, hosts[1]!.server.served]).to.deep.equal([2, 3]);
    // Within its cap, the router never made a host refuse.
    expect(hosts.map((h) => h.server.refused.BUSY ?? 0)).to.deep.equal([0, 0]);
  });

  it("every host of a shard busy with other callers for the whole stage timeout: NoLiveHostError saying so (the processor looks again later: no decline, no failover), no back-off; served once a slot frees", async () => {
    const other = Wallet.createRandom();
    const hostsOf = await start(1, { maxConcurrent: 1 }, [other.address]);
    const otherClient = new ShardClient({ signer: other, chainId: CHAIN_ID, shardRegistry: REGISTRY });
    try {
      const gate = new Gate();
      hosts[0]!.runner.gate = gate;
      const held = otherClient.runStage(hosts[0]!.endpoint, keys[0]!.address, { requestId: REQUEST, versionId: VERSION, shardIndex: 0, inputHash: keccak256(randomBytes(8)), input: randomBytes(8) });
      held.catch(() => undefined); // awaited below
      await hosts[0]!.runner.waitForCalls(1);
      const router = new ShardRouter({ transport: client, hostsOf, stageTimeoutMs: 400, backoff: new HostBackoff() });
      const started = Date.now();
      const err = await router.run(request(0, 1)).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(NoLiveHostError);
      expect((err as NoLiveHostError).busy).to.equal(true);
      expect((err as NoLiveHostError).message).to.equal(`every host of shard 0 of version ${VERSION} stayed busy for 400 ms (tried ${keys[0]!.address})`);
      expect(Date.now() - started).to.be.within(380, 2_000);
      expect(hosts[0]!.server.refused.BUSY ?? 0).to.be.greaterThan(1); // asked again, not given up at the first 429
      expect(router.backoff.failures(keys[0]!.address)).to.equal(0);
      expect(router.stats).to.include({ stages: 0, failed: 0, busyTimeouts: 1, waiting: 0, inFlight: 0 });
      gate.open();
      await held;
      const run = await router.run(request(1, 1));
      expect(Buffer.from(run.output).equals(Buffer.from(request(1).input).reverse())).to.equal(true);
    } finally {
      otherClient.close();
    }
  });

  it("a host that is down still fails over at once to the next host of its shard (and is put in back-off), whatever the slots", async () => {
    const hostsOf = await start(2, { maxConcurrent: 4 });
    await hosts[0]!.server.stop();
    const router = new ShardRouter({ transport: client, hostsOf });
    const run = await router.run(request(0, 1));
    expect(run.replays).to.equal(1);
    expect(hosts[1]!.server.served).to.equal(1);
    expect(router.backoff.failures(keys[0]!.address)).to.equal(1);
  });

  it("maxStagesPerHost must be an integer >= 1", () => {
    for (const bad of [0, 1.5, -1, Number.NaN]) {
      expect(() => new ShardRouter({ transport: client, hostsOf: async () => [], maxStagesPerHost: bad })).to.throw(RangeError, "maxStagesPerHost must be an integer >= 1");
    }
  });

  /** Each host's only slot held by another caller's stage that waits on `gate`: every stage of ours is refused 429. */
  async function fullHosts(count: number, options: { authorizeDelayMs?: number } = {}) {
    const other = Wallet.createRandom();
    const gate = new Gate();
    const delay = options.authorizeDelayMs ?? 0;
    for (let i = 0; i < count; i++) {
      hosts.push(await host(keys[i] ?? Wallet.createRandom(), [caller.address, other.address], { maxConcurrent: 1, authorize: async () => (delay > 0 ? new Promise((r) => setTimeout(() => r(true), delay)) : true) }));
    }
    const otherClient = new ShardClient({ signer: other, chainId: CHAIN_ID, shardRegistry: REGISTRY });
    const held = hosts.map((h, i) => {
      h.runner.gate = gate;
      const input = randomBytes(8, 90 + i);
      const call = otherClient.runStage(h.endpoint, keys[i]!.address, { requestId: REQUEST, versionId: VERSION, shardIndex: 0, inputHash: keccak256(input), input });
      call.catch(() => undefined);
      return call;
    });
    for (const h of hosts) await h.runner.waitForCalls(1);
    const listed: ShardHostEntry[] = hosts.map((h, i) => ({ host: keys[i]!.address, endpoint: h.endpoint }));
    return { listed, gate, held, close: () => otherClient.close() };
  }

  it("two hosts of a shard that both answer 429 slowly (each refusal after 300 ms) cannot keep a stage going round: it ends at the stage timeout, busy", async () => {
    const full = await fullHosts(2, { authorizeDelayMs: 300 });
    try {
      const router = new ShardRouter({ transport: client, hostsOf: async () => full.listed, stageTimeoutMs: 1_000 });
      const started = Date.now();
      const err = await router.run(request(0, 1)).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(NoLiveHostError);
      expect((err as NoLiveHostError).busy).to.equal(true);
      expect(Date.now() - started).to.be.within(1_000, 2_500);
      expect(hosts.map((h) => (h.server.refused.BUSY ?? 0) > 0)).to.deep.equal([true, true]);
    } finally {
      full.gate.open();
      await Promise.all(full.held);
      await full.close();
    }
  });

  it("a host that keeps answering 429 does not hide a host in back-off: the stage goes to the latter, which serves it; after 16 refusals in a row the busy host goes behind the others", async () => {
    const full = await fullHosts(1);
    hosts.push(await host(keys[1]!, [caller.address], { maxConcurrent: 4 }));
    try {
      const listed = [...full.listed, { host: keys[1]!.address, endpoint: hosts[1]!.endpoint }];
      const router = new ShardRouter({ transport: client, hostsOf: async () => listed, stageTimeoutMs: 10_000 });
      router.backoff.fail(keys[1]!.address); // in back-off (failed lately), but up now
      const started = Date.now();
      const run = await router.run(request(0, 1));
      expect(Date.now() - started).to.be.below(2_000);
      expect(run.stages[0]!.host).to.equal(keys[1]!.address);
      expect(hosts[1]!.server.served).to.equal(1);
      // While it pauses after its 429, the next stages go to the host that serves.
      for (let i = 1; i <= 5; i++) expect((await router.run(request(i, 1))).stages[0]!.host).to.equal(keys[1]!.address);
      expect(router.backoff.avoided(keys[0]!.address)).to.equal(false);
      // Alone and full for good: after 16 refusals in a row it is put in back-off (behind any other host of its
      // shard), still asked as the last resort until the stage times out busy; no stage counts as failed.
      // (A back-off long enough to still be on when the stage ends, whenever in it the 16th refusal came.)
      const alone = new ShardRouter({ transport: client, hostsOf: async () => full.listed, stageTimeoutMs: 8_000, backoff: new HostBackoff({ baseMs: 60_000 }) });
      // Stages until 16 refusals came (one stage of 8 s holds ~20 of them; a machine starved of CPU may need more).
      for (let i = 9; i < 15 && (i === 9 || alone.stats.busy < 16); i++) {
        const err = await alone.run(request(i, 1)).then(() => undefined, (e: unknown) => e);
        expect((err as NoLiveHostError).busy).to.equal(true);
      }
      expect(alone.stats.busy).to.be.at.least(16);
      expect(alone.backoff.avoided(keys[0]!.address)).to.equal(true);
      expect(alone.stats.failed).to.equal(0);
      expect(router.stats.failed).to.equal(0);
    } finally {
      full.gate.open();
      await Promise.all(full.held);
      await full.close();
    }
  });

  it("the router learns what a host admits: after a host admitting 2 refuses the first overshoot, it is sent 2 at a time (no more 429s while it stays full), and the limit grows back as stages are served", async () => {
    const { router, gate, runs } = await burstThroughHostOfTwo(12);
    await new Promise((r) => setTimeout(r, 600)); // the host stays full: a router that did not learn would keep asking
    // 8 sent as one batch, refused whole, then each alone: 2 admitted; each of the 6 refusals lowered the limit to what
    // was still in flight, down to the 2 admitted; nothing more is sent while they run.
    expect(router.slots.limit(keys[0]!.address)).to.equal(2);
    expect(hosts[0]!.server.refused.BUSY).to.equal(7);
    gate.open();
    await Promise.all(runs);
    expect(hosts[0]!.server.served).to.equal(12);
    expect(router.slots.limit(keys[0]!.address)).to.be.within(3, 7); // +1/limit for each of the 12 served
    expect(router.stats).to.include({ stages: 12, failed: 0, busyTimeouts: 0, inFlight: 0, waiting: 0, avoidedHosts: 0 });
    // The 6 refusals of the overshoot, and maybe a few as the host frees a slot only once its answer is flushed.
    expect(router.stats.busy).to.be.within(6, 10);
  });
});
