import { expect } from "chai";
import { formatScore, METRIC_HEADINGS } from "../../app/src/views/RoundScoreChart.js";
import { scoreOf } from "../../worker/src/ml/TrainingObjective.js";

/**
 * The provenance of a trained version shows the validators' scores, which TrainingJobs records in one field whatever
 * the job's metric: an accuracy, an AUC, or 1 / (1 + MAE). The page reads each back as its own metric.
 */
describe("dApp metric labels: a recorded score read back as the job's metric", () => {
  it("shows an accuracy in percent, an AUC as a fraction and an MAE as the error itself, inverting 1 / (1 + MAE)", () => {
    expect(formatScore("accuracy", 0.9125)).to.equal("91.25 %");
    expect(formatScore("auc", 0.87654)).to.equal("AUC 0.8765");
    expect(formatScore("mae", scoreOf("mae", 0.25))).to.equal("MAE 0.2500");
    expect(formatScore("mae", scoreOf("mae", 3.5))).to.equal("MAE 3.500");
    expect(formatScore("mae", 1)).to.equal("MAE 0.000");
    expect(formatScore("mae", 0)).to.equal("MAE Infinity");
    expect(Object.values(METRIC_HEADINGS)).to.deep.equal(["Accuracy", "AUC", "Mean absolute error"]);
  });
});
