import { expect } from "chai";
import { sha256 } from "ethers";
import { selectBackend } from "../../../worker/src/ml/backend.js";
import { buildMlp } from "../../../worker/src/ml/models.js";
import {
  flattenWeights,
  loadFlatWeights,
  weightsFromBytes,
  weightsHash,
  weightsToBytes,
} from "../../../worker/src/training/ModelWeights.js";
import { WeightsShapeError } from "../../../worker/src/training/TrainingError.js";

describe("ModelWeights", () => {
  before(async () => {
    await selectBackend();
  });

  it("flattens the 2NN layer by layer, kernel then bias, and loads the vector back", () => {
    const source = buildMlp({ seed: 3 });
    const target = buildMlp({ seed: 4 });
    const flat = flattenWeights(source);
    expect(flat.shapes).to.deep.equal([[784, 200], [200], [200, 200], [200], [200, 10], [10]]);
    expect(flat.values.length).to.equal(199_210);
    expect(Array.from(flat.values.subarray(0, 5))).to.deep.equal(Array.from(source.getWeights()[0].dataSync().subarray(0, 5)));
    expect(weightsHash(flattenWeights(target).values)).to.not.equal(weightsHash(flat.values));
    loadFlatWeights(target, flat.values);
    expect(weightsHash(flattenWeights(target).values)).to.equal(weightsHash(flat.values));
    expect(() => loadFlatWeights(target, flat.values.subarray(1))).to.throw(WeightsShapeError, /199210 weights, got a vector of 199209/);
    source.dispose();
    target.dispose();
  });

  it("encodes float32 little-endian and hashes those bytes with sha256 (a published weights file's contentHash)", () => {
    const values = Float32Array.of(1, -2, 0.5);
    const bytes = weightsToBytes(values);
    expect(Buffer.from(bytes).toString("hex")).to.equal("0000803f000000c00000003f");
    expect(weightsHash(values)).to.equal(sha256(bytes));
    expect(Array.from(weightsFromBytes(bytes))).to.deep.equal([1, -2, 0.5]);
    // A view into a larger buffer hashes only its own values.
    const view = Float32Array.of(9, 1, -2, 0.5, 9).subarray(1, 4);
    expect(weightsHash(view)).to.equal(weightsHash(values));
    expect(() => weightsFromBytes(new Uint8Array(5))).to.throw(WeightsShapeError);
  });
});
