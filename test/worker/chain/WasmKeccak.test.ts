import { expect } from "chai";
import { keccak256, randomBytes, Wallet, Transaction, id } from "ethers";
import { installWasmKeccak } from "../../../worker/src/chain/WasmKeccak.js";

/**
 * The worker daemon swaps ethers' JavaScript Keccak for hash-wasm's: every hash ethers computes afterwards (signatures,
 * transaction hashes, topics, checksums) must be the very same bytes, at every length around Keccak's 136-byte rate.
 */
describe("WasmKeccak: ethers' keccak256 computed by WebAssembly", () => {
  const javascriptKeccak = (data: Uint8Array) => keccak256._(data);

  it("hashes every length around the 136-byte block, and a megabyte, as ethers' own does", async () => {
    const inputs = [0, 1, 31, 32, 135, 136, 137, 271, 272, 273, 4_096, 1 << 20].map((n) => randomBytes(n));
    const expected = inputs.map((b) => Buffer.from(javascriptKeccak(b)).toString("hex"));
    installWasmKeccak();
    installWasmKeccak(); // idempotent
    expect(inputs.map((b) => keccak256(b).slice(2))).to.deep.equal(expected);
    expect(keccak256(new Uint8Array())).to.equal("0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    expect(id("Transfer(address,address,uint256)")).to.equal("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
  });

  it("signs a transaction whose hash and sender recover as before", async () => {
    installWasmKeccak();
    const wallet = Wallet.createRandom();
    const signed = await wallet.signTransaction({ to: wallet.address, nonce: 7, gasLimit: 21_000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n, chainId: 31_337n, data: "0x" + "ab".repeat(20_000), type: 2 });
    const tx = Transaction.from(signed);
    expect(tx.from).to.equal(wallet.address);
    expect(tx.hash).to.equal("0x" + Buffer.from(javascriptKeccak(Buffer.from(signed.slice(2), "hex"))).toString("hex"));
  });
});
