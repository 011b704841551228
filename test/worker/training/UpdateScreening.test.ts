import { expect } from "chai";
import {
  aggregateWithExclusion,
  FedAvgAggregator,
  UNTRUSTED_DEFAULT_RULE,
  type AggregationRule,
  type ClientUpdate,
} from "../../../worker/src/training/FedAvgAggregator.js";
import { weightsHash } from "../../../worker/src/training/ModelWeights.js";
import { InvalidUpdateError } from "../../../worker/src/training/TrainingError.js";
import { DEFAULT_SCREENING, screenUpdates, type ScreeningOptions } from "../../../worker/src/training/UpdateScreening.js";
import { shuffled } from "./fixtures/syntheticUpdates.js";

function update(key: string, weights: number[], samples = 1): ClientUpdate {
  return { key, weights: Float32Array.from(weights), samples };
}

/** Updates keyed a, b, c... whose deltas from a zero global model are `deltas`. */
function fromDeltas(deltas: number[][], samples = 1): ClientUpdate[] {
  return deltas.map((d, k) => update(String.fromCharCode(97 + k), d, samples));
}

const zeros = (length: number) => new Float32Array(length);

/** The next float32 above `x` (x > 0). */
function nextFloat32Up(x: number): number {
  const bits = new Uint32Array(Float32Array.of(x).buffer);
  bits[0] += 1;
  return new Float32Array(bits.buffer)[0];
}

const screened = (screening?: ScreeningOptions): AggregationRule => ({ kind: "screened-fedavg", screening });

