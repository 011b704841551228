import { expect } from "chai";
import { PrivateRedisServer, findOnPath, freePort } from "../../../worker/src/redis/PrivateRedisServer.js";
import { createRedisConnection, pingRedis, resolveRedis } from "../../../worker/src/redis/RedisConnection.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const hasRedisServer = findOnPath("redis-server") !== undefined;

describe("Redis", () => {
  it("PrivateRedisServer starts on a free port, answers PING, and stops", async function () {
    if (!hasRedisServer) {
      console.log("    skipped: redis-server is not on PATH");
      this.skip();
    }
    const server = await PrivateRedisServer.start();
    try {
      const client = createRedisConnection(server.url, { forWorker: true });
      expect(await client.ping()).to.equal("PONG");
      expect(client.options.maxRetriesPerRequest).to.equal(null);
      expect(await client.config("GET", "save")).to.deep.equal(["save", ""]);
      await client.quit();
    } finally {
      await server.stop();
      await server.stop();
    }
    expect(await pingRedis(server.url, 300)).to.be.instanceOf(Error);
  });

  it("resolveRedis names REDIS_URL when it is unreachable", async () => {
    const port = await freePort();
    const error = await resolveRedis({ redisUrl: `redis://:secret@127.0.0.1:${port}`, dataDir: tmpdir() }).catch((e: unknown) => e);
    expect((error as Error).message).to.match(/^REDIS_URL=redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? is unreachable/);
    expect((error as Error).message).not.to.include("secret");
  });

  it("resolveRedis falls back to a private server, or explains what to install", async function () {
    const dataDir = await mkdtemp(join(tmpdir(), "tessera-data-"));
    const deadLocal = `redis://127.0.0.1:${await freePort()}`;
    try {
      const missing = await resolveRedis({ dataDir, localUrl: deadLocal, path: "" }).catch((e: unknown) => e);
      expect((missing as Error).message).to.include("redis-server").and.include("REDIS_URL");

      if (!hasRedisServer) {
        console.log("    skipped the private-server half: redis-server is not on PATH");
        return;
      }
      const resolved = await resolveRedis({ dataDir, localUrl: deadLocal });
      expect(resolved.source).to.equal("private");
      expect(await pingRedis(resolved.url)).to.equal(true);
      await resolved.stop();
      expect(await pingRedis(resolved.url, 300)).to.be.instanceOf(Error);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("resolveRedis uses the local Redis when one answers", async function () {
    if ((await pingRedis("redis://127.0.0.1:6379", 300)) !== true) this.skip();
    const resolved = await resolveRedis({ dataDir: tmpdir() });
    expect(resolved.source).to.equal("local");
    await resolved.stop();
  });
});
