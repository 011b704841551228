import type { z } from "zod";
import {
  parseWith,
  STAGE_HEADERS,
  STAGE_METHOD,
  stageRequestHeaderSchemas,
  stageResponseHeaderSchemas,
  type Parsed,
  type SessionToken,
} from "./StageProtocol.js";

/**
 * The wire contract of a batch of stages of one shard in one HTTP/2 exchange (`POST /v1/stages`): the stages of
 * several requests that a caller sends a host at the same moment (a processor routes a whole batch at once) cross the
 * hop together and run on the host as one prediction, instead of one exchange each. Per hop that saves the
 * exchange's fixed cost (headers, stream, flow control, the caller's and the host's bookkeeping) for all but one
 * stage, and the host's prediction gets the whole batch at once instead of whatever arrived while it computed the
 * last one. Everything a single stage carries is still there per stage and checked as for one (StageProtocol.ts):
 * each stage has its request id, input hash and its own EIP-712 signature in the answer; only the session token,
 * the version and the shard are shared.
 *
 * Request: the session headers (`x-tessera-peer`, `-expires`, `-auth`), `x-tessera-version`, `x-tessera-shard`,
 * `x-tessera-stages` (n, 1 to MAX_STAGES_PER_CALL), and three lists of n comma-separated items: request ids
 * (decimal, distinct), input hashes, input lengths (decimal); the body is the n inputs one after the other. Stages
 * whose input came by CID (an input ref) are sent alone on `/v1/stage`.
 *
 * Answer (200): `x-tessera-host`, and three lists of n items: output hashes, output lengths, stage signatures; the
 * body is the outputs one after the other. A stage the host could not run (its input did not decode) is `-` in all
 * three lists, with no bytes in the body: it fails alone. A refusal of the whole call (any other status) is the
 * protocol's JSON error, as for one stage: nothing ran.
 */
export const STAGES_PATH = "/v1/stages";
/** Stages in one call at most: the lists' headers stay a few KiB (HTTP/2 header blocks are small by default). */
export const MAX_STAGES_PER_CALL = 16;
/** The list item of a stage that failed alone in a batch's answer. */
export const FAILED_STAGE = "-";

export const BATCH_HEADERS = {
  count: "x-tessera-stages",
  requestIds: "x-tessera-request-ids",
  inputHashes: "x-tessera-input-hashes",
  inputLengths: "x-tessera-input-lengths",
  outputHashes: "x-tessera-output-hashes",
  outputLengths: "x-tessera-output-lengths",
  stageSignatures: "x-tessera-stage-signatures",
} as const;

/** A batch request's headers, parsed (hex lowercased, the peer checksummed). */
export interface StageBatchRequestHeaders {
  versionId: bigint;
  shardIndex: number;
  requestIds: bigint[];
  inputHashes: string[];
  inputLengths: number[];
  peer: string;
  /** Unix ms. */
  expires: number;
  auth: string;
}

/** One stage of a batch's answer: its output's hash, length and the host's signature, or `failed`. */
export type BatchedStageAnswer = { ok: true; outputHash: string; outputLength: number; signature: string } | { ok: false };

export interface StageBatchResponseHeaders {
  host: string;
  stages: BatchedStageAnswer[];
}

type RawHeaders = Record<string, string | string[] | undefined>;

const single = (raw: RawHeaders, name: string): string | undefined | { error: string } => {
  const value = raw[name];
  return Array.isArray(value) ? { error: `header ${name} is repeated` } : value;
};

const LENGTH = /^(0|[1-9][0-9]{0,9})$/;

/** `n` comma-separated items of header `name`, each through `item` (or `-` where `failed` is allowed). */
function list<T>(raw: RawHeaders, name: string, n: number, item: (s: string) => T | undefined, failed = false): (T | typeof FAILED_STAGE)[] | string {
  const value = single(raw, name);
  if (value === undefined) return `header ${name} is missing`;
  if (typeof value !== "string") return value.error;
  const items = value.split(",");
  if (items.length !== n) return `header ${name} lists ${items.length} items, not ${n}`;
  const out: (T | typeof FAILED_STAGE)[] = [];
  for (const [i, s] of items.entries()) {
    if (failed && s === FAILED_STAGE) {
      out.push(FAILED_STAGE);
      continue;
    }
    const v = item(s);
    if (v === undefined) return `header ${name} item ${i} is malformed`;
    out.push(v);
  }
  return out;
}

const through = <S extends z.ZodType>(schema: S) => (s: string): z.output<S> | undefined => {
  const r = schema.safeParse(s);
  return r.success ? r.data : undefined;
};

