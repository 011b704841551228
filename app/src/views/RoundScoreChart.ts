import { html, svg } from "lit-html";
import type { RoundScore } from "../../../client/src/RoundScores.js";

const W = 480;
const H = 200;
const PAD = { left: 48, right: 16, top: 12, bottom: 32 };

/** A metric value as people read it: accuracy in percent, an AUC as a fraction, a mean absolute error as is. */
export function formatMetric(s: Pick<RoundScore, "metric" | "value">): string {
  return s.metric === "accuracy" ? `${(s.value * 100).toFixed(2)} %` : s.metric === "auc" ? `AUC ${s.value.toFixed(4)}` : `MAE ${s.value.toPrecision(4)}`;
}

/**
 * A score as TrainingJobs records it (the validators' `accuracy` field: the metric's score, higher is better, 0..1:
 * accuracy, AUC, or 1 / (1 + MAE)) read back as its metric's value, as people read it.
 */
export function formatScore(metric: RoundScore["metric"], score: number): string {
  return formatMetric({ metric, value: metric === "mae" ? (score > 0 ? 1 / score - 1 : Number.POSITIVE_INFINITY) : score });
}

/** A metric's name as a column heading. */
export const METRIC_HEADINGS: Record<RoundScore["metric"], string> = { accuracy: "Accuracy", auc: "AUC", mae: "Mean absolute error" };

/**
 * Every round's score (higher is better, 0..1) as a line, with the validators' median score of the final model as a
 * dashed line; the same values in a table beside it (what a screen reader reads, and the numbers themselves).
 */
export function roundScoreChart(scores: readonly RoundScore[], rounds: number, median: number) {
  const x = (round: number) => PAD.left + (rounds <= 1 ? (W - PAD.left - PAD.right) / 2 : ((round - 1) * (W - PAD.left - PAD.right)) / (rounds - 1));
  // From the tenth below the lowest score (or the median) to 100 %: differences of a few points stay visible.
  const low = Math.max(0, Math.floor((Math.min(median, ...scores.map((s) => s.score)) - 0.02) * 10) / 10);
  const y = (score: number) => PAD.top + ((1 - score) / (1 - low)) * (H - PAD.top - PAD.bottom);
  const metric = scores[0]?.metric ?? "accuracy";
  return html`<div class="row">
    <svg width=${W} height=${H} viewBox="0 0 ${W} ${H}" role="img" aria-label="Score of each round's aggregate on the public evaluation set: ${scores.map((s) => `round ${s.round} ${formatMetric(s)}`).join(", ")}">
      ${[low, (low + 1) / 2, 1].map((v) => svg`<line x1=${PAD.left} x2=${W - PAD.right} y1=${y(v)} y2=${y(v)} stroke="#d8dde3" />
        <text x=${PAD.left - 6} y=${y(v) + 4} text-anchor="end" font-size="11">${Math.round(v * 100)} %</text>`)}
      ${Array.from({ length: rounds }, (_, i) => svg`<text x=${x(i + 1)} y=${H - PAD.bottom + 16} text-anchor="middle" font-size="11">${i + 1}</text>`)}
      <text x=${(W + PAD.left) / 2} y=${H - 2} text-anchor="middle" font-size="11">round</text>
      <line x1=${PAD.left} x2=${W - PAD.right} y1=${y(median)} y2=${y(median)} stroke="#b45309" stroke-dasharray="4 3" />
      <polyline fill="none" stroke="#1d4ed8" stroke-width="2" points=${scores.map((s) => `${x(s.round)},${y(s.score)}`).join(" ")} />
      ${scores.map((s) => svg`<circle cx=${x(s.round)} cy=${y(s.score)} r="3.5" fill="#1d4ed8" />`)}
    </svg>
    <table data-testid="round-scores">
      <caption class="muted">Scored in this browser (${metric}); dashed: the validators' median${scores.some((s) => !s.evalSetChecked)
        ? "; the evaluation set spans several IPFS blocks, which the page cannot check through a gateway: a gateway could have altered it (each aggregate is checked)"
        : ""}</caption>
      <thead><tr><th scope="col">Round</th><th scope="col">Score</th></tr></thead>
      <tbody>${scores.map((s) => html`<tr><td>${s.round}</td><td>${formatMetric(s)}</td></tr>`)}</tbody>
    </table>
  </div>`;
}
