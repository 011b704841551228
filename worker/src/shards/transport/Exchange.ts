import { constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from "node:http2";

/** An HTTP/2 answer, read whole. */
export interface Exchanged {
  status: number;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

/** A refusal's body (the protocol's JSON sentence) is read up to this; the rest is dropped. */
export const MAX_REFUSAL_BODY_BYTES = 16 * 1024;

/** Request bodies are written in chunks of this size, following the stream's backpressure. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Sends one request on `session` and reads its answer. The body is written chunk by chunk under HTTP/2 flow
 * control (one big write would sit in the session's memory and exhaust it) and stops as soon as the answer has
 * come (a host may refuse before reading the whole body, then reset the stream with NO_ERROR: a refusal whose
 * reset overtook part of its body is still returned). Rejects on `signal` (its reason), on a body over
 * `maxResponseBytes` (an error with code `OUTPUT_TOO_LARGE`), and when the stream breaks before an answer. A refusal
 * (any status but 200) is read up to MAX_REFUSAL_BODY_BYTES only.
 */
export function exchange(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body: Uint8Array,
  options: { maxResponseBytes: number; signal: AbortSignal },
): Promise<Exchanged> {
  const { signal, maxResponseBytes } = options;
  return new Promise<Exchanged>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: false });
    } catch (err) {
      return reject(err);
    }
    let settled = false;
    let status: number | undefined;
    let answerHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    let total = 0;

    const settle = (outcome: { value: Exchanged } | { error: unknown }) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      // Stop uploading (and free the stream) if the answer came before the whole body was sent, or on failure.
      if (!stream.closed && !stream.destroyed && ("error" in outcome || !stream.writableFinished)) stream.close(h2.NGHTTP2_CANCEL);
      if ("error" in outcome) reject(outcome.error);
      else resolve(outcome.value);
    };
    const answer = () => ({ value: { status: status!, headers: answerHeaders, body: Buffer.concat(chunks, total) } });
    const onAbort = () => settle({ error: signal.reason });
    signal.addEventListener("abort", onAbort, { once: true });

    stream.on("response", (h) => {
      status = Number(h[":status"]);
      answerHeaders = h;
    });
    stream.on("data", (chunk: Buffer) => {
      total += chunk.byteLength;
      if (status !== 200 && total > MAX_REFUSAL_BODY_BYTES) {
        // A refusal is a sentence: a longer one is cut (its JSON then does not parse: the status alone is reported).
        total -= chunk.byteLength;
        settle(answer());
      } else if (total > maxResponseBytes) {
        settle({ error: Object.assign(new Error(`the answer is over ${maxResponseBytes} bytes`), { code: "OUTPUT_TOO_LARGE" }) });
      } else chunks.push(chunk);
    });
    stream.on("end", () => {
      if (status === undefined) settle({ error: new Error("the stream ended without an answer") });
      else settle(answer());
    });
    stream.on("error", (err) => settle({ error: err }));
    stream.on("close", () => {
      if (status !== undefined && status !== 200 && stream.rstCode === h2.NGHTTP2_NO_ERROR) settle(answer());
      else settle({ error: new Error(`the stream closed before the answer (RST_STREAM code ${stream.rstCode})`) });
    });

    let offset = 0;
    const pump = () => {
      while (!settled && !stream.destroyed && offset < body.byteLength) {
        const end = Math.min(offset + CHUNK_BYTES, body.byteLength);
        const more = stream.write(body.subarray(offset, end));
        offset = end;
        if (!more) return void stream.once("drain", pump);
      }
      if (!settled && !stream.destroyed) stream.end();
    };
    pump();
  });
}
