import { FetchRequest, JsonRpcProvider } from "ethers";

export interface RpcProviderOptions {
  /** Longest wait for one JSON-RPC answer (ethers' own default is 5 minutes, during which a poll or a send stalls). */
  readonly timeoutMs: number;
  /** How often ethers polls for what it waits on (receipts), at the chain-polling cadence. */
  readonly pollIntervalMs: number;
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
  const provider = new JsonRpcProvider(request, undefined, { staticNetwork: true, polling: true, batchStallTime: 0, cacheTimeout: -1 });
  provider.pollingInterval = options.pollIntervalMs;
  return provider;
}
