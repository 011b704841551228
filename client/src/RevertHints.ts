import { DATASET_STATUS_NAMES } from "../../worker/src/data/OnChainDataset.js";
import type { DecodedRevert } from "../../worker/src/errors.js";
import { JOB_STATUS_NAMES } from "../../worker/src/training/TrainingJobSpec.js";

const at = (seconds: unknown) => new Date(Number(seconds) * 1000).toISOString();

/** What to do about the custom errors an operator, model owner or requester is likely to hit. */
const HINTS: Record<string, (args: readonly unknown[]) => string> = {
  InferenceMarketUnknownModelVersion: ([v]) => `model version ${v} does not exist (see \`model show\`)`,
  InferenceMarketModelVersionDeprecated: ([v]) => `model version ${v} is deprecated and takes no new requests`,
  InferenceMarketFeeTooLow: ([fee, min]) => `the fee ${fee} is below the minimum ${min}`,
  InferenceMarketInvalidDeadline: ([d, latest]) => `deadline ${d} must be in the future and at most ${latest}`,
  InferenceMarketRequestNotOpen: ([id]) => `request ${id} is not open (unknown, or already fulfilled or refunded)`,
  InferenceMarketDeadlineNotPassed: ([, d]) => `the deadline ${new Date(Number(d) * 1000).toISOString()} has not passed yet`,
  InferenceMarketNothingToWithdraw: ([account]) => `${account} has no credit in this currency`,
  ModelRegistryUnknownVersion: ([v]) => `model version ${v} does not exist`,
  ModelRegistryUnknownModel: ([m]) => `model ${m} does not exist`,
  ModelRegistryNotModelOwner: ([m, caller]) => `${caller} does not own model ${m}; pass the owner's --account`,
  ModelRegistryRoyaltyTooHigh: () => `royalty must be at most 10000 bps`,
  WorkerRegistryStakeBelowMinimum: ([stake, min]) => `stake ${stake} is below the minimum stake ${min}`,
  WorkerRegistryNotRegistered: ([w]) => `${w} is not a registered worker`,
  DataRegistryDuplicateCommitment: ([, id]) => `you already registered this exact dataset as dataset ${id}`,
  DataRegistryNotContributor: ([id, , contributor]) => `dataset ${id} belongs to ${contributor}; pass its --account`,
  DataRegistryValidationStarted: ([id, seedBlock]) => `dataset ${id}'s committee is known since block ${seedBlock} and validators may be working on it; wait for the decision`,
  DataRegistryDatasetAlreadyUsed: ([id]) => `a training job already used dataset ${id}`,
  DataRegistryNothingToWithdraw: ([account]) => `${account} has no credit in the DataRegistry`,
  DataRegistryDatasetClosed: ([id, status]) => `dataset ${id} is ${DATASET_STATUS_NAMES[Number(status)]}; only a Pending or Accepted dataset's key can be shared`,
  TrainingJobsUnknownJob: ([j]) => `training job ${j} does not exist`,
  TrainingJobsDatasetNotAccepted: ([id]) => `dataset ${id} is not Accepted in the DataRegistry (see \`data status --id ${id}\`)`,
  TrainingJobsInvalidDatasets: ([n]) => `${n} dataset ids: give 1..16 distinct ids`,
  TrainingJobsBudgetTooLow: ([budget, minimum]) => `a budget of ${budget} token wei leaves less than the workers' least pay (${minimum} token wei: rounds x workers x minUpdatePay)`,
  TrainingJobsWrongStatus: ([j, status]) => `job ${j} is ${JOB_STATUS_NAMES[Number(status)]} (see \`train status --job ${j}\`)`,
  TrainingJobsDeadlinePassed: ([j, d]) => `the current phase of job ${j} ended at ${at(d)}`,
  TrainingJobsNotTrainer: ([w]) => `${w} is not a staked, non-unstaking worker with CAP_TRAIN`,
  TrainingJobsNotValidator: ([w]) => `${w} is not a staked, non-unstaking worker with CAP_VALIDATE`,
  TrainingJobsAlreadyEnrolled: ([j, w]) => `${w} is already enrolled in job ${j}`,
  TrainingJobsConflictOfInterest: ([j, w]) => `${w} requested or trains job ${j}: it may neither enroll in nor evaluate it`,
  TrainingJobsNothingToWithdraw: ([account]) => `${account} has no credit in TrainingJobs`,
  ERC20InsufficientBalance: ([who, balance, needed]) => `${who} holds ${balance} token wei, needs ${needed}`,
  ERC20InsufficientAllowance: ([spender, allowance, needed]) => `allowance of ${spender} is ${allowance}, needs ${needed}`,
};

export function hintFor(revert: DecodedRevert): string | undefined {
  return HINTS[revert.name]?.(revert.args);
}
