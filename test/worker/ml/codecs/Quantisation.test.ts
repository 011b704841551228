import { expect } from "chai";
import { InferenceEncodingError } from "../../../../worker/src/ml/ModelError.js";
import {
  dequantiseProbability,
  quantisedArgMax,
  quantiseProbability,
  roundToSignificantBits,
} from "../../../../worker/src/ml/codecs/Quantisation.js";

describe("Quantisation rule", () => {
  it("maps probabilities to uint16 p × 65535, halves away from zero, with float32 slack clamped", () => {
    expect(quantiseProbability(0)).to.equal(0);
    expect(quantiseProbability(1)).to.equal(65_535);
    expect(quantiseProbability(0.5)).to.equal(32_768); // 32767.5 rounds up
    expect(quantiseProbability(0.5 / 65_535)).to.equal(1); // exactly half a step
    expect(quantiseProbability(0.4999 / 65_535)).to.equal(0);
    expect(quantiseProbability(1 + 1e-6)).to.equal(65_535);
    expect(quantiseProbability(-1e-6)).to.equal(0);
    expect(dequantiseProbability(65_535)).to.equal(1);
    expect(Math.abs(dequantiseProbability(quantiseProbability(0.25)) - 0.25)).to.be.at.most(0.5 / 65_535);
  });

  it("refuses NaN and values that are not probabilities", () => {
    expect(() => quantiseProbability(Number.NaN)).to.throw(InferenceEncodingError, "probability is NaN");
    expect(() => quantiseProbability(1.00001)).to.throw(InferenceEncodingError, "probability 1.00001 is outside [0, 1]: the model's output is not a probability");
    expect(() => quantiseProbability(-0.01, "probability of class 2")).to.throw(InferenceEncodingError, "probability of class 2 -0.01 is outside [0, 1]");
  });

  it("rounds floats to the given significant bits of their float32 value, halves away from zero", () => {
    expect(roundToSignificantBits(1, 1)).to.equal(1);
    expect(roundToSignificantBits(1.4, 1)).to.equal(1);
    expect(roundToSignificantBits(1.5, 1)).to.equal(2); // half away from zero
    expect(roundToSignificantBits(-1.5, 1)).to.equal(-2);
    expect(roundToSignificantBits(3, 1)).to.equal(4); // carry into the exponent
    expect(roundToSignificantBits(1 + 2 ** -8 - 2 ** -12, 8)).to.equal(1); // below half a step of 2^-7
    expect(roundToSignificantBits(1 + 2 ** -8, 8)).to.equal(1 + 2 ** -7); // exactly half: away from zero
    expect(roundToSignificantBits(1 + 2 ** -8 + 2 ** -12, 8)).to.equal(1 + 2 ** -7);
    expect(roundToSignificantBits(0.1, 24)).to.equal(Math.fround(0.1)); // 24 bits: the float32 itself
    expect(roundToSignificantBits(0, 4)).to.equal(0);
    expect(Object.is(roundToSignificantBits(-0, 4), -0)).to.equal(true);
    // Subnormals are rounded at the bit position of the smallest normal exponent: tiny ones become 0.
    expect(roundToSignificantBits(1e-45, 4)).to.equal(0);
    expect(roundToSignificantBits(2 ** -127, 4)).to.equal(2 ** -127);
    expect(roundToSignificantBits(3.4e38, 24)).to.equal(Math.fround(3.4e38));
  });

  it("refuses NaN, infinities and values that round beyond float32, and bad bit counts", () => {
    expect(() => roundToSignificantBits(Number.NaN, 16, "output value 3")).to.throw(InferenceEncodingError, "output value 3 is NaN");
    expect(() => roundToSignificantBits(Infinity, 16)).to.throw(InferenceEncodingError, "value Infinity is beyond the float32 range");
    expect(() => roundToSignificantBits(1e39, 16)).to.throw(InferenceEncodingError, "beyond the float32 range");
    const maxFloat32 = (2 - 2 ** -23) * 2 ** 127;
    expect(() => roundToSignificantBits(maxFloat32, 16)).to.throw(InferenceEncodingError, "rounds beyond the float32 range");
    expect(() => roundToSignificantBits(1, 0)).to.throw(RangeError);
    expect(() => roundToSignificantBits(1, 25)).to.throw(RangeError);
  });

  it("picks the class of the highest rounded score, the lowest index on ties", () => {
    expect(quantisedArgMax([0.1, 0.7, 0.2], 16)).to.equal(1);
    // 0.5 and 0.5 + 2^-20 are one value at 16 bits: the lower index wins; at 24 bits the higher score does.
    expect(quantisedArgMax([0.2, 0.5, 0.5 + 2 ** -20], 16)).to.equal(1);
    expect(quantisedArgMax([0.2, 0.5, 0.5 + 2 ** -20], 24)).to.equal(2);
    expect(quantisedArgMax([-3, -1, -1], 16)).to.equal(1); // logits too
    expect(() => quantisedArgMax([], 16)).to.throw(InferenceEncodingError, "no scores");
    expect(() => quantisedArgMax([0.1, Number.NaN], 16)).to.throw(InferenceEncodingError, "score 1 is NaN");
  });
});
