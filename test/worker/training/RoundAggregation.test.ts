import { expect } from "chai";
import { aggregateRound, exclusionMask, partitionSamples } from "../../../worker/src/training/RoundAggregation.js";
import type { ClientUpdate } from "../../../worker/src/training/FedAvgAggregator.js";

/** Ten honest updates near `global` (deterministic small steps), and one scaled, sign-flipped update. */
function round(global: Float32Array): ClientUpdate[] {
  const updates: ClientUpdate[] = [];
  for (let c = 0; c < 10; c++) {
    const weights = new Float32Array(global.length);
    for (let i = 0; i < global.length; i++) weights[i] = global[i] + 0.01 * (1 + ((i * 7 + c * 3) % 5) / 10);
    updates.push({ key: `bafy-honest-${c}`, weights, samples: 100 });
  }
  const poisoned = new Float32Array(global.length);
  for (let i = 0; i < global.length; i++) poisoned[i] = global[i] - 10 * 0.01;
  updates.push({ key: "bafy-poisoned", weights: poisoned, samples: 100 });
  return updates;
}

describe("A round's aggregate as the trainer votes it", function () {
  const global = new Float32Array(64).map((_, i) => Math.sin(i) / 4);

  it("screened-fedavg excludes the sign-flipped update and names it in the vote's mask; plain FedAvg keeps it", function () {
    const updates = round(global);
    const screened = aggregateRound(updates, { rule: { kind: "screened-fedavg" } }, global);
    expect(screened.excludedCids).to.deep.equal(["bafy-poisoned"]);
    const partitionOf = new Map(updates.map((u, i) => [u.key, i]));
    expect(exclusionMask(screened.excludedCids, partitionOf)).to.equal(1n << 10n);
    const plain = aggregateRound(updates, { rule: { kind: "fedavg" } });
    expect(plain.excludedCids).to.deep.equal([]);
    // The poisoned update pulls plain FedAvg below the global model on coordinate 0; the screened one moves up.
    expect(screened.weights[0]).to.be.greaterThan(global[0]);
    expect(plain.weights[0]).to.be.lessThan(screened.weights[0]);
  });

  it("the screened rule without the round's global model is refused (it measures deltas from it)", function () {
    expect(() => aggregateRound(round(global), { rule: { kind: "screened-fedavg" } })).to.throw();
  });

  it("an update's expected sample count is its partition's, so an inflated count is caught exactly", function () {
    const datasets = [
      { datasetId: 1n, samples: 2_500 },
      { datasetId: 2n, samples: 2_500 },
      { datasetId: 3n, samples: 500 },
    ];
    const spec = { datasets, workersPerRound: 3 };
    expect([0, 1, 2].map((i) => partitionSamples(spec, i))).to.deep.equal([2_500, 2_500, 500]);
    // Fewer datasets than workers: the samples are split into contiguous ranges, and every sample is counted once.
    const split = { datasets: [{ datasetId: 1n, samples: 1_001 }], workersPerRound: 2 };
    expect(partitionSamples(split, 0) + partitionSamples(split, 1)).to.equal(1_001);
  });

  it("an exclusion of an update that was not revealed this round is refused", function () {
    expect(() => exclusionMask(["bafy-stranger"], new Map([["bafy-honest-0", 0]]))).to.throw(/not revealed/);
  });
});
