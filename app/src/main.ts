import { html, render } from "lit-html";
import { parseAppConfig } from "../../client/src/AppConfig.js";
import { AppContext } from "./AppContext.js";
import { PageScope } from "./PageScope.js";
import { accountPage } from "./views/AccountPage.js";
import { askPage } from "./views/AskPage.js";
import { modelsPage } from "./views/ModelsPage.js";
import { operatorsPage } from "./views/OperatorsPage.js";
import { walletPanel } from "./views/WalletPanel.js";

const page = document.getElementById("page")!;
const walletCorner = document.getElementById("wallet")!;
const banner = document.getElementById("problem")!;

async function boot(): Promise<void> {
  const response = await fetch("./app-config.json");
  if (!response.ok) throw new Error(`this page's server gave no app config (${response.status})`);
  const ctx = new AppContext(parseAppConfig(await response.json(), location.href));
  ctx.problem.subscribe((sentence) => {
    banner.hidden = sentence === null;
    banner.textContent = sentence ?? "";
  });
  let scope: PageScope | undefined;
  const route = async () => {
    scope?.leave();
    const visit = new PageScope(ctx, page);
    scope = visit;
    ctx.clearProblem();
    const [, name, param] = location.hash.split("/");
    try {
      if (name === "ask") await askPage(visit, param);
      else if (name === "account") await accountPage(visit);
      else if (name === "operators") await operatorsPage(visit);
      // Like the contribute page, with which it shares the dataset parsers and the uploader: a chunk loaded when opened.
      else if (name === "train") await (await import("./views/TrainingPage.js")).trainingPage(visit);
      // Its parsers, cipher and uploader are a chunk of their own, loaded when a person opens the page.
      else if (name === "contribute") await (await import("./views/ContributePage.js")).contributePage(visit);
      else await modelsPage(visit);
    } catch (err) {
      visit.report(err);
    }
  };
  // The pages that show an account's own things are drawn again when the account changes (a connect included): the
  // account page on any change of the wallet, the ask page (which resumes that account's paid requests) only then.
  let account: string | undefined;
  ctx.wallet.state.subscribe((state) => {
    render(walletPanel(ctx, state), walletCorner);
    const now = state.status === "connected" ? state.account : undefined;
    const changed = now !== account;
    account = now;
    if (location.hash.startsWith("#/account") || (changed && (location.hash.startsWith("#/ask") || location.hash.startsWith("#/train")))) void route();
  });
  window.addEventListener("hashchange", () => void route());
  await Promise.all([route(), ctx.wallet.discover()]);
  performance.mark("tessera-ready");
  document.body.dataset.ready = "true";
}

boot().catch((err: unknown) => {
  render(html`<h1>Tessera could not start</h1><p>${err instanceof Error ? err.message : String(err)}</p>`, page);
});
