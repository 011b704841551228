import { html, render } from "lit-html";
import { formatEth, formatTsr } from "../../../client/src/Amounts.js";
import { balancesOf } from "../../../client/src/Balances.js";
import type { AppContext } from "../AppContext.js";

/** The connected account: ETH, TSR, and the market's credits waiting for withdrawal. */
export async function accountPage(ctx: AppContext, container: HTMLElement): Promise<void> {
  const state = ctx.wallet.state.get();
  if (state.status !== "connected") {
    render(html`<h1>Account</h1><p>Connect a wallet to see its balances.</p>`, container);
    return;
  }
  const b = await balancesOf(state.account, { provider: ctx.provider, token: ctx.contracts.token, market: ctx.contracts.market });
  render(
    html`<h1>Account</h1>
      <div class="card">
        <dl>
          <dt>Account</dt><dd>${state.account}</dd>
          <dt>ETH</dt><dd data-testid="balance-eth">${formatEth(b.eth)}</dd>
          <dt>TSR</dt><dd data-testid="balance-tsr">${formatTsr(b.tsr)}</dd>
          <dt>Market credits</dt><dd data-testid="credits">${formatEth(b.marketCreditEth)}, ${formatTsr(b.marketCreditTsr)}</dd>
        </dl>
      </div>`,
    container,
  );
}
