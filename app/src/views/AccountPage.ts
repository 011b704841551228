import { ZeroAddress } from "ethers";
import { html, render } from "lit-html";
import { formatAmount, formatEth, formatTsr, type Currency } from "../../../client/src/Amounts.js";
import { balancesOf } from "../../../client/src/Balances.js";
import type { AppContext } from "../AppContext.js";

/** The connected account: ETH, TSR, and the market's credits (earnings, refunds), each withdrawable in one transaction. */
export async function accountPage(ctx: AppContext, container: HTMLElement): Promise<void> {
  const state = ctx.wallet.state.get();
  if (state.status !== "connected") {
    render(html`<h1>Account</h1><p>Connect a wallet to see its balances.</p>`, container);
    return;
  }
  let busy = false;
  const withdraw = async (currency: Currency) => {
    ctx.clearProblem();
    busy = true;
    await draw();
    try {
      const market = ctx.contracts.market.connect(await ctx.wallet.signer());
      await (await market.withdraw(currency === "eth" ? ZeroAddress : await ctx.contracts.token.getAddress())).wait();
    } catch (err) {
      ctx.report(err);
    } finally {
      busy = false;
      await draw();
    }
  };
  const draw = async () => {
    const b = await balancesOf(state.account, { provider: ctx.provider, token: ctx.contracts.token, market: ctx.contracts.market });
    const credit = (amount: bigint, currency: Currency) =>
      amount === 0n ? "" : html` <button type="button" ?disabled=${busy} @click=${() => void withdraw(currency)}>Withdraw ${formatAmount(amount, currency)}</button>`;
    render(
      html`<h1>Account</h1>
        <div class="card">
          <dl>
            <dt>Account</dt><dd>${state.account}</dd>
            <dt>ETH</dt><dd data-testid="balance-eth">${formatEth(b.eth)}</dd>
            <dt>TSR</dt><dd data-testid="balance-tsr">${formatTsr(b.tsr)}</dd>
            <dt>Market credits</dt><dd><span data-testid="credits">${formatEth(b.marketCreditEth)}, ${formatTsr(b.marketCreditTsr)}</span>${credit(b.marketCreditEth, "eth")}${credit(b.marketCreditTsr, "tsr")}</dd>
          </dl>
        </div>`,
      container,
    );
  };
  await draw();
}
