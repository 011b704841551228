import { expect } from "chai";
import { BaseWallet, BrowserProvider, Wallet, type Eip1193Provider } from "ethers";
import { network } from "hardhat";
import { AccountNonceManager } from "../../../worker/src/chain/AccountNonceManager.js";
import { MIN_GAS_HEADROOM, withHeadroom } from "../../../worker/src/chain/GasAndRetries.js";
import { TxSender } from "../../../worker/src/chain/TxSender.js";
import { ContractRevertError } from "../../../worker/src/errors.js";
import { until } from "../../helpers/until.js";

const { ethers, provider: eip1193 } = await network.create();

/** Forwards to the in-process chain but fails the first `eth_sendRawTransaction` like a dropped socket. */
function flakyProvider(): { provider: Eip1193Provider; failures: () => number } {
  let failures = 0;
  const provider: Eip1193Provider = {
    async request(req: { method: string; params?: unknown[] | Record<string, unknown> }) {
      if (req.method === "eth_sendRawTransaction" && failures === 0) {
        failures++;
        throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      }
      return eip1193.request(req as { method: string; params?: unknown[] });
    },
  };
  return { provider, failures: () => failures };
}

/**
 * Forwards to the in-process chain but answers the first `eth_estimateGas` with half the node's estimate. With
 * `txHashKey`, a send error's `data.transactionHash` (in-process EDR) is renamed as Hardhat's JSON-RPC server names it.
 */
function lowEstimateProvider(txHashKey?: "txHash"): { provider: Eip1193Provider; estimates: bigint[] } {
  const estimates: bigint[] = [];
  const provider: Eip1193Provider = {
    async request(req: { method: string; params?: unknown[] | Record<string, unknown> }) {
      const answer = await eip1193.request(req as { method: string; params?: unknown[] }).catch((err: { data?: Record<string, unknown> }) => {
        if (txHashKey !== undefined && err.data?.transactionHash !== undefined) {
          const { transactionHash, ...rest } = err.data;
          err.data = { ...rest, [txHashKey]: transactionHash };
        }
        throw err;
      });
      if (req.method !== "eth_estimateGas") return answer;
      const estimate = BigInt(answer as string);
      const given = estimates.length === 0 ? estimate / 2n : estimate;
      estimates.push(given);
      return "0x" + given.toString(16);
    },
  };
  return { provider, estimates };
}

/**
 * A TxSender for `wallet` whose every `eth_sendRawTransaction` goes through `broadcast` (which may forward it to the
 * chain, fail it, or answer something else); every other call reaches the chain as it is.
 */
function senderWithBroadcast(wallet: BaseWallet, broadcast: (forward: () => Promise<unknown>) => Promise<unknown>): TxSender {
  const provider: Eip1193Provider = {
    async request(req: { method: string; params?: unknown[] | Record<string, unknown> }) {
      const forward = () => eip1193.request(req as { method: string; params?: unknown[] });
      return req.method === "eth_sendRawTransaction" ? broadcast(forward) : forward();
    },
  };
  const signer = wallet.connect(new BrowserProvider(provider, undefined, { pollingInterval: 20, cacheTimeout: -1 }));
  return new TxSender({ signer, baseDelayMs: 1, maxAttempts: 3 });
}

