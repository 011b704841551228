import { taskError } from "../lib/TaskError.js";

/** `--shard`: a shard index (0-based). */
export function parseShardIndex(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 15) throw taskError(`--shard must be a shard index in 0..15, got "${value}"`);
  return Number(value);
}
