import { ZeroAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { formatAmount } from "../lib/Amounts.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";
import { findRequested, parseRequestId } from "./RequestHistory.js";

interface RefundArgs {
  deployment: string;
  account: string;
  id: string | undefined;
}

export interface RefundResult {
  requestId: bigint;
  txHash: string;
  requester: string;
  fee: bigint;
  slashed: bigint;
}

/**
 * Refunds an expired request to its requester's credit (anyone may send it). The terms come from
 * the request's `InferenceRequested` event; the market re-hashes them to the id.
 */
export default async function refund(args: RefundArgs, hre: HardhatRuntimeEnvironment): Promise<RefundResult> {
  const requestId = parseRequestId(args.id);
  const session = await Session.open(hre, args.deployment);
  const sender = await session.signer(args.account);
  const { market, workerRegistry } = session.contracts;
  const { request } = await findRequested(session, requestId);
  const currency = request.paymentToken === ZeroAddress ? "eth" : "tsr";

  const state = await market.requestState(requestId);
  if (state.status === 0n) {
    throw taskError(`request ${requestId} is already settled (fulfilled or refunded); see \`npx hardhat infer status --id ${requestId}\``);
  }
  const now = await session.now();
  const deadline = Number(request.deadline);
  if (now <= deadline) {
    throw taskError(
      `request ${requestId}: deadline not passed: it is ${new Date(deadline * 1000).toISOString()}, the chain's time is ${new Date(now * 1000).toISOString()} (${deadline - now + 1} s to go)`,
    );
  }
  const receipt = await session.send(sender, market, "refund", [request]);
  let slashed = 0n;
  for (const log of receipt.logs) {
    const parsed = workerRegistry.interface.parseLog(log);
    if (parsed?.name === "WorkerSlashed") slashed += parsed.args.slashed as bigint;
  }
  printFields(`Refunded request ${requestId}`, [
    ["transaction", receipt.hash],
    ["credited", `${formatAmount(request.fee, currency)} to ${request.requester} (withdraw with \`npx hardhat market withdraw --token ${currency}\`)`],
    ...(slashed > 0n ? ([["lapsed claimant", `${state.claimant} slashed ${formatAmount(slashed, "tsr")}`]] as [string, unknown][]) : []),
  ]);
  return { requestId, txHash: receipt.hash, requester: request.requester, fee: request.fee, slashed };
}
