import { VoidSigner, type Provider } from "ethers";
import type { TrainingJobs } from "../../typechain-types/index.js";
import { nextBlockTime } from "./ChainTime.js";
import { readJob, type JobView } from "./TrainingJobView.js";

/** A job as a page lists it, and whether `account` may cancel it now. */
export interface ListedJob {
  readonly view: JobView;
  /**
   * Whether `cancel` from the account would go through now: asked of the contract itself (a call, not a rule copied
   * here), so the page offers the button exactly when the chain would take it.
   */
  readonly cancellable: boolean;
}

/**
 * The `limit` most recent training jobs, newest first, each read whole (readJob) at the next block's time, with
 * whether `account` (when given) could cancel it now: the requester while it enrols, anyone once a phase lapsed with
 * too few updates or evaluations, as `TrainingJobs.cancel` decides.
 */
export async function recentJobs(jobs: TrainingJobs, provider: Provider, options: { fromBlock: number; account?: string; limit?: number }): Promise<ListedJob[]> {
  const [count, now] = await Promise.all([jobs.jobCount(), nextBlockTime(provider)]);
  const limit = BigInt(options.limit ?? 10);
  const ids: bigint[] = [];
  for (let id = count; id >= 1n && BigInt(ids.length) < limit; id--) ids.push(id);
  return Promise.all(
    ids.map(async (jobId) => {
      const view = await readJob(jobs, jobId, { fromBlock: options.fromBlock, now });
      const open = view.status !== "Finalized" && view.status !== "Cancelled";
      const cancellable = open && options.account !== undefined && (await wouldCancel(jobs, provider, jobId, options.account));
      return { view, cancellable };
    }),
  );
}

/** Whether `cancel(jobId)` sent by `account` would succeed now (a static call from it). */
async function wouldCancel(jobs: TrainingJobs, provider: Provider, jobId: bigint, account: string): Promise<boolean> {
  try {
    await jobs.connect(new VoidSigner(account, provider)).cancel.staticCall(jobId);
    return true;
  } catch {
    return false;
  }
}
