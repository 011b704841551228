import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { BrowserProvider, Wallet } from "ethers";
import { network } from "hardhat";
import { AccountNonceManager } from "../../../worker/src/chain/AccountNonceManager.js";
import { RedisNonceLock } from "../../../worker/src/chain/RedisNonceLock.js";
import { TxSender } from "../../../worker/src/chain/TxSender.js";
import { createRedisConnection } from "../../../worker/src/redis/RedisConnection.js";

const { ethers, provider: eip1193 } = await network.create();
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/**
 * Two processor processes of one operator sign with one key. Each has its own provider, so its own nonce manager:
 * without a shared lock both read the same pending count and send two transactions with one nonce.
 */
describe("One key, several processes: nonces through a Redis lock", function () {
  it("twelve concurrent sends from two 'processes' land with twelve distinct, gapless nonces and no resync", async function () {
    const [funder] = await ethers.getSigners();
    const key = Wallet.createRandom().privateKey;
    const address = new Wallet(key).address;
    await (await funder.sendTransaction({ to: address, value: ethers.parseEther("10") })).wait();
    const mock = await ethers.deployContract("EventEmitterMock");
    const redis = createRedisConnection(REDIS_URL);
    const lockKey = `tessera-test-${randomUUID()}:nonce-lock:31337:${address.toLowerCase()}`;
    try {
      const processes = [0, 1].map(() => {
        const signer = new Wallet(key, new BrowserProvider(eip1193));
        return { signer, sender: new TxSender({ signer, baseDelayMs: 1, maxAttempts: 1 }) };
      });
      const managers = await Promise.all(processes.map((p) => AccountNonceManager.of(p.signer)));
      expect(managers[0]).to.not.equal(managers[1]);
      for (const m of managers) m.shareAcrossProcesses(new RedisNonceLock(redis, lockKey));
      const sends = processes.flatMap((p, i) => Array.from({ length: 6 }, (_, j) => p.sender.send(mock, "ping", [BigInt(i * 100 + j), 1n, "x"])));
      const results = await Promise.all(sends);
      const nonces = results.map((r) => r.nonce).sort((a, b) => a - b);
      expect(nonces).to.deep.equal(Array.from({ length: 12 }, (_, i) => i));
      expect(managers.map((m) => m.resyncs)).to.deep.equal([0, 0]);
      expect(await mock.counter()).to.equal(12n);
      expect(await redis.exists(lockKey), "the lease is released").to.equal(0);
    } finally {
      await redis.quit();
    }
  });
});
