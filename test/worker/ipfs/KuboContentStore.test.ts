import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ContentStoreUnavailableError } from "../../../worker/src/ipfs/ContentStoreError.js";
import { createContentStore } from "../../../worker/src/ipfs/createContentStore.js";
import { KuboContentStore } from "../../../worker/src/ipfs/KuboContentStore.js";

// Port 1 on loopback: nothing listens there, so connections are refused at once.
const UNREACHABLE_URL = "http://127.0.0.1:1";

describe("KuboContentStore", () => {
  it("names the unreachable node in its error and marks it retryable", async () => {
    const store = new KuboContentStore({ url: UNREACHABLE_URL, timeoutMs: 2_000 });
    expect(store.kind).to.equal("kubo");
    let caught: unknown;
    await store.add(new TextEncoder().encode("hello world\n")).catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(ContentStoreUnavailableError);
    expect((caught as Error).message).to.contain(`Kubo RPC API at ${UNREACHABLE_URL} is unreachable (add)`);
    expect((caught as ContentStoreUnavailableError).retryable).to.equal(true);
    expect((caught as Error).cause).to.not.equal(undefined);
  });

  it("fails at start-up when createContentStore is given an unreachable URL", async () => {
    let caught: unknown;
    await createContentStore({ ipfsApiUrl: UNREACHABLE_URL }).catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(ContentStoreUnavailableError);
    expect((caught as Error).message).to.contain("(version)");
  });

  it("falls back to the embedded store without a URL", async () => {
    const directory = await mkdtemp(path.join(tmpdir(), "tessera-ipfs-"));
    const store = await createContentStore({ ipfsDir: directory });
    try {
      expect(store.kind).to.equal("embedded");
    } finally {
      await store.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
