import { expect } from "chai";
import { MicroBatcher } from "../../../worker/src/inference/MicroBatcher.js";

describe("MicroBatcher", () => {
  it("cuts batches at maxSize and hands every submitter its own result", async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>({ maxSize: 3, maxWaitMs: 1_000, handle: async (xs) => (batches.push(xs), xs.map((x) => x * 10)) });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => batcher.submit(x)));
    expect(results).to.deep.equal([10, 20, 30, 40, 50, 60]);
    expect(batches).to.deep.equal([[1, 2, 3], [4, 5, 6]]);
  });

  it("idle, starts at once: what is submitted in one turn of the event loop goes together, with no wait", async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>({ maxSize: 100, maxWaitMs: 5_000, handle: async (xs) => (batches.push(xs), xs) });
    const started = Date.now();
    expect(await Promise.all([batcher.submit(1), batcher.submit(2)])).to.deep.equal([1, 2]);
    expect(await batcher.submit(3)).to.equal(3);
    expect(Date.now() - started).to.be.lessThan(1_000);
    expect(batches).to.deep.equal([[1, 2], [3]]);
  });

  it("with idleWaitMs, an idle batcher waits that long for company (fuller batches where transactions are dear)", async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>({ maxSize: 100, maxWaitMs: 0, idleWaitMs: 40, handle: async (xs) => (batches.push(xs), xs) });
    const started = Date.now();
    const first = batcher.submit(1);
    await new Promise((r) => setTimeout(r, 10));
    expect(await Promise.all([first, batcher.submit(2)])).to.deep.equal([1, 2]);
    expect(Date.now() - started).to.be.gte(35);
    expect(batches).to.deep.equal([[1, 2]]);
  });

  it("while a batch is in flight, a partial batch waits at most maxWaitMs for company", async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const batcher = new MicroBatcher<number, number>({
      maxSize: 100,
      maxWaitMs: 40,
      handle: async (xs) => {
        batches.push(xs);
        if (xs.includes(1)) await held; // the first batch stays in flight
        return xs;
      },
    });
    const first = batcher.submit(1);
    await new Promise((r) => setImmediate(r));
    const started = Date.now();
    const second = Promise.all([batcher.submit(2), batcher.submit(3)]);
    await new Promise((r) => setTimeout(r, 10));
    const fourth = batcher.submit(4);
    expect(await second).to.deep.equal([2, 3]);
    expect(await fourth).to.equal(4);
    expect(Date.now() - started).to.be.gte(35);
    expect(batches).to.deep.equal([[1], [2, 3, 4]]);
    release();
    expect(await first).to.equal(1);
  });

  it("handles at most maxInFlight batches: what arrives while every slot is busy goes as one batch when one frees", async () => {
    const batches: number[][] = [];
    const releases: (() => void)[] = [];
    let running = 0;
    let mostRunning = 0;
    const batcher = new MicroBatcher<number, number>({
      maxSize: 100,
      maxWaitMs: 0,
      maxInFlight: 2,
      handle: async (xs) => {
        batches.push(xs);
        mostRunning = Math.max(mostRunning, ++running);
        await new Promise<void>((r) => releases.push(r));
        running--;
        return xs;
      },
    });
    const a = batcher.submit(1);
    await new Promise((r) => setImmediate(r));
    const b = batcher.submit(2); // a slot is free and maxWaitMs is 0: goes at once
    await new Promise((r) => setImmediate(r));
    const rest = [3, 4, 5].map((x) => batcher.submit(x)); // both slots busy: they wait
    await new Promise((r) => setTimeout(r, 20));
    expect(batches).to.deep.equal([[1], [2]]);
    expect(batcher.waiting).to.equal(3);
    releases.shift()!();
    expect(await a).to.equal(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(batches).to.deep.equal([[1], [2], [3, 4, 5]]);
    while (releases.length > 0) releases.shift()!();
    expect(await b).to.equal(2);
    expect(await Promise.all(rest)).to.deep.equal([3, 4, 5]);
    expect(mostRunning).to.equal(2);
  });

  it("starts a full batch without waiting while a slot is free", async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const batcher = new MicroBatcher<number, number>({
      maxSize: 3,
      maxWaitMs: 5_000,
      maxInFlight: 2,
      handle: async (xs) => {
        batches.push(xs);
        if (xs.includes(1)) await held;
        return xs;
      },
    });
    const first = batcher.submit(1);
    await new Promise((r) => setImmediate(r));
    const started = Date.now();
    expect(await Promise.all([2, 3, 4].map((x) => batcher.submit(x)))).to.deep.equal([2, 3, 4]);
    expect(Date.now() - started).to.be.lessThan(1_000);
    expect(batches).to.deep.equal([[1], [2, 3, 4]]);
    release();
    await first;
  });

  it("rejects every submitter of a failed batch, and drain() waits for batches in flight", async () => {
    let finished = 0;
    const batcher = new MicroBatcher<number, number>({
      maxSize: 2,
      maxWaitMs: 1_000,
      handle: async (xs) => {
        await new Promise((r) => setTimeout(r, 20));
        finished++;
        if (xs.includes(13)) throw new Error("unlucky batch");
        return xs;
      },
    });
    const bad = [batcher.submit(13), batcher.submit(14)].map((p) => p.then(() => "ok", (e: Error) => e.message));
    const lone = batcher.submit(1);
    await batcher.drain();
    expect(finished).to.equal(2);
    expect(await Promise.all(bad)).to.deep.equal(["unlucky batch", "unlucky batch"]);
    expect(await lone).to.equal(1);
  });

  it("refuses a maxInFlight that is not a whole number of batches", () => {
    const handle = async (xs: number[]) => xs;
    expect(() => new MicroBatcher<number, number>({ maxSize: 1, maxWaitMs: 0, maxInFlight: 0, handle })).to.throw(RangeError);
    expect(() => new MicroBatcher<number, number>({ maxSize: 1, maxWaitMs: 0, maxInFlight: 1.5, handle })).to.throw(RangeError);
  });

  it("refuses a result count that does not match the batch", async () => {
    const batcher = new MicroBatcher<number, number>({ maxSize: 2, maxWaitMs: 0, handle: async () => [1] });
    const outcomes = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
    expect(outcomes.map((o) => o.status)).to.deep.equal(["rejected", "rejected"]);
    expect((outcomes[0] as PromiseRejectedResult).reason.message).to.match(/returned 1 results for 2 items/);
  });
});
