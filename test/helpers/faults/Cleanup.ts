/**
 * Teardown for the fault suite, where a failed case can leave anything half-started: runs every step even when an
 * earlier one throws (a node already closed, a server not running), logs what failed, and never throws itself —
 * one failed close must not leave worker processes, Redis servers or nodes behind, which keep the test process
 * (and CI) alive.
 */
export async function cleanUp(steps: Record<string, () => unknown>): Promise<void> {
  for (const [name, step] of Object.entries(steps)) {
    try {
      await step();
    } catch (err) {
      console.log(`      cleanup: ${name} failed: ${(err as Error).message}`);
    }
  }
}

const EXIT_GRACE_MS = 30_000;
let guarded = false;

/**
 * Registers (once) a root `after` hook: if the process is still alive 30 s after the suite ends — a handle some
 * failed case left open — it lists the open resources and exits with the code the run set, instead of hanging CI.
 */
export function exitWhenDone(): void {
  if (guarded) return;
  guarded = true;
  after(function () {
    setTimeout(() => {
      console.error(`fault suite: still running ${EXIT_GRACE_MS / 1000} s after the last test, open: ${process.getActiveResourcesInfo().join(", ")}; exiting`);
      process.exit();
    }, EXIT_GRACE_MS).unref();
  });
}
