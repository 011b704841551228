import type { IncomingHttpHeaders } from "node:http2";
import { keccak256 } from "ethers";
import type { Logger } from "../../logger.js";
import type { SessionTokens } from "./SessionTokens.js";
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

  const verdict = ctx.tokens.check(req, ctx.now);
  if (!verdict.ok) throw new Refusal(verdict.code, verdict.reason);

  const refused = ctx.peerRefusal?.(req.peer);
  if (refused !== undefined) throw new Refusal("PEER_NOT_AUTHORIZED", refused);

  let allowed: boolean;
  try {
    allowed = await ctx.authorize(req.peer, req.requestId, req.versionId);
  } catch (err) {
    ctx.log.warn({ err, peer: req.peer }, "shard server: authorization check failed");
    throw new Refusal("AUTHORIZATION_UNAVAILABLE", "the host could not check the peer's authorization");
  }
  if (!allowed) throw new Refusal("PEER_NOT_AUTHORIZED", `${req.peer} may not run stages of request ${req.requestId}`);
  if (!verdict.known) ctx.tokens.remember(req, ctx.now);
  if (!ctx.runner.serves(req.versionId, req.shardIndex)) {
    throw new Refusal("SHARD_NOT_SERVED", `shard ${req.shardIndex} of version ${req.versionId} is not served here`);
  }

  if (req.inputRef !== undefined && keccak256(req.inputRef) !== req.inputHash) {
    throw new Refusal("INPUT_HASH_MISMATCH", "keccak256 of the input ref is not the input hash");
  }
  const declared = Number(headers["content-length"]);
  if (headers["content-length"] !== undefined && Number.isFinite(declared) && declared > ctx.maxBodyBytes) {
    throw new Refusal("BODY_TOO_LARGE", `the body is over ${ctx.maxBodyBytes} bytes`);
  }
  return req;
}
