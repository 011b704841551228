import { html, type TemplateResult } from "lit-html";
import type { AppContext } from "../AppContext.js";
import type { WalletState } from "../WalletSession.js";
import { shortAddress } from "../../../client/src/ShortAddress.js";


/** The header's wallet corner: connect buttons (one per discovered wallet), the account, a wrong-network prompt. */
export function walletPanel(ctx: AppContext, state: WalletState): TemplateResult {
  const act = (fn: () => Promise<void>) => () => {
    ctx.clearProblem();
    fn().catch((err: unknown) => ctx.report(err));
  };
  switch (state.status) {
    case "searching":
      return html`<span>Looking for wallets…</span>`;
    case "disconnected":
      if (state.wallets.length === 0) return html`<span>No wallet found in this browser: install one (for example MetaMask) to pay and sign.</span>`;
      return html`${state.wallets.map((w) => html`<button type="button" @click=${act(() => ctx.wallet.connect(w))}>Connect ${w.info.name}</button>`)}`;
    case "connected":
      return html`
        <span data-testid="account" title=${state.account}>${state.wallet.info.name}: ${shortAddress(state.account)}</span>
        ${state.rightChain
          ? html`<span class="muted" data-testid="network">${ctx.config.chainName}</span>`
          : html`<span data-testid="network">Wrong network (chain ${state.chainId})</span>
              <button type="button" @click=${act(() => ctx.wallet.switchChain())}>Switch to ${ctx.config.chainName}</button>`}
        <button type="button" @click=${act(() => ctx.wallet.disconnect())}>Disconnect</button>
      `;
  }
}
