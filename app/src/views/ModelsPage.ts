import { html } from "lit-html";
import { formatEth, formatTsr } from "../../../client/src/Amounts.js";
import { fetchManifest, listVersions, type VersionSummary } from "../../../client/src/ModelCatalog.js";
import type { ModelManifest } from "../../../worker/src/ml/ModelManifest.js";
import type { PageScope } from "../PageScope.js";
import { shortAddress } from "../../../client/src/ShortAddress.js";

const codecsLine = (m: ModelManifest | undefined) => (m === undefined ? "…" : `${m.inputCodec.name} → ${m.outputCodec.name}`);

/** The registry: every version with its price, codecs, shards and status; "Ask" opens the request form. */
export async function modelsPage(scope: PageScope): Promise<void> {
  const { ctx } = scope;
  scope.render(html`<h1>Models</h1><p>Reading the registry…</p>`);
  const versions = await listVersions(ctx.contracts.modelRegistry);
  const manifests = new Map<bigint, ModelManifest>();
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
                  <td>${v.modelName}<br /><span class="muted">owner ${shortAddress(v.owner)}, royalty ${v.royaltyBps / 100} %</span></td>
                  <td>${formatEth(v.priceWei)}<br />${formatTsr(v.priceToken)}</td>
                  <td>${codecsLine(manifests.get(v.versionId))}</td>
                  <td>${v.shardCount === 1 ? "whole" : `${v.shardCount} shards`}</td>
                  <td>${v.status}</td>
                  <td>${v.status === "Active" ? html`<a href="#/ask/${v.versionId}">Ask version ${v.versionId}</a>` : ""}</td>
                </tr>`)}
              </tbody>
            </table>`}`,
    );
  draw();
  await Promise.all(
    versions.map(async (v) => {
      try {
        manifests.set(v.versionId, await fetchManifest(ctx.gateway.get(), v.manifestCid));
      } catch (err) {
        scope.report(err);
      }
    }),
  );
  draw();
}
