import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { partitionOf, samplesIn } from "../../worker/src/training/Partition.js";
import { formatTsr } from "../lib/Amounts.js";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { formatAccuracy, formatDuration, formatEvaluation, formatRound, readJob, trainingJobsOf, type JobView } from "../lib/Training.js";

interface StatusArgs {
  deployment: string;
  job: string | undefined;
}

/** What each status waits for. */
const WAITING: Record<string, (j: JobView) => string> = {
  Enrolling: (j) => `${j.enrolled} of ${j.workersPerRound} workers enrolled`,
  Committing: (j) => `${j.committed} of ${j.active} active workers committed`,
  Revealing: (j) => `${j.revealed} of ${j.active} active workers revealed`,
  Voting: (j) => `aggregate votes of ${j.revealed} revealers, quorum ${j.quorumBps} bps`,
  Evaluating: (j) => `${j.evaluations.length} of ${j.evaluators} evaluations`,
};

/**
 * Prints a training job: status, round and the current phase's deadline (with the time left at
 * the latest block), its workers (partition, dropped, earned), every completed round's agreed
 * aggregate, the evaluations and medians, the trained model version once finalized, and the money.
 */
export default async function status(args: StatusArgs, hre: HardhatRuntimeEnvironment): Promise<JobView> {
  const jobId = parseId(args.job, "--job");
  const session = await Session.open(hre, args.deployment);
  const jobs = await trainingJobsOf(session);
  const view = await readJob(session, jobs, jobId);
  const open = WAITING[view.status];
  const deadline = new Date(view.deadline * 1000).toISOString();
  const left = view.secondsLeft >= 0 ? `${formatDuration(view.secondsLeft)} left` : `passed ${formatDuration(-view.secondsLeft)} ago`;
  const datasets = view.datasets.map((d) => ({ datasetId: d.datasetId, samples: d.samples }));
  const terms = view.terms;
  printFields(`Training job ${jobId}${terms ? ` "${terms.modelName}"` : ""}: ${view.status}${view.round > 0 ? `, round ${view.round} of ${view.rounds}` : ""}`, [
    ["requester", view.requester],
    ...(open === undefined ? [] : ([["waiting for", `${open(view)}; deadline ${deadline} (${left})`]] as const)),
    ["datasets", view.datasets.map((d) => `${d.datasetId} (${d.samples} samples)`).join(", ")],
    ...(terms === undefined
      ? ([["terms", "(JobCreated event not found from the deployment's start block)"]] as const)
      : ([
          ["manifest CID", terms.manifestCid],
          ["initial weights", terms.weightsCid],
          ["eval set CID", terms.evalSetCid],
          ["local training", `E = ${terms.localEpochs}, B = ${terms.batchSize}, learning rate ${terms.learningRate}, ${terms.rule}`],
        ] as const)),
    ["workers", `${view.enrolled} of ${view.workersPerRound} enrolled, ${view.active} active`],
    ...view.workers.map((w) => {
      const samples = samplesIn(partitionOf(datasets, view.workersPerRound, w.partitionIndex));
      return [`  partition ${w.partitionIndex}`, `${w.address} ${w.dropped ? "DROPPED" : "active"}, ${samples} samples, earned ${formatTsr(w.earned)}`] as const;
    }),
    ...view.roundResults.map((r) => [`round ${r.round}`, formatRound(r)] as const),
    ...view.evaluations.map((e, i) => [`evaluation ${i + 1}`, formatEvaluation(e)] as const),
    ...(view.versionId === undefined
      ? []
      : ([
          ["medians", `accuracy ${formatAccuracy(view.accuracy!)}, loss ${view.loss!.toFixed(4)}`],
          ["model version", `${view.versionId} (\`model show --version-id ${view.versionId}\`)`],
        ] as const)),
    ["budget", `${formatTsr(view.budget)}, paid ${formatTsr(view.paid)}${view.status === "Finalized" || view.status === "Cancelled" ? "" : `, escrowed ${formatTsr(view.budget - view.paid)}`}`],
  ]);
  return view;
}
