import type { IncomingMessage, ServerResponse } from "node:http";
import { unixfsImportParameters, type ContentStore } from "../../worker/src/ipfs/ContentStore.js";

const ADD_PATH = "/api/v0/add";
/** The DAG layout every store here builds (ContentStore.ts): an upload asking for another one is refused, not ignored. */
const ADD_PARAMETERS: Record<string, string> = { "cid-version": "1", "raw-leaves": "true", chunker: `size-${unixfsImportParameters.chunkSize}` };

/**
 * Kubo's `POST /api/v0/add` over a content store, for the page's uploads (its encrypted datasets): one file of a
 * multipart body, added and pinned, answered as Kubo answers (one JSON line: Name, Hash, Size). Refused, with a
 * sentence: another method (405), a page of another origin (403; Kubo's API refuses origins it was not told to allow,
 * too), DAG parameters other than the store's (400), a body that is not multipart (415) or holds no file or several
 * (400), a body over `maxUploadBytes` (413), more than `maxConcurrent` uploads at once (503: each holds its body in
 * memory until it is added). Other paths go to `next`.
 */
export function ipfsAddEndpoint(store: ContentStore, options: { maxUploadBytes: number; maxConcurrent?: number }) {
  const maxConcurrent = options.maxConcurrent ?? 2;
  let active = 0;
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const [path, query] = (req.url ?? "").split("?");
    if (path !== ADD_PATH) return next();
    if (req.method !== "POST") return send(res, 405, "add takes POST");
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`) return send(res, 403, `uploads from ${origin} are not accepted`);
    const params = new URLSearchParams(query ?? "");
    for (const [name, value] of Object.entries(ADD_PARAMETERS)) {
      if (params.has(name) && params.get(name) !== value) return send(res, 400, `this node adds with ${name}=${value} only (asked ${params.get(name)})`);
    }
    const type = req.headers["content-type"] ?? "";
    if (!type.startsWith("multipart/form-data")) return send(res, 415, "add takes a multipart/form-data body with one file");
    if (active >= maxConcurrent) return send(res, 503, `${active} uploads are being added: try again in a moment`, "text/plain", { "retry-after": "1", connection: "close" });
    active++;
    addUpload(req, type, store, options.maxUploadBytes)
      .then(
        ({ status, body }) => send(res, status, body, status === 200 ? "application/json" : "text/plain"),
        () => send(res, 502, "the store failed to add the file"),
      )
      .finally(() => active--);
  };
}

/**
 * The body read to its end under `limit` (413 past it; reading on lets the client see the answer instead of a reset),
 * parsed by the runtime's own multipart reader (undici's `Response.formData`), its one file added and pinned.
 */
async function addUpload(req: IncomingMessage, type: string, store: ContentStore, limit: number): Promise<{ status: number; body: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  if (size > limit) return { status: 413, body: `the upload is over ${limit} bytes` };
  let form: FormData;
  try {
    form = await new Response(Buffer.concat(chunks), { headers: { "content-type": type } }).formData();
  } catch {
    return { status: 400, body: "the body is not multipart/form-data" };
  }
  const files = [...form.values()].filter((v): v is File => typeof v !== "string");
  if (files.length !== 1) return { status: 400, body: `add takes one file per call (got ${files.length})` };
  const bytes = new Uint8Array(await files[0]!.arrayBuffer());
  const cid = await store.add(bytes);
  await store.pin(cid);
  return { status: 200, body: JSON.stringify({ Name: files[0]!.name, Hash: cid, Size: String(bytes.byteLength) }) + "\n" };
}

function send(res: ServerResponse, status: number, body: string, type = "text/plain", headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": type, "content-length": String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}
