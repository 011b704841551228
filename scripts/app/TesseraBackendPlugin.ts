import type { IncomingMessage, ServerResponse } from "node:http";
import type { Connect, Plugin } from "vite";
import type { Deployment } from "../../worker/src/Deployment.js";
import { ContentNotFoundError } from "../../worker/src/ipfs/ContentStoreError.js";
import { parseCid, type ContentStore } from "../../worker/src/ipfs/ContentStore.js";

export interface TesseraBackendOptions {
  readonly deployment: Deployment;
  readonly chainName: string;
  /** The chain's JSON-RPC URL: the page reaches it as `/rpc` on its own origin (proxied). */
  readonly rpcUrl: string;
  /** Served read-only as an IPFS HTTP gateway (`/ipfs/<cid>`). */
  readonly store: ContentStore;
}

const CID_PATH = /^\/ipfs\/([A-Za-z0-9]+)\/?$/;

/**
 * What the page needs beside its own files, on the same origin (so one port serves everything): `/app-config.json`
 * (the deployment and where to read the chain and IPFS), `/rpc` (the chain's JSON-RPC, proxied) and `/ipfs/<cid>`
 * (a read-only gateway over the content store, each file checked against its CID by the store). For `vite preview`
 * (what `npm run app` serves) and `vite dev`.
 */
export function tesseraBackend(options: TesseraBackendOptions): Plugin {
  const config = JSON.stringify({ deployment: options.deployment, chainName: options.chainName, rpcUrl: "/rpc", gateway: "/" });
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
      (bytes) => send(res, 200, "application/octet-stream", bytes, { "cache-control": "public, max-age=31536000, immutable", etag: `"${cid}"` }),
      (err: unknown) => (err instanceof ContentNotFoundError ? send(res, 404, "text/plain", `${cid} is not in this store`) : send(res, 502, "text/plain", `the store failed to read ${cid}`)),
    );
  };
  const proxy = { "/rpc": { target: options.rpcUrl, changeOrigin: true, rewrite: () => "/" } };
  return {
    name: "tessera-backend",
    config: () => ({ server: { proxy }, preview: { proxy } }),
    configureServer: (server) => void server.middlewares.use(gateway),
    configurePreviewServer: (server) => void server.middlewares.use(gateway),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": type, "content-length": String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength), ...headers });
  res.end(body);
}
