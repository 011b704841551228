import { expect } from "chai";
import { network } from "hardhat";
import {
  RetryableError,
  UnrecoverableError,
  classifyError,
  decodeRevert,
  revertDataOf,
} from "../../../worker/src/errors.js";

const { ethers } = await network.create();

describe("errors", () => {
  async function deploy() {
    return ethers.deployContract("EventEmitterMock");
  }

  it("decodeRevert names a custom error with its arguments", async () => {
    const mock = await deploy();
    const [caller] = await ethers.getSigners();
    const err = await mock.fail.staticCall(7n).then(
      () => null,
      (e: unknown) => e,
    );
    expect(classifyError(err)).to.equal("unrecoverable");
    const token = new ethers.Interface(["error ERC20ExceededCap(uint256,uint256)"]);
    const decoded = decodeRevert(revertDataOf(err), [token, mock.interface]);
    expect(decoded).to.deep.equal({
      name: "EventEmitterMockFailed",
      args: [7n, caller.address],
      signature: "EventEmitterMockFailed(uint256,address)",
    });
  });

  it("decodeRevert decodes Error(string) and Panic(uint256), and returns null for unknown data", async () => {
    const mock = await deploy();
    const reason = await mock.failWithReason.staticCall().catch((e: unknown) => e);
    expect(decodeRevert(revertDataOf(reason), [])).to.deep.include({ name: "Error", args: ["EventEmitterMock: reason"] });
    const panic = await mock.failWithPanic.staticCall(0n).catch((e: unknown) => e);
    expect(decodeRevert(revertDataOf(panic), [])).to.deep.include({ name: "Panic", args: [0x12n] });
    expect(decodeRevert("0x12345678", [mock.interface])).to.equal(null);
    expect(decodeRevert("0x", [mock.interface])).to.equal(null);
  });

  it("classifyError separates transport trouble from deterministic failures", () => {
    const retryable: unknown[] = [
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8545"), { code: "ECONNREFUSED" }),
      Object.assign(new Error("timeout"), { code: "TIMEOUT" }),
      Object.assign(new Error("bad response"), { code: "SERVER_ERROR", info: { responseStatus: "503 Service Unavailable" } }),
      Object.assign(new Error("x"), { status: 429 }),
      Object.assign(new Error("could not coalesce error"), { code: "UNKNOWN_ERROR", error: { message: "nonce too low" } }),
      new Error("replacement transaction underpriced"),
      // A dev chain rolled back under the worker (evm_revert, a restart): its next nonce is ahead of the chain's.
      new Error("Nonce too high. Expected nonce to be 8 but got 10. Note that transactions can't be queued when automining."),
      new RetryableError("later"),
      new Error("wrapped", { cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }) }),
    ];
    for (const e of retryable) expect(classifyError(e), String(e)).to.equal("retryable");
    const unrecoverable: unknown[] = [
      Object.assign(new Error("execution reverted"), { code: "CALL_EXCEPTION", data: "0x08c379a0" }),
      new UnrecoverableError("no"),
      new TypeError("undefined is not a function"),
    ];
    for (const e of unrecoverable) expect(classifyError(e), String(e)).to.equal("unrecoverable");
  });
});
