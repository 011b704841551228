import { ZeroAddress } from "ethers";
import { html, type TemplateResult } from "lit-html";
import { formatAmount, formatEth, formatTsr, type Currency } from "../../../client/src/Amounts.js";
import { balancesOf } from "../../../client/src/Balances.js";
import { contributionsOf, type Contribution } from "../../../client/src/DataContributions.js";
import { requestProgress, requestsOf, type PaidRequest, type RequestProgress } from "../../../client/src/InferenceRequests.js";
import type { AppContext } from "../AppContext.js";
import type { PageScope } from "../PageScope.js";

/**
 * The connected account: ETH, TSR, the credits waiting for it in the market (earnings, refunds), the DataRegistry
 * (bond refunds, rewards, royalties) and TrainingJobs (pay, refunds), each withdrawable in one transaction; its paid
 * requests, and the datasets it contributed with what each earned.
 */
export async function accountPage(scope: PageScope): Promise<void> {
  const { ctx } = scope;
  const state = ctx.wallet.state.get();
  if (state.status !== "connected") {
    scope.render(html`<h1>Account</h1><p>Connect a wallet to see its balances.</p>${contentCard(ctx, () => void accountPage(scope).catch((err: unknown) => scope.report(err)))}`);
    return;
  }
  let busy = false;
  /** Sends one withdrawal (the market's per currency, or the DataRegistry's or TrainingJobs' TSR credit). */
  const withdraw = async (from: Currency | "data" | "training") => {
    ctx.clearProblem();
    busy = true;
    try {
      await draw();
      const signer = await ctx.wallet.signer();
      const { market, token, dataRegistry, trainingJobs } = ctx.contracts;
      if (from === "data") await (await dataRegistry!.connect(signer).withdraw()).wait();
      else if (from === "training") await (await trainingJobs!.connect(signer).withdraw()).wait();
      else await (await market.connect(signer).withdraw(from === "eth" ? ZeroAddress : await token.getAddress())).wait();
    } catch (err) {
      scope.report(err);
    } finally {
      busy = false;
      await draw().catch((err: unknown) => scope.report(err));
    }
  };
  const refund = async (request: PaidRequest) => {
    ctx.clearProblem();
    busy = true;
    try {
      await draw();
      await (await ctx.contracts.market.connect(await ctx.wallet.signer()).refund(request.request)).wait();
    } catch (err) {
      scope.report(err);
    } finally {
      busy = false;
      await draw().catch((err: unknown) => scope.report(err));
    }
  };
  const draw = async () => {
    const startBlock = ctx.config.deployment.startBlock;
    const { dataRegistry, trainingJobs } = ctx.contracts;
    const [b, requests, datasets] = await Promise.all([
      balancesOf(state.account, { provider: ctx.provider, ...ctx.contracts }),
      requestsOf(ctx.contracts.market, state.account, startBlock).then((list) =>
        Promise.all(list.map(async (r) => [r, await requestProgress(ctx.contracts.market, r, startBlock)] as [PaidRequest, RequestProgress])),
      ),
      dataRegistry === undefined ? Promise.resolve(undefined) : contributionsOf(dataRegistry, state.account, startBlock),
    ]);
    const currencyOf = (r: PaidRequest): Currency => (r.request.paymentToken === ZeroAddress ? "eth" : "tsr");
    const credit = (amount: bigint, from: Currency | "data" | "training") =>
      amount === 0n ? "" : html` <button type="button" ?disabled=${busy} @click=${() => void withdraw(from)}>Withdraw ${formatAmount(amount, from === "eth" ? "eth" : "tsr")}</button>`;
    scope.render(
      html`<h1>Account</h1>
        <div class="card">
          <dl>
            <dt>Account</dt><dd>${state.account}</dd>
            <dt>ETH</dt><dd data-testid="balance-eth">${formatEth(b.eth)}</dd>
            <dt>TSR</dt><dd data-testid="balance-tsr">${formatTsr(b.tsr)}</dd>
            <dt>Market credits</dt><dd><span data-testid="credits">${formatEth(b.marketCreditEth)}, ${formatTsr(b.marketCreditTsr)}</span>${credit(b.marketCreditEth, "eth")}${credit(b.marketCreditTsr, "tsr")}</dd>
            ${dataRegistry === undefined ? "" : html`<dt>Data credits</dt><dd><span data-testid="data-credit">${formatTsr(b.dataCredit)}</span>${credit(b.dataCredit, "data")}</dd>`}
            ${trainingJobs === undefined ? "" : html`<dt>Training credits</dt><dd><span data-testid="training-credit">${formatTsr(b.trainingCredit)}</span>${credit(b.trainingCredit, "training")}</dd>`}
          </dl>
        </div>
        <section class="card" aria-label="Your requests">
          <h2>Your requests</h2>
          ${requests.length === 0
            ? html`<p class="muted">No paid request from this account yet.</p>`
            : html`<table>
                <thead><tr><th scope="col">Request</th><th scope="col">Version</th><th scope="col">Fee</th><th scope="col">Stage</th></tr></thead>
                <tbody>
                  ${requests.map(([r, p]) => html`<tr data-testid="request-${r.requestId}">
                    <td><code title=${r.requestId.toString()}>${r.requestId.toString().slice(0, 10)}…</code></td>
                    <td>${r.request.modelVersionId}</td>
                    <td>${formatAmount(BigInt(r.request.fee), currencyOf(r))}</td>
                    <td>${p.stage}${p.stage === "expired" ? html` <button type="button" ?disabled=${busy} @click=${() => void refund(r)}>Refund ${formatAmount(BigInt(r.request.fee), currencyOf(r))} to my credits</button>` : ""}</td>
                  </tr>`)}
                </tbody>
              </table>`}
        </section>
        ${datasets === undefined ? "" : datasetsCard(datasets)}
        ${contentCard(ctx, () => void draw().catch((err: unknown) => scope.report(err)))}`,
    );
  };
  await draw();
}

