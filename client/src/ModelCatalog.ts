import { concat } from "uint8arrays";
import { cidOfBytes } from "./Cids.js";
import { equals } from "multiformats/bytes";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import type { ModelRegistry } from "../../typechain-types/index.js";
import { parseModelManifest, type ModelManifest } from "../../worker/src/ml/ModelManifest.js";
import { WordTokenizer, vocabularySchema, type TokenizerSpec } from "../../worker/src/ml/Tokenizer.js";

export type VersionStatusName = "Active" | "Deprecated";

/** A model version as the registry records it, with its model's name. */
export interface VersionSummary {
  readonly versionId: bigint;
  readonly modelId: bigint;
  readonly modelName: string;
  readonly owner: string;
  readonly status: VersionStatusName;
  readonly priceWei: bigint;
  readonly priceToken: bigint;
  readonly royaltyBps: number;
  readonly shardCount: number;
  readonly manifestCid: string;
  readonly inputShape: readonly number[];
  readonly outputShape: readonly number[];
  readonly publishedAt: Date;
}

export { cidOfBytes };

/** Every version of every model of the registry, newest first. */
export async function listVersions(registry: ModelRegistry): Promise<VersionSummary[]> {
  const count = Number(await registry.versionCount());
  const ids = Array.from({ length: count }, (_, i) => BigInt(count - i));
  const versions = await Promise.all(ids.map((id) => registry.getVersion(id)));
  const modelIds = [...new Set(versions.map((v) => v.modelId))];
  const names = new Map(await Promise.all(modelIds.map(async (id) => [id, (await registry.getModel(id)).name] as const)));
  // The registry is open to anyone: a version whose CID bytes do not parse is left out, not allowed to break the list.
  const summaries: VersionSummary[] = [];
  versions.forEach((v, i) => {
    let manifestCid: string;
    try {
      manifestCid = cidOfBytes(v.manifestCid);
    } catch {
      return;
    }
    summaries.push({
      versionId: ids[i],
      modelId: v.modelId,
      modelName: names.get(v.modelId) ?? "",
      owner: v.owner,
      status: Number(v.status) === 1 ? "Active" : "Deprecated",
      priceWei: v.priceWei,
      priceToken: v.priceToken,
      royaltyBps: Number(v.royaltyBps),
      shardCount: Number(v.shardCount),
      manifestCid,
      inputShape: v.inputShape.map(Number),
      outputShape: v.outputShape.map(Number),
      publishedAt: new Date(Number(v.publishedAt) * 1000),
    });
  });
  return summaries;
}

/** What a gateway may send for one CID at most, unless the caller says otherwise. */
export const MAX_GATEWAY_BYTES = 16 * 2 ** 20;
/** How long a gateway may take to start answering. */
const GATEWAY_ANSWER_MS = 30_000;

/** Whether the page can check a gateway's bytes against `cid` alone: content of one raw block (a manifest, a vocabulary). */
export function checkableCid(cid: string): boolean {
  return CID.parse(cid).code === raw.code;
}

/**
 * The bytes of `cid` from an IPFS HTTP gateway (`<gateway>/ipfs/<cid>`): the embedded store behind the app's server,
 * or any Kubo gateway. A gateway is not trusted: content of one raw block is checked against its hash, and content
 * of several blocks, which the page cannot check through a plain gateway, is refused unless `unchecked` says the
 * caller checks it otherwise (a hash on chain) or labels it so. At most `maxBytes` are read. `what` names the content
 * in the sentences of the errors.
 */
export async function fetchContent(gateway: string, cid: string, what: string, options: { unchecked?: boolean; maxBytes?: number } = {}): Promise<Uint8Array> {
  const checkable = checkableCid(cid);
  if (!checkable && options.unchecked !== true) {
    throw new Error(`${capitalised(what)} ${cid} spans several IPFS blocks, which this page cannot check through a gateway: read it with the tasks.`);
  }
  let response: Response;
  // A gateway that never answers must not hold a page forever: the answer's headers are awaited at most this long.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), GATEWAY_ANSWER_MS);
  try {
    response = await fetch(`${gateway.replace(/\/$/, "")}/ipfs/${cid}`, { signal: abort.signal });
  } catch {
    throw new Error(
      abort.signal.aborted
        ? `The IPFS gateway ${gateway} did not answer for ${what} ${cid} within ${GATEWAY_ANSWER_MS / 1000} s: check its address (Account page).`
        : `The IPFS gateway ${gateway} could not be reached: check its address (Account page).`,
    );
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) throw new Error(`The IPFS gateway ${gateway} answered ${response.status} for ${what} ${cid}.`);
  const bytes = await readAtMost(response, options.maxBytes ?? MAX_GATEWAY_BYTES, () => new Error(`The IPFS gateway ${gateway} sent more than ${options.maxBytes ?? MAX_GATEWAY_BYTES} bytes for ${what} ${cid}.`));
  if (checkable && !equals((await sha256.digest(bytes)).bytes, CID.parse(cid).multihash.bytes)) {
    throw new Error(`The IPFS gateway ${gateway} sent bytes that are not ${what} ${cid}: choose another gateway.`);
  }
  return bytes;
}

const capitalised = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** A response's body, refused past `limit` bytes while it arrives (never held whole beyond the limit). */
async function readAtMost(response: Response, limit: number, tooLarge: () => Error): Promise<Uint8Array> {
  if (response.body === null) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return concat(chunks, total);
}

/** JSON content by CID (fetchContent), parsed. */
async function fetchJson(gateway: string, cid: string, what: string): Promise<unknown> {
  const bytes = await fetchContent(gateway, cid, what);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error(`The IPFS gateway ${gateway} sent something other than JSON for ${what} ${cid}: check its address.`);
  }
}

/** A version's manifest (its codecs, signature and names), from a gateway. */
export async function fetchManifest(gateway: string, manifestCid: string): Promise<ModelManifest> {
  const parsed = parseModelManifest(await fetchJson(gateway, manifestCid, "the manifest"));
  if (!parsed.success) throw new Error(`The manifest ${manifestCid} from ${gateway} is not a Tessera model manifest.`);
  return parsed.data;
}

/**
 * The tokenizer a text model's manifest names, its vocabulary from a gateway: the page encodes a text into exactly the
 * ids the tasks and the workers do (worker/src/ml/Tokenizer.ts).
 */
export async function fetchTokenizer(gateway: string, spec: TokenizerSpec): Promise<WordTokenizer> {
  const parsed = vocabularySchema.safeParse(await fetchJson(gateway, spec.vocabCid, "the vocabulary"));
  if (!parsed.success) throw new Error(`The vocabulary ${spec.vocabCid} from ${gateway} is not a list of tokens.`);
  return new WordTokenizer(spec, parsed.data);
}
