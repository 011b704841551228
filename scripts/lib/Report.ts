/** Console output of the demo and the benchmarks: stages, lines and checks that decide the exit code. */
export class Report {
  #failed = 0;
  #passed = 0;

  stage(title: string): void {
    console.log(`\n== ${title}`);
  }

  line(text: string): void {
    console.log(`   ${text}`);
  }

  check(what: string, ok: boolean): void {
    if (ok) this.#passed++;
    else this.#failed++;
    console.log(`   ${ok ? "✔" : "✘"} ${what}`);
  }

  fail(err: unknown): void {
    this.#failed++;
    console.error(`   ✘ ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }

  /** Prints the verdict and returns the process exit code. */
  finish(): number {
    console.log(`\n${this.#passed} passed, ${this.#failed} failed`);
    return this.#failed === 0 ? 0 : 1;
  }
}
