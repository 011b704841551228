/**
 * Polls `probe` until it gives a value (not undefined) and returns it; throws "no <what> within <ms> ms" after
 * `timeoutMs`. `tick`, when given, runs between polls (mine a block, say).
 */
export async function until<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  options: { timeoutMs?: number; pollMs?: number; tick?: () => Promise<unknown> } = {},
): Promise<T> {
  const { timeoutMs = 20_000, pollMs = 20, tick } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await tick?.();
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
