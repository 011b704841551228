import { expect } from "chai";
import { BrowserProvider, Wallet, type Eip1193Provider } from "ethers";
import { network } from "hardhat";
import { TxSender } from "../../../worker/src/chain/TxSender.js";
import { ContractRevertError } from "../../../worker/src/errors.js";

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

  it("does not retry an unrecoverable failure", async () => {
    const { wallet, mock } = await fixture();
    const sender = new TxSender({ signer: wallet, baseDelayMs: 1 });
    const nonceBefore = await ethers.provider.getTransactionCount(wallet.address, "pending");
    const error = await sender.send(mock, "failWithPanic", [0n]).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ContractRevertError);
    expect((error as Error).message).to.include("Panic(18)");
    expect(await ethers.provider.getTransactionCount(wallet.address, "pending")).to.equal(nonceBefore);
  });
});
