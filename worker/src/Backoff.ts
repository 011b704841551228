export interface BackoffOptions {
  /** Delay cap for the first retry, doubled on each further one. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/**
 * "Full jitter" exponential backoff (AWS architecture blog): a uniform random delay in
 * [0, min(max, base * 2^(attempt-1))], which spreads retrying clients apart instead of syncing them.
 * `attempt` is the number of the attempt that just failed, starting at 1.
 */
export function fullJitterDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const cap = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * cap);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
