import { FetchRequest, JsonRpcProvider, makeError, type JsonRpcPayload, type JsonRpcResult } from "ethers";

export interface RpcProviderOptions {
  /** Longest wait for one JSON-RPC answer (ethers' own default is 5 minutes, during which a poll or a send stalls). */
  readonly timeoutMs: number;
  /** How often ethers polls for what it waits on (receipts), at the chain-polling cadence. */
  readonly pollIntervalMs: number;
}

const utf8Encoder = new TextEncoder();
// Strict as ethers' decoder: invalid UTF-8 is an error, and a byte-order mark is kept (JSON.parse then refuses it).
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * ethers' JSON-RPC provider with the bodies encoded and decoded by the runtime's UTF-8 codec. ethers' own
 * `FetchRequest` turns each body into bytes and each answer back into a string with a JavaScript loop per code
 * point: a batch's calldata, its receipts and the listener's logs are tens of kilobytes, and those loops were a
 * sixth of a batching worker's CPU in the load benchmark's profile. Same requests, same answers, same errors
 * (an HTTP error status as `assertOk` reports it; an answer that is not JSON as `bodyJson` reports it).
 */
class NativeJsonRpcProvider extends JsonRpcProvider {
  override async _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<JsonRpcResult[]> {
    const request = this._getConnection();
    request.body = utf8Encoder.encode(JSON.stringify(payload));
    request.setHeader("content-type", "application/json");
    const response = await request.send();
    response.assertOk();
    let answer: unknown;
    try {
      answer = JSON.parse(utf8Decoder.decode(response.body ?? new Uint8Array()));
    } catch (err) {
      throw makeError("response body is not valid JSON", "UNSUPPORTED_OPERATION", { operation: "bodyJson", info: { response, cause: err } });
    }
    return (Array.isArray(answer) ? answer : [answer]) as JsonRpcResult[];
  }
}

/**
 * The daemon's JSON-RPC provider: a fixed network (read once), polling, and a bounded wait per request, so that a
 * node or proxy that takes a request and never answers costs one timeout (a retryable `TIMEOUT`) instead of
 * holding the listener's poll or a job for minutes.
 *
 * Latency: requests made in one turn of the event loop still go as one JSON-RPC batch, but none waits 10 ms for
 * company (ethers' batchStallTime, paid by each of the ~9 rounds of requests on a request's way from event to
 * fulfilment), and no answer is reused from a 250 ms cache (a head, a receipt polled for).
 */
export function createRpcProvider(url: string, options: RpcProviderOptions): JsonRpcProvider {
  const request = new FetchRequest(url);
  request.timeout = options.timeoutMs;
  const provider = new NativeJsonRpcProvider(request, undefined, { staticNetwork: true, polling: true, batchStallTime: 0, cacheTimeout: -1 });
  provider.pollingInterval = options.pollIntervalMs;
  return provider;
}
