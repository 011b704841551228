import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import TesseraTrainingModule from "../../ignition/modules/TesseraTraining.js";
import { deploymentOfTraining, saveDeployment, type Deployment } from "../../worker/src/Deployment.js";
import { printFields } from "../lib/Printer.js";
import { parseAddress } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface DeployArgs {
  deployment: string;
  treasury: string;
  reset: boolean;
}

/**
 * Deploys the protocol (core + DataRegistry + TrainingJobs: the TesseraTraining Ignition module, which
 * builds on TesseraData) and writes the deployment file workers and tasks read.
 */
export default async function deploy(args: DeployArgs, hre: HardhatRuntimeEnvironment): Promise<Deployment> {
  const treasury = args.treasury === "" ? undefined : parseAddress(args.treasury, "--treasury");
  const connection = await hre.network.getOrCreate();
  const { ethers, ignition } = connection;
  const [deployer] = await ethers.getSigners();
  if (deployer === undefined) throw taskError(`network "${connection.networkName}" has no accounts to deploy from`);
  const startBlock = await ethers.provider.getBlockNumber();
  const simulated = connection.networkConfig.type === "edr-simulated";
  // Ignition journals deployments to a real chain under ignition/deployments/chain-<id> (so a
  // re-run resumes); an in-process chain dies with the process, so its journal is dropped.
  const deploymentId = simulated ? `tessera-task-${process.pid}-${Date.now()}` : undefined;
  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  if (!simulated) {
    const journal = join(hre.config.paths.ignition, "deployments", `chain-${chainId}`);
    if (args.reset) {
      rmSync(journal, { recursive: true, force: true });
    } else if (await isStale(journal, ethers.provider)) {
      throw taskError(
        `Ignition's journal ${relative(process.cwd(), journal)} records contracts that are not on this chain (was the node restarted?); pass --reset to discard it and deploy afresh`,
      );
    }
  }
  let deployed;
  try {
    deployed = await ignition.deploy(TesseraTrainingModule, {
      parameters: treasury === undefined ? {} : { Tessera: { treasury } },
      displayUi: false,
      ...(deploymentId === undefined ? {} : { deploymentId }),
    });
  } catch (err) {
    const hint = /reconciliation/i.test((err as Error).message) ? " (the module changed since the journaled deployment; pass --reset to deploy afresh)" : "";
    throw taskError(`the Ignition deployment failed: ${(err as Error).message}${hint}`, err);
  } finally {
    if (deploymentId !== undefined) rmSync(resolve("ignition/deployments", deploymentId), { recursive: true, force: true });
  }
  const deployment: Deployment = await deploymentOfTraining(deployed, chainId, startBlock);
  const path = resolve(args.deployment);
  const replaced = existsSync(path);
  saveDeployment(path, deployment);
  printFields(`Deployed Tessera on network "${connection.networkName}" (chain ${deployment.chainId})`, [
    ...Object.entries(deployment.contracts),
    ["admin", deployer.address],
    ["treasury", treasury ?? `${deployer.address} (the admin)`],
    ["start block", startBlock],
    ["deployment file", `${path}${replaced ? " (replaced)" : ""}`],
  ]);
  return deployment;
}

/** A journal whose recorded addresses hold no code belongs to a chain that no longer exists. */
async function isStale(journal: string, provider: { getCode(address: string): Promise<string> }): Promise<boolean> {
  const file = join(journal, "deployed_addresses.json");
  if (!existsSync(file)) return false;
  const addresses = Object.values(JSON.parse(readFileSync(file, "utf8")) as Record<string, string>);
  for (const address of addresses) if ((await provider.getCode(address)) === "0x") return true;
  return false;
}
