import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { BrowserProvider, Wallet } from "ethers";
import { network } from "hardhat";
import { AccountNonceManager } from "../../../worker/src/chain/AccountNonceManager.js";
import { nonceLockKey, RedisNonceLock, type NonceTurn } from "../../../worker/src/chain/RedisNonceLock.js";
import { TxSender } from "../../../worker/src/chain/TxSender.js";
import { createRedisConnection } from "../../../worker/src/redis/RedisConnection.js";

const { ethers, provider: eip1193 } = await network.create();
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

async function until(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

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

  it("a next nonce left for one chain is not handed to a restarted node of the same chain id: the key names the genesis", async function () {
    const redis = createRedisConnection(REDIS_URL);
    const prefix = `tessera-test-${randomUUID()}`;
    const address = Wallet.createRandom().address;
    // Two runs of a local node (Anvil, `hardhat node`): chain id 31337 both times, a new genesis (its timestamp) each time.
    const before = nonceLockKey(prefix, 31337n, "0x76FD690BBA10F98E7206D870D9825B3DE021A5F382D429DBD565D7A2B46D9518", address);
    const after = nonceLockKey(prefix, 31337n, "0x7587d330b7cda78297062a23459de3351db0d29dfccf55be66de028e8029bf4f", address);
    expect(before).to.equal(`${prefix}:nonce-lock:31337:0x76fd690bba10f98e7206d870d9825b3de021a5f382d429dbd565d7a2b46d9518:${address.toLowerCase()}`);
    try {
      await new RedisNonceLock(redis, before).run(async (turn) => {
        turn.next = 57;
      });
      const seen = async (key: string) => new RedisNonceLock(redis, key).run(async (turn: NonceTurn) => turn.storedNext);
      expect(await seen(after), "the restarted chain's first holder reads the chain's count").to.equal(undefined);
      expect(await seen(before), "the same chain's next holder is handed the nonce").to.equal(57);
    } finally {
      await redis.del(before, `${before}:next`, after, `${after}:next`);
      await redis.quit();
    }
  });

  /** A provider over the in-process chain that counts JSON-RPC calls by method. */
  function countingProvider(): { provider: BrowserProvider; calls: Map<string, number> } {
    const calls = new Map<string, number>();
    const provider = new BrowserProvider({
      async request(req: { method: string; params?: unknown[] | Record<string, unknown> }) {
        calls.set(req.method, (calls.get(req.method) ?? 0) + 1);
        return eip1193.request(req as { method: string; params?: unknown[] });
      },
    });
    return { provider, calls };
  }

  /** Counts the turns of the lock. */
  class CountingLock extends RedisNonceLock {
    turns = 0;
    override run<T>(fn: (turn: NonceTurn) => Promise<T>): Promise<T> {
      this.turns++;
      return super.run(fn);
    }
  }

  async function fundedKey(): Promise<{ key: string; address: string }> {
    const [funder] = await ethers.getSigners();
    const key = Wallet.createRandom().privateKey;
    const address = new Wallet(key).address;
    await (await funder.sendTransaction({ to: address, value: ethers.parseEther("10") })).wait();
    return { key, address };
  }

  /** A funded key, a contract to call, a Redis connection (quit by the test) and the key's lock name in it. */
  async function lockedKey() {
    const { key, address } = await fundedKey();
    const mock = await ethers.deployContract("EventEmitterMock");
    const redis = createRedisConnection(REDIS_URL);
    const lockKey = `tessera-test-${randomUUID()}:nonce-lock:31337:${address.toLowerCase()}`;
    return { key, address, mock, redis, lockKey };
  }

  it("one turn of the lock carries every send queued in the process, and the next nonce travels with the lock: the chain's pending count is read once", async function () {
    const { key, address, mock, redis, lockKey } = await lockedKey();
    try {
      const processes = [0, 1].map(() => {
        const { provider, calls } = countingProvider();
        const signer = new Wallet(key, provider);
        return { signer, calls, sender: new TxSender({ signer, baseDelayMs: 1, maxAttempts: 1 }), lock: new CountingLock(redis, lockKey) };
      });
      const managers = await Promise.all(processes.map((p) => AccountNonceManager.of(p.signer)));
      processes.forEach((p, i) => managers[i].shareAcrossProcesses(p.lock));
      const results = await Promise.all(processes.flatMap((p, i) => Array.from({ length: 8 }, (_, j) => p.sender.send(mock, "ping", [BigInt(i * 100 + j), 1n, "x"]))));
      expect(results.map((r) => r.nonce).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 16 }, (_, i) => i));
      const turns = processes.reduce((n, p) => n + p.lock.turns, 0);
      expect(turns, "turns of the lock for 16 sends").to.be.lessThan(16);
      const countReads = processes.reduce((n, p) => n + (p.calls.get("eth_getTransactionCount") ?? 0), 0);
      expect(countReads, "pending counts read from the chain").to.equal(1);
      expect(Number(await redis.get(`${lockKey}:next`)), "the next nonce left with the lock").to.equal(16);
      for (const r of results) expect(r.timings.startedAt <= r.timings.simulatedAt && r.timings.simulatedAt <= r.timings.lockedAt && r.timings.lockedAt <= r.timings.sentAt && r.timings.sentAt <= r.timings.minedAt).to.equal(true);
    } finally {
      await redis.quit();
    }
  });

  it("a turn spends the key's time on the nonce, the signature and the broadcast: gas and fees are read before it", async function () {
    const { key, address, mock, redis, lockKey } = await lockedKey();
    try {
      let inTurn = false;
      const inside: string[] = [];
      const provider = new BrowserProvider({
        async request(req: { method: string; params?: unknown[] | Record<string, unknown> }) {
          if (inTurn) inside.push(req.method);
          return eip1193.request(req as { method: string; params?: unknown[] });
        },
      });
      class FlaggingLock extends RedisNonceLock {
        override run<T>(fn: (turn: NonceTurn) => Promise<T>): Promise<T> {
          return super.run(async (turn) => {
            inTurn = true;
            try {
              return await fn(turn);
            } finally {
              inTurn = false;
            }
          });
        }
      }
      const signer = new Wallet(key, provider);
      (await AccountNonceManager.of(signer)).shareAcrossProcesses(new FlaggingLock(redis, lockKey));
      const sender = new TxSender({ signer, baseDelayMs: 1, maxAttempts: 1 });
      await sender.send(mock, "ping", [1n, 1n, "x"]);
      await sender.send(mock, "ping", [2n, 1n, "x"]);
      expect(inside.filter((m) => m !== "eth_chainId")).to.deep.equal(["eth_getTransactionCount", "eth_sendRawTransaction", "eth_sendRawTransaction"]);
    } finally {
      await redis.quit();
    }
  });

  it("a fault seen by one process makes the next turn, whichever process takes it, read the chain's pending count", async function () {
    const { key, address, mock, redis, lockKey } = await lockedKey();
    try {
      const processes = [0, 1].map(() => {
        const { provider, calls } = countingProvider();
        const signer = new Wallet(key, provider);
        return { signer, calls, sender: new TxSender({ signer, baseDelayMs: 1, maxAttempts: 1 }) };
      });
      const managers = await Promise.all(processes.map((p) => AccountNonceManager.of(p.signer)));
      for (const m of managers) m.shareAcrossProcesses(new RedisNonceLock(redis, lockKey));
      const reads = (i: number) => processes[i].calls.get("eth_getTransactionCount") ?? 0;
      await processes[0].sender.send(mock, "ping", [1n, 1n, "x"]);
      await processes[1].sender.send(mock, "ping", [2n, 1n, "x"]);
      expect([reads(0), reads(1)], "only the first turn read the chain").to.deep.equal([1, 0]);
      managers[0].resync("a dropped transaction, say");
      await until(async () => (await redis.exists(`${lockKey}:stale`)) === 1);
      const sent = await processes[1].sender.send(mock, "ping", [3n, 1n, "x"]);
      expect(reads(1), "the other process read the chain").to.equal(1);
      expect(sent.nonce).to.equal(2);
      expect(await redis.exists(`${lockKey}:stale`), "the mark is consumed").to.equal(0);
    } finally {
      await redis.quit();
    }
  });

  it("a chain rolled back under the key (evm_revert) heals: the send beyond the chain's nonce is refused, the nonce re-read, and it lands", async function () {
    const { key, address, mock, redis, lockKey } = await lockedKey();
    try {
      const signer = new Wallet(key, new BrowserProvider(eip1193));
      (await AccountNonceManager.of(signer)).shareAcrossProcesses(new RedisNonceLock(redis, lockKey));
      const sender = new TxSender({ signer, baseDelayMs: 1, maxAttempts: 3 });
      const snapshot = await eip1193.request({ method: "evm_snapshot" });
      await sender.send(mock, "ping", [1n, 1n, "x"]);
      await sender.send(mock, "ping", [2n, 1n, "x"]);
      expect(await redis.get(`${lockKey}:next`)).to.equal("2");
      await eip1193.request({ method: "evm_revert", params: [snapshot] });
      const sent = await sender.send(mock, "ping", [3n, 1n, "x"]);
      expect(sent.nonce).to.equal(0);
      expect(sent.attempts).to.equal(2);
      expect(await redis.get(`${lockKey}:next`)).to.equal("1");
    } finally {
      await redis.quit();
    }
  });

  it("a nonce moved outside the lock (the key used elsewhere) heals: the stale send fails on its nonce, that process reads the chain, and it lands", async function () {
    const { key, address, mock, redis, lockKey } = await lockedKey();
    try {
      const signer = new Wallet(key, new BrowserProvider(eip1193));
      const manager = await AccountNonceManager.of(signer);
      manager.shareAcrossProcesses(new RedisNonceLock(redis, lockKey));
      const sender = new TxSender({ signer, baseDelayMs: 1, maxAttempts: 3 });
      await sender.send(mock, "ping", [1n, 1n, "x"]);
      expect(await redis.get(`${lockKey}:next`)).to.equal("1");
      // The operator sends with the same key by hand: the chain's nonce moves past what the lock carries.
      await (await new Wallet(key, ethers.provider).sendTransaction({ to: address, value: 0n })).wait();
      const resyncs = manager.resyncs;
      const sent = await sender.send(mock, "ping", [2n, 1n, "x"]);
      expect(sent.nonce).to.equal(2);
      expect(sent.attempts).to.equal(2);
      expect(manager.resyncs).to.be.greaterThan(resyncs);
      expect(await redis.get(`${lockKey}:next`)).to.equal("3");
      expect(await mock.counter()).to.equal(2n);
    } finally {
      await redis.quit();
    }
  });
});
