import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { unixfsCidOf } from "../../client/src/IpfsUpload.js";
import { ipfsAddEndpoint } from "../../scripts/app/IpfsAddEndpoint.js";
import type { ContentStore } from "../../worker/src/ipfs/ContentStore.js";

export interface IpfsTestServer {
  /** Both the gateway (`/ipfs/<cid>`) and the Kubo upload call (`/api/v0/add`). */
  readonly url: string;
  /** Upload calls received so far. */
  readonly uploads: number;
  close(): Promise<void>;
}

/**
 * The app server's IPFS side over `store` on a free port, for the client's Node tests: its real upload endpoint and a
 * gateway. While `forgetful()` is true, an upload is answered with the right CID but nothing is stored (a node that
 * lies), so the gateway then has nothing. `beforeUpload` runs (awaited) before each upload is handled: what another
 * party does while the page uploads.
 */
export async function startIpfsTestServer(
  store: ContentStore,
  o: { forgetful?: () => boolean; maxUploadBytes?: number; beforeUpload?: () => Promise<void> } = {},
): Promise<IpfsTestServer> {
  const add = ipfsAddEndpoint(store, { maxUploadBytes: o.maxUploadBytes ?? 1 << 20 });
  let uploads = 0;
  const server = createServer((req, res) => {
    if (req.url?.startsWith("/api/v0/add")) {
      uploads++;
      if (o.beforeUpload !== undefined) {
        // The body waits in the request's buffer meanwhile (nothing reads it yet).
        void o.beforeUpload().then(() => handle(req, res));
        return;
      }
    }
    handle(req, res);
  });
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (o.forgetful?.() === true && req.url?.startsWith("/api/v0/add")) {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        void (async () => {
          const form = await new Response(Buffer.concat(chunks), { headers: { "content-type": req.headers["content-type"]! } }).formData();
          const file = [...form.values()].find((v): v is File => typeof v !== "string")!;
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ Name: file.name, Hash: await unixfsCidOf(new Uint8Array(await file.arrayBuffer())), Size: String(file.size) }) + "\n");
        })();
      });
      return;
    }
    const cid = /^\/ipfs\/([a-z0-9]+)$/.exec(req.url ?? "")?.[1];
    if (cid !== undefined) {
      store.get(cid).then(
        (bytes) => res.end(bytes),
        () => {
          res.writeHead(404);
          res.end();
        },
      );
      return;
    }
    add(req, res, () => {
      res.writeHead(404);
      res.end();
    });
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get uploads() {
      return uploads;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
