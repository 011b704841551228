import type { IncomingMessage, ServerResponse } from "node:http";
import type { Connect, Plugin } from "vite";
import type { Deployment } from "../../worker/src/Deployment.js";
import { ContentNotFoundError } from "../../worker/src/ipfs/ContentStoreError.js";
import { parseCid, type ContentStore } from "../../worker/src/ipfs/ContentStore.js";
import { ipfsAddEndpoint } from "./IpfsAddEndpoint.js";

export interface TesseraBackendOptions {
  readonly deployment: Deployment;
  readonly chainName: string;
  /** The chain's JSON-RPC URL: the page reaches it as `/rpc` on its own origin (proxied). */
  readonly rpcUrl: string;
  /** Served as an IPFS HTTP gateway (`/ipfs/<cid>`, read-only) and Kubo's `/api/v0/add` (uploads from the page). */
  readonly store: ContentStore;
  /** The largest upload `/api/v0/add` takes (default 64 MiB). */
  readonly maxUploadBytes?: number;
}

const CID_PATH = /^\/ipfs\/([A-Za-z0-9]+)\/?$/;
/**
 * What a page may ask the node: reads, and raw transactions its wallet signed. Nothing that signs with the node's own
 * accounts (eth_sendTransaction, eth_sign…: a development node holds unlocked keys) and none of its admin methods
 * (evm_*, hardhat_*, anvil_*, debug_*).
 */
const PUBLIC_RPC_METHODS = new Set([
  "eth_chainId", "eth_blockNumber", "eth_call", "eth_estimateGas", "eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_feeHistory",
  "eth_getBalance", "eth_getCode", "eth_getStorageAt", "eth_getTransactionCount", "eth_getBlockByNumber", "eth_getBlockByHash",
  "eth_getTransactionByHash", "eth_getTransactionReceipt", "eth_getLogs", "eth_newFilter", "eth_newBlockFilter", "eth_getFilterChanges",
  "eth_getFilterLogs", "eth_uninstallFilter", "eth_sendRawTransaction", "eth_syncing", "net_version", "web3_clientVersion",
]);
const MAX_RPC_BODY_BYTES = 1 << 20;
const MAX_UPLOAD_BYTES = 64 << 20;
const MAX_RPC_BATCH = 100;
const RPC_TIMEOUT_MS = 30_000;

/**
 * What the page needs beside its own files, on the same origin (so one port serves everything): `/app-config.json`
 * (the deployment and where to read the chain and IPFS), `/rpc` (the chain's JSON-RPC, standard methods only),
 * `/ipfs/<cid>` (a read-only gateway over the content store, each file checked against its CID by the store) and
 * `/api/v0/add` (Kubo's upload call over the same store: what the page's encrypted datasets are pinned through). For
 * `vite preview` (what `npm run app` serves) and `vite dev`.
 */
export function tesseraBackend(options: TesseraBackendOptions): Plugin {
  const config = JSON.stringify({ deployment: options.deployment, chainName: options.chainName, rpcUrl: "/rpc", gateway: "/", ipfsApi: "/" });
  const gateway: Connect.NextHandleFunction = (req: IncomingMessage, res: ServerResponse, next) => {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/app-config.json") return send(res, 200, "application/json", config);
    const match = CID_PATH.exec(path);
    if (match === null) return next();
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "the gateway is read-only");
    let cid: string;
    try {
      cid = parseCid(match[1]).toString();
    } catch {
      return send(res, 400, "text/plain", `${match[1]} is not a CID`);
    }
    options.store.get(cid).then(
      // Content is served from the page's own origin: never sniffed into HTML, never run as a page of it.
      (bytes) => send(res, 200, "application/octet-stream", bytes, { "cache-control": "public, max-age=31536000, immutable", etag: `"${cid}"`, "x-content-type-options": "nosniff", "content-security-policy": "sandbox" }),
      (err: unknown) => (err instanceof ContentNotFoundError ? send(res, 404, "text/plain", `${cid} is not in this store`) : send(res, 502, "text/plain", `the store failed to read ${cid}`)),
    );
  };
  const rpc: Connect.NextHandleFunction = (req: IncomingMessage, res: ServerResponse, next) => {
    if ((req.url ?? "").split("?")[0] !== "/rpc") return next();
    if (req.method !== "POST") return send(res, 405, "text/plain", "JSON-RPC takes POST");
    // A JSON body needs a CORS preflight: another site's page cannot post here unseen ("simple" text/plain posts).
    if (!(req.headers["content-type"] ?? "").startsWith("application/json")) return send(res, 415, "application/json", rpcError(null, -32600, "JSON-RPC takes content-type application/json"));
    forwardRpc(req, options.rpcUrl).then(
      ({ status, body }) => send(res, status, "application/json", body),
      () => send(res, 502, "application/json", rpcError(null, -32603, "the chain's node did not answer")),
    );
  };
  const add = ipfsAddEndpoint(options.store, { maxUploadBytes: options.maxUploadBytes ?? MAX_UPLOAD_BYTES });
  return {
    name: "tessera-backend",
    configureServer: (server) => void server.middlewares.use(rpc).use(add).use(gateway),
    configurePreviewServer: (server) => void server.middlewares.use(rpc).use(add).use(gateway),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": type, "content-length": String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength), ...headers });
  res.end(body);
}

const rpcError = (id: unknown, code: number, message: string) => JSON.stringify({ jsonrpc: "2.0", id: id ?? null, error: { code, message } });

/**
 * Forwards a JSON-RPC body (one call or a batch) to the node when every method in it is a public one; anything else
 * is answered here, without reaching the node: a body that is not JSON-RPC, one over 1 MiB, or an admin method.
 */
async function forwardRpc(req: IncomingMessage, rpcUrl: string): Promise<{ status: number; body: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // Read to the end either way (leaving early would reset the connection before the 413 is seen).
    if (size <= MAX_RPC_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_RPC_BODY_BYTES) return { status: 413, body: rpcError(null, -32600, "request body over 1 MiB") };
  const text = Buffer.concat(chunks).toString("utf8");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { status: 400, body: rpcError(null, -32700, "not JSON") };
  }
  const calls = Array.isArray(parsed) ? parsed : [parsed];
  if (calls.length > MAX_RPC_BATCH) return { status: 400, body: rpcError(null, -32600, `a batch of more than ${MAX_RPC_BATCH} calls`) };
  for (const call of calls as { id?: unknown; method?: unknown }[]) {
    if (typeof call?.method !== "string") return { status: 400, body: rpcError(call?.id, -32600, "not a JSON-RPC call") };
    if (!PUBLIC_RPC_METHODS.has(call.method)) return { status: 403, body: rpcError(call.id, -32601, `${call.method} is not served to pages`) };
  }
  // What was checked is what is sent: the parsed calls, written again (no second reading of the raw text).
  const response = await fetch(rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(parsed), signal: AbortSignal.timeout(RPC_TIMEOUT_MS) });
  return { status: response.status, body: await response.text() };
}
