import { html } from "lit-html";
import { formatTsr } from "../../../client/src/Amounts.js";
import { listOperators } from "../../../client/src/Operators.js";
import { announcedShards, type AnnouncedShard } from "../../../client/src/ShardHosts.js";
import type { PageScope } from "../PageScope.js";

const shardsLine = (shards: readonly AnnouncedShard[] | undefined) =>
  shards === undefined || shards.length === 0 ? "none" : shards.map((s) => `v${s.versionId} #${s.shardIndex}`).join(", ");

/** The operators: every staked worker, its capabilities, the versions and shards it serves, its endpoint and whether it can work. */
export async function operatorsPage(scope: PageScope): Promise<void> {
  const { ctx } = scope;
  scope.render(html`<h1>Operators</h1><p>Reading the WorkerRegistry…</p>`);
  const { startBlock } = ctx.config.deployment;
  const [operators, hosted] = await Promise.all([
    listOperators(ctx.contracts.workerRegistry, startBlock),
    ctx.contracts.shardRegistry === undefined ? new Map<string, AnnouncedShard[]>() : announcedShards(ctx.contracts.shardRegistry, startBlock),
  ]);
  scope.render(
    html`<h1>Operators</h1>
      ${operators.length === 0
        ? html`<p>No worker is staked yet: register one with <code>npx hardhat worker register</code>.</p>`
        : html`<table>
            <caption class="muted">Staked workers, the largest stake first</caption>
            <thead>
              <tr><th scope="col">Worker</th><th scope="col">Stake</th><th scope="col">Does</th><th scope="col">Serves versions</th><th scope="col">Hosts shards</th><th scope="col">Endpoint</th><th scope="col">Status</th></tr>
            </thead>
            <tbody>
              ${operators.map(
                (o) => html`<tr data-testid="operator-${o.address}">
                  <td><code>${o.address}</code></td>
                  <td>${formatTsr(o.stake)}</td>
                  <td>${o.capabilities.join(", ")}</td>
                  <td>${o.servedVersions.length === 0 ? "none" : o.servedVersions.join(", ")}</td>
                  <td>${shardsLine(hosted.get(o.address))}</td>
                  <td>${o.endpoint}</td>
                  <td>${o.unstakeRequestedAt !== 0 ? "unstaking" : o.eligible ? "eligible" : "not eligible"}${o.obligations > 0n ? html`<br /><span class="muted">${o.obligations} open obligations</span>` : ""}</td>
                </tr>`,
              )}
            </tbody>
          </table>`}`,
  );
}
