import { importer } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import type { CID } from "multiformats/cid";
import { unixfsImportParameters } from "../../worker/src/ipfs/ContentStore.js";
import { fetchContent } from "./ModelCatalog.js";

/**
 * The CID every Tessera store (embedded or Kubo, ContentStore.ts) gives `bytes`, computed here without storing a
 * block: the same UnixFS layout (CIDv1, raw leaves, 256 KiB chunks, balanced tree of 174 links).
 */
export async function unixfsCidOf(bytes: Uint8Array): Promise<string> {
  const discard = { put: async (cid: CID) => cid };
  let root: CID | undefined;
  for await (const entry of importer([{ content: bytes }], discard, {
    cidVersion: unixfsImportParameters.cidVersion,
    rawLeaves: unixfsImportParameters.rawLeaves,
    chunker: fixedSize({ chunkSize: unixfsImportParameters.chunkSize }),
    layout: balanced({ maxChildrenPerNode: unixfsImportParameters.maxChildrenPerNode }),
  })) {
    root = entry.cid;
  }
  return root!.toString();
}

/**
 * Adds `bytes` through a Kubo RPC API (`<api>/api/v0/add`: the app server's, or any Kubo node's) and returns its CID,
 * pinned. The node is not trusted: the CID it answers must be the one computed here for these bytes, so what was
 * stored is exactly what the page encrypted. Failures are sentences a person can act on.
 */
export async function addToIpfs(api: string, bytes: Uint8Array, name: string): Promise<string> {
  const expected = await unixfsCidOf(bytes);
  const form = new FormData();
  form.append("file", new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "application/octet-stream" }), name);
  const url = `${api.replace(/\/$/, "")}/api/v0/add?cid-version=1&raw-leaves=true&chunker=size-${unixfsImportParameters.chunkSize}&pin=true`;
  let response: Response;
  try {
    response = await fetch(url, { method: "POST", body: form });
  } catch {
    throw new Error(`The IPFS node ${api} could not be reached to upload ${name}: check its address (Account page).`);
  }
  const text = await response.text();
  if (!response.ok) throw new Error(`The IPFS node ${api} refused ${name} (${response.status}): ${text.trim().slice(0, 200)}`);
  let answered: unknown;
  try {
    answered = (JSON.parse(text.trim().split("\n").at(-1) ?? "") as { Hash?: unknown }).Hash;
  } catch {
    throw new Error(`The IPFS node ${api} answered the upload of ${name} with something other than Kubo's JSON.`);
  }
  if (answered !== expected) throw new Error(`The IPFS node ${api} stored ${name} as ${String(answered)}, not ${expected}: it did not keep these bytes; choose another node.`);
  return expected;
}

/**
 * `addToIpfs`, then the bytes read back through `gateway`, byte for byte: a node can answer the right CID without
 * keeping the bytes, and whoever must read them later (validators, evaluators) then could not, at the uploader's cost.
 * `what` names the content in the sentences; `onReadBack` is called before the read.
 */
export async function addAndReadBack(api: string, gateway: string, bytes: Uint8Array, name: string, what: string, onReadBack?: () => void): Promise<string> {
  const cid = await addToIpfs(api, bytes, name);
  onReadBack?.();
  const back = await fetchContent(gateway, cid, what, { unchecked: true, maxBytes: bytes.byteLength });
  if (back.byteLength !== bytes.byteLength || !back.every((v, i) => v === bytes[i])) {
    throw new Error(`The IPFS gateway ${gateway} serves other bytes as ${cid} than were uploaded: nothing was signed; choose another node or gateway.`);
  }
  return cid;
}
