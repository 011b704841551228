import { ModelError } from "../ModelError.js";

/** A model cannot be split as asked (not a single chain of layers, a bad shard count or memory budget), or a shard does not run. */
export class ShardingError extends ModelError {
  override readonly name: string = "ShardingError";
}

/** Bytes given to `decodeActivation` (or values given to `encodeActivation`) are not an activation of the wire format. */
export class ActivationFormatError extends ShardingError {
  override readonly name = "ActivationFormatError";
}
