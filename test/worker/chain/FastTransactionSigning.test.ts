import { expect } from "chai";
import { Transaction, Wallet, hexlify, randomBytes, type TransactionRequest } from "ethers";
import { signEip1559 } from "../../../worker/src/chain/FastTransactionSigning.js";

/**
 * The worker signs its EIP-1559 transactions with micro-eth-signer instead of ethers: the signed bytes must be
 * exactly ethers' for every field's range (so that the hash the worker expects is the node's), and anything it does
 * not handle must be left to ethers rather than signed wrongly.
 */
describe("FastTransactionSigning: EIP-1559 signatures byte for byte as ethers makes them", () => {
  const wallet = Wallet.createRandom();
  const base = (): TransactionRequest => ({
    type: 2,
    to: Wallet.createRandom().address,
    from: wallet.address,
    nonce: 0,
    gasLimit: 21_000n,
    maxFeePerGas: 2_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
    chainId: 31_337n,
    value: 0n,
    data: "0x",
  });

  it("gives ethers' exact bytes across nonces, fees, values, chain ids and calldata sizes", async () => {
    const cases: TransactionRequest[] = [
      base(),
      { ...base(), nonce: 1, data: "0x00" },
      { ...base(), nonce: 127, value: 1n, data: hexlify(randomBytes(55)) },
      { ...base(), nonce: 128, value: 10n ** 18n, data: hexlify(randomBytes(56)) },
      { ...base(), nonce: 2 ** 32, gasLimit: 30_000_000n, data: hexlify(randomBytes(32_000)) },
      { ...base(), maxFeePerGas: 10n ** 15n, maxPriorityFeePerGas: 10n ** 15n, chainId: 1n }, // far above any sanity cap
      { ...base(), maxPriorityFeePerGas: 0n, chainId: 8453n, to: "0x000000000000000000000000000000000000dEaD" },
      { ...base(), to: base().to!.toString().toLowerCase(), from: undefined, value: undefined, data: undefined },
    ];
    for (const tx of cases) {
      const fast = signEip1559(wallet, tx);
      const slow = await wallet.signTransaction(tx);
      expect(fast, `nonce ${tx.nonce}`).to.equal(slow);
      expect(Transaction.from(fast!).from).to.equal(wallet.address);
    }
  });

  it("leaves to ethers what it does not sign: legacy, access lists, contract creation, another sender", () => {
    const legacy = { ...base(), type: 0, maxFeePerGas: undefined, maxPriorityFeePerGas: undefined, gasPrice: 1n };
    expect(signEip1559(wallet, legacy)).to.equal(undefined);
    expect(signEip1559(wallet, { ...base(), accessList: [{ address: wallet.address, storageKeys: [] }] })).to.equal(undefined);
    expect(signEip1559(wallet, { ...base(), to: undefined })).to.equal(undefined);
    expect(signEip1559(wallet, { ...base(), from: Wallet.createRandom().address })).to.equal(undefined);
    expect(signEip1559(wallet, { ...base(), nonce: undefined })).to.equal(undefined);
    expect(signEip1559(wallet, { ...base(), accessList: [] })).to.be.a("string");
  });
});
