import type { Readable } from "node:stream";

/** How reading a request body ended, when it did not yield the body. */
export type BodyShortfall = "too-large" | "aborted" | "closed";

/**
 * Reads a request body as it streams in, never holding more than `maxBytes`: as soon as one more byte arrives the
 * read stops (the stream is paused, so HTTP/2 flow control holds the sender back) and resolves `"too-large"`.
 * `"aborted"` when `signal` fires first, `"closed"` when the sender reset the stream or went away.
 */
export function readBody(stream: Readable, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | BodyShortfall> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const finish = (result: Uint8Array | BodyShortfall) => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("close", onClose);
      stream.off("error", onClose);
      signal?.removeEventListener("abort", onAbort);
      if (typeof result === "string") stream.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > maxBytes) return finish("too-large");
      chunks.push(chunk);
    };
    const onEnd = () => finish(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    const onClose = () => finish("closed");
    const onAbort = () => finish("aborted");
    if (signal?.aborted) return resolve("aborted");
    signal?.addEventListener("abort", onAbort);
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("close", onClose);
    stream.on("error", onClose);
  });
}
