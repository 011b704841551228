import { getAddress, isAddress } from "ethers";
import { z } from "zod";
import { TesseraError } from "../../worker/src/errors.js";

const address = z.string().refine((v) => isAddress(v), "not an address").transform((v) => getAddress(v));

const schema = z.object({
  chainId: z.number().int().positive(),
  /** Block of the first deployment transaction: where a fresh ChainListener starts scanning. */
  startBlock: z.number().int().nonnegative(),
  contracts: z.object({
    TesseraToken: address,
    WorkerRegistry: address,
    ModelRegistry: address,
    InferenceMarket: address,
    /** Hosts of sharded versions' shards (absent in deployments made before sharding). */
    ShardRegistry: address.optional(),
    /** Present when the data module (ignition/modules/TesseraData.ts) is deployed. */
    DataRegistry: address.optional(),
    /** Present when the training module (ignition/modules/TesseraTraining.ts) is deployed. */
    TrainingJobs: address.optional(),
  }),
});

/** Where the protocol's contracts live on one chain (written by `tessera deploy` and the demo). */
export type Deployment = z.infer<typeof schema>;

export function parseDeployment(value: unknown, origin = "deployment"): Deployment {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new TesseraError(`invalid ${origin}: ${z.prettifyError(parsed.error)}`, { code: "BAD_DEPLOYMENT" });
  return parsed.data;
}
