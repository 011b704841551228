import { expect } from "chai";
import { AbiCoder, Interface, id } from "ethers";
import { explainError } from "../../client/src/ErrorSentences.js";
import { tesseraInterfaces } from "../../client/src/TesseraContracts.js";

const interfaces = tesseraInterfaces();
const market = interfaces[0];
/** An ethers CALL_EXCEPTION as a BrowserProvider raises it from a wallet's code-3 error. */
const callException = (data: string) => Object.assign(new Error("execution reverted (action=\"estimateGas\", data=…)"), { code: "CALL_EXCEPTION", data, shortMessage: "execution reverted" });

describe("client: errors as one sentence a person understands", () => {
  it("a declined signature, by EIP-1193 code 4001 or ethers' ACTION_REJECTED, however deeply wrapped", () => {
    const sentence = "You declined the request in your wallet: nothing was sent and nothing was paid.";
    expect(explainError(Object.assign(new Error("User rejected the request."), { code: 4001 }), interfaces)).to.equal(sentence);
    expect(explainError({ code: "UNKNOWN_ERROR", error: { code: "ACTION_REJECTED" } }, interfaces)).to.equal(sentence);
    expect(explainError({ info: { error: { code: 4001, message: "rejected" } } }, interfaces)).to.equal(sentence);
  });

  it("a custom-error revert named with the tasks' hint; without a hint, by its name and arguments; never the hex", () => {
    const deprecated = market.encodeErrorResult("InferenceMarketModelVersionDeprecated", [7n]);
    expect(explainError(callException(deprecated), interfaces)).to.equal("The contract refused: model version 7 is deprecated and takes no new requests.");
    const paused = market.encodeErrorResult("EnforcedPause", []);
    expect(explainError(callException(paused), interfaces)).to.equal("The contract refused with EnforcedPause().");
    const reason = id("Error(string)").slice(0, 10) + AbiCoder.defaultAbiCoder().encode(["string"], ["not allowed"]).slice(2);
    expect(explainError(callException(reason), interfaces)).to.equal("The contract refused: not allowed.");
    // MetaMask's shape for a revert on eth_sendTransaction: the data one level down.
    expect(explainError({ code: -32603, message: "Internal JSON-RPC error.", data: { code: 3, data: deprecated } }, interfaces)).to.equal("The contract refused: model version 7 is deprecated and takes no new requests.");
    const panic = id("Panic(uint256)").slice(0, 10) + AbiCoder.defaultAbiCoder().encode(["uint256"], [0x11]).slice(2);
    expect(explainError(callException(panic), interfaces)).to.equal("The contract stopped on a failed internal check (panic 0x11: arithmetic overflow): nothing changed.");
    const unknown = new Interface(["error Nobody(uint256)"]).encodeErrorResult("Nobody", [1n]);
    expect(explainError(callException(unknown), interfaces)).to.equal("The contract refused the transaction without saying why.");
  });

  it("a transaction the wallet replaced: cancelled (nothing paid) or replaced otherwise (look in the wallet)", () => {
    expect(explainError({ code: "TRANSACTION_REPLACED", reason: "cancelled" }, interfaces)).to.equal("Your wallet cancelled the transaction (replaced it with an empty one): nothing was paid.");
    expect(explainError({ code: "TRANSACTION_REPLACED", reason: "replaced" }, interfaces)).to.equal("Your wallet replaced the transaction with another: look it up in the wallet's activity before trying again.");
  });

  it("too little ETH, an unreachable node, and anything else by its short message as a sentence", () => {
    expect(explainError({ code: "INSUFFICIENT_FUNDS", message: "insufficient funds for intrinsic transaction cost" }, interfaces)).to.equal("Your account has too little ETH to pay for this and its gas.");
    expect(explainError(new TypeError("Failed to fetch"), interfaces)).to.equal("The chain's node could not be reached: check the network connection and the page's node address.");
    expect(explainError(Object.assign(new Error("could not coalesce error (error={ }, code=UNKNOWN_ERROR)"), { shortMessage: "could not coalesce error" }), interfaces)).to.equal("Could not coalesce error.");
    expect(explainError(new Error("Your wallet is on another network: switch it to Tessera local (EDR) first."), interfaces)).to.equal("Your wallet is on another network: switch it to Tessera local (EDR) first.");
    expect(explainError(new Error(""), interfaces)).to.equal("Something went wrong.");
  });
});
