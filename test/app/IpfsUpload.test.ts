import { createServer, request, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { addToIpfs, unixfsCidOf } from "../../client/src/IpfsUpload.js";
import { ipfsAddEndpoint } from "../../scripts/app/IpfsAddEndpoint.js";
import { EmbeddedContentStore } from "../../worker/src/ipfs/EmbeddedContentStore.js";

const bytesOf = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + (i >> 9)) % 251);

async function caught(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected a rejection");
}

describe("Uploads from a page: Kubo's /api/v0/add over the app's store, the CID checked in the page (IpfsUpload, IpfsAddEndpoint)", function () {
  this.timeout(60_000);
  let directory: string;
  let store: EmbeddedContentStore;
  let reference: EmbeddedContentStore;
  let server: Server;
  let api: string;
  /** When set, the server answers this instead of the store's CID (a node that lies or kept other bytes). */
  let lie: string | undefined;

  before(async () => {
    directory = await mkdtemp(path.join(tmpdir(), "tessera-ipfs-add-"));
    store = await EmbeddedContentStore.open(path.join(directory, "served"));
    reference = await EmbeddedContentStore.open(path.join(directory, "reference"));
    const endpoint = ipfsAddEndpoint(store, { maxUploadBytes: 1 << 20 });
    server = createServer((req, res) => {
      if (lie !== undefined && req.url?.startsWith("/api/v0/add")) {
        res.writeHead(200, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ Name: "x", Hash: lie, Size: "1" }) + "\n");
      }
      endpoint(req, res, () => {
        res.writeHead(404);
        res.end("not here");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await store.close();
    await reference.close();
    await rm(directory, { recursive: true, force: true });
  });

  it("the page computes the CID every Tessera store gives the bytes: one block, the chunk edge, several chunks, an empty file", async () => {
    for (const size of [0, 1, 1000, 262_144, 262_145, 700_000]) {
      const bytes = bytesOf(size);
      expect(await unixfsCidOf(bytes), `${size} bytes`).to.equal(await reference.add(bytes));
    }
  });

  it("adds through the endpoint: the CID answered is the one computed for the bytes, and the store holds them", async () => {
    for (const size of [5, 262_145]) {
      const bytes = bytesOf(size, 3);
      const cid = await addToIpfs(api, bytes, "dataset.enc");
      expect(cid).to.equal(await reference.add(bytes));
      expect(Buffer.from(await store.get(cid)).equals(Buffer.from(bytes))).to.equal(true);
    }
  });

  it("a node that answers another CID is named, and the page does not take its word", async () => {
    const bytes = bytesOf(64, 5);
    lie = await reference.add(bytesOf(64, 6));
    try {
      expect(await caught(addToIpfs(api, bytes, "envelopes.json"))).to.equal(`The IPFS node ${api} stored envelopes.json as ${lie}, not ${await unixfsCidOf(bytes)}: it did not keep these bytes; choose another node.`);
    } finally {
      lie = undefined;
    }
    expect(await caught(addToIpfs("http://127.0.0.1:9", bytes, "dataset.enc"))).to.equal("The IPFS node http://127.0.0.1:9 could not be reached to upload dataset.enc: check its address (Account page).");
  });

  it("refuses what is not one upload from the page's origin, each with its status and sentence, and stores nothing then", async () => {
    const form = (files: number) => {
      const f = new FormData();
      for (let i = 0; i < files; i++) f.append(`file${i}`, new Blob([bytesOf(10, i + 20)]), `f${i}`);
      return f;
    };
    const post = async (url: string, init: RequestInit): Promise<[number, string]> => {
      const response = await fetch(`${api}${url}`, init);
      return [response.status, await response.text()];
    };
    expect(await post("/api/v0/add", { method: "GET" })).to.deep.equal([405, "add takes POST"]);
    expect(await post("/api/v0/add", { method: "POST", body: form(1), headers: { origin: "https://evil.example" } })).to.deep.equal([403, "uploads from https://evil.example are not accepted"]);
    expect(await post("/api/v0/add?cid-version=0", { method: "POST", body: form(1) })).to.deep.equal([400, "this node adds with cid-version=1 only (asked 0)"]);
    expect(await post("/api/v0/add?chunker=size-1048576", { method: "POST", body: form(1) })).to.deep.equal([400, "this node adds with chunker=size-262144 only (asked size-1048576)"]);
    expect(await post("/api/v0/add", { method: "POST", body: "raw bytes", headers: { "content-type": "application/octet-stream" } })).to.deep.equal([415, "add takes a multipart/form-data body with one file"]);
    expect(await post("/api/v0/add", { method: "POST", body: form(2) })).to.deep.equal([400, "add takes one file per call (got 2)"]);
    expect(await post("/api/v0/add", { method: "POST", body: form(0) })).to.deep.equal([400, "add takes one file per call (got 0)"]);
    const big = new FormData();
    big.append("file", new Blob([bytesOf((1 << 20) + 1)]), "big");
    expect(await post("/api/v0/add", { method: "POST", body: big })).to.deep.equal([413, `the upload is over ${1 << 20} bytes`]);
    for (const i of [0, 1]) expect(await store.has(await reference.add(bytesOf(10, i + 20))), `file ${i}`).to.equal(false);
    expect(await store.has(await reference.add(bytesOf((1 << 20) + 1)))).to.equal(false);
    // Its own origin is welcome, and the exact parameters are.
    const [status, body] = await post(`/api/v0/add?cid-version=1&raw-leaves=true&chunker=size-262144&pin=true`, { method: "POST", body: form(1), headers: { origin: api } });
    expect(status).to.equal(200);
    expect(JSON.parse(body)).to.deep.equal({ Name: "f0", Hash: await reference.add(bytesOf(10, 20)), Size: "10" });
    expect(await post("/api/v0/other", { method: "POST" })).to.deep.equal([404, "not here"]);
  });

  it("at most two uploads are added at once (each holds its body in memory): a third is told to try again, and goes through once one ends", async () => {
    const boundary = "tessera-test-boundary";
    /** An upload whose body is sent in part and held open until `finish` is called. */
    const held = () => {
      const req = request(`${api}/api/v0/add`, { method: "POST", headers: { "content-type": `multipart/form-data; boundary=${boundary}` } });
      const answered = new Promise<number>((resolve, reject) => {
        req.on("response", (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode!));
        });
        req.on("error", reject);
      });
      req.write(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="held"\r\ncontent-type: application/octet-stream\r\n\r\n`);
      return { answered, finish: (content: string) => req.end(`${content}\r\n--${boundary}--\r\n`) };
    };
    const first = held();
    const second = held();
    await new Promise((resolve) => setTimeout(resolve, 200)); // both admitted
    const third = new FormData();
    third.append("file", new Blob([bytesOf(12, 40)]), "third");
    const refused = await fetch(`${api}/api/v0/add`, { method: "POST", body: third });
    expect([refused.status, refused.headers.get("retry-after"), await refused.text()]).to.deep.equal([503, "1", "2 uploads are being added: try again in a moment"]);
    first.finish("one");
    expect(await first.answered).to.equal(200);
    const again = new FormData();
    again.append("file", new Blob([bytesOf(12, 40)]), "third");
    expect((await fetch(`${api}/api/v0/add`, { method: "POST", body: again })).status).to.equal(200);
    second.finish("two");
    expect(await second.answered).to.equal(200);
  });
});