/** The datasets the account contributed: status, samples, what is still bonded, rewards and royalties earned. */
function datasetsCard(datasets: readonly Contribution[]): TemplateResult {
  return html`<section class="card" aria-label="Your datasets">
    <h2>Your datasets</h2>
    ${datasets.length === 0
      ? html`<p class="muted">No dataset contributed from this account yet.</p>`
      : html`<table data-testid="datasets">
          <thead><tr><th scope="col">Dataset</th><th scope="col">Status</th><th scope="col">Samples</th><th scope="col">Bonded</th><th scope="col">Rewards</th><th scope="col">Royalties</th><th scope="col">Used by jobs</th></tr></thead>
          <tbody>
            ${datasets.map((d) => html`<tr data-testid="dataset-${d.datasetId}">
              <td>${d.datasetId}</td><td>${d.status}</td><td>${d.sampleCount}</td><td>${formatTsr(d.bond)}</td><td>${formatTsr(d.rewards)}</td><td>${formatTsr(d.royalties)}</td><td>${d.timesUsed}</td>
            </tr>`)}
          </tbody>
        </table>
        <p class="muted">Rewards and royalties are credited to your data credits above, withdrawn in one transaction.</p>`}
  </section>`;
}

/** Where content is read from and uploaded to: the app server's IPFS gateway and API, or those the person chose. */
function contentCard(ctx: AppContext, redraw: () => void): TemplateResult {
  const choose = (set: (url: string) => void, url: string) => {
    ctx.clearProblem();
    try {
      set(url);
    } catch (err) {
      ctx.report(err);
    }
    redraw();
  };
  const gateway = (url: string) => choose((u) => ctx.chooseGateway(u), url);
  const api = (url: string) => choose((u) => ctx.chooseIpfsApi(u), url);
  return html`<section class="card" aria-label="Content">
    <h2>Content</h2>
    <form @submit=${(e: Event) => { e.preventDefault(); gateway((new FormData(e.target as HTMLFormElement).get("gateway") as string) ?? ""); }}>
      <p><label for="gateway">IPFS gateway (manifests and weights are read through it)</label><br />
        <input id="gateway" name="gateway" size="48" .value=${ctx.gateway.get()} /></p>
      <p><button type="submit">Use this gateway</button> <button type="button" @click=${() => gateway("")}>Use this app's gateway</button></p>
      <p class="muted">Now: <span data-testid="gateway">${ctx.gateway.get()}</span></p>
    </form>
    <form @submit=${(e: Event) => { e.preventDefault(); api((new FormData(e.target as HTMLFormElement).get("ipfs-api") as string) ?? ""); }}>
      <p><label for="ipfs-api">IPFS upload API (a Kubo RPC address; encrypted datasets are added through it)</label><br />
        <input id="ipfs-api" name="ipfs-api" size="48" .value=${ctx.ipfsApi.get()} /></p>
      <p><button type="submit">Upload through this node</button> <button type="button" @click=${() => api("")}>Use this app's node</button></p>
      <p class="muted">Now: <span data-testid="ipfs-api">${ctx.ipfsApi.get()}</span></p>
    </form>
  </section>`;
}
