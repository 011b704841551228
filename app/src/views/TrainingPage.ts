import "../NodeGlobals.js";
import { html, type TemplateResult } from "lit-html";
import { formatTsr } from "../../../client/src/Amounts.js";
import { jobKeyStatus, shareKeyWithJob, type DatasetKeyStatus, type EnvelopeDocuments } from "../../../client/src/DatasetKeyShares.js";
import { shortAddress } from "../../../client/src/ShortAddress.js";
import { recentJobs, type ListedJob } from "../../../client/src/TrainingJobList.js";
import type { JobView } from "../../../client/src/TrainingJobView.js";
import type { PageScope } from "../PageScope.js";
import { datasetKeysView } from "./DatasetKeysView.js";
import { LiveRoundScores } from "./LiveRoundScores.js";
import { NewJobForm } from "./NewJobForm.js";

/** Phases in which a job's workers still read its datasets (to enrol and to train). */
const TRAINING_PHASES = new Set(["Enrolling", "Committing", "Revealing", "Voting"]);

/** How often the page reads the jobs again while it is shown. */
const REFRESH_MS = 2_000;

/** "3 min 20 s left", or "passed 12 s ago": a phase's deadline at the next block's time. */
function timeLeft(seconds: number): string {
  const s = Math.abs(seconds);
  const text = s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
  return seconds >= 0 ? `${text} left` : `passed ${text} ago`;
}

/** What the job waits for now, in a sentence. */
function phaseLine(v: JobView): string {
  switch (v.status) {
    case "Enrolling":
      return `${v.enrolled} of ${v.workersPerRound} workers enrolled; ${timeLeft(v.secondsLeft)} to enrol`;
    case "Committing":
      return `round ${v.round} of ${v.rounds}: ${v.committed} of ${v.active} updates committed; ${timeLeft(v.secondsLeft)}`;
    case "Revealing":
      return `round ${v.round} of ${v.rounds}: ${v.revealed} of ${v.committed} updates revealed; ${timeLeft(v.secondsLeft)}`;
    case "Voting":
      return `round ${v.round} of ${v.rounds}: the workers vote on the aggregate; ${timeLeft(v.secondsLeft)}`;
    case "Evaluating":
      return `${v.evaluations.length} of ${v.evaluators} evaluations of the final model; ${timeLeft(v.secondsLeft)}`;
    case "Finalized":
      return `finished: median accuracy ${((v.accuracy ?? 0) * 100).toFixed(2)} %${v.versionId === undefined ? "" : `, registered as version ${v.versionId}`}`;
    default:
      return v.status.toLowerCase();
  }
}

/**
 * Training: a form that creates a job (NewJobForm), and the latest jobs as TrainingJobs records them, read again every two seconds while the page is shown (the
 * phase, what it waits for and its deadline, the workers, each completed round's updates and votes, the money); a
 * job the connected account may cancel now (its own while it enrols, or any whose phase lapsed stalled) gets the
 * button, and its refund lands in the account's training credits. While a job trains, each of its datasets says who of
 * its workers can read it; the connected contributor of one they wait for shares its key from here (DatasetKeyShares).
 */
export async function trainingPage(scope: PageScope): Promise<void> {
  const { ctx } = scope;
  const jobs = ctx.contracts.trainingJobs;
  if (jobs === undefined) {
    scope.render(html`<h1>Training</h1><p>This deployment has no TrainingJobs.</p>`);
    return;
  }
  scope.render(html`<h1>Training</h1><p>Reading TrainingJobs…</p>`);
  let busy = false;
  let listed: ListedJob[] = [];
  /** Who of each training job's workers can read its datasets (jobs still training only). */
  let keys = new Map<bigint, DatasetKeyStatus[]>();
  const documents: EnvelopeDocuments = new Map();
  let shareSteps: string[] = [];
  const account = () => {
    const state = ctx.wallet.state.get();
    return state.status === "connected" ? state.account : undefined;
  };
  const read = async () => {
    const who = account();
    listed = await recentJobs(jobs, ctx.provider, { fromBlock: ctx.config.deployment.startBlock, ...(who === undefined ? {} : { account: who }) });
    keys = await readKeys(listed.filter((j) => TRAINING_PHASES.has(j.view.status)).map((j) => j.view.jobId));
    scores.follow(listed.map((j) => j.view));
    draw();
  };
  const readKeys = async (jobIds: bigint[]) => {
    const registry = ctx.contracts.dataRegistry;
    if (registry === undefined) return new Map<bigint, DatasetKeyStatus[]>();
    const c = { trainingJobs: jobs, workerRegistry: ctx.contracts.workerRegistry, dataRegistry: registry };
    const o = { gateway: ctx.gateway.get(), fromBlock: ctx.config.deployment.startBlock, documents };
    // A job whose keys cannot be read now (a node or gateway failing) shows none this time; the others do.
    const read = await Promise.all(jobIds.map(async (id) => [id, await jobKeyStatus(c, id, o).catch(() => undefined)] as const));
    return new Map(read.filter((entry): entry is readonly [bigint, DatasetKeyStatus[]] => entry[1] !== undefined));
  };
  const share = async (jobId: bigint, datasetId: bigint) => {
    ctx.clearProblem();
    busy = true;
    shareSteps = [];
    draw();
    try {
      const signer = await ctx.wallet.signer();
      if (!ctx.hasPageKey(signer.address)) {
        shareSteps.push("Signing the message that gives this page your encryption key, in the wallet (it sends nothing)");
        draw();
      }
      const pageKey = await ctx.pageKey(signer);
      const shared = await shareKeyWithJob({
        trainingJobs: jobs,
        workerRegistry: ctx.contracts.workerRegistry,
        dataRegistry: ctx.contracts.dataRegistry!,
        signer,
        pageKey,
        jobId,
        datasetId,
        gateway: ctx.gateway.get(),
        ipfsApi: ctx.ipfsApi.get(),
        fromBlock: ctx.config.deployment.startBlock,
        onStep: (step, detail) => {
          shareSteps.push(
            { opening: `Opened ${detail}'s key in this browser`, checking: `Checked the key against ${detail}'s data`, uploading: `Uploading ${detail}`, sending: "Publishing the new key envelopes" }[step],
          );
          draw();
        },
      });
      shareSteps.push(`Shared with ${shared.added.length} ${shared.added.length === 1 ? "worker" : "workers"} of job ${jobId} (envelopes ${shared.envelopesCid})`);
    } catch (err) {
      scope.report(err);
    } finally {
      busy = false;
      await read().catch((err: unknown) => scope.report(err));
    }
  };
  const cancel = async (jobId: bigint) => {
    ctx.clearProblem();
    busy = true;
    draw();
    try {
      await (await jobs.connect(await ctx.wallet.signer()).cancel(jobId)).wait();
    } catch (err) {
      scope.report(err);
    } finally {
      busy = false;
      await read().catch((err: unknown) => scope.report(err));
    }
  };
  const form = new NewJobForm(scope, () => draw());
  const scores = new LiveRoundScores(() => ctx.gateway.get(), () => draw(), (err) => scope.report(err));
  const draw = () =>
    scope.render(html`<h1>Training</h1>
      ${form.template()}
      <p class="muted">Federated training jobs, newest first, as TrainingJobs records them (read every ${REFRESH_MS / 1000} s).</p>
      ${shareSteps.length === 0 ? "" : html`<section class="card" aria-label="Sharing a dataset key"><ol data-testid="share-steps">${shareSteps.map((s) => html`<li>${s}</li>`)}</ol></section>`}
      ${listed.length === 0
        ? html`<p>No training job yet.</p>`
        : listed.map((j) =>
            jobCard(j, busy, () => void cancel(j.view.jobId), datasetKeysView(j.view, keys.get(j.view.jobId), account(), busy, (datasetId) => void share(j.view.jobId, datasetId)), scores),
          )}`);
  await Promise.all([read(), form.load()]);
  void (async () => {
    while (scope.current) {
      await new Promise((resolve) => setTimeout(resolve, REFRESH_MS));
      if (!scope.current || busy) continue;
      await read().catch((err: unknown) => scope.report(err));
    }
  })();
}

