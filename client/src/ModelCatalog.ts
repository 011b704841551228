import { getBytes } from "ethers";
import { equals } from "multiformats/bytes";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import type { ModelRegistry } from "../../typechain-types/index.js";
import { parseModelManifest, type ModelManifest } from "../../worker/src/ml/ModelManifest.js";

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

/** The string form of CID bytes as the contracts store them. */
export function cidOfBytes(bytes: string): string {
  return CID.decode(getBytes(bytes)).toString();
}

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

/**
 * A version's manifest (its codecs, signature and names) from an IPFS HTTP gateway (`<gateway>/ipfs/<cid>`): the
 * embedded store behind the app's server, or any Kubo gateway.
 */
export async function fetchManifest(gateway: string, manifestCid: string): Promise<ModelManifest> {
  let response: Response;
  try {
    response = await fetch(`${gateway.replace(/\/$/, "")}/ipfs/${manifestCid}`);
  } catch {
    throw new Error(`The IPFS gateway ${gateway} could not be reached: check its address (Account page).`);
  }
  if (!response.ok) throw new Error(`The IPFS gateway ${gateway} answered ${response.status} for the manifest ${manifestCid}.`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  // A gateway is not trusted: a raw-block CID (every manifest, being one chunk) is checked against the bytes.
  const cid = CID.parse(manifestCid);
  if (cid.code === raw.code && !equals((await sha256.digest(bytes)).bytes, cid.multihash.bytes)) {
    throw new Error(`The IPFS gateway ${gateway} sent bytes that are not the manifest ${manifestCid}: choose another gateway.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error(`The IPFS gateway ${gateway} sent something other than JSON for the manifest ${manifestCid}: check its address.`);
  }
  const parsed = parseModelManifest(value);
  if (!parsed.success) throw new Error(`The manifest ${manifestCid} from ${gateway} is not a Tessera model manifest.`);
  return parsed.data;
}
