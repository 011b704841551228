import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { DATASET_STATUS_NAMES } from "../../worker/src/data/OnChainDataset.js";
import { dataRegistryOf } from "../lib/DataRegistries.js";
import { Session } from "../lib/Session.js";

interface ListArgs {
  deployment: string;
}

export interface DatasetRow {
  datasetId: bigint;
  status: string;
  contributor: string;
  sampleCount: number;
  acceptVotes: number;
  rejectVotes: number;
  reasonCode: number;
}

/** One line per dataset ever contributed: id, status, votes, samples, contributor. */
export default async function list(args: ListArgs, hre: HardhatRuntimeEnvironment): Promise<DatasetRow[]> {
  const session = await Session.open(hre, args.deployment);
  const registry = await dataRegistryOf(session);
  const count = Number(await registry.datasetCount());
  const rows: DatasetRow[] = [];
  for (let id = 1; id <= count; id++) {
    const d = await registry.datasetOf(id);
    rows.push({
      datasetId: BigInt(id),
      status: DATASET_STATUS_NAMES[Number(d.status)],
      contributor: d.contributor,
      sampleCount: Number(d.sampleCount),
      acceptVotes: Number(d.acceptVotes),
      rejectVotes: Number(d.rejectVotes),
      reasonCode: Number(d.reasonCode),
    });
  }
  if (rows.length === 0) {
    console.log("No datasets contributed yet");
    return rows;
  }
  console.log(`${rows.length} dataset${rows.length === 1 ? "" : "s"}`);
  console.log(`  ${"id".padStart(4)}  ${"status".padEnd(9)}  ${"votes".padEnd(7)}  ${"samples".padStart(7)}  contributor`);
  for (const r of rows) {
    const status = r.status === "Rejected" ? `${r.status} ${r.reasonCode}` : r.status;
    console.log(`  ${String(r.datasetId).padStart(4)}  ${status.padEnd(9)}  ${`${r.acceptVotes}+/${r.rejectVotes}-`.padEnd(7)}  ${String(r.sampleCount).padStart(7)}  ${r.contributor}`);
  }
  return rows;
}
