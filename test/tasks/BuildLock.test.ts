import { mkdirSync, mkdtempSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { withBuildLock } from "../../scripts/lib/BuildLock.js";

describe("withBuildLock: builds in separate processes run one after the other", function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "tessera-build-lock-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("a second build waits for the first (no overlap), and the lock is gone afterwards", async () => {
    const cache = join(dir, "cache");
    const spans: [number, number][] = [];
    const build = (ms: number) => withBuildLock(cache, async () => {
      const start = performance.now();
      await new Promise((r) => setTimeout(r, ms));
      spans.push([start, performance.now()]);
      return ms;
    });
    expect(await Promise.all([build(300), build(50)])).to.deep.equal([300, 50]);
    spans.sort((a, b) => a[0] - b[0]);
    expect(spans[1]![0]).to.be.at.least(spans[0]![1]);
    // Released: a third build takes the lock at once, and a failing build releases it too.
    let failure: unknown;
    try {
      await withBuildLock(cache, async () => Promise.reject(new Error("solc failed")));
    } catch (err) {
      failure = err;
    }
    expect((failure as Error).message).to.equal("solc failed");
    expect(await withBuildLock(cache, async () => "free")).to.equal("free");
  });

  it("takes over a lock left by a killed process once it is stale (30 s without updates)", async () => {
    const cache = join(dir, "cache");
    mkdirSync(`${cache}.lock`, { recursive: true });
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${cache}.lock`, old, old);
    expect(await withBuildLock(cache, async () => "taken over")).to.equal("taken over");
  });
});
