import type { Result } from "ethers";
import type { InferenceRequestStruct } from "../../typechain-types/inference/InferenceMarket.js";
import type { Session } from "../lib/Session.js";
import { parseId } from "../lib/Ids.js";
import { taskError } from "../lib/TaskError.js";

export interface RequestedEvent {
  readonly request: InferenceRequestStruct & { fee: bigint; deadline: bigint; paymentToken: string; requester: string; modelVersionId: bigint };
  readonly inputKind: number;
  readonly input: string;
  readonly txHash: string;
  readonly blockNumber: number;
}

/** Parses the required --id option: a decimal or 0x request id. */
export function parseRequestId(value: string | undefined): bigint {
  return parseId(value, "--id", { hex: true });
}

/**
 * The `InferenceRequested` event of a request, searched from the deployment's start block: the
 * only place the full terms live (the market stores one word per open request).
 */
export async function findRequested(session: Session, requestId: bigint): Promise<RequestedEvent> {
  const { market } = session.contracts;
  const events = await market.queryFilter(market.filters.InferenceRequested(requestId), session.deployment.startBlock);
  const event = events[0];
  if (event === undefined) {
    throw taskError(`request ${requestId} not found: no InferenceRequested event on this chain since block ${session.deployment.startBlock}`);
  }
  return {
    request: (event.args.request as unknown as Result).toObject() as RequestedEvent["request"],
    inputKind: Number(event.args.inputKind),
    input: event.args.input,
    txHash: event.transactionHash,
    blockNumber: event.blockNumber,
  };
}
