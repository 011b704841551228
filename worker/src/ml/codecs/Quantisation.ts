import { InferenceEncodingError } from "../ModelError.js";

/**
 * The quantisation rule of every output codec, so that honest workers on different backends
 * (WASM/XNNPACK, the pure-JS cpu kernels, libtensorflow) write identical answer bytes although
 * their float32 arithmetic differs in the last bits:
 *
 * - **Probabilities** become uint16: `q = round(p × 65535)` (halves away from zero), read back as
 *   `q / 65535`. A probability must lie in [0, 1]; up to `PROBABILITY_SLACK` outside is float32
 *   noise of a softmax/sigmoid and is clamped, further out is an error (not a probability).
 * - **Floats** (regression outputs, and the scores a class index is chosen from) are rounded to
 *   `bits` significant bits (1..24) of their float32 value: the float32 mantissa is rounded at
 *   bit `bits` (halves away from zero), the result is still a float32 (subnormals are rounded at
 *   the same bit position as the smallest normals, so the tiniest become 0). NaN, ±Infinity and
 *   values that round beyond the float32 range are errors.
 * - **Class index**: the scores are rounded as floats first, then the highest rounded score wins;
 *   among equal rounded scores the lowest index wins.
 *
 * Backends still disagree when the exact value lies within their float error of a rounding
 * boundary; the coarser the step, the rarer that is (docs/models.md gives measured rates).
 */

export const PROBABILITY_STEPS = 65_535;
/** How far outside [0, 1] a probability may be (float32 noise) before it is an error. */
export const PROBABILITY_SLACK = 1e-6;

/** A probability as the uint16 `round(p × 65535)`. */
export function quantiseProbability(p: number, what = "probability"): number {
  if (Number.isNaN(p)) throw new InferenceEncodingError(`${what} is NaN`);
  if (p < -PROBABILITY_SLACK || p > 1 + PROBABILITY_SLACK) {
    throw new InferenceEncodingError(`${what} ${p} is outside [0, 1]: the model's output is not a probability`);
  }
  return Math.round(Math.min(1, Math.max(0, p)) * PROBABILITY_STEPS);
}

export function dequantiseProbability(q: number): number {
  return q / PROBABILITY_STEPS;
}

const scratch = new DataView(new ArrayBuffer(4));

/** `x` as float32, its mantissa rounded to `bits` significant bits (halves away from zero). */
export function roundToSignificantBits(x: number, bits: number, what = "value"): number {
  if (!Number.isInteger(bits) || bits < 1 || bits > 24) throw new RangeError(`significant bits must be an integer in 1..24, got ${bits}`);
  if (Number.isNaN(x)) throw new InferenceEncodingError(`${what} is NaN`);
  if (!Number.isFinite(Math.fround(x))) throw new InferenceEncodingError(`${what} ${x} is beyond the float32 range`);
  const drop = 24 - bits;
  if (drop === 0) return Math.fround(x);
  scratch.setFloat32(0, x, true);
  const raw = scratch.getUint32(0, true);
  // Sign-magnitude: adding half a step to the magnitude and clearing the dropped bits rounds the
  // magnitude half away from zero; a carry out of the mantissa moves the exponent up, as it should.
  const sign = raw & 0x8000_0000;
  const magnitude = raw & 0x7fff_ffff;
  const rounded = (magnitude + (1 << (drop - 1))) & ~((1 << drop) - 1);
  scratch.setUint32(0, (sign | rounded) >>> 0, true);
  const result = scratch.getFloat32(0, true);
  if (!Number.isFinite(result)) throw new InferenceEncodingError(`${what} ${x} rounds beyond the float32 range`);
  return result;
}

/** The index of the highest score after rounding each to `bits` significant bits; ties go to the lowest index. */
export function quantisedArgMax(scores: ArrayLike<number>, bits: number): number {
  if (scores.length === 0) throw new InferenceEncodingError("no scores to choose a class from");
  let best = 0;
  let bestScore = roundToSignificantBits(scores[0], bits, "score 0");
  for (let i = 1; i < scores.length; i++) {
    const score = roundToSignificantBits(scores[i], bits, `score ${i}`);
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  }
  return best;
}