function jobCard({ view: v, cancellable }: ListedJob, busy: boolean, cancel: () => void, datasetKeys: TemplateResult | string, scores: LiveRoundScores): TemplateResult {
  const scored = scores.column(v.jobId);
  const open = v.budget - v.paid;
  return html`<section class="card" aria-label=${`Job ${v.jobId}`} data-testid=${`job-${v.jobId}`}>
    <h2>Job ${v.jobId}: ${v.terms?.modelName ?? "a model"}</h2>
    <dl>
      <dt>Status</dt><dd data-testid="job-status">${v.status}</dd>
      <dt>Now</dt><dd data-testid="job-phase">${phaseLine(v)}</dd>
      <dt>Requester</dt><dd><span title=${v.requester}>${shortAddress(v.requester)}</span></dd>
      <dt>Terms</dt><dd>${v.rounds} rounds × ${v.workersPerRound} workers, ${v.rule}, ${v.datasets.length} ${v.datasets.length === 1 ? "dataset" : "datasets"} (${v.datasets.reduce((n, d) => n + d.samples, 0)} samples)${v.terms === undefined ? "" : `, E=${v.terms.localEpochs} B=${v.terms.batchSize} lr=${v.terms.learningRate}`}</dd>
      <dt>Budget</dt><dd data-testid="job-budget">${formatTsr(v.budget)}, ${formatTsr(v.paid - v.refunded)} paid${v.refunded > 0n ? `, ${formatTsr(v.refunded)} back to the requester` : ""}${open > 0n ? `, ${formatTsr(open)} held` : ""}</dd>
      <dt>Workers</dt><dd>${v.workers.length === 0 ? "none yet" : v.workers.map((w) => html`<span title=${w.address}>${shortAddress(w.address)}${w.dropped ? " (dropped)" : ""}</span> `)}</dd>
      ${datasetKeys}
    </dl>
    ${v.roundResults.length === 0
      ? ""
      : html`<table data-testid="job-rounds">
          <thead><tr><th scope="col">Round</th><th scope="col">Updates</th><th scope="col">Votes</th><th scope="col">Left out</th>${scored === undefined ? "" : html`<th scope="col">${scored.heading}</th>`}</tr></thead>
          <tbody>${v.roundResults.map((r) => html`<tr><td>${r.round}</td><td>${r.updates}</td><td>${r.votes}</td><td>${r.excluded.length}</td>${scored === undefined ? "" : html`<td data-testid="round-score">${scored.cell(r.round)}</td>`}</tr>`)}</tbody>
        </table>`}
    ${v.status === "Cancelled" ? "" : scores.button(v)}
    ${v.status === "Finalized" && v.versionId !== undefined
      ? html`<p><a href="#/models">Version ${v.versionId} on the Models page</a> <span class="muted">its provenance, and each round's aggregate scored in this browser</span></p>`
      : ""}
    ${cancellable
      ? html`<p><button type="button" ?disabled=${busy} @click=${cancel}>Cancel job ${v.jobId}</button> <span class="muted">what is not paid yet comes back to the requester's training credits (Account page)</span></p>`
      : ""}
  </section>`;
}
