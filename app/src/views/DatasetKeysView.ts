import { getAddress } from "ethers";
import { html, type TemplateResult } from "lit-html";
import type { DatasetKeyStatus } from "../../../client/src/DatasetKeyShares.js";
import { shortAddress } from "../../../client/src/ShortAddress.js";

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** One dataset's line: who of the job's workers can read it, who waits for whose key, and the button for its contributor. */
function datasetLine(s: DatasetKeyStatus, account: string | undefined, busy: boolean, share: (datasetId: bigint) => void): TemplateResult {
  const yours = account !== undefined && getAddress(account) === getAddress(s.contributor);
  const who = yours ? "yours" : html`<span title=${s.contributor}>${shortAddress(s.contributor)}'s</span>`;
  const parts = [`${plural(s.canRead.length, "worker can", "workers can")} read it`];
  if (s.waiting.length > 0) parts.push(`${plural(s.waiting.length, "waits", "wait")} for ${yours ? "your" : "its contributor's"} key`);
  if (s.withoutKey.length > 0) parts.push(`${plural(s.withoutKey.length, "worker has", "workers have")} no encryption key`);
  if (s.unfilled.length > 0) parts.push(`${plural(s.unfilled.length, "partition has", "partitions have")} no worker yet`);
  return html`<li data-testid=${`dataset-key-${s.datasetId}`}>
    dataset ${s.datasetId} (${who}): ${parts.join("; ")}
    ${yours && s.waiting.length > 0
      ? html`<button type="button" ?disabled=${busy} @click=${() => share(s.datasetId)}>Share dataset ${s.datasetId}'s key with ${plural(s.waiting.length, "worker", "workers")}</button>`
      : ""}
  </li>`;
}

/**
 * A job's datasets and who of its workers can read them: the workers train only on data whose contributor sealed the
 * key for them, so a job waits on every contributor; the connected contributor gets a button that shares its key.
 */
export function datasetKeysView(statuses: readonly DatasetKeyStatus[] | undefined, account: string | undefined, busy: boolean, share: (datasetId: bigint) => void): TemplateResult | string {
  if (statuses === undefined || statuses.length === 0) return "";
  return html`<dt>Dataset keys</dt>
    <dd><ul class="plain" data-testid="dataset-keys">${statuses.map((s) => datasetLine(s, account, busy, share))}</ul></dd>`;
}
