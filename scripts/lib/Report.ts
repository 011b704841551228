/** Console output of the demo and the benchmarks: stages, lines and checks that decide the exit code. */
export class Report {
  #failed = 0;
  #passed = 0;
  readonly #print: boolean;
  /** Everything reported, in order (kept also when printing). */
  readonly lines: string[] = [];
  /** The checks, in order. */
  readonly checks: { what: string; ok: boolean }[] = [];

  /** `print: false` keeps the output in `lines` only (tests). */
  constructor(options: { print?: boolean } = {}) {
    this.#print = options.print ?? true;
  }

  #out(text: string, error = false): void {
    this.lines.push(text);
    if (!this.#print) return;
    if (error) console.error(text);
    else console.log(text);
  }

  stage(title: string): void {
    this.#out(`\n== ${title}`);
  }

  line(text: string): void {
    this.#out(`   ${text}`);
  }

  check(what: string, ok: boolean): void {
    if (ok) this.#passed++;
    else this.#failed++;
    this.checks.push({ what, ok });
    this.#out(`   ${ok ? "✔" : "✘"} ${what}`);
  }

  fail(err: unknown): void {
    this.#failed++;
    this.#out(`   ✘ ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, true);
  }

  get passed(): number {
    return this.#passed;
  }

  get failed(): number {
    return this.#failed;
  }

  /** Prints the verdict and returns the process exit code. */
  finish(): number {
    this.#out(`\n${this.#passed} passed, ${this.#failed} failed`);
    return this.#failed === 0 ? 0 : 1;
  }
}
