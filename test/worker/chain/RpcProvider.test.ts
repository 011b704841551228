import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { classifyError } from "../../../worker/src/errors.js";
import { createRpcProvider } from "../../../worker/src/chain/RpcProvider.js";

/**
 * A node (or a proxy in front of one) that takes a request and never answers must cost the worker one bounded
 * timeout, retryable, not ethers' default five minutes during which the listener's poll (and with it every event)
 * stalls. The fault suite met this between its RPC-fault proxy and EDR.
 */
describe("RpcProvider: a bounded wait per JSON-RPC request", () => {
  let server: Server;
  let url: string;
  const held: IncomingMessage[] = [];
  let answerChainId = true;

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { id: number; method: string } | { id: number; method: string }[];
        const calls = Array.isArray(body) ? body : [body];
        if (answerChainId && calls.every((c) => c.method === "eth_chainId")) {
          const answers = calls.map((c) => ({ jsonrpc: "2.0", id: c.id, result: "0x7a69" }));
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(Array.isArray(body) ? answers : answers[0]));
          return;
        }
        held.push(req); // taken, never answered
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("fails a request the node never answers after timeoutMs, as a retryable TIMEOUT", async () => {
    const provider = createRpcProvider(url, { timeoutMs: 1_000, pollIntervalMs: 100 });
    try {
      expect((await provider.getNetwork()).chainId).to.equal(31337n);
      const started = Date.now();
      const err = await provider.getBlockNumber().then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      const waited = Date.now() - started;
      expect(err, "the call fails").to.not.equal(undefined);
      expect(err!.code).to.equal("TIMEOUT");
      expect(classifyError(err)).to.equal("retryable");
      expect(waited).to.be.at.least(950).and.below(5_000);
      expect(held.length).to.be.at.least(1);
    } finally {
      provider.destroy();
    }
  });
});

/**
 * The daemon's provider encodes bodies with the runtime's UTF-8 codec instead of ethers' JavaScript loops: the same
 * bytes must go out and come back, multi-byte characters included, and the same errors must reach the worker.
 */
describe("RpcProvider: JSON-RPC bodies through the runtime's UTF-8 codec", () => {
  let server: Server;
  let url: string;
  let received: unknown[] = [];
  let reply: (calls: { id: number; method: string; params: unknown[] }[]) => { status: number; body: Buffer };

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id: number; method: string; params: unknown[] } | { id: number; method: string; params: unknown[] }[];
        const calls = Array.isArray(body) ? body : [body];
        received.push(...calls);
        if (calls.every((c) => c.method === "eth_chainId")) {
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(calls.map((c) => ({ jsonrpc: "2.0", id: c.id, result: "0x7a69" }))));
          return;
        }
        const { status, body: out } = reply(calls);
        res.writeHead(status, { "content-type": "application/json" }).end(out);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  beforeEach(() => {
    received = [];
  });

  it("sends multi-byte characters as UTF-8 and reads them back unchanged", async () => {
    const text = "Zürich, 東京, emoji 🦀 and a quote \" in a label";
    reply = (calls) => ({ status: 200, body: Buffer.from(JSON.stringify(calls.map((c) => ({ jsonrpc: "2.0", id: c.id, result: { echoed: c.params[0] } }))), "utf8") });
    const provider = createRpcProvider(url, { timeoutMs: 5_000, pollIntervalMs: 100 });
    try {
      expect((await provider.getNetwork()).chainId).to.equal(31337n);
      const answer = (await provider.send("tessera_echo", [text])) as { echoed: string };
      expect(answer.echoed).to.equal(text);
      expect(received.map((c) => (c as { params: unknown[] }).params[0])).to.include(text);
    } finally {
      provider.destroy();
    }
  });

  it("names an answer that is not JSON, and an HTTP error status, as ethers does", async () => {
    const provider = createRpcProvider(url, { timeoutMs: 5_000, pollIntervalMs: 100 });
    try {
      expect((await provider.getNetwork()).chainId).to.equal(31337n);
      reply = () => ({ status: 200, body: Buffer.from("<html>bad gateway</html>") });
      const notJson = await provider.send("eth_blockNumber", []).then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(notJson?.code).to.equal("UNSUPPORTED_OPERATION");
      expect(notJson?.message).to.contain("response body is not valid JSON");

      reply = () => ({ status: 503, body: Buffer.from('{"error":"overloaded"}') });
      const limited = await provider.send("eth_blockNumber", []).then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(limited?.code).to.equal("SERVER_ERROR");
      expect(classifyError(limited)).to.equal("retryable");
    } finally {
      provider.destroy();
    }
  });
});
