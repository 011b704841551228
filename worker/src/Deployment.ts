import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { getAddress, isAddress } from "ethers";
import { z } from "zod";
import { TesseraError } from "./errors.js";

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

type Addressable = { getAddress(): Promise<string> };

/** The deployment record of the TesseraTraining Ignition module's result (what `tessera deploy` and the embedded stack write). */
export async function deploymentOfTraining(
  deployed: Record<"token" | "workerRegistry" | "modelRegistry" | "inferenceMarket" | "shardRegistry" | "dataRegistry" | "trainingJobs", Addressable>,
  chainId: number,
  startBlock: number,
): Promise<Deployment & { contracts: { ShardRegistry: string; DataRegistry: string; TrainingJobs: string } }> {
  return {
    chainId,
    startBlock,
    contracts: {
      TesseraToken: await deployed.token.getAddress(),
      WorkerRegistry: await deployed.workerRegistry.getAddress(),
      ModelRegistry: await deployed.modelRegistry.getAddress(),
      InferenceMarket: await deployed.inferenceMarket.getAddress(),
      ShardRegistry: await deployed.shardRegistry.getAddress(),
      DataRegistry: await deployed.dataRegistry.getAddress(),
      TrainingJobs: await deployed.trainingJobs.getAddress(),
    },
  };
}

export function parseDeployment(value: unknown, origin = "deployment"): Deployment {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new TesseraError(`invalid ${origin}: ${z.prettifyError(parsed.error)}`, { code: "BAD_DEPLOYMENT" });
  return parsed.data;
}

export function loadDeployment(path: string): Deployment {
  let raw: string;
  try {
    raw = readFileSync(path, "utf8");
  } catch (cause) {
    throw new TesseraError(`cannot read the deployment file ${path} (set TESSERA_DEPLOYMENT)`, { code: "BAD_DEPLOYMENT", cause });
  }
  return parseDeployment(JSON.parse(raw), path);
}

export function saveDeployment(path: string, deployment: Deployment): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(parseDeployment(deployment), null, 2) + "\n");
}
