import { ZeroAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { formatEth, formatTsr } from "../lib/Amounts.js";
import { cidToString } from "../lib/Cids.js";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";
import { formatAccuracy, formatEvaluation, formatRound, trainingJobsOf } from "../lib/Training.js";
import { provenanceOf as readProvenance, type TrainingProvenance } from "../../client/src/TrainingJobView.js";

export type { TrainingProvenance };

interface ShowArgs {
  deployment: string;
  versionId: string | undefined;
}

export interface VersionView {
  versionId: bigint;
  modelId: bigint;
  modelName: string;
  owner: string;
  status: "Active" | "Deprecated";
  priceWei: bigint;
  priceToken: bigint;
  royaltyBps: number;
  manifestCid: string;
  weightsCid: string;
  contentHash: string;
  inputShape: number[];
  outputShape: number[];
  publishedAt: Date;
  /** Present when a TrainingJobs job produced this version. */
  provenance?: TrainingProvenance;
}

const STATUS = ["None", "Active", "Deprecated"] as const;

/**
 * Prints a model version as the ModelRegistry records it, CIDs as strings, and, when a training
 * job of the deployment's TrainingJobs produced it, its provenance: the job, its datasets and
 * samples, every round's agreed aggregate and revealed updates, the evaluations and medians.
 */
export default async function show(args: ShowArgs, hre: HardhatRuntimeEnvironment): Promise<VersionView> {
  const versionId = parseId(args.versionId, "--version-id");
  const session = await Session.open(hre, args.deployment);
  const { modelRegistry } = session.contracts;
  const [owner] = await modelRegistry.inferenceTerms(versionId);
  if (owner === ZeroAddress) {
    throw taskError(`unknown model version ${versionId}: the ModelRegistry at ${await modelRegistry.getAddress()} has no such version`);
  }
  const v = await modelRegistry.getVersion(versionId);
  const model = await modelRegistry.getModel(v.modelId);
  const view: VersionView = {
    versionId: versionId,
    modelId: v.modelId,
    modelName: model.name,
    owner: v.owner,
    status: STATUS[Number(v.status)] as VersionView["status"],
    priceWei: v.priceWei,
    priceToken: v.priceToken,
    royaltyBps: Number(v.royaltyBps),
    manifestCid: cidToString(v.manifestCid),
    weightsCid: cidToString(v.weightsCid),
    contentHash: v.contentHash,
    inputShape: v.inputShape.map(Number),
    outputShape: v.outputShape.map(Number),
    publishedAt: new Date(Number(v.publishedAt) * 1000),
  };
  const provenance = await provenanceOf(session, versionId);
  if (provenance !== undefined) view.provenance = provenance;
  printFields(`Model version ${view.versionId} of model ${view.modelId} "${view.modelName}"`, [
    ["owner", view.owner],
    ["status", view.status],
    ["price", `${formatEth(view.priceWei)} or ${formatTsr(view.priceToken)} per request`],
    ["royalty", `${view.royaltyBps} bps (${view.royaltyBps / 100} %)`],
    ["manifest CID", view.manifestCid],
    ["weights CID", view.weightsCid],
    ["content hash", view.contentHash],
    ["input shape", JSON.stringify(view.inputShape)],
    ["output shape", JSON.stringify(view.outputShape)],
    ["published at", view.publishedAt.toISOString()],
  ]);
  if (provenance !== undefined) {
    const p = provenance;
    printFields(`Trained by job ${p.jobId} of TrainingJobs ${p.trainingJobs}`, [
      ["requester", p.requester],
      ["datasets", p.datasets.map((d) => `${d.datasetId} (${d.samplesUsed} samples)`).join(", ")],
      ...(p.terms === undefined
        ? []
        : ([
            ["initial weights", p.terms.weightsCid],
            ["eval set CID", p.terms.evalSetCid],
            ["local training", `E = ${p.terms.localEpochs}, B = ${p.terms.batchSize}, learning rate ${p.terms.learningRate}, ${p.terms.rule}`],
          ] as const)),
      ["workers", p.workers.join(", ")],
      ...p.rounds.flatMap((r) => [
        [`round ${r.round}`, formatRound(r)] as const,
        ...r.updateCids.map((u) => [`  update`, `${u.cid} from ${u.worker} (${u.sampleCount} samples)`] as const),
      ]),
      ...p.evaluations.map((e, i) => [`evaluation ${i + 1}`, formatEvaluation(e)] as const),
      ["medians", `accuracy ${formatAccuracy(p.accuracy)}, loss ${p.loss.toFixed(4)}`],
    ]);
  }
  return view;
}

/** The provenance of `versionId` if the deployment's TrainingJobs trained it. */
async function provenanceOf(session: Session, versionId: bigint): Promise<TrainingProvenance | undefined> {
  if (session.deployment.contracts.TrainingJobs === undefined) return undefined;
  return readProvenance(await trainingJobsOf(session), versionId, { fromBlock: session.deployment.startBlock, now: await session.now() });
}
