import { html } from "lit-html";
import { shortAddress } from "../../../client/src/ShortAddress.js";
import type { RoundScore } from "../../../client/src/RoundScores.js";
import type { TrainingProvenance } from "../../../client/src/TrainingJobView.js";
import { formatScore, METRIC_HEADINGS, roundScoreChart } from "./RoundScoreChart.js";

/** Where scoring the rounds in the browser stands: not asked, running (the scores so far), done, or failed. */
export type RoundScoring = { state: "idle" } | { state: "running" | "done"; scores: RoundScore[] } | { state: "failed"; sentence: string };

const shortCid = (cid: string) => (cid.length > 20 ? `${cid.slice(0, 10)}…${cid.slice(-6)}` : cid);

/**
 * How a version trained by a federated job came to be, as TrainingJobs and its events record it: the job and its
 * requester, the datasets and the samples used, the local training terms, every round's agreed aggregate (updates,
 * exclusions, votes), the validators' evaluations of the final model and their medians, labelled by the job's metric
 * (`metric`, the version manifest's training objective: accuracy, AUC or mean absolute error; unknown: the score).
 */
export function provenanceView(versionId: bigint, p: TrainingProvenance, scoring: RoundScoring, scoreRounds: () => void, metric?: RoundScore["metric"]) {
  const terms = p.terms;
  // Without the version's manifest (its gateway failed) the metric is unknown: the score as recorded, 0..1.
  const score = (value: number) => (metric === undefined ? `score ${value.toFixed(4)}` : formatScore(metric, value));
  return html`<section class="card" data-testid="provenance-${versionId}" aria-labelledby="provenance-title-${versionId}">
    <h2 id="provenance-title-${versionId}">Version ${versionId}: trained by job ${p.jobId}</h2>
    <dl class="fields">
      <dt>Requester</dt><dd><span title=${p.requester}>${shortAddress(p.requester)}</span></dd>
      <dt>Datasets</dt><dd data-testid="provenance-datasets">${p.datasets.map((d) => `${d.datasetId} (${d.samplesUsed} samples)`).join(", ")}</dd>
      ${terms === undefined
        ? ""
        : html`<dt>Local training</dt><dd>${terms.localEpochs} epoch(s) per round, batch ${terms.batchSize}, learning rate ${terms.learningRate}, ${terms.rule}</dd>
            <dt>Initial weights</dt><dd><code title=${terms.weightsCid}>${shortCid(terms.weightsCid)}</code>; evaluation set <code title=${terms.evalSetCid}>${shortCid(terms.evalSetCid)}</code> (public)</dd>`}
      <dt>Workers</dt><dd>${p.workers.map((w, i) => html`${i > 0 ? ", " : ""}<span title=${w}>${shortAddress(w)}</span>`)}</dd>
      <dt>Evaluation (median)</dt><dd data-testid="provenance-medians">${metric === "accuracy" ? "accuracy " : ""}${score(p.accuracy)}, loss ${p.loss.toFixed(4)}</dd>
    </dl>
    <table data-testid="provenance-rounds">
      <caption class="muted">Rounds: each one's agreed aggregate (FedAvg of the included updates)</caption>
      <thead><tr><th scope="col">Round</th><th scope="col">Updates</th><th scope="col">Samples aggregated</th><th scope="col">Excluded</th><th scope="col">Votes</th><th scope="col">Aggregate</th></tr></thead>
      <tbody>
        ${p.rounds.map(
          (r) => html`<tr>
            <td>${r.round}</td>
            <td>${r.updates}</td>
            <td>${r.includedSamples}</td>
            <td>${r.excluded.length === 0 ? "none" : `partition ${r.excluded.join(", ")}`}</td>
            <td>${r.votes}</td>
            <td><code title=${r.aggregateCid}>${shortCid(r.aggregateCid)}</code></td>
          </tr>`,
        )}
      </tbody>
    </table>
    <h3>Score by round</h3>
    ${scoring.state === "idle"
      ? html`<p><button type="button" @click=${scoreRounds}>Score each round in this browser</button>
          <span class="muted">(downloads TensorFlow.js, the evaluation set and every round's aggregate, each checked against the hash its workers agreed on)</span></p>`
      : scoring.state === "failed"
        ? html`<p role="alert">${scoring.sentence}</p>`
        : html`${scoring.state === "running" ? html`<p class="muted" aria-live="polite">Scoring round ${scoring.scores.length + 1} of ${p.rounds.length}…</p>` : ""}
            ${roundScoreChart(scoring.scores, p.rounds.length, p.accuracy)}`}
    <table data-testid="provenance-evaluations">
      <caption class="muted">The validators' scores of the final model on the public evaluation set</caption>
      <thead><tr><th scope="col">Validator</th><th scope="col">${metric === undefined ? "Score" : METRIC_HEADINGS[metric]}</th><th scope="col">Loss</th></tr></thead>
      <tbody>
        ${p.evaluations.map((e) => html`<tr><td><span title=${e.validator}>${shortAddress(e.validator)}</span></td><td>${score(e.accuracy)}</td><td>${e.loss.toFixed(4)}</td></tr>`)}
      </tbody>
    </table>
  </section>`;
}
