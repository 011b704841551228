import { html, type TemplateResult } from "lit-html";
import { roundScorer, type RoundScore, type RoundScorer } from "../../../client/src/RoundScores.js";
import type { JobView } from "../../../client/src/TrainingJobView.js";
import { formatMetric, METRIC_HEADINGS } from "./RoundScoreChart.js";
import { browserTf } from "../BrowserTf.js";

interface JobScoring {
  state: "on" | "failed";
  readonly scores: Map<number, RoundScore>;
  scorer: Promise<RoundScorer> | undefined;
  busy: boolean;
}

/**
 * The rounds of the jobs a person follows, scored in this browser as they complete (client RoundScores: each agreed
 * aggregate checked against its hash, scored on the job's public evaluation set as the validators score the final
 * model). TensorFlow.js is loaded when a person first asks; each job's manifest and evaluation set are read once.
 */
export class LiveRoundScores {
  readonly #jobs = new Map<bigint, JobScoring>();

  constructor(
    private readonly gateway: () => string,
    private readonly changed: () => void,
    private readonly report: (err: unknown) => void,
  ) {}

  /** Starts scoring `job`'s rounds, those done now and each one as it completes (`follow`). */
  start(job: JobView): void {
    if (this.#jobs.get(job.jobId)?.state === "on") return;
    const scoring: JobScoring = { state: "on", scores: new Map(), scorer: undefined, busy: false };
    this.#jobs.set(job.jobId, scoring);
    scoring.scorer = (async () => {
      const tf = await browserTf();
      return roundScorer(tf, this.gateway(), job);
    })();
    this.changed();
    this.follow([job]);
  }

  /** Scores the rounds of the followed jobs among `jobs` that are not scored yet, in order, one job at a time each. */
  follow(jobs: readonly JobView[]): void {
    for (const job of jobs) {
      const scoring = this.#jobs.get(job.jobId);
      if (scoring === undefined || scoring.state !== "on" || scoring.busy) continue;
      const missing = job.roundResults.filter((r) => !scoring.scores.has(r.round));
      if (missing.length === 0) continue;
      scoring.busy = true;
      void (async () => {
        try {
          const score = await scoring.scorer!;
          for (const r of missing) {
            scoring.scores.set(r.round, await score(r));
            this.changed();
          }
        } catch (err) {
          scoring.state = "failed";
          this.report(err);
        } finally {
          scoring.busy = false;
          this.changed();
        }
      })();
    }
  }

  /** The rounds table's score column heading and a round's cell, or undefined when `jobId` is not scored here. */
  column(jobId: bigint): { heading: string; cell: (round: number) => string } | undefined {
    const scoring = this.#jobs.get(jobId);
    if (scoring === undefined) return undefined;
    const first = [...scoring.scores.values()][0];
    return {
      heading: `${first === undefined ? "Score" : METRIC_HEADINGS[first.metric]} (scored here)`,
      cell: (round) => {
        const s = scoring.scores.get(round);
        return s !== undefined ? formatMetric(s) : scoring.state === "failed" ? "not scored" : "scoring…";
      },
    };
  }

  /** The button that starts scoring a job's rounds, where it can be scored and is not yet. */
  button(job: JobView): TemplateResult | string {
    if (job.terms === undefined || this.#jobs.get(job.jobId)?.state === "on") return "";
    return html`<p><button type="button" @click=${() => this.start(job)}>Score job ${job.jobId}'s rounds in this browser</button>
      <span class="muted">each round's agreed aggregate on the public evaluation set, as rounds complete (downloads TensorFlow.js; each aggregate checked against the hash its workers agreed on)</span></p>`;
  }
}
