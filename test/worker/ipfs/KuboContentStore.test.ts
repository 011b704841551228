import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { ContentNotFoundError, ContentStoreUnavailableError } from "../../../worker/src/ipfs/ContentStoreError.js";
import { createContentStore } from "../../../worker/src/ipfs/createContentStore.js";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
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

/**
 * A stand-in for Kubo's RPC API that records requests and answers like Kubo does, to check what
 * the real client sends (query parameters) and how answers and Kubo errors are translated.
 */
async function startFakeKubo(content: Map<string, Uint8Array>) {
  const directory = await mkdtemp(path.join(tmpdir(), "tessera-fake-kubo-"));
  const reference = await EmbeddedContentStore.open(directory);
  const requests: URL[] = [];
  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://fake");
    requests.push(url);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const arg = url.searchParams.get("arg") ?? "";
    const fail = (message: string) => {
      response.writeHead(500, { "content-type": "application/json" });
      response.end(JSON.stringify({ Message: message, Code: 0, Type: "error" }));
    };
    switch (url.pathname) {
      case "/api/v0/add": {
        // The multipart body holds the file between the part headers and the closing boundary.
        const boundary = `--${/boundary=(.+)$/.exec(request.headers["content-type"] ?? "")?.[1]}`;
        const start = body.indexOf("\r\n\r\n") + 4;
        const end = body.lastIndexOf(`\r\n${boundary}`);
        const file = new Uint8Array(body.subarray(start, end));
        const cid = await reference.add(file);
        content.set(cid, file);
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ Name: cid, Hash: cid, Size: String(file.length) }) + "\n");
        return;
      }
      case "/api/v0/cat":
        if (!content.has(arg)) return fail(`block was not found locally (offline): ipld: could not find ${arg}`);
        response.writeHead(200, { "content-type": "text/plain" });
        response.end(content.get(arg));
        return;
      case "/api/v0/block/stat":
        if (!content.has(arg)) return fail(`block was not found locally (offline): ipld: could not find ${arg}`);
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ Key: arg, Size: content.get(arg)!.length }));
        return;
      case "/api/v0/pin/add":
        response.writeHead(200, { "content-type": "application/json" });
        response.end(JSON.stringify({ Pins: [arg] }));
        return;
      default:
        return fail(`unknown command ${url.pathname}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    async stop() {
      await new Promise((resolve) => server.close(resolve));
      await reference.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

describe("KuboContentStore against a stand-in for the RPC API", () => {
  it("adds with CIDv1, raw leaves, 256 KiB chunks and pinning, and reads back", async () => {
    const kubo = await startFakeKubo(new Map());
    try {
      const store = new KuboContentStore({ url: kubo.url, timeoutMs: 5_000 });
      const cid = await store.add(new TextEncoder().encode("hello world\n"));
      expect(cid).to.equal("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
      const add = kubo.requests.find((r) => r.pathname === "/api/v0/add")!;
      expect(add.searchParams.get("cid-version")).to.equal("1");
      expect(add.searchParams.get("raw-leaves")).to.equal("true");
      expect(add.searchParams.get("chunker")).to.equal("size-262144");
      expect(add.searchParams.get("pin")).to.equal("true");

      expect(new TextDecoder().decode(await store.get(cid))).to.equal("hello world\n");
      expect(await store.has(cid)).to.equal(true);
      const stat = kubo.requests.find((r) => r.pathname === "/api/v0/block/stat")!;
      expect(stat.searchParams.get("offline")).to.equal("true");
      await store.pin(cid);

      const missing = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
      expect(await store.has(missing)).to.equal(false);
      let caught: unknown;
      await store.get(missing).catch((e: unknown) => (caught = e));
      expect(caught).to.be.instanceOf(ContentNotFoundError);
    } finally {
      await kubo.stop();
    }
  });
});
