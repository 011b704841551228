import { html } from "lit-html";
import { formatEth, formatTsr } from "../../../client/src/Amounts.js";
import { fetchManifest, listVersions, type VersionSummary } from "../../../client/src/ModelCatalog.js";
import { payShare, shardsOf, unhostedShards, type ShardView } from "../../../client/src/ShardHosts.js";
import { provenanceOf, type TrainingProvenance } from "../../../client/src/TrainingJobView.js";
import { provenanceView, type RoundScoring } from "./ProvenanceView.js";
import { scoreRounds, type RoundScore } from "../../../client/src/RoundScores.js";
import type { ModelManifest } from "../../../worker/src/ml/ModelManifest.js";
import { objectiveOf } from "../../../worker/src/ml/TrainingObjective.js";
import type { PageScope } from "../PageScope.js";
import { shortAddress } from "../../../client/src/ShortAddress.js";
import { browserTf } from "../BrowserTf.js";

const codecsLine = (m: ModelManifest | undefined) => (m === undefined ? "…" : `${m.inputCodec.name} → ${m.outputCodec.name}`);
const kib = (bytes: bigint) => `${(Number(bytes) / 1024).toFixed(0)} KiB`;
const layers = (s: ShardView) => (s.endLayer - s.firstLayer === 1 ? `layer ${s.firstLayer}` : `layers ${s.firstLayer}–${s.endLayer - 1}`);

/** A sharded version's shards: layers, size, share of the hosts' pay, and who hosts each now (or that nobody does). */
function shardList(shards: readonly ShardView[] | undefined, count: number) {
  if (shards === undefined) return html`${count} shards`;
  return html`${count} shards
    <ol class="shards" start="0">
      ${shards.map(
        (s) => html`<li data-testid="shard-${s.index}">
          ${layers(s)}, ${kib(s.byteSize)}, ${payShare(shards, s.index).toFixed(1)} % of the hosts' pay:
          ${s.hosts.length === 0
            ? html`<strong>no host</strong>`
            : s.hosts.map((h, i) => html`${i > 0 ? ", " : ""}<span title=${h.host}>${shortAddress(h.host)}</span> <span class="muted">${h.endpoint}</span>`)}
        </li>`,
      )}
    </ol>`;
}

/** What the action cell offers: asking, unless the version is deprecated or a shard has nobody to serve it. */
function action(v: VersionSummary, shards: readonly ShardView[] | undefined) {
  if (v.status !== "Active") return "";
  const unhosted = shards === undefined ? [] : unhostedShards(shards);
  if (unhosted.length > 0) return html`<span data-testid="unservable">Not servable now: shard ${unhosted.join(", ")} has no host</span>`;
  return html`<a href="#/ask/${v.versionId}">Ask version ${v.versionId}</a>`;
}

/** The registry: every version with its price, codecs, shards (and their hosts) and status; "Ask" opens the request form. */
export async function modelsPage(scope: PageScope): Promise<void> {
  const { ctx } = scope;
  scope.render(html`<h1>Models</h1><p>Reading the registry…</p>`);
  const versions = await listVersions(ctx.contracts.modelRegistry);
  const manifests = new Map<bigint, ModelManifest>();
  const shards = new Map<bigint, ShardView[]>();
  const provenance = new Map<bigint, TrainingProvenance>();
  const scoring = new Map<bigint, RoundScoring>();
  /** Scores a trained version's rounds here: TensorFlow.js is loaded then, not with the page. */
  const score = async (versionId: bigint) => {
    const scores: RoundScore[] = [];
    scoring.set(versionId, { state: "running", scores });
    draw();
    try {
      const tf = await browserTf();
      await scoreRounds(tf, ctx.gateway.get(), provenance.get(versionId)!, (s) => {
        scores.push(s);
        draw();
      });
      scoring.set(versionId, { state: "done", scores });
    } catch (err) {
      scoring.set(versionId, { state: "failed", sentence: err instanceof Error ? err.message : String(err) });
      scope.report(err);
    }
    draw();
  };
  const draw = () =>
    scope.render(
      html`<h1>Models</h1>
        ${versions.length === 0
          ? html`<p>No model is published yet: publish one with <code>npx hardhat model publish</code>.</p>`
          : html`<table>
              <caption class="muted">Every version in the ModelRegistry, newest first</caption>
              <thead>
                <tr><th scope="col">Version</th><th scope="col">Model</th><th scope="col">Price</th><th scope="col">Codecs</th><th scope="col">Shards</th><th scope="col">Status</th><th scope="col"><span class="muted">Action</span></th></tr>
              </thead>
              <tbody>
                ${versions.map((v: VersionSummary) => html`<tr data-testid="version-${v.versionId}">
                  <td>${v.versionId}</td>
                  <td>${v.modelName}<br /><span class="muted">owner ${shortAddress(v.owner)}, royalty ${v.royaltyBps / 100} %</span>${provenance.has(v.versionId)
                    ? html`<br /><a href="#provenance-title-${v.versionId}" @click=${(e: Event) => { e.preventDefault(); document.getElementById(`provenance-title-${v.versionId}`)?.scrollIntoView(); }}>trained by job ${provenance.get(v.versionId)!.jobId}</a>`
                    : ""}</td>
                  <td>${formatEth(v.priceWei)}<br />${formatTsr(v.priceToken)}</td>
                  <td>${codecsLine(manifests.get(v.versionId))}</td>
                  <td>${v.shardCount === 1 ? "whole" : shardList(shards.get(v.versionId), v.shardCount)}</td>
                  <td>${v.status}</td>
                  <td>${action(v, shards.get(v.versionId))}</td>
                </tr>`)}
              </tbody>
            </table>`}
        ${[...provenance].sort(([a], [b]) => (a > b ? -1 : 1)).map(([versionId, p]) => {
          const manifest = manifests.get(versionId);
          return provenanceView(versionId, p, scoring.get(versionId) ?? { state: "idle" }, () => void score(versionId), manifest === undefined ? undefined : objectiveOf(manifest).metric);
        })}`,
    );
  draw();
  await Promise.all([
    ...versions.map(async (v) => {
      try {
        manifests.set(v.versionId, await fetchManifest(ctx.gateway.get(), v.manifestCid));
      } catch (err) {
        scope.report(err);
      }
    }),
    ...versions.map(async (v) => {
      const jobs = ctx.contracts.trainingJobs;
      if (jobs === undefined) return;
      try {
        const p = await provenanceOf(jobs, v.versionId, { fromBlock: ctx.config.deployment.startBlock, now: Math.floor(Date.now() / 1000) });
        if (p !== undefined) provenance.set(v.versionId, p);
      } catch (err) {
        scope.report(err);
      }
    }),
    ...versions
      .filter((v) => v.shardCount > 1)
      .map(async (v) => {
        try {
          shards.set(v.versionId, await shardsOf(ctx.contracts.modelRegistry, ctx.contracts.shardRegistry, v.versionId));
        } catch (err) {
          scope.report(err);
        }
      }),
  ]);
  draw();
}
