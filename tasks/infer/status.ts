import { getBytes, ZeroAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { decodeAnswer } from "../../scripts/lib/InferenceClient.js";
import type { DecodedOutput } from "../../worker/src/ml/codecs/OutputCodec.js";
import { decodeClass } from "../../worker/src/ml/InferenceCodec.js";
import { readManifest } from "../../worker/src/ml/ModelArtifacts.js";
import { codecsOf } from "../../worker/src/ml/ModelManifest.js";
import { openContentStore } from "../lib/ContentStores.js";
import { formatAmount } from "../lib/Amounts.js";
import { cidToString } from "../lib/Cids.js";
import { printFields } from "../lib/Printer.js";
import { taskError } from "../lib/TaskError.js";
import { Session } from "../lib/Session.js";
import { findRequested, parseRequestId } from "./RequestHistory.js";

const OUTPUT_CID = 1;
/** `DeclineReason` in contracts/types/InferenceTypes.sol. */
const DECLINE_REASONS: Record<number, string> = {
  1: "input unavailable (the CID's bytes could not be fetched)",
  2: "input malformed (it does not fit the model's input)",
  3: "model unavailable (the version's weights could not be loaded)",
};

/** A worker's on-chain word on why it will not serve the request (the request stays open to others). */
export interface Decline {
  worker: string;
  reason: number;
  txHash: string;
}

interface StatusArgs {
  deployment: string;
  dataDir: string;
  id: string | undefined;
  wait: number;
}

export type StatusResult =
  | { requestId: bigint; status: "Open" | "Claimed" | "Expired"; deadline: number; claimant?: string; declines: Decline[] }
  | { requestId: bigint; status: "Fulfilled"; worker: string; txHash: string; digit?: number; answer?: DecodedOutput; output: string }
  | { requestId: bigint; status: "Refunded"; txHash: string; fee: bigint; declines: Decline[] };

/** Where a request stands: open or claimed (from the market's storage word), or how it was settled. */
export default async function status(args: StatusArgs, hre: HardhatRuntimeEnvironment): Promise<StatusResult> {
  const requestId = parseRequestId(args.id);
  const session = await Session.open(hre, args.deployment);
  const { market } = session.contracts;
  const requested = await findRequested(session, requestId);
  const { request } = requested;
  const currency = request.paymentToken === ZeroAddress ? "eth" : "tsr";
  const terms: [string, unknown][] = [
    ["requested in", requested.txHash],
    ["requester", request.requester],
    ["model version", request.modelVersionId],
    ["fee", formatAmount(request.fee, currency)],
    ["deadline", new Date(Number(request.deadline) * 1000).toISOString()],
  ];
  if (args.wait > 0) await untilSettled(session, requestId, args.wait);
  const state = await market.requestState(requestId);
  const from = requested.blockNumber;
  const declines: Decline[] = (await market.queryFilter(market.filters.InferenceDeclined(requestId), from)).map((e) => ({
    worker: e.args.worker,
    reason: Number(e.args.reason),
    txHash: e.transactionHash,
  }));
  const declineFields: [string, unknown][] = declines.map((d) => [
    "declined",
    `by ${d.worker}: ${DECLINE_REASONS[d.reason] ?? `reason ${d.reason}`} (${d.txHash})`,
  ]);

  if (state.status === 0n) {
    const [fulfilled] = await market.queryFilter(market.filters.InferenceFulfilled(requestId), from);
    if (fulfilled !== undefined) {
      const output = fulfilled.args.output;
      const isCid = Number(fulfilled.args.outputKind) === OUTPUT_CID;
      const bytes = getBytes(output);
      const answer = isCid ? undefined : await readAnswer(session, args.dataDir, request.modelVersionId, bytes);
      const digit = answer === undefined && !isCid && bytes.length === 1 ? decodeClass(bytes) : undefined;
      const said = answer !== undefined ? describeAnswer(answer.decoded, answer.mnist) : digit !== undefined ? `digit ${digit}` : isCid ? `output CID ${cidToString(output)}` : `output ${output}`;
      printFields(`Request ${requestId}: Fulfilled`, [
        ...terms,
        ["answer", said],
        ["worker", fulfilled.args.worker],
        ["fulfilled in", fulfilled.transactionHash],
      ]);
      return {
        requestId,
        status: "Fulfilled",
        worker: fulfilled.args.worker,
        txHash: fulfilled.transactionHash,
        digit: answer?.mnist === true && answer.decoded.codec === "class-index" ? answer.decoded.classIndex : digit,
        ...(answer === undefined ? {} : { answer: answer.decoded }),
        output,
      };
    }
    const [refunded] = await market.queryFilter(market.filters.InferenceRefunded(requestId), from);
    if (refunded !== undefined) {
      printFields(`Request ${requestId}: Refunded`, [
        ...terms,
        ["refunded", `${formatAmount(refunded.args.fee, currency)} credited to ${refunded.args.requester} (market withdraw)`],
        ["refunded in", refunded.transactionHash],
        ...declineFields,
      ]);
      return { requestId, status: "Refunded", txHash: refunded.transactionHash, fee: refunded.args.fee, declines };
    }
  }
  const now = await session.now();
  const deadline = Number(state.deadline);
  const expired = now > deadline;
  const claimed = state.status === 2n;
  const label = expired ? "Expired" : claimed ? "Claimed" : "Open";
  printFields(`Request ${requestId}: ${label}`, [
    ...terms,
    ...(claimed ? ([["claimant", `${state.claimant} until ${new Date(Number(state.claimExpiry) * 1000).toISOString()}`]] as [string, unknown][]) : []),
    ["time left", expired ? `none: refundable with \`npx hardhat${session.networkFlag} infer refund --id ${requestId}\`` : `${deadline - now} s`],
    ...declineFields,
  ]);
  if (args.wait > 0) {
    // Asked to wait for the answer and none came: a script (or a person) must not go on as if it had.
    throw taskError(
      expired
        ? `no answer: request ${requestId} expired unanswered; its fee is refundable`
        : `no answer within ${args.wait} s: request ${requestId} is still ${label.toLowerCase()}; is a worker serving version ${request.modelVersionId}? (see the worker's log)`,
    );
  }
  return { requestId, status: label, deadline, ...(claimed ? { claimant: state.claimant } : {}), declines };
}

/**
 * The answer as the version's output codec reads it (the manifest from IPFS); undefined, and the raw bytes are shown,
 * when the manifest cannot be read here (another IPFS store) or the bytes are not an answer of that codec.
 */
async function readAnswer(session: Session, dataDir: string, versionId: bigint, bytes: Uint8Array): Promise<{ decoded: DecodedOutput; mnist: boolean } | undefined> {
  let store;
  try {
    const version = await session.contracts.modelRegistry.getVersion(versionId);
    const manifestCid = cidToString(version.manifestCid);
    store = await openContentStore(dataDir);
    const manifest = await readManifest(store, manifestCid);
    const { input } = codecsOf(manifest);
    // A classifier of 28×28 grey images (MNIST's shape): its class is a digit.
    const mnist = input.spec.name === "uint8-image" && input.byteLength === 784 && manifest.outputCodec.name === "class-index";
    return { decoded: decodeAnswer(manifest, bytes), mnist };
  } catch {
    return undefined;
  } finally {
    await store?.close();
  }
}

function describeAnswer(answer: DecodedOutput, mnist: boolean): string {
  const p = (x: number) => x.toFixed(4);
  switch (answer.codec) {
    case "class-index":
      return mnist ? `digit ${answer.classIndex}` : `class ${answer.classIndex}`;
    case "top-k":
      return answer.top.map((t) => `class ${t.classIndex} (p ${p(t.probability)})`).join(", ");
    case "binary-probability":
      return `probability ${p(answer.probability)}`;
    case "float32-tensor":
      return `values [${Array.from(answer.values, (v) => String(v)).join(", ")}]`;
  }
}

/** Polls until the request is answered or refunded, its deadline passed, or `seconds` went by. */
async function untilSettled(session: Session, requestId: bigint, seconds: number): Promise<void> {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const state = await session.contracts.market.requestState(requestId);
    if (state.status === 0n || (await session.now()) > Number(state.deadline) || Date.now() > until) return;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
