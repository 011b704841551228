import type { Http2Session } from "node:http2";
import { getAddress, isAddress, type Signer } from "ethers";
import { z } from "zod";

/**
 * The wire contract of one pipeline stage between a claimant (ShardClient) and a shard host (ShardServer), over
 * HTTP/2: `POST /v1/stage`, the body is the stage's input bytes (application/octet-stream), the answer's body its
 * output bytes. Everything else travels in the `x-tessera-*` headers below. Shared by both sides so that they can
 * never disagree on a name, a format or the string the caller signs.
 *
 * The caller authenticates with a session token: an EIP-191 `signMessage` by its staked key of
 * {@link sessionAuthMessage}, which names the host it is for and when it expires (`x-tessera-auth`, for the address in
 * `x-tessera-peer`, until `x-tessera-expires`). The caller signs one token per host and lifetime and sends it with
 * every stage; the host recovers it once and remembers it (SessionTokens.ts), so neither side pays a signature per
 * stage. Integrity of the body rests on the input hash (checked by the host) and on TLS on the wire. The host answers
 * with its EIP-712 stage signature (StageSignature.ts) over (requestId, version, shard, input hash,
 * keccak256(output)).
 */
export const STAGE_PATH = "/v1/stage";
export const STAGE_METHOD = "POST";
/** The first field of the signed canonical string: bump it whenever the string changes. */
export const STAGE_AUTH_TAG = "tessera-session/1";

/** Header names (HTTP/2 header names are lowercase). */
export const STAGE_HEADERS = {
  requestId: "x-tessera-request-id",
  version: "x-tessera-version",
  shard: "x-tessera-shard",
  /** The hash the stage signs as its input. */
  inputHash: "x-tessera-input-hash",
  /** Optional: the request's CID bytes when stage 0's input came by CID; then keccak256(ref) must equal the input hash. */
  inputRef: "x-tessera-input-ref",
  peer: "x-tessera-peer",
  /** When the session token expires, unix ms. */
  expires: "x-tessera-expires",
  /** The session token: the peer's EIP-191 signature of sessionAuthMessage. */
  auth: "x-tessera-auth",
  outputHash: "x-tessera-output-hash",
  host: "x-tessera-host",
  stageSignature: "x-tessera-stage-signature",
} as const;

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT_STAGES = 8;
/**
 * HTTP/2 flow-control windows (RFC 9113 6.9): what a peer may send on a stream, and on the whole connection, before
 * the receiver reads it. With the protocol's 64 KiB, a host busy computing a batch (its event loop held by the
 * prediction) let four 16 KiB activations through and the rest waited for WINDOW_UPDATEs it sent only when done: its
 * next batch never gathered more than a few stages. A batch of stages (8 by default) fits in these. The per-stream
 * window bounds what a peer can make the other end buffer unread (Node acknowledges the connection's window as data
 * arrives): a host opens it only to callers it admitted (`openFlowControl`), a stranger's streams keep 64 KiB.
 */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
export const SESSION_WINDOW_BYTES = 32 * 1024 * 1024;

/** Opens a connected session's windows: its streams' to STREAM_WINDOW_BYTES (a SETTINGS frame) and the connection's. */
export function openFlowControl(session: Http2Session): void {
  if (session.destroyed || session.closed) return;
  session.settings({ initialWindowSize: STREAM_WINDOW_BYTES });
  session.setLocalWindowSize(SESSION_WINDOW_BYTES);
}
export const DEFAULT_CLOCK_SKEW_MS = 60_000;
/** A caller's session token lives this long (and is renewed when less than half is left). */
export const DEFAULT_SESSION_LIFETIME_MS = 10 * 60_000;
/** A host refuses a token that expires further ahead than this (plus its clock skew): a stolen one soon stops working. */
export const MAX_SESSION_LIFETIME_MS = 15 * 60_000;
/** CID bytes are a few dozen bytes; a longer ref is taken as malformed. */
export const MAX_INPUT_REF_BYTES = 512;

