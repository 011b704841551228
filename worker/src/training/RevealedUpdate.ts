import { sha256Hex } from "../ml/ModelArtifacts.js";
import { weightsFromBytes } from "./ModelWeights.js";

/**
 * Weights beyond this magnitude are not an update anyone trained: the weighted mean of values within it cannot
 * overflow float32 (3.4e38), so one revealed update can never make the aggregation fail for every worker.
 */
export const MAX_UPDATE_MAGNITUDE = 1e15;

export type RevealedUpdateVerdict = { readonly ok: true; readonly weights: Float32Array } | { readonly ok: false; readonly why: string };

/**
 * Whether a revealed update enters the round's aggregate. A participant controls its update's bytes, so any update
 * that is not one the job's model could have produced is excluded (named in the vote's mask, not paid) instead of
 * making the aggregation throw: a throw would leave every honest worker without a vote at the deadline. Pure in its
 * inputs, so every honest worker excludes the same updates:
 * - the bytes must hash to the revealed hash, and the claimed sample count be the partition's;
 * - the bytes must be exactly the model's float32 weights, every one finite and within MAX_UPDATE_MAGNITUDE.
 */
export function screenRevealedUpdate(o: { bytes: Uint8Array; revealedHash: string; claimedSamples: number; expectedSamples: number; modelValues: number }): RevealedUpdateVerdict {
  if (sha256Hex(o.bytes) !== o.revealedHash.toLowerCase()) return { ok: false, why: "its bytes do not match the revealed hash" };
  if (o.claimedSamples !== o.expectedSamples) return { ok: false, why: `it claims ${o.claimedSamples} samples, its partition holds ${o.expectedSamples}` };
  if (o.bytes.length !== o.modelValues * 4) return { ok: false, why: `${o.bytes.length} bytes, the model has ${o.modelValues} float32 weights (${o.modelValues * 4} bytes)` };
  const weights = weightsFromBytes(o.bytes);
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    if (!Number.isFinite(w) || Math.abs(w) > MAX_UPDATE_MAGNITUDE) return { ok: false, why: `weight ${i} is ${w} (NaN, infinite or beyond +-${MAX_UPDATE_MAGNITUDE})` };
  }
  return { ok: true, weights };
}
