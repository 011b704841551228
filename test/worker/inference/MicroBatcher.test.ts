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

  it("flushes a partial batch after maxWaitMs", async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>({ maxSize: 100, maxWaitMs: 20, handle: async (xs) => (batches.push(xs), xs) });
    const started = Date.now();
    expect(await Promise.all([batcher.submit(1), batcher.submit(2)])).to.deep.equal([1, 2]);
    expect(Date.now() - started).to.be.gte(15);
    expect(batches).to.deep.equal([[1, 2]]);
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

  it("refuses a result count that does not match the batch", async () => {
    const batcher = new MicroBatcher<number, number>({ maxSize: 2, maxWaitMs: 0, handle: async () => [1] });
    const outcomes = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
    expect(outcomes.map((o) => o.status)).to.deep.equal(["rejected", "rejected"]);
    expect((outcomes[0] as PromiseRejectedResult).reason.message).to.match(/returned 1 results for 2 items/);
  });
});
