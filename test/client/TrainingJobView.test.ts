import { expect } from "chai";
import { samplesAggregated } from "../../client/src/TrainingJobView.js";

describe("client: a trained version's provenance", () => {
  it("counts the samples a round's aggregate holds: the updates of the partitions its vote excluded are left out", () => {
    const a = "0x00000000000000000000000000000000000000Aa";
    const b = "0x00000000000000000000000000000000000000bB";
    const c = "0x00000000000000000000000000000000000000cc";
    const partitionOf = new Map([
      [a.toLowerCase(), 0],
      [b.toLowerCase(), 1],
      [c.toLowerCase(), 2],
    ]);
    const updates = [
      { worker: a, sampleCount: 15 },
      { worker: b, sampleCount: 20 },
      { worker: c, sampleCount: 17 },
    ];
    expect(samplesAggregated(updates, [], partitionOf)).to.equal(52);
    expect(samplesAggregated(updates, [1], partitionOf)).to.equal(32);
    expect(samplesAggregated(updates, [0, 2], partitionOf)).to.equal(20);
    // An update from an address that is not a partition of the job counts for nothing excluded: it is kept.
    expect(samplesAggregated([...updates, { worker: "0x" + "dd".repeat(20), sampleCount: 5 }], [1], partitionOf)).to.equal(37);
  });
});