describe("UpdateScreening (screened-fedavg)", () => {
  describe("exclusion", () => {
    it("excludes a scaled sign-flipped update and keeps the honest ones, then averages the rest by samples", () => {
      const honest = [
        [1, 0.2],
        [1.1, -0.1],
        [0.9, 0.1],
        [1, -0.2],
      ];
      const updates = fromDeltas([...honest, [-10, 0]], 100);
      const { weights, excludedCids } = aggregateWithExclusion(updates, UNTRUSTED_DEFAULT_RULE, { global: zeros(2) });
      expect(excludedCids).to.deep.equal(["e"]);
      const fedavgOfHonest = new FedAvgAggregator().aggregate(updates.slice(0, 4));
      expect(Array.from(weights)).to.deep.equal(Array.from(fedavgOfHonest));
      // Without the screen the flip drags the model backwards.
      expect(new FedAvgAggregator().aggregate(updates)[0]).to.be.below(0);
    });

    it("excludes an update that points against the median delta even when it is near by distance; minCosine -1 turns that off", () => {
      const updates = fromDeltas([
        [1, 2],
        [1, -2],
        [1, 2],
        [1, -2],
        [-0.5, 0],
      ]);
      const screening = screenUpdates(updates, zeros(2));
      // median delta (1, 0); honest distances 2, the reversed one 1.5: inside the threshold 2 + 0 + 1 = 3.
      expect(screening.distanceThreshold).to.equal(3);
      expect(screening.scores.map((s) => s.distance)).to.deep.equal([2, 2, 2, 2, 1.5]);
      expect(screening.scores[4].cosine).to.equal(-1);
      expect(screening.excluded.map((u) => u.key)).to.deep.equal(["e"]);
      expect(screenUpdates(updates, zeros(2), { minCosine: -1 }).excluded).to.deep.equal([]);
    });

    it("direction: a tie between the sides excludes nobody (2 against of 4), the minority side goes (2 against of 5)", () => {
      const tilted = [
        [1, -0.25],
        [1, -0.25],
        [-1, 0.75],
        [-1, 0.75],
      ];
      const four = screenUpdates(fromDeltas(tilted), zeros(2));
      // The mean delta is (0, 0.25): the first two point against it.
      expect(four.scores.map((s) => s.cosine < 0)).to.deep.equal([true, true, false, false]);
      expect(four.scores.every((s) => s.distance <= four.distanceThreshold)).to.equal(true);
      expect(four.excluded).to.deep.equal([]);
      const five = screenUpdates(fromDeltas([...tilted, [0, 0.75]]), zeros(2));
      expect(five.scores.every((s) => s.distance <= five.distanceThreshold)).to.equal(true);
      expect(five.scores.map((s) => s.cosine < 0)).to.deep.equal([true, true, false, false, false]);
      expect(five.excluded.map((u) => u.key)).to.deep.equal(["a", "b"]);
    });

    it("direction: a coherent minority that turns the mean around is the side excluded, not the honest majority", () => {
      // Four honest deltas along (1, 0) with a large spread, three equal ones at (-2, 0): every
      // distance to the median delta (1, 0) is 3, all near; the mean (-2/7, 0) points backwards.
      const updates = fromDeltas([
        [1, 3],
        [1, -3],
        [1, 3],
        [1, -3],
        [-2, 0],
        [-2, 0],
        [-2, 0],
      ]);
      const screening = screenUpdates(updates, zeros(2));
      expect(screening.scores.map((s) => s.distance)).to.deep.equal([3, 3, 3, 3, 3, 3, 3]);
      expect(screening.scores.map((s) => s.cosine < 0)).to.deep.equal([true, true, true, true, false, false, false]);
      expect(screening.excluded.map((u) => u.key)).to.deep.equal(["e", "f", "g"]);
      const kept = aggregateWithExclusion(updates, screened(), { global: zeros(2) }).weights;
      expect(Array.from(kept)).to.deep.equal([1, 0]);
    });

    it("keeps an update exactly at the distance threshold and excludes the next float32 above it", () => {
      // 1-D deltas 0, 1, 2, 3, x: median delta 2, distances 2, 1, 0, 1, x - 2 -> median 1, MAD 1.
      // Threshold with madMultiplier 2, relativeMargin 0.5: 1 + 2 * 1 + 0.5 * 1 = 3.5, reached at x = 5.5.
      const options = { madMultiplier: 2, relativeMargin: 0.5 };
      const at = screenUpdates(fromDeltas([[0], [1], [2], [3], [5.5]]), zeros(1), options);
      expect(at.distanceThreshold).to.equal(3.5);
      expect(at.scores[4].distance).to.equal(3.5);
      expect(at.excluded).to.deep.equal([]);
      const above = screenUpdates(fromDeltas([[0], [1], [2], [3], [nextFloat32Up(5.5)]]), zeros(1), options);
      expect(above.distanceThreshold).to.equal(3.5);
      expect(above.scores[4].distance).to.be.above(3.5);
      expect(above.excluded.map((u) => u.key)).to.deep.equal(["e"]);
    });

    it("never excludes more than floor((n - 1) / 2): the farthest go first, and among equal distances the larger key", () => {
      // Deltas 0, 0, 0, 5, 5, -5: median 0, distances 0, 0, 0, 5, 5, 5; threshold (no margins) 2.5.
      const updates = fromDeltas([[0], [0], [0], [5], [5], [-5]]);
      const options = { madMultiplier: 0, relativeMargin: 0 };
      for (const orderSeed of [1, 2, 3]) {
        const screening = screenUpdates(
          [...shuffled(updates, orderSeed)].sort((a, b) => (a.key < b.key ? -1 : 1)),
          zeros(1),
          options,
        );
        expect(screening.distanceThreshold).to.equal(2.5);
        expect(screening.excluded.map((u) => u.key)).to.deep.equal(["e", "f"]);
      }
      // Three outliers of seven: all three go (cap 3); the farthest first when only two may.
      const seven = fromDeltas([[0], [0.1], [-0.1], [0], [9], [-8], [7]]);
      expect(screenUpdates(seven, zeros(1)).excluded.map((u) => u.key)).to.deep.equal(["e", "f", "g"]);
      const six = fromDeltas([[0], [0.1], [-0.1], [9], [-8], [7]]);
      expect(screenUpdates(six, zeros(1), options).excluded.map((u) => u.key)).to.deep.equal(["d", "e"]);
    });

    it("edge cases: one update, two updates, all equal, a zero reference", () => {
      const global = Float32Array.of(0.5, -0.5);
      // n = 1 and n = 2: no majority to compare against, nothing excluded (cap 0).
      const one = aggregateWithExclusion([update("a", [100, 100], 3)], screened(), { global });
      expect(one.excludedCids).to.deep.equal([]);
      expect(Array.from(one.weights)).to.deep.equal([100, 100]);
      const two = aggregateWithExclusion([update("a", [1, 1]), update("b", [-1e6, 1e6])], screened(), { global });
      expect(two.excludedCids).to.deep.equal([]);
      expect(Array.from(two.weights)).to.deep.equal(Array.from(new FedAvgAggregator().aggregate([update("a", [1, 1]), update("b", [-1e6, 1e6])])));
      // All equal: every distance is 0, the threshold 0, and 0 > 0 is false.
      const same = [0, 1, 2, 3, 4].map((k) => update(`u${k}`, [0.75, 0.25], 10 + k));
      const screening = screenUpdates(same, global);
      expect(screening.distanceThreshold).to.equal(0);
      expect(screening.excluded).to.deep.equal([]);
      // Every update equal to the global model: zero deltas, cosine 0 by definition, nothing excluded.
      const idle = [0, 1, 2].map((k) => update(`u${k}`, [0.5, -0.5]));
      const idleScreening = screenUpdates(idle, global);
      expect(idleScreening.scores.map((s) => s.cosine)).to.deep.equal([0, 0, 0]);
      expect(idleScreening.excluded).to.deep.equal([]);
    });

    it("equals plain FedAvg bit for bit when nothing is excluded", () => {
      const updates = fromDeltas(
        [
          [0.1, 0.2, 0.3],
          [0.11, 0.19, 0.31],
          [0.09, 0.21, 0.29],
        ],
        7,
      ).map((u, k) => ({ ...u, samples: 10 + 7 * k }));
      const result = aggregateWithExclusion(updates, screened(), { global: zeros(3) });
      expect(result.excludedCids).to.deep.equal([]);
      expect(weightsHash(result.weights)).to.equal(weightsHash(new FedAvgAggregator().aggregate(updates)));
      expect(result.scores?.map((s) => s.key)).to.deep.equal(["a", "b", "c"]);
    });

    it("the other rules exclude nobody", () => {
      const updates = fromDeltas([[0], [0.1], [1e3]]);
      for (const rule of [{ kind: "fedavg" }, { kind: "median" }, { kind: "trimmed-mean", trimFraction: 0.2 }] as AggregationRule[]) {
        expect(aggregateWithExclusion(updates, rule).excludedCids).to.deep.equal([]);
      }
    });
  });

  describe("validation", () => {
    it("needs the global model, of the updates' length and finite", () => {
      const updates = fromDeltas([[1], [2], [3]]);
      expect(() => aggregateWithExclusion(updates, screened())).to.throw(TypeError, /needs the round's global model/);
      expect(() => aggregateWithExclusion(updates, screened(), { global: zeros(2) })).to.throw(
        InvalidUpdateError,
        /update a has 1 weights, the global model 2/,
      );
      expect(() => aggregateWithExclusion(updates, screened(), { global: Float32Array.of(Number.NaN) })).to.throw(
        InvalidUpdateError,
        /the global model's weight 0 is NaN/,
      );
      // The updates themselves are checked as for every rule.
      expect(() => aggregateWithExclusion([update("a", [Number.POSITIVE_INFINITY])], screened(), { global: zeros(1) })).to.throw(
        InvalidUpdateError,
        /weight 0 is Infinity/,
      );
    });

    it("rejects thresholds out of range when the rule is built", () => {
      expect(() => new FedAvgAggregator(screened({ madMultiplier: -1 }))).to.throw(RangeError, /madMultiplier must be >= 0, got -1/);
      expect(() => new FedAvgAggregator(screened({ relativeMargin: Number.NaN }))).to.throw(RangeError, /relativeMargin/);
      expect(() => new FedAvgAggregator(screened({ minCosine: 1.5 }))).to.throw(RangeError, /minCosine must be in \[-1, 1\], got 1.5/);
      expect(DEFAULT_SCREENING).to.deep.equal({ madMultiplier: 3 * 1.4826, relativeMargin: 0.5, minCosine: 0 });
    });
  });
});
