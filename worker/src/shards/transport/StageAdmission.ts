import type { IncomingHttpHeaders } from "node:http2";
import { keccak256 } from "ethers";
import type { Logger } from "../../logger.js";
import type { SessionTokens } from "./SessionTokens.js";
import { BATCH_HEADERS, parseStageBatchRequestHeaders, type StageBatchRequestHeaders } from "./StageBatchProtocol.js";
import { parseStageRequestHeaders, type StageRefusalCode, type StageRequestHeaders } from "./StageProtocol.js";

/** What a host runs: the shards it loaded (ShardStageRunner is one). */
export interface StageRunner {
  serves(versionId: bigint, shardIndex: number): boolean;
  run(versionId: bigint, shardIndex: number, input: Uint8Array): Promise<Uint8Array>;
}

/** A refusal decided while handling a stage: answered with the code's status and the message as its sentence. */
export class Refusal extends Error {
  constructor(
    readonly code: StageRefusalCode,
    message: string,
  ) {
    super(message);
    this.name = "Refusal";
  }
}

/** What admission checks a request against. */
export interface AdmissionContext {
  tokens: SessionTokens;
  runner: StageRunner;
  authorize: (peer: string, requestId: bigint, versionId: bigint) => Promise<boolean>;
  /** Why the host refuses this peer whatever the request, or undefined. */
  peerRefusal?: (peer: string) => string | undefined;
  /**
   * Why the host has no room now for `stages` more stages of `peer` (429 BUSY), or undefined: checked before the
   * authorization's chain reads, so a caller the host would refuse anyway costs it none (checked again on admission).
   */
  busy?: (peer: string, stages: number) => string | undefined;
  maxBodyBytes: number;
  /** The host's clock now (unix ms). */
  now: number;
  log: Logger;
}

/**
 * Decides, from its headers alone (before a byte of the body is read), whether a stage request may run here; throws
 * the Refusal otherwise. In order: headers well-formed (400) → the session token: not expired and not too long-lived
 * (401 AUTH_EXPIRED, edges inclusive), recovering to `x-tessera-peer` for this host (401 BAD_AUTH; SessionTokens.ts)
 * → `peerRefusal(peer)` (403 with its sentence) → `authorize(peer, requestId, versionId)` (403; 503 if it throws) → `runner.serves` (404) → an input ref, when
 * given, hashes to the input hash (400 INPUT_HASH_MISMATCH) → a declared content-length within the limit (413).
 * The body's own hash is checked once it is read (ShardServer).
 */
export async function admitStage(headers: IncomingHttpHeaders, ctx: AdmissionContext): Promise<StageRequestHeaders> {
  const parsed = parseStageRequestHeaders(headers);
  if (!parsed.ok) throw new Refusal("BAD_REQUEST", parsed.error);
  const req = parsed.value;
  await admitPeer(req, [req.requestId], req.versionId, req.shardIndex, ctx);
  if (req.inputRef !== undefined && keccak256(req.inputRef) !== req.inputHash) {
    throw new Refusal("INPUT_HASH_MISMATCH", "keccak256 of the input ref is not the input hash");
  }
  checkDeclaredLength(headers, ctx.maxBodyBytes);
  return req;
}

/**
 * The same decision for a batch of stages of one shard (StageBatchProtocol.ts): headers well-formed (400), the
 * session token, `peerRefusal`, `authorize` for every request of the batch (one refused: 403 for the whole batch, no
 * stage runs), `runner.serves`, the inputs' lengths within the limit (413) and the declared content-length their sum
 * (400).
 */
export async function admitStageBatch(headers: IncomingHttpHeaders, ctx: AdmissionContext): Promise<StageBatchRequestHeaders> {
  const parsed = parseStageBatchRequestHeaders(headers);
  if (!parsed.ok) throw new Refusal("BAD_REQUEST", parsed.error);
  const req = parsed.value;
  await admitPeer(req, req.requestIds, req.versionId, req.shardIndex, ctx);
  const total = req.inputLengths.reduce((sum, n) => sum + n, 0);
  if (total > ctx.maxBodyBytes) throw new Refusal("BODY_TOO_LARGE", `the inputs are over ${ctx.maxBodyBytes} bytes`);
  if (headers["content-length"] !== undefined && headers["content-length"] !== String(total)) {
    throw new Refusal("BAD_REQUEST", `content-length is not the sum of ${BATCH_HEADERS.inputLengths} (${total})`);
  }
  return req;
}

/** The session token, then `peerRefusal`, then room for the stages, then `authorize` for each of `requestIds`, then `runner.serves`. */
async function admitPeer(token: { peer: string; expires: number; auth: string }, requestIds: readonly bigint[], versionId: bigint, shardIndex: number, ctx: AdmissionContext): Promise<void> {
  const verdict = ctx.tokens.check(token, ctx.now);
  if (!verdict.ok) throw new Refusal(verdict.code, verdict.reason);

  const refused = ctx.peerRefusal?.(token.peer);
  if (refused !== undefined) throw new Refusal("PEER_NOT_AUTHORIZED", refused);
  const busy = ctx.busy?.(token.peer, requestIds.length);
  if (busy !== undefined) throw new Refusal("BUSY", busy);

  let allowed: boolean[];
  try {
    allowed = await Promise.all(requestIds.map((requestId) => ctx.authorize(token.peer, requestId, versionId)));
  } catch (err) {
    ctx.log.warn({ err, peer: token.peer }, "shard server: authorization check failed");
    throw new Refusal("AUTHORIZATION_UNAVAILABLE", "the host could not check the peer's authorization");
  }
  const denied = requestIds.find((_, i) => !allowed[i]);
  if (denied !== undefined) throw new Refusal("PEER_NOT_AUTHORIZED", `${token.peer} may not run stages of request ${denied}`);
  if (!verdict.known) ctx.tokens.remember(token, ctx.now);
  if (!ctx.runner.serves(versionId, shardIndex)) {
    throw new Refusal("SHARD_NOT_SERVED", `shard ${shardIndex} of version ${versionId} is not served here`);
  }
}

function checkDeclaredLength(headers: IncomingHttpHeaders, maxBodyBytes: number): void {
  const declared = Number(headers["content-length"]);
  if (headers["content-length"] !== undefined && Number.isFinite(declared) && declared > maxBodyBytes) {
    throw new Refusal("BODY_TOO_LARGE", `the body is over ${maxBodyBytes} bytes`);
  }
}
