/**
 * Runs submitted tasks one at a time in submission order; a failing task does not stop the ones
 * queued behind it. TxSender uses one per signer so nonce assignment and broadcast never interleave.
 */
export class SerialExecutor {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
