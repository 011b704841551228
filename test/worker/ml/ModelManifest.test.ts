import { expect } from "chai";
import { parseModelManifest, versionShapesOf } from "../../../worker/src/ml/ModelManifest.js";

const stored = {
  modelTopology: { class_name: "Sequential" },
  weightSpecs: [{ name: "dense/kernel", shape: [784, 10], dtype: "float32" }],
  weightsCid: "bafkreigh2akiscaildc",
  contentHash: `0x${"ab".repeat(32)}`,
};

describe("Model manifest v2, and v1 read as v2", () => {
  it("reads a version 1 manifest (uint8-pixels, uint8-class) as the equivalent uint8-image and class-index codecs", () => {
    const parsed = parseModelManifest({ format: "tfjs-layers", ...stored, inputShape: [28, 28, 1], outputShape: [10], inputEncoding: "uint8-pixels", outputEncoding: "uint8-class", name: "old" });
    expect(parsed.success).to.equal(true);
    expect(parsed.data).to.deep.equal({
      manifestVersion: 2,
      format: "tfjs-layers",
      ...stored,
      name: "old",
      signature: {
        inputs: [{ name: "input", dtype: "float32", shape: [null, 28, 28, 1] }],
        outputs: [{ name: "output", dtype: "float32", shape: [null, 10] }],
      },
      inputCodec: { name: "uint8-image", scale: 1 / 255, mean: [0], std: [1] },
      outputCodec: { name: "class-index", scoreBits: 16 },
    });
    expect(versionShapesOf(parsed.data!)).to.deep.equal({ inputShape: [28, 28, 1], outputShape: [10] });
  });

  it("refuses a version 2 manifest whose codecs do not fit its signature, naming why", () => {
    const parsed = parseModelManifest({
      manifestVersion: 2,
      format: "tfjs-layers",
      ...stored,
      signature: { inputs: [{ name: "x", dtype: "float32", shape: [null, 4] }], outputs: [{ name: "y", dtype: "float32", shape: [null, 3] }] },
      inputCodec: { name: "float32-tensor" },
      outputCodec: { name: "binary-probability" },
    });
    expect(parsed.success).to.equal(false);
    expect(parsed.error!.issues.map((i) => i.message)).to.deep.equal(["binary-probability reads a [batch, 1] output, but output y has shape [null,3]"]);
  });

  it("refuses a batch dimension that is not variable, unknown codecs and models with two inputs", () => {
    const base = { manifestVersion: 2, format: "tfjs-layers", ...stored, inputCodec: { name: "float32-tensor" }, outputCodec: { name: "class-index" } };
    const io = (inputs: object[]) => ({ ...base, signature: { inputs, outputs: [{ name: "y", dtype: "float32", shape: [null, 3] }] } });
    const fixedBatch = parseModelManifest(io([{ name: "x", dtype: "float32", shape: [1, 4] }]));
    expect(fixedBatch.error!.issues[0].message).to.equal("the first (batch) dimension must be null (variable)");
    const two = parseModelManifest(io([{ name: "a", dtype: "float32", shape: [null, 4] }, { name: "b", dtype: "float32", shape: [null, 4] }]));
    expect(two.error!.issues[0].message).to.equal("the model has 2 input(s) and 1 output(s); the codecs serve models with exactly one of each");
    const unknown = parseModelManifest({ ...io([{ name: "x", dtype: "float32", shape: [null, 4] }]), outputCodec: { name: "uint8-class" } });
    expect(unknown.success).to.equal(false);
    expect(unknown.error!.issues[0].path).to.deep.equal(["outputCodec", "name"]);
  });
});
