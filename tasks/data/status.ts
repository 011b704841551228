import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { CREDIT_REASON_NAMES, DATASET_STATUS_NAMES, DECISION_REASON_NAMES, cidFromBytes } from "../../worker/src/data/OnChainDataset.js";
import { builtinSchemaById } from "../../worker/src/data/schema/BuiltinSchemas.js";
import { formatTsr } from "../lib/Amounts.js";
import { dataRegistryOf } from "../lib/DataRegistries.js";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface StatusArgs {
  deployment: string;
  id: string | undefined;
}

const REASONS: readonly string[] = DECISION_REASON_NAMES;

export interface DatasetView {
  datasetId: bigint;
  status: string;
  contributor: string;
  sampleCount: number;
  commitment: string;
  /** The on-chain schema id, and the schema's name when it is built in. */
  schemaId: string;
  schemaName?: string;
  datasetCid: string;
  reasonCode: number;
  votes: { validator: string; accept: boolean; reasonCode: number; seats: number }[];
  credits: { account: string; reason: string; amount: bigint }[];
  /** 0 until the committee is drawn. */
  votingDeadline: number;
}

/** Prints a dataset: status and decision, CID, commitment, every vote and every credit it caused. */
export default async function status(args: StatusArgs, hre: HardhatRuntimeEnvironment): Promise<DatasetView> {
  const datasetId = parseId(args.id, "--id");
  const session = await Session.open(hre, args.deployment);
  const registry = await dataRegistryOf(session);
  const count = await registry.datasetCount();
  if (datasetId > count) throw taskError(`unknown dataset ${datasetId} (${count} contributed so far)`);
  const [d, validation, ballots, contributed, credited] = await Promise.all([
    registry.datasetOf(datasetId),
    registry.validationOf(datasetId),
    registry.ballotsOf(datasetId),
    registry.queryFilter(registry.filters.DatasetContributed(datasetId), session.deployment.startBlock),
    registry.queryFilter(registry.filters.Credited(undefined, datasetId), session.deployment.startBlock),
  ]);
  const view: DatasetView = {
    datasetId,
    status: DATASET_STATUS_NAMES[Number(d.status)],
    contributor: d.contributor,
    sampleCount: Number(d.sampleCount),
    commitment: d.commitment,
    schemaId: d.schemaId,
    ...(builtinSchemaById(d.schemaId) === undefined ? {} : { schemaName: builtinSchemaById(d.schemaId)!.document.name }),
    datasetCid: contributed.length > 0 ? cidFromBytes(contributed[0].args.cid) : "(event not found)",
    reasonCode: Number(d.reasonCode),
    votes: ballots.map((b) => ({ validator: b.validator, accept: b.accept, reasonCode: Number(b.reasonCode), seats: Number(b.seats) / 1_000 })),
    credits: credited.map((e) => ({ account: e.args.account, reason: CREDIT_REASON_NAMES[Number(e.args.reason)], amount: e.args.amount })),
    votingDeadline: Number(d.votingDeadline),
  };
  const decision = view.status === "Rejected" ? `Rejected (reason ${view.reasonCode}, ${REASONS[view.reasonCode]})` : view.status;
  printFields(`Dataset ${datasetId}: ${decision}`, [
    ["contributor", view.contributor],
    ["samples", view.sampleCount],
    ["schema", view.schemaName === undefined ? `${view.schemaId} (\`data schema show --schema ${view.schemaId}\`)` : `${view.schemaName} (${view.schemaId})`],
    ["dataset CID", view.datasetCid],
    ["commitment", view.commitment],
    [
      "votes",
      `${d.acceptVotes} accept / ${d.rejectVotes} reject, ${Number(validation.acceptSeats) / 1_000} / ${Number(validation.rejectSeats) / 1_000} seats (quorum ${d.quorum} of ${d.committeeSize} expected seats), ` +
        (view.votingDeadline === 0 ? "committee not drawn yet" : `deadline ${new Date(view.votingDeadline * 1000).toISOString()}`),
    ],
    ...view.votes.map((v, i) => [`  vote ${i + 1}`, `${v.validator} ${v.accept ? "accept" : `reject ${v.reasonCode} (${REASONS[v.reasonCode] ?? "?"})`}, ${v.seats} seats`] as const),
    ...view.credits.map((c) => [`  credit`, `${formatTsr(c.amount)} to ${c.account} (${c.reason})`] as const),
  ]);
  return view;
}
