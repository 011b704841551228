import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseDeployment, type Deployment } from "../../client/src/DeploymentRecord.js";
import { TesseraError } from "./errors.js";

export { parseDeployment, type Deployment };

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
