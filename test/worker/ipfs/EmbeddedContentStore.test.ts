import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { addJson, getJson } from "../../../worker/src/ipfs/ContentStore.js";
import { ContentIntegrityError, ContentNotFoundError } from "../../../worker/src/ipfs/ContentStoreError.js";
import { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";

const HELLO_WORLD_CID = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";

async function listBlockFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(".data")).map((e) => path.join(e.parentPath, e.name));
}

async function flipOneByte(file: string): Promise<void> {
  const bytes = await readFile(file);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  await writeFile(file, bytes);
}

describe("EmbeddedContentStore", () => {
  let directory: string;
  let store: EmbeddedContentStore;

  beforeEach(async () => {
    directory = await mkdtemp(path.join(tmpdir(), "tessera-ipfs-"));
    store = await EmbeddedContentStore.open(directory);
  });

  afterEach(async () => {
    await store.close();
    await rm(directory, { recursive: true, force: true });
  });

  it("gives Kubo's CIDv1 for a small file", async () => {
    const cid = await store.add(new TextEncoder().encode("hello world\n"));
    expect(cid).to.equal(HELLO_WORLD_CID);
    expect(await store.has(cid)).to.equal(true);
    expect(new TextDecoder().decode(await store.get(cid))).to.equal("hello world\n");
  });

  it("round-trips a multi-block file and re-adding gives the same CID", async () => {
    const bytes = new Uint8Array(randomBytes(1_500_000));
    const cid = await store.add(bytes);
    expect(cid).to.match(/^bafybei/); // a dag-pb root over raw leaves
    expect((await listBlockFiles(directory)).length).to.equal(7); // 6 leaves of 256 KiB + root

    const read = await store.get(cid);
    expect(Buffer.from(read).equals(Buffer.from(bytes))).to.equal(true);
    expect(await store.add(bytes)).to.equal(cid);
    // Its size from the root block alone, and its content as chunks of at most one block.
    expect(await store.size(cid)).to.equal(1_500_000);
    const chunks: Uint8Array[] = [];
    for await (const chunk of store.cat(cid)) chunks.push(chunk);
    expect(chunks.map((c) => c.byteLength)).to.deep.equal([262_144, 262_144, 262_144, 262_144, 262_144, 189_280]);
    expect(await store.size(await store.add(bytes.subarray(0, 100)))).to.equal(100);

    await store.close();
    const reopened = await EmbeddedContentStore.open(directory);
    try {
      expect(Buffer.from(await reopened.get(cid)).equals(Buffer.from(bytes))).to.equal(true);
    } finally {
      await reopened.close();
    }
  });

  it("detects a corrupted leaf block on disk", async () => {
    const cid = await store.add(new Uint8Array(randomBytes(600_000)));
    const leaves = [];
    for (const file of await listBlockFiles(directory)) {
      if ((await stat(file)).size === 262_144) leaves.push(file);
    }
    expect(leaves).to.have.length(2);
    await flipOneByte(leaves[1]);

    const error = await store.get(cid).then(
      () => expect.fail("corrupted content was returned"),
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ContentIntegrityError);
    expect((error as ContentIntegrityError).cid).to.equal(cid);
    expect((error as Error).message).to.match(/failed verification.*sha2-256/);
  });

  it("detects a corrupted single-block file", async () => {
    const cid = await store.add(new TextEncoder().encode("hello world\n"));
    const [file] = await listBlockFiles(directory);
    await flipOneByte(file);
    let caught: unknown;
    await store.get(cid).catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(ContentIntegrityError);
  });

  it("reports missing content as not found", async () => {
    let caught: unknown;
    await store.get(HELLO_WORLD_CID).catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(ContentNotFoundError);
    caught = undefined;
    await store.size(HELLO_WORLD_CID).catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(ContentNotFoundError);
    expect(await store.has(HELLO_WORLD_CID)).to.equal(false);
  });

  it("stores and reads JSON documents", async () => {
    const manifest = { format: "tfjs-layers", layers: [784, 200, 10] };
    const cid = await addJson(store, manifest);
    expect(await getJson(store, cid)).to.deep.equal(manifest);
  });
});
