import { expect } from "chai";
import { keccak256 } from "ethers";
import { activationHash } from "../../../worker/src/shards/ActivationHash.js";
import { randomBytes } from "./transport/fixtures.js";

describe("activationHash: keccak256 of activations (WebAssembly), the hash the market checks", () => {
  it("equals ethers' keccak256 on empty, odd-sized, rate-sized and large inputs, and on views into larger buffers", () => {
    for (const n of [0, 1, 135, 136, 137, 16_384, 1_048_576 + 3]) {
      const bytes = randomBytes(n, n + 1);
      expect(activationHash(bytes), `${n} bytes`).to.equal(keccak256(bytes));
    }
    const big = randomBytes(4096, 7);
    const view = big.subarray(100, 3000);
    expect(activationHash(view)).to.equal(keccak256(view));
  });
});