/** Validates a batch request's headers; the error is a sentence naming the first bad header. */
export function parseStageBatchRequestHeaders(raw: RawHeaders): Parsed<StageBatchRequestHeaders> {
  const bad = (error: string): Parsed<StageBatchRequestHeaders> => ({ ok: false, error });
  // The headers a batch shares with a single stage, validated as for one.
  const shared = parseWith(
    {
      [STAGE_HEADERS.version]: stageRequestHeaderSchemas[STAGE_HEADERS.version],
      [STAGE_HEADERS.shard]: stageRequestHeaderSchemas[STAGE_HEADERS.shard],
      [STAGE_HEADERS.peer]: stageRequestHeaderSchemas[STAGE_HEADERS.peer],
      [STAGE_HEADERS.expires]: stageRequestHeaderSchemas[STAGE_HEADERS.expires],
      [STAGE_HEADERS.auth]: stageRequestHeaderSchemas[STAGE_HEADERS.auth],
    },
    raw,
  );
  if (!shared.ok) return bad(shared.error);
  const fields = shared.value;
  const countRaw = single(raw, BATCH_HEADERS.count);
  if (typeof countRaw !== "string" || !/^[1-9][0-9]?$/.test(countRaw) || Number(countRaw) > MAX_STAGES_PER_CALL) {
    return bad(`header ${BATCH_HEADERS.count} is not a count of stages from 1 to ${MAX_STAGES_PER_CALL}`);
  }
  const n = Number(countRaw);
  const requestIds = list(raw, BATCH_HEADERS.requestIds, n, through(stageRequestHeaderSchemas[STAGE_HEADERS.requestId]));
  if (typeof requestIds === "string") return bad(requestIds);
  if (new Set(requestIds.map(String)).size !== n) return bad(`header ${BATCH_HEADERS.requestIds} names a request twice`);
  const inputHashes = list(raw, BATCH_HEADERS.inputHashes, n, through(stageRequestHeaderSchemas[STAGE_HEADERS.inputHash]));
  if (typeof inputHashes === "string") return bad(inputHashes);
  const inputLengths = list(raw, BATCH_HEADERS.inputLengths, n, (s) => (LENGTH.test(s) ? Number(s) : undefined));
  if (typeof inputLengths === "string") return bad(inputLengths);
  return {
    ok: true,
    value: {
      versionId: fields[STAGE_HEADERS.version],
      shardIndex: fields[STAGE_HEADERS.shard],
      requestIds: requestIds as bigint[],
      inputHashes: inputHashes as string[],
      inputLengths: inputLengths as number[],
      peer: fields[STAGE_HEADERS.peer],
      expires: fields[STAGE_HEADERS.expires],
      auth: fields[STAGE_HEADERS.auth],
    },
  };
}

/** Validates a batch answer's headers for a call of `n` stages; a stage is failed in all three lists or in none. */
export function parseStageBatchResponseHeaders(raw: RawHeaders, n: number): Parsed<StageBatchResponseHeaders> {
  const bad = (error: string): Parsed<StageBatchResponseHeaders> => ({ ok: false, error });
  const host = parseWith({ [STAGE_HEADERS.host]: stageResponseHeaderSchemas[STAGE_HEADERS.host] }, raw);
  if (!host.ok) return bad(host.error);
  const hashes = list(raw, BATCH_HEADERS.outputHashes, n, through(stageResponseHeaderSchemas[STAGE_HEADERS.outputHash]), true);
  if (typeof hashes === "string") return bad(hashes);
  const lengths = list(raw, BATCH_HEADERS.outputLengths, n, (s) => (LENGTH.test(s) ? Number(s) : undefined), true);
  if (typeof lengths === "string") return bad(lengths);
  const signatures = list(raw, BATCH_HEADERS.stageSignatures, n, through(stageResponseHeaderSchemas[STAGE_HEADERS.stageSignature]), true);
  if (typeof signatures === "string") return bad(signatures);
  const stages: BatchedStageAnswer[] = [];
  for (let i = 0; i < n; i++) {
    const [hash, length, signature] = [hashes[i]!, lengths[i]!, signatures[i]!];
    const failed = [hash, length, signature].filter((x) => x === FAILED_STAGE).length;
    if (failed === 3) stages.push({ ok: false });
    else if (failed === 0) stages.push({ ok: true, outputHash: hash as string, outputLength: length as number, signature: signature as string });
    else return bad(`stage ${i} is failed in some lists of the answer and not in others`);
  }
  return { ok: true, value: { host: host.value[STAGE_HEADERS.host], stages } };
}

/** One stage of a batch, as a caller describes it. */
export interface BatchedStageFields {
  requestId: bigint;
  inputHash: string;
  input: Uint8Array;
}

/** The full header block of a batch request (pseudo-headers included) under a session token. */
export function stageBatchRequestHeaders(token: SessionToken, call: { versionId: bigint; shardIndex: number; stages: readonly BatchedStageFields[] }): Record<string, string> {
  const { stages } = call;
  if (stages.length < 1 || stages.length > MAX_STAGES_PER_CALL) throw new RangeError(`a batch carries 1 to ${MAX_STAGES_PER_CALL} stages, not ${stages.length}`);
  return {
    ":method": STAGE_METHOD,
    ":path": STAGES_PATH,
    "content-type": "application/octet-stream",
    "content-length": String(stages.reduce((sum, s) => sum + s.input.byteLength, 0)),
    [STAGE_HEADERS.version]: call.versionId.toString(),
    [STAGE_HEADERS.shard]: String(call.shardIndex),
    [BATCH_HEADERS.count]: String(stages.length),
    [BATCH_HEADERS.requestIds]: stages.map((s) => s.requestId.toString()).join(","),
    [BATCH_HEADERS.inputHashes]: stages.map((s) => s.inputHash.toLowerCase()).join(","),
    [BATCH_HEADERS.inputLengths]: stages.map((s) => String(s.input.byteLength)).join(","),
    [STAGE_HEADERS.peer]: token.peer,
    [STAGE_HEADERS.expires]: String(token.expires),
    [STAGE_HEADERS.auth]: token.auth,
  };
}

/** A batch answer's headers (without `:status` and the content type) for the stages' outcomes in order. */
export function stageBatchResponseHeaders(host: string, stages: readonly BatchedStageAnswer[]): Record<string, string> {
  const item = <K extends "outputHash" | "outputLength" | "signature">(key: K) => stages.map((s) => (s.ok ? String(s[key]) : FAILED_STAGE)).join(",");
  return {
    [STAGE_HEADERS.host]: host,
    [BATCH_HEADERS.outputHashes]: item("outputHash"),
    [BATCH_HEADERS.outputLengths]: item("outputLength"),
    [BATCH_HEADERS.stageSignatures]: item("signature"),
  };
}