/** Every refusal a host answers with, and its HTTP status. The error body is `{ "error": sentence, "code": code }`. */
export const STAGE_REFUSALS = {
  /** Headers missing or malformed. */
  BAD_REQUEST: 400,
  /** keccak256(body) (or of the input ref) is not the input hash. */
  INPUT_HASH_MISMATCH: 400,
  /** The auth signature does not recover to `x-tessera-peer`. */
  BAD_AUTH: 401,
  /** The session token expired (beyond the host's clock skew), or expires further ahead than a token may live. */
  AUTH_EXPIRED: 401,
  PEER_NOT_AUTHORIZED: 403,
  /** Not the stage path. */
  NOT_FOUND: 404,
  SHARD_NOT_SERVED: 404,
  METHOD_NOT_ALLOWED: 405,
  BODY_TOO_LARGE: 413,
  /** Too many stages in flight on this host: try another host. */
  BUSY: 429,
  RUNNER_FAILED: 500,
  INTERNAL: 500,
  /** The authorization check itself failed (chain unreachable): try again. */
  AUTHORIZATION_UNAVAILABLE: 503,
  SHUTTING_DOWN: 503,
} as const;

export type StageRefusalCode = keyof typeof STAGE_REFUSALS;

/** A stage request's headers, parsed. Hex values are lowercased, addresses checksummed. */
export interface StageRequestHeaders {
  requestId: bigint;
  versionId: bigint;
  shardIndex: number;
  inputHash: string;
  inputRef?: string;
  peer: string;
  /** Unix ms. */
  expires: number;
  auth: string;
}

