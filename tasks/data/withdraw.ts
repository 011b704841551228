import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { DATASET_STATUS_NAMES, DatasetStatus } from "../../worker/src/data/OnChainDataset.js";
import { formatTsr } from "../lib/Amounts.js";
import { dataRegistryOf } from "../lib/DataRegistries.js";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface WithdrawDatasetArgs {
  deployment: string;
  account: string;
  id: string | undefined;
}

export interface WithdrawDatasetResult {
  datasetId: bigint;
  txHash: string;
  bondRefunded: bigint;
}

/**
 * Withdraws the account's dataset: a Pending one nobody voted on yet (its bond is credited back)
 * or an Accepted one no job has used. The bond is then pulled with `rewards withdraw`.
 */
export default async function withdrawDataset(args: WithdrawDatasetArgs, hre: HardhatRuntimeEnvironment): Promise<WithdrawDatasetResult> {
  const datasetId = parseId(args.id, "--id");
  const session = await Session.open(hre, args.deployment);
  const registry = await dataRegistryOf(session);
  const signer = await session.signer(args.account);
  if (datasetId > (await registry.datasetCount())) throw taskError(`unknown dataset ${datasetId}`);
  const d = await registry.datasetOf(datasetId);
  if (d.contributor !== signer.address) throw taskError(`dataset ${datasetId} was contributed by ${d.contributor}, not ${signer.address}; pass the contributor's --account`);
  const status = Number(d.status);
  if (status !== DatasetStatus.Pending && status !== DatasetStatus.Accepted) {
    throw taskError(`dataset ${datasetId} is ${DATASET_STATUS_NAMES[status]}: only a Pending or Accepted dataset can be withdrawn`);
  }
  const receipt = await session.send(signer, registry, "withdrawDataset", [datasetId]);
  const event = receipt.logs.map((l) => registry.interface.parseLog(l)).find((p) => p?.name === "DatasetWithdrawn");
  const bondRefunded = (event?.args.bondRefunded as bigint | undefined) ?? 0n;
  printFields(`Withdrew dataset ${datasetId}`, [
    ["transaction", receipt.hash],
    ["bond credited", `${formatTsr(bondRefunded)}${bondRefunded > 0n ? " (pull it with `rewards withdraw`)" : ""}`],
  ]);
  return { datasetId, txHash: receipt.hash, bondRefunded };
}
