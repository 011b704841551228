import { expect } from "chai";
import { partitionOf, partitionsReading, samplesIn, type JobDataset } from "../../../worker/src/training/Partition.js";

const ds = (...samples: number[]): JobDataset[] => samples.map((n, i) => ({ datasetId: BigInt(i + 1), samples: n }));

/** Every sample of every dataset goes to exactly one worker, whatever D and K. */
function coverage(datasets: JobDataset[], k: number): Map<bigint, number[]> {
  const seen = new Map<bigint, number[]>(datasets.map((d) => [d.datasetId, new Array<number>(d.samples).fill(0)]));
  for (let p = 0; p < k; p++) for (const s of partitionOf(datasets, k, p)) for (let i = s.start; i < s.end; i++) seen.get(s.datasetId)![i]++;
  return seen;
}

describe("Partition: which data each worker of a training job trains on", () => {
  it("deals whole datasets out when there are at least as many datasets as workers", () => {
    const datasets = ds(100, 200, 300, 400, 500);
    expect(partitionOf(datasets, 2, 0)).to.deep.equal([
      { datasetId: 1n, start: 0, end: 100 },
      { datasetId: 3n, start: 0, end: 300 },
      { datasetId: 5n, start: 0, end: 500 },
    ]);
    expect(partitionOf(datasets, 2, 1).map((s) => s.datasetId)).to.deep.equal([2n, 4n]);
    expect(partitionsReading(datasets, 2, 4n)).to.deep.equal([1]);
    expect(samplesIn(partitionOf(datasets, 2, 1))).to.equal(600);
  });

  it("splits a dataset into contiguous near-equal ranges among the workers sharing it when datasets are fewer", () => {
    const datasets = ds(10, 7);
    // K = 5, D = 2: dataset 1 -> partitions 0, 2, 4; dataset 2 -> partitions 1, 3.
    expect(partitionOf(datasets, 5, 0)).to.deep.equal([{ datasetId: 1n, start: 0, end: 4 }]);
    expect(partitionOf(datasets, 5, 2)).to.deep.equal([{ datasetId: 1n, start: 4, end: 7 }]);
    expect(partitionOf(datasets, 5, 4)).to.deep.equal([{ datasetId: 1n, start: 7, end: 10 }]);
    expect(partitionOf(datasets, 5, 1)).to.deep.equal([{ datasetId: 2n, start: 0, end: 4 }]);
    expect(partitionOf(datasets, 5, 3)).to.deep.equal([{ datasetId: 2n, start: 4, end: 7 }]);
    expect(partitionsReading(datasets, 5, 1n)).to.deep.equal([0, 2, 4]);
  });

  it("covers every sample exactly once, and no worker reads every dataset when there are two or more", () => {
    for (const [samples, k] of [[[5, 9, 13], 2], [[5, 9, 13], 3], [[5, 9, 13], 7], [[1, 2], 4], [[0, 3], 3], [[1000], 32]] as [number[], number][]) {
      const datasets = ds(...samples);
      for (const counts of coverage(datasets, k).values()) expect(counts.every((c) => c === 1)).to.equal(true);
      if (datasets.length >= 2) {
        for (let p = 0; p < k; p++) expect(partitionOf(datasets, k, p).length).to.be.lessThan(datasets.length);
      }
    }
  });

  it("refuses a bad worker count, index or sample count", () => {
    expect(() => partitionOf(ds(10), 0, 0)).to.throw(RangeError, /workers must be a positive integer/);
    expect(() => partitionOf(ds(10), 3, 3)).to.throw(RangeError, /partition index must be in 0..2/);
    expect(() => partitionOf([], 3, 0)).to.throw(RangeError, /at least one dataset/);
    expect(() => partitionOf(ds(-1), 1, 0)).to.throw(RangeError, /bad sample count/);
  });
});
