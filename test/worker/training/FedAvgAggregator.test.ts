import { expect } from "chai";
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { aggregateWithExclusion, FedAvgAggregator, type ClientUpdate } from "../../../worker/src/training/FedAvgAggregator.js";
import { weightsHash, weightsToBytes } from "../../../worker/src/training/ModelWeights.js";
import { InvalidUpdateError } from "../../../worker/src/training/TrainingError.js";
import { shuffled, syntheticRound, syntheticUpdates } from "./fixtures/syntheticUpdates.js";

const run = promisify(execFile);
const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "aggregateHash.ts");

function update(key: string, weights: number[], samples = 1): ClientUpdate {
  return { key, weights: Float32Array.from(weights), samples };
}

const fedavg = new FedAvgAggregator();
const median = new FedAvgAggregator({ kind: "median" });
const trimmed = (trimFraction: number) => new FedAvgAggregator({ kind: "trimmed-mean", trimFraction });

describe("FedAvgAggregator", () => {
  describe("math", () => {
    it("weights each update by n_k / n", () => {
      const result = fedavg.aggregate([update("a", [1, 2, 3, -4], 1), update("b", [3, 6, 9, 4], 3)]);
      expect(Array.from(result)).to.deep.equal([2.5, 5, 7.5, 2]);
      expect(Array.from(fedavg.aggregate([update("only", [0.5, -1], 7)]))).to.deep.equal([0.5, -1]);
    });

    it("rounds every step to float32, in key order", () => {
      // 1/3 and 2/3 are not float32 numbers: the result is the float32 computation, step by step.
      const result = fedavg.aggregate([update("b", [0.2], 2), update("a", [0.1], 1)]);
      const f = Math.fround;
      const expected = f(f(0 + f(f(1 / 3) * f(0.1))) + f(f(2 / 3) * f(0.2)));
      expect(result[0]).to.equal(expected);
      // (Hardhat's chai matchers redefine closeTo for bigints, so compare the difference.)
      expect(Math.abs(result[0] - 0.5 / 3)).to.be.lessThan(1e-7);
    });

    it("takes the coordinate-wise median, averaging the middle two of an even count", () => {
      const odd = median.aggregate([update("a", [1, -1, 0]), update("b", [5, 10, 0]), update("c", [3, 4, 100])]);
      expect(Array.from(odd)).to.deep.equal([3, 4, 0]);
      const even = median.aggregate([update("a", [1]), update("b", [4]), update("c", [2]), update("d", [3])]);
      expect(Array.from(even)).to.deep.equal([2.5]);
      // Sample counts do not buy influence.
      expect(Array.from(median.aggregate([update("a", [1], 1_000), update("b", [2]), update("c", [3])]))).to.deep.equal([2]);
    });

    it("takes the trimmed mean, dropping floor(beta * K) values at each end of every coordinate", () => {
      const five = [1, 2, 3, 4, 100].map((v, k) => update(`u${k}`, [v, -v]));
      expect(Array.from(trimmed(0.2).aggregate(five))).to.deep.equal([3, -3]);
      expect(Array.from(trimmed(0.1).aggregate(five))).to.deep.equal([22, -22]); // floor(0.5) = 0: the plain mean
      const four = [1, 2, 3, 4].map((v, k) => update(`u${k}`, [v]));
      expect(Array.from(trimmed(0.25).aggregate(four))).to.deep.equal([2.5]);
      expect(() => trimmed(0.5)).to.throw(RangeError);
      expect(() => trimmed(-0.1)).to.throw(RangeError);
    });
  });

  describe("determinism", () => {
    it("gives identical bytes and hash whatever the arrival order", () => {
      const updates = syntheticUpdates(7);
      for (const aggregator of [fedavg, median, trimmed(0.2)]) {
        const reference = aggregator.aggregate(updates);
        for (const orderSeed of [1, 2, 3]) {
          const result = aggregator.aggregate(shuffled(updates, orderSeed));
          expect(Buffer.from(weightsToBytes(result)).equals(Buffer.from(weightsToBytes(reference)))).to.equal(true);
          expect(weightsHash(result)).to.equal(weightsHash(reference));
        }
      }
    });

    it("would give different hashes if it summed in arrival order (why the order is fixed)", () => {
      const updates = syntheticUpdates(11);
      const total = updates.reduce((s, u) => s + u.samples, 0);
      const hashes = new Set<string>();
      for (const orderSeed of [1, 2, 3, 4, 5, 6]) {
        const naive = new Float32Array(updates[0].weights.length);
        for (const u of shuffled(updates, orderSeed)) {
          const c = Math.fround(u.samples / total);
          for (let i = 0; i < naive.length; i++) naive[i] = Math.fround(naive[i] + Math.fround(c * u.weights[i]));
        }
        hashes.add(weightsHash(naive));
      }
      expect(hashes.size).to.be.greaterThan(1);
    });

    it("is bit-identical across two separate processes and equal to the in-process hash (screened: the same excluded set)", async () => {
      const seed = 2026;
      const children = await Promise.all(
        [5, 9].map((orderSeed) =>
          run(process.execPath, ["--import", "tsx", FIXTURE, String(seed), String(orderSeed)], { cwd: process.cwd() }),
        ),
      );
      const [first, second] = children.map(({ stdout }) => JSON.parse(stdout) as Record<string, unknown>);
      const updates = syntheticUpdates(seed);
      const round = syntheticRound(seed);
      const screened = aggregateWithExclusion(round.updates, { kind: "screened-fedavg" }, { global: round.global });
      const local = {
        fedavg: weightsHash(fedavg.aggregate(updates)),
        median: weightsHash(median.aggregate(updates)),
        trimmedMean: weightsHash(trimmed(0.2).aggregate(updates)),
        screenedFedavg: { hash: weightsHash(screened.weights), excluded: screened.excludedCids },
      };
      expect(first).to.deep.equal(second);
      expect(first).to.deep.equal(local);
      expect(local.fedavg).to.match(/^0x[0-9a-f]{64}$/);
      // The same bytes and the same excluded set: the poisoned update, and no honest one.
      expect(local.screenedFedavg.excluded).to.deep.equal(["update-poisoned"]);
      const honestOnly = round.updates.filter((u) => u.key !== "update-poisoned");
      expect(local.screenedFedavg.hash).to.equal(weightsHash(fedavg.aggregate(honestOnly)));
    });
  });

  describe("robustness", () => {
    it("median and trimmed mean resist one poisoned update where the mean does not", () => {
      const honest = Array.from({ length: 9 }, (_, k) => {
        const weights = new Float32Array(64);
        for (let i = 0; i < weights.length; i++) weights[i] = 0.5 + 0.01 * Math.sin(17 * k + i);
        return { key: `honest-${k}`, weights, samples: 80 };
      });
      const poisoned: ClientUpdate = { key: "attacker", weights: new Float32Array(64).fill(1e6), samples: 80 };
      const all = [...honest, poisoned];
      const maxError = (w: Float32Array) => Math.max(...Array.from(w, (v) => Math.abs(v - 0.5)));
      expect(maxError(fedavg.aggregate(all))).to.be.greaterThan(1e4);
      expect(maxError(median.aggregate(all))).to.be.below(0.02);
      expect(maxError(trimmed(0.1).aggregate(all))).to.be.below(0.02);
    });
  });

  describe("validation", () => {
    const expectInvalid = (updates: ClientUpdate[], message: RegExp) =>
      expect(() => fedavg.aggregate(updates)).to.throw(InvalidUpdateError, message);

    it("rejects empty input, mismatched shapes, bad sample counts, duplicate keys", () => {
      expectInvalid([], /no updates/);
      expectInvalid([update("a", [1, 2]), update("b", [1, 2, 3])], /update b has 3 weights, update a has 2: shapes differ/);
      expectInvalid([update("a", [1], 0)], /samples must be a positive integer, got 0/);
      expectInvalid([update("a", [1], 2.5)], /got 2.5/);
      expectInvalid([update("a", [1], -3)], /got -3/);
      expectInvalid([update("a", [1]), update("a", [2])], /update a appears twice/);
      expectInvalid([update("", [1])], /no key/);
    });

    it("rejects NaN and infinite weights, naming the update and the coordinate", () => {
      expectInvalid([update("a", [1, 2]), update("b", [0, Number.NaN])], /update b: weight 1 is NaN/);
      expectInvalid([update("a", [Number.POSITIVE_INFINITY])], /weight 0 is Infinity/);
      expect(() => median.aggregate([update("a", [Number.NEGATIVE_INFINITY])])).to.throw(InvalidUpdateError);
      const error = (() => {
        try {
          fedavg.aggregate([update("a", [Number.NaN])]);
        } catch (e) {
          return e as InvalidUpdateError;
        }
      })();
      expect(error?.code).to.equal("TRAINING_INVALID_UPDATE");
    });

    it("rejects a trimmed mean that overflows float32", () => {
      const huge = [update("a", [3e38]), update("b", [3e38])];
      expect(() => trimmed(0).aggregate(huge)).to.throw(InvalidUpdateError, /overflows/);
      expect(Array.from(median.aggregate(huge))).to.deep.equal([Math.fround(3e38)]);
    });
  });
});
