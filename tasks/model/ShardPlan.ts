import type { SplitPlan } from "../../worker/src/ml/sharding/ModelSplit.js";
import { taskError } from "../lib/TaskError.js";

/** The sharding `--shards` / `--max-shard-bytes` ask for, or undefined for a whole-model version. */
export function shardPlanOf(args: { shards: number; maxShardBytes: number }): SplitPlan | undefined {
  if (!Number.isInteger(args.shards) || args.shards < 0 || args.shards === 1 || args.shards > 16) {
    throw taskError(`--shards must be 0 (whole model) or an integer in 2..16, got ${args.shards}`);
  }
  if (!Number.isInteger(args.maxShardBytes) || args.maxShardBytes < 0) throw taskError(`--max-shard-bytes must be a non-negative integer, got ${args.maxShardBytes}`);
  if (args.shards !== 0 && args.maxShardBytes !== 0) throw taskError("give --shards or --max-shard-bytes, not both");
  if (args.shards !== 0) return { shards: args.shards };
  if (args.maxShardBytes !== 0) return { maxShardBytes: args.maxShardBytes };
  return undefined;
}
