import { expect } from "chai";
import { sha256Hex } from "../../../worker/src/ml/ModelArtifacts.js";
import type { ClientUpdate } from "../../../worker/src/training/FedAvgAggregator.js";
import { InvalidUpdateError } from "../../../worker/src/training/TrainingError.js";
import { weightsToBytes } from "../../../worker/src/training/ModelWeights.js";
import { MAX_UPDATE_MAGNITUDE, screenRevealedUpdate } from "../../../worker/src/training/RevealedUpdate.js";
import { aggregateRound } from "../../../worker/src/training/RoundAggregation.js";

const N = 8;
const honest = (c: number) => Float32Array.from({ length: N }, (_, i) => 0.1 * (i + 1) + 0.01 * c);

/** What an honest worker makes of a revealed update: its bytes, as the participant chose them. */
function screen(bytes: Uint8Array, o: { hash?: string; claimed?: number } = {}) {
  return screenRevealedUpdate({ bytes, revealedHash: o.hash ?? sha256Hex(bytes), claimedSamples: o.claimed ?? 100, expectedSamples: 100, modelValues: N });
}

/**
 * A participant reveals the update it likes. Before this check, an update of NaN weights (or of another length) made
 * the aggregation throw for every honest worker: nobody voted, and at the deadline the honest workers were the ones
 * without a vote. Now such an update is excluded by every honest worker alike, and the round agrees without it.
 */
describe("A revealed update that no model could have produced is excluded, not fatal to the round", function () {
  it("the attack: one NaN update among honest ones makes the aggregation itself throw", function () {
    const nan = honest(2);
    nan[3] = Number.NaN;
    const updates: ClientUpdate[] = [0, 1].map((c) => ({ key: `bafy-${c}`, weights: honest(c), samples: 100 }));
    expect(() => aggregateRound([...updates, { key: "bafy-nan", weights: nan, samples: 100 }], { rule: { kind: "fedavg" } })).to.throw(InvalidUpdateError, /weight 3 is NaN/);
  });

  it("screens out NaN, infinite and overflowing weights, another length, a hash or sample-count mismatch; admits honest bytes exactly", function () {
    const good = weightsToBytes(honest(0));
    const ok = screen(good);
    expect(ok.ok).to.equal(true);
    expect(ok.ok && Array.from(ok.weights)).to.deep.equal(Array.from(honest(0)));
    const withValue = (i: number, v: number) => {
      const w = honest(1);
      w[i] = v;
      return weightsToBytes(w);
    };
    const verdicts = [
      screen(withValue(3, Number.NaN)),
      screen(withValue(0, Number.POSITIVE_INFINITY)),
      screen(withValue(7, -2e15)),
      screen(withValue(7, -MAX_UPDATE_MAGNITUDE)),
      screen(good.subarray(0, good.length - 4)),
      screen(good, { hash: "0x" + "00".repeat(32) }),
      screen(good, { claimed: 101 }),
    ];
    expect(verdicts.map((v) => (v.ok ? "ok" : v.why))).to.deep.equal([
      "weight 3 is NaN (NaN, infinite or beyond +-1000000000000000)",
      "weight 0 is Infinity (NaN, infinite or beyond +-1000000000000000)",
      "weight 7 is -1999999973982208 (NaN, infinite or beyond +-1000000000000000)",
      "ok", // -1e15 as float32 (-999999986991104): within the bound
      "28 bytes, the model has 8 float32 weights (32 bytes)",
      "its bytes do not match the revealed hash",
      "it claims 101 samples, its partition holds 100",
    ]);
  });

  it("the round then agrees without the bad update: the aggregate is the honest updates' FedAvg", function () {
    const nan = honest(2);
    nan[3] = Number.NaN;
    const revealed = [weightsToBytes(honest(0)), weightsToBytes(honest(1)), weightsToBytes(nan)];
    const admitted: ClientUpdate[] = [];
    revealed.forEach((bytes, c) => {
      const v = screen(bytes);
      if (v.ok) admitted.push({ key: `bafy-${c}`, weights: v.weights, samples: 100 });
    });
    expect(admitted.map((u) => u.key)).to.deep.equal(["bafy-0", "bafy-1"]);
    const { weights } = aggregateRound(admitted, { rule: { kind: "fedavg" } });
    expect(Array.from(weights)).to.deep.equal(Array.from(honest(0)).map((v, i) => Math.fround((v + honest(1)[i]) / 2)));
  });
});