/** A stage answer's headers, parsed. */
export interface StageResponseHeaders {
  outputHash: string;
  host: string;
  signature: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const UINT_MAX = (bits: number) => (1n << BigInt(bits)) - 1n;
const decimal = (bits: number) =>
  z
    .string()
    .regex(/^(0|[1-9][0-9]{0,77})$/, "is not a decimal integer")
    .transform((s) => BigInt(s))
    .refine((v) => v <= UINT_MAX(bits), `is above the uint${bits} range`);
const hexOf = (bytes: number) =>
  z
    .string()
    .regex(new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`), `is not 0x and ${bytes} hex bytes`)
    .transform((s) => s.toLowerCase());
const address = z
  .string()
  .refine((s) => /^0x[0-9a-fA-F]{40}$/.test(s) && isAddress(s), "is not an address")
  .transform((s) => getAddress(s));

/** Validators of the request headers (one per header; values are the raw strings). */
export const stageRequestHeaderSchemas = {
  [STAGE_HEADERS.requestId]: decimal(256),
  [STAGE_HEADERS.version]: decimal(64),
  [STAGE_HEADERS.shard]: decimal(16).transform(Number),
  [STAGE_HEADERS.inputHash]: hexOf(32),
  [STAGE_HEADERS.inputRef]: z
    .string()
    .regex(/^0x([0-9a-fA-F]{2})+$/, "is not 0x and hex bytes")
    .refine((s) => s.length <= 2 + 2 * MAX_INPUT_REF_BYTES, `is longer than ${MAX_INPUT_REF_BYTES} bytes`)
    .transform((s) => s.toLowerCase())
    .optional(),
  [STAGE_HEADERS.peer]: address,
  [STAGE_HEADERS.expires]: decimal(53).transform(Number),
  [STAGE_HEADERS.auth]: hexOf(65),
};

/** Validators of the answer's headers. */
export const stageResponseHeaderSchemas = {
  [STAGE_HEADERS.outputHash]: hexOf(32),
  [STAGE_HEADERS.host]: address,
  [STAGE_HEADERS.stageSignature]: hexOf(65),
};

/** The JSON body of every refusal. */
export const stageErrorBodySchema = z.object({ error: z.string(), code: z.string() });
export type StageErrorBody = z.infer<typeof stageErrorBodySchema>;

type RawHeaders = Record<string, string | string[] | undefined>;

/** Validates the headers `schemas` names, one schema each; the error names the first bad header. */
export function parseWith<S extends Record<string, z.ZodType>>(schemas: S, raw: RawHeaders): Parsed<{ [K in keyof S]: z.output<S[K]> }> {
  const out: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(schemas)) {
    const value = raw[name];
    if (Array.isArray(value)) return { ok: false, error: `header ${name} is repeated` };
    const result = schema.safeParse(value);
    if (!result.success) {
      const why = value === undefined ? "is missing" : (result.error.issues[0]?.message ?? "is malformed");
      return { ok: false, error: `header ${name} ${why}` };
    }
    out[name] = result.data;
  }
  return { ok: true, value: out as { [K in keyof S]: z.output<S[K]> } };
}

/** Validates a stage request's headers; the error is a sentence naming the first bad header. */
export function parseStageRequestHeaders(raw: RawHeaders): Parsed<StageRequestHeaders> {
  const parsed = parseWith(stageRequestHeaderSchemas, raw);
  if (!parsed.ok) return parsed;
  const h = parsed.value;
  return {
    ok: true,
    value: {
      requestId: h[STAGE_HEADERS.requestId],
      versionId: h[STAGE_HEADERS.version],
      shardIndex: h[STAGE_HEADERS.shard],
      inputHash: h[STAGE_HEADERS.inputHash],
      ...(h[STAGE_HEADERS.inputRef] === undefined ? {} : { inputRef: h[STAGE_HEADERS.inputRef] }),
      peer: h[STAGE_HEADERS.peer],
      expires: h[STAGE_HEADERS.expires],
      auth: h[STAGE_HEADERS.auth],
    },
  };
}

/** Validates a stage answer's headers. */
export function parseStageResponseHeaders(raw: RawHeaders): Parsed<StageResponseHeaders> {
  const parsed = parseWith(stageResponseHeaderSchemas, raw);
  if (!parsed.ok) return parsed;
  const h = parsed.value;
  return {
    ok: true,
    value: { outputHash: h[STAGE_HEADERS.outputHash], host: h[STAGE_HEADERS.host], signature: h[STAGE_HEADERS.stageSignature] },
  };
}

/** What a session token covers. */
export interface SessionAuthFields {
  chainId: bigint;
  shardRegistry: string;
  /** The host the token is for: a token is worth nothing at another host. */
  host: string;
  /** Unix ms. */
  expires: number;
}

/**
 * The canonical string a caller signs with EIP-191 (`signer.signMessage`) as its session token:
 * `tessera-session/1|<chainId>|<shardRegistry lowercase>|<host lowercase>|<expires>`, numbers in decimal.
 */
export function sessionAuthMessage(f: SessionAuthFields): string {
  return [STAGE_AUTH_TAG, f.chainId.toString(), f.shardRegistry.toLowerCase(), f.host.toLowerCase(), String(f.expires)].join("|");
}

/** A caller's signed session token for one host. */
export interface SessionToken {
  peer: string;
  expires: number;
  auth: string;
}

/** Signs a session token for `host` with the caller's staked key, valid until `expires` (unix ms). */
export async function signSessionToken(caller: Signer, fields: SessionAuthFields): Promise<SessionToken> {
  const auth = await caller.signMessage(sessionAuthMessage(fields));
  return { peer: await caller.getAddress(), expires: fields.expires, auth };
}

/** One stage request, as a caller describes it. */
export interface StageRequestFields {
  requestId: bigint;
  versionId: bigint;
  shardIndex: number;
  inputHash: string;
  inputRef?: Uint8Array;
  /** Its length is sent as content-length. */
  body: Uint8Array;
}

/** The full header block of a stage request (pseudo-headers included) under a session token. The ShardClient sends exactly this. */
export function stageRequestHeaders(token: SessionToken, req: StageRequestFields): Record<string, string> {
  return {
    ":method": STAGE_METHOD,
    ":path": STAGE_PATH,
    "content-type": "application/octet-stream",
    "content-length": String(req.body.byteLength),
    [STAGE_HEADERS.requestId]: req.requestId.toString(),
    [STAGE_HEADERS.version]: req.versionId.toString(),
    [STAGE_HEADERS.shard]: String(req.shardIndex),
    [STAGE_HEADERS.inputHash]: req.inputHash.toLowerCase(),
    ...(req.inputRef === undefined ? {} : { [STAGE_HEADERS.inputRef]: toHex(req.inputRef) }),
    [STAGE_HEADERS.peer]: token.peer,
    [STAGE_HEADERS.expires]: String(token.expires),
    [STAGE_HEADERS.auth]: token.auth,
  };
}

/** The JSON body of a refusal. */
export function stageErrorBody(code: StageRefusalCode, sentence: string): string {
  return JSON.stringify({ error: sentence, code } satisfies StageErrorBody);
}

function toHex(bytes: Uint8Array): string {
  return "0x" + Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}
