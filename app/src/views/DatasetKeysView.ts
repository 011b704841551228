import { getAddress } from "ethers";
import { html, type TemplateResult } from "lit-html";
import { formatTsr } from "../../../client/src/Amounts.js";
import { SHARING_PHASES, type DatasetKeyStatus } from "../../../client/src/DatasetKeyShares.js";
import type { JobView } from "../../../client/src/TrainingJobView.js";
import { shortAddress } from "../../../client/src/ShortAddress.js";

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** One dataset's line: who of the job's workers can read it, who waits for whose key, and the button for its contributor. */
function datasetLine(job: JobView, s: DatasetKeyStatus, account: string | undefined, busy: boolean, share: (datasetId: bigint) => void): TemplateResult {
  const yours = account !== undefined && getAddress(account) === getAddress(s.contributor);
  const who = yours ? "yours" : html`<span title=${s.contributor}>${shortAddress(s.contributor)}'s</span>`;
  if (s.unreadable !== undefined) return html`<li data-testid=${`dataset-key-${s.datasetId}`}>dataset ${s.datasetId} (${who}): who can read it cannot be told: ${s.unreadable}</li>`;
  const parts = [`${plural(s.canRead.length, "worker can", "workers can")} read it`];
  if (s.waiting.length > 0) parts.push(`${plural(s.waiting.length, "waits", "wait")} for ${yours ? "your" : "its contributor's"} key`);
  if (s.withoutKey.length > 0) parts.push(`${plural(s.withoutKey.length, "worker has", "workers have")} no encryption key`);
  if (s.unfilled.length > 0) parts.push(`${plural(s.unfilled.length, "partition has", "partitions have")} no worker yet`);
  const royalties = (job.budget * BigInt(job.royaltyBps)) / 10_000n;
  return html`<li data-testid=${`dataset-key-${s.datasetId}`}>
    dataset ${s.datasetId} (${who}): ${parts.join("; ")}
    ${yours && s.waiting.length > 0 && SHARING_PHASES.has(job.status)
      ? html`<button type="button" ?disabled=${busy} @click=${() => share(s.datasetId)}>Share dataset ${s.datasetId}'s key with ${plural(s.waiting.length, "worker", "workers")}</button>
          <span class="muted">requested by <span title=${job.requester}>${shortAddress(job.requester)}</span>; the job's datasets share ${formatTsr(royalties)} of royalties (${job.royaltyBps / 100} % of its budget) by samples used, paid when it ends for the rounds it completed</span>`
      : ""}
  </li>`;
}

/**
 * A job's datasets and who of its workers can read them: the workers train only on data whose contributor sealed the
 * key for them, so a job waits on every contributor; the connected contributor gets a button that shares its key once
 * the job's workers are all enrolled (a job still enrolling may be cancelled owing no royalty).
 */
export function datasetKeysView(job: JobView, statuses: readonly DatasetKeyStatus[] | undefined, account: string | undefined, busy: boolean, share: (datasetId: bigint) => void): TemplateResult | string {
  if (statuses === undefined || statuses.length === 0) return "";
  return html`<dt>Dataset keys</dt>
    <dd><ul class="plain" data-testid="dataset-keys">${statuses.map((s) => datasetLine(job, s, account, busy, share))}</ul></dd>`;
}