describe("TxSender", () => {
  async function fixture() {
    const [funder] = await ethers.getSigners();
    const wallet = Wallet.createRandom(ethers.provider);
    await (await funder.sendTransaction({ to: wallet.address, value: ethers.parseEther("10") })).wait();
    const mock = await ethers.deployContract("EventEmitterMock");
    return { wallet, mock };
  }

  it("simulates first: a revert throws a ContractRevertError naming the custom error, and nothing is sent", async () => {
    const { wallet, mock } = await fixture();
    const sender = new TxSender({ signer: wallet, baseDelayMs: 1 });
    const nonceBefore = await ethers.provider.getTransactionCount(wallet.address, "pending");
    const blockBefore = await ethers.provider.getBlockNumber();

    const error = await sender.send(mock, "fail", [42n]).then(
      () => expect.fail("send should have thrown"),
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ContractRevertError);
    expect((error as Error).message).to.include(`EventEmitterMockFailed(42, ${wallet.address})`);
    expect((error as ContractRevertError).revert?.args).to.deep.equal([42n, wallet.address]);
    expect(await ethers.provider.getTransactionCount(wallet.address, "pending")).to.equal(nonceBefore);
    expect(await ethers.provider.getBlockNumber()).to.equal(blockBefore);
  });

  it("serializes 20 concurrent sends onto distinct consecutive nonces, all mined", async () => {
    const { wallet, mock } = await fixture();
    const sender = new TxSender({ signer: wallet, baseDelayMs: 1 });
    const start = await ethers.provider.getTransactionCount(wallet.address, "pending");

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sender.send(mock, "ping", [BigInt(i), 1n, `n${i}`])),
    );

    expect(results.map((r) => r.nonce).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 20 }, (_, i) => start + i));
    for (const r of results) {
      expect(r.receipt.status).to.equal(1);
      expect(r.gasUsed > 0n).to.equal(true);
    }
    expect(await mock.counter()).to.equal(20n);
    expect(await ethers.provider.getTransactionCount(wallet.address)).to.equal(start + 20);
  });

  it("retries a transient network failure and succeeds, with the nonce re-read", async () => {
    const { wallet, mock } = await fixture();
    const flaky = flakyProvider();
    const signer = wallet.connect(new BrowserProvider(flaky.provider, undefined, { pollingInterval: 20 }));
    const sender = new TxSender({ signer, baseDelayMs: 5, maxAttempts: 3 });
    const start = await ethers.provider.getTransactionCount(wallet.address);

    const first = await sender.send(mock, "ping", [1n, 2n, "after a hiccup"]);
    const second = await sender.send(mock, "ping", [2n, 2n, "next"]);

    expect(flaky.failures()).to.equal(1);
    expect(first.attempts).to.equal(2);
    expect(first.nonce).to.equal(start);
    expect(second.nonce).to.equal(start + 1);
    expect(await mock.counter()).to.equal(2n);
  });

  it("headroom: 20 % of the estimate, and never less than 25,000 gas (a slot set again from zero)", () => {
    expect(MIN_GAS_HEADROOM).to.equal(25_000n);
    expect(withHeadroom(40_000n, 20n)).to.equal(65_000n); // 20 % would be 8,000
    expect(withHeadroom(125_000n, 20n)).to.equal(150_000n); // exactly 25,000 either way
    expect(withHeadroom(125_001n, 20n)).to.equal(150_002n); // 25,000.2 rounded up
    expect(withHeadroom(1_000_000n, 20n)).to.equal(1_200_000n);
  });

  it("adds the headroom to the node's estimate; a caller's own gas limit is kept as given", async () => {
    const { wallet, mock } = await fixture();
    const sender = new TxSender({ signer: wallet, baseDelayMs: 1 });
    const estimate = await mock.connect(wallet).pingMany.estimateGas(10n, 5n);

    const estimated = await sender.send(mock, "pingMany", [10n, 5n]);
    const fixed = await sender.send(mock, "pingMany", [20n, 5n], { gasLimit: estimate + 1_000n });

    expect((await ethers.provider.getTransaction(estimated.hash))!.gasLimit).to.equal(withHeadroom(estimate, 20n));
    expect((await ethers.provider.getTransaction(fixed.hash))!.gasLimit).to.equal(estimate + 1_000n);
    expect(estimated.gasUsed <= estimate).to.equal(true);
  });

  for (const shape of [undefined, "txHash"] as const) {
    it(`a transaction that runs out of gas on chain is sent again with a fresh estimate and more headroom: the effect lands once (send error naming the hash as ${shape ?? "transactionHash"})`, async () => {
      const { wallet, mock } = await fixture();
      const low = lowEstimateProvider(shape);
      // No request cache (as the worker's own provider): ethers would answer the second estimate from the first for 250 ms.
      const signer = wallet.connect(new BrowserProvider(low.provider, undefined, { pollingInterval: 20, cacheTimeout: -1 }));
      const sender = new TxSender({ signer, baseDelayMs: 1, maxAttempts: 3 });
      const start = await ethers.provider.getTransactionCount(wallet.address);
      const counterBefore = await mock.counter();

      const result = await sender.send(mock, "pingMany", [100n, 10n]);

      // First attempt: half the estimate + headroom, mined and failed; second: the true estimate, with 2 x 20 + 20 = 60 % headroom.
      expect(low.estimates).to.have.length(2);
      expect(result.attempts).to.equal(2);
      expect(result.nonce).to.equal(start + 1);
      const failed = (await ethers.provider.getBlock(result.receipt.blockNumber - 1, true))!.prefetchedTransactions.find((t) => t.from === wallet.address)!;
      const failedReceipt = (await ethers.provider.getTransactionReceipt(failed.hash))!;
      expect(failedReceipt.status).to.equal(0);
      expect(failed.gasLimit).to.equal(withHeadroom(low.estimates[0], 20n));
      expect(failedReceipt.gasUsed).to.equal(failed.gasLimit);
      expect((await ethers.provider.getTransaction(result.hash))!.gasLimit).to.equal(withHeadroom(low.estimates[1], 60n));
      expect(await mock.counter()).to.equal(counterBefore + 1n);
      expect(await ethers.provider.getTransactionCount(wallet.address)).to.equal(start + 2);
    });
  }

  it("a send error naming another transaction's hash is not taken for this one: the send is retried and lands once", async () => {
    const { wallet, mock } = await fixture();
    const [funder] = await ethers.getSigners();
    const foreign = (await (await funder.sendTransaction({ to: wallet.address, value: 1n })).wait())!.hash;
    let failed = 0;
    const sender = senderWithBroadcast(wallet, async (forward) => {
      if (failed > 0) return forward();
      failed++;
      throw Object.assign(new Error("header not found"), { code: -32000, data: { txHash: foreign } });
    });
    const start = await ethers.provider.getTransactionCount(wallet.address);

    const result = await sender.send(mock, "ping", [9n, 1n, "not the foreign one"]);

    expect(failed).to.equal(1);
    expect(result.hash).to.not.equal(foreign);
    expect(result.attempts).to.equal(2);
    expect(result.nonce).to.equal(start);
    expect(await mock.counter()).to.equal(1n);
  });

  it("a node answering another hash for a broadcast is not believed: the signed bytes' own hash is tracked, the call lands once", async () => {
    const { wallet, mock } = await fixture();
    const [funder] = await ethers.getSigners();
    const foreign = (await (await funder.sendTransaction({ to: wallet.address, value: 1n })).wait())!.hash;
    let lied = 0;
    const sender = senderWithBroadcast(wallet, async (forward) => {
      await forward();
      lied++;
      return foreign;
    });
    const start = await ethers.provider.getTransactionCount(wallet.address);

    const result = await sender.send(mock, "ping", [10n, 1n, "its own hash"]);

    expect(lied).to.equal(1);
    expect(result.hash).to.not.equal(foreign);
    expect(result.receipt.from).to.equal(wallet.address);
    expect(result.attempts).to.equal(1);
    expect(await ethers.provider.getTransactionCount(wallet.address)).to.equal(start + 1);
    expect(await mock.counter()).to.equal(1n);
  });

  it("does not retry an unrecoverable failure", async () => {
    const { wallet, mock } = await fixture();
    const sender = new TxSender({ signer: wallet, baseDelayMs: 1 });
    const nonceBefore = await ethers.provider.getTransactionCount(wallet.address, "pending");
    const error = await sender.send(mock, "failWithPanic", [0n]).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ContractRevertError);
    expect((error as Error).message).to.include("Panic(18)");
    expect(await ethers.provider.getTransactionCount(wallet.address, "pending")).to.equal(nonceBefore);
  });

  it("shares one nonce manager per key: two senders of one key (two roles) never collide", async () => {
    const { wallet, mock } = await fixture();
    const roleA = new TxSender({ signer: wallet, baseDelayMs: 1 });
    const roleB = new TxSender({ signer: wallet, baseDelayMs: 1 });
    const start = await ethers.provider.getTransactionCount(wallet.address, "pending");

    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? roleA : roleB).send(mock, "ping", [BigInt(i), 1n, `role ${i % 2}`])),
    );

    expect(results.map((r) => r.attempts)).to.deep.equal(Array.from({ length: 16 }, () => 1));
    expect(results.map((r) => r.nonce).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 16 }, (_, i) => start + i));
    expect(await roleA.account()).to.equal(await roleB.account());
    expect(await mock.counter()).to.equal(16n);
  });

  it("follows the key's policy: a sender without a depth of its own resolves only once the transaction is as deep as the daemon set", async () => {
    const { wallet, mock } = await fixture();
    const sender = new TxSender({ signer: wallet, baseDelayMs: 1, pollIntervalMs: 20 });
    (await sender.account()).configure({ confirmations: 3 });
    let done = false;
    const sending = sender.send(mock, "ping", [7n, 1n, "deep"]).then((r) => ((done = true), r));
    const settle = () => new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 100 && (await mock.counter()) === 0n; i++) await settle();
    await settle();
    expect(done).to.equal(false);
    await ethers.provider.send("evm_mine", []);
    await settle();
    expect(done).to.equal(false);
    await ethers.provider.send("evm_mine", []);
    const result = await sending;
    expect(await result.receipt.confirmations()).to.equal(3);
  });

  describe("with the automine off (a node that parks transactions)", () => {
    afterEach(async () => {
      await ethers.provider.send("evm_setAutomine", [true]);
    });

    async function pendingHashes(): Promise<string[]> {
      const block = (await ethers.provider.send("eth_getBlockByNumber", ["pending", false])) as { transactions: string[] };
      return block.transactions;
    }

    it("resyncs the nonce after a dropped transaction: the dropped call is sent again and the next sends still land", async () => {
      const { wallet, mock } = await fixture();
      const sender = new TxSender({ signer: wallet, baseDelayMs: 1, pollIntervalMs: 20, receiptTimeoutMs: 3_000, maxAttempts: 3 });
      const account = await sender.account();
      const dropped: string[] = [];
      account.on("dropped", (d) => dropped.push(d.hash));
      const resyncsBefore = account.resyncs;
      const start = await ethers.provider.getTransactionCount(wallet.address);
      await ethers.provider.send("evm_setAutomine", [false]);

      const first = sender.send(mock, "ping", [1n, 1n, "dropped once"]);
      const [hash] = await until(async () => ((await pendingHashes()).length === 1 ? pendingHashes() : undefined), "pending transaction");
      await ethers.provider.send("hardhat_dropTransaction", [hash]);
      await ethers.provider.send("evm_setAutomine", [true]);

      const landed = await first;
      const next = await sender.send(mock, "ping", [2n, 1n, "after the drop"]);

      expect(dropped).to.deep.equal([hash]);
      expect(account.resyncs).to.be.greaterThan(resyncsBefore);
      expect([landed.nonce, next.nonce]).to.deep.equal([start, start + 1]);
      expect(landed.attempts).to.equal(2);
      expect(await mock.counter()).to.equal(2n);
      expect(await ethers.provider.getTransactionCount(wallet.address)).to.equal(start + 2);
    });

    it("a transaction the state moved under between simulation and mining fails with the reason named, not sent again", async () => {
      const { wallet, mock } = await fixture();
      const [, other] = await ethers.getSigners();
      const sender = new TxSender({ signer: wallet, baseDelayMs: 1, pollIntervalMs: 20, maxAttempts: 3 });
      const start = await ethers.provider.getTransactionCount(wallet.address);
      await ethers.provider.send("evm_setAutomine", [false]);

      const sending = sender.send(mock, "pingIfOpen", []).then(
        () => expect.fail("send should have thrown"),
        (e: unknown) => e,
      );
      await until(async () => ((await pendingHashes()).length === 1 ? true : undefined), "pending transaction");
      // Mined ahead of it (a higher tip): the gate closes under the simulated call.
      await mock.connect(other).setGateClosed(true, { maxPriorityFeePerGas: ethers.parseUnits("50", "gwei"), maxFeePerGas: ethers.parseUnits("100", "gwei") });
      await ethers.provider.send("evm_mine", []);
      const error = await sending;

      expect(error).to.be.instanceOf(ContractRevertError);
      expect((error as Error).message).to.include("EventEmitterMockGateClosed()");
      const block = (await ethers.provider.getBlock("latest", true))!;
      expect(block.prefetchedTransactions.map((t) => t.from)).to.deep.equal([other.address, wallet.address]);
      expect((await ethers.provider.getTransactionReceipt(block.prefetchedTransactions[1].hash))!.status).to.equal(0);
      expect(await ethers.provider.getTransactionCount(wallet.address)).to.equal(start + 1); // sent once
      expect(await mock.counter()).to.equal(0n);
    });

    it("a transaction that failed on chain but passes its simulation again (the state moved and back) is sent again once", async () => {
      const { wallet, mock } = await fixture();
      const [, closer, opener] = await ethers.getSigners();
      const sender = new TxSender({ signer: wallet, baseDelayMs: 1, pollIntervalMs: 20, maxAttempts: 3 });
      const start = await ethers.provider.getTransactionCount(wallet.address);
      await ethers.provider.send("evm_setAutomine", [false]);

      const sending = sender.send(mock, "pingIfOpen", []);
      await until(async () => ((await pendingHashes()).length === 1 ? true : undefined), "pending transaction");
      // In one block: closed ahead of it (higher tip), opened after it (lower tip).
      const tip = (await ethers.provider.getTransaction((await pendingHashes())[0]))!.maxPriorityFeePerGas!;
      const maxFeePerGas = ethers.parseUnits("100", "gwei");
      await mock.connect(closer).setGateClosed(true, { maxPriorityFeePerGas: tip * 10n, maxFeePerGas });
      await mock.connect(opener).setGateClosed(false, { maxPriorityFeePerGas: tip / 10n, maxFeePerGas });
      await ethers.provider.send("evm_mine", []);
      const failedBlock = (await ethers.provider.getBlock("latest", true))!;
      await ethers.provider.send("evm_setAutomine", [true]);
      await ethers.provider.send("evm_mine", []); // the resend, if already pending
      const result = await sending;

      expect(failedBlock.prefetchedTransactions.map((t) => t.from)).to.deep.equal([closer.address, wallet.address, opener.address]);
      expect((await ethers.provider.getTransactionReceipt(failedBlock.prefetchedTransactions[1].hash))!.status).to.equal(0);
      expect(result.attempts).to.equal(2);
      expect(result.nonce).to.equal(start + 1);
      expect(result.receipt.status).to.equal(1);
      expect(await mock.counter()).to.equal(1n);
    });

    it("one that fails that way a second time is not sent again: a call whose simulation cannot be trusted costs a fee each time", async () => {
      const { wallet, mock } = await fixture();
      const [, closer, opener] = await ethers.getSigners();
      const sender = new TxSender({ signer: wallet, baseDelayMs: 1, pollIntervalMs: 20, maxAttempts: 5 });
      const account = await sender.account();
      const failed: string[] = [];
      account.on("failed", (f) => failed.push(`${f.method}:${f.reason}`));
      const start = await ethers.provider.getTransactionCount(wallet.address);
      await ethers.provider.send("evm_setAutomine", [false]);

      const sending = sender.send(mock, "pingIfOpen", []).then(
        () => expect.fail("send should have thrown"),
        (e: unknown) => e,
      );
      const maxFeePerGas = ethers.parseUnits("100", "gwei");
      for (let round = 1; round <= 2; round++) {
        // Each version of the call is sandwiched: closed ahead of it, opened after it, in one block.
        const hash = await until(async () => (await pendingHashes())[0], `pending transaction ${round}`);
        const tip = (await ethers.provider.getTransaction(hash))!.maxPriorityFeePerGas!;
        await mock.connect(closer).setGateClosed(true, { maxPriorityFeePerGas: tip * 10n, maxFeePerGas });
        await mock.connect(opener).setGateClosed(false, { maxPriorityFeePerGas: tip / 10n, maxFeePerGas });
        await ethers.provider.send("evm_mine", []);
      }
      const error = await sending;

      expect(error).to.be.instanceOf(ContractRevertError);
      expect((error as Error).message).to.match(/^pingIfOpen failed on chain twice \(0x[0-9a-f]{64}\) though its simulation passes: not sent again$/);
      expect(failed).to.deep.equal(["pingIfOpen:reverted", "pingIfOpen:reverted"]);
      expect(await ethers.provider.getTransactionCount(wallet.address)).to.equal(start + 2);
      expect(await mock.counter()).to.equal(0n);
    });

    it("replaces a stuck transaction: same nonce, both EIP-1559 fee fields at least 10 % higher, and the replacement is mined", async () => {
      const { wallet, mock } = await fixture();
      const sender = new TxSender({ signer: wallet, baseDelayMs: 1, pollIntervalMs: 20, replaceAfterMs: 300 });
      const account = await sender.account();
      const replaced: { oldHash: string; newHash: string; nonce: number }[] = [];
      account.on("replaced", (r) => replaced.push(r));
      const start = await ethers.provider.getTransactionCount(wallet.address);
      await ethers.provider.send("evm_setAutomine", [false]);

      const sending = sender.send(mock, "ping", [3n, 1n, "stuck"]);
      const [stuckHash] = await until(async () => ((await pendingHashes()).length === 1 ? pendingHashes() : undefined), "pending transaction");
      const stuck = (await ethers.provider.getTransaction(stuckHash))!;
      await until(async () => (replaced.length > 0 ? true : undefined), "replacement");
      const replacement = (await ethers.provider.getTransaction(replaced[0].newHash))!;
      expect(await pendingHashes()).to.deep.equal([replaced[0].newHash]);
      await ethers.provider.send("evm_mine", []);
      const result = await sending;

      expect(replaced[0]).to.deep.include({ oldHash: stuckHash, nonce: start });
      expect(replacement.nonce).to.equal(stuck.nonce);
      expect(replacement.maxFeePerGas! * 10n).to.be.at.least(stuck.maxFeePerGas! * 11n);
      expect(replacement.maxPriorityFeePerGas! * 10n).to.be.at.least(stuck.maxPriorityFeePerGas! * 11n);
      expect(result.hash).to.equal(replaced.at(-1)!.newHash);
      expect(result.nonce).to.equal(start);
      expect(await ethers.provider.getTransactionReceipt(stuckHash)).to.equal(null);
      expect(await mock.counter()).to.equal(1n);
    });
  });
});
