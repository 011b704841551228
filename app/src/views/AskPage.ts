import { ZeroAddress } from "ethers";
import { html, render, type TemplateResult } from "lit-html";
import { formatAmount, type Currency } from "../../../client/src/Amounts.js";
import { requestProgress, requestWithEth, requestWithTokenPermit, type PaidRequest, type RequestProgress } from "../../../client/src/InferenceRequests.js";
import { fetchManifest, listVersions, type VersionSummary } from "../../../client/src/ModelCatalog.js";
import type { DecodedOutput } from "../../../worker/src/ml/codecs/OutputCodec.js";
import { codecsOf } from "../../../worker/src/ml/ModelManifest.js";
import type { AppContext } from "../AppContext.js";
import { inputFormFor } from "./InputForms.js";

const LIFETIME_SECONDS = 600;
const STAGES = ["sent", "claimed", "answered"] as const;

function answerText(answer: DecodedOutput): TemplateResult {
  switch (answer.codec) {
    case "class-index":
      return html`<span class="answer" data-testid="answer">${answer.classIndex}</span>`;
    case "top-k":
      return html`<span class="answer" data-testid="answer">${answer.top[0].classIndex}</span>
        <ul>${answer.top.map((t) => html`<li>${t.classIndex}: ${(t.probability * 100).toFixed(1)} %</li>`)}</ul>`;
    case "binary-probability":
      return html`<span class="answer" data-testid="answer">${(answer.probability * 100).toFixed(1)} %</span>`;
    case "float32-tensor":
      return html`<span data-testid="answer">${Array.from(answer.values.slice(0, 16), (v) => v.toPrecision(4)).join(", ")}</span>`;
  }
}

function progressList(progress: RequestProgress | undefined): TemplateResult {
  if (progress === undefined) return html``;
  const reached = progress.stage === "answered" ? 3 : progress.stage === "claimed" ? 2 : 1;
  const failed = progress.stage === "expired" || progress.stage === "refunded";
  return html`<ol class="progress" aria-label="Request progress" data-testid="progress" data-stage=${progress.stage}>
    ${STAGES.map((s, i) => html`<li class=${i < reached ? "done" : ""}>${s}</li>`)}
    ${failed ? html`<li class="failed">${progress.stage === "expired" ? "expired unanswered: the fee is refundable" : "refunded"}</li>` : ""}
  </ol>`;
}

/**
 * Ask a model: choose an active version, give it an input that fits its codec (a drawn digit for 28×28 grey
 * models), see the price, pay in ETH from the wallet, follow the request sent → claimed → answered (or expired)
 * from the chain, and read the answer decoded by the version's output codec.
 */
export async function askPage(ctx: AppContext, container: HTMLElement, versionParam: string | undefined): Promise<() => void> {
  render(html`<h1>Ask a model</h1><p>Reading the registry…</p>`, container);
  const versions = (await listVersions(ctx.contracts.modelRegistry)).filter((v) => v.status === "Active");
  let stopped = false;
  if (versions.length === 0) {
    render(html`<h1>Ask a model</h1><p>No active model version to ask.</p>`, container);
    return () => undefined;
  }
  const version: VersionSummary = versions.find((v) => v.versionId.toString() === versionParam) ?? versions[0];
  const manifest = await fetchManifest(ctx.gateway.get(), version.manifestCid);
  const codecs = codecsOf(manifest);
  const form = inputFormFor(codecs.input);
  let currency: Currency = "eth";
  const price = () => (currency === "eth" ? version.priceWei : version.priceToken);
  let busy = false;
  let progress: RequestProgress | undefined;
  let requestId: bigint | undefined;
  let paidRequest: PaidRequest | undefined;
  let fromBlock = 0;

  /** Polls the request's stage until it is final (answered, refunded) or waits for a person (expired). */
  const follow = async () => {
    while (!stopped && paidRequest !== undefined && progress !== undefined && (progress.stage === "sent" || progress.stage === "claimed")) {
      await new Promise((r) => setTimeout(r, 500));
      progress = await requestProgress(ctx.contracts.market, paidRequest.requestId, fromBlock);
      draw();
    }
  };

  /** An expired request's fee back to the requester's credits (anyone may send it; the page's person does). */
  const refund = async () => {
    ctx.clearProblem();
    if (paidRequest === undefined) return;
    busy = true;
    draw();
    try {
      const market = ctx.contracts.market.connect(await ctx.wallet.signer());
      await (await market.refund(paidRequest.request)).wait();
      progress = await requestProgress(ctx.contracts.market, paidRequest.requestId, fromBlock);
    } catch (err) {
      ctx.report(err);
    } finally {
      busy = false;
      draw();
    }
  };

  const ask = async () => {
    ctx.clearProblem();
    const missing = form === null ? "This page cannot build inputs for this model." : form.missing();
    if (missing !== null) {
      ctx.problem.set(missing);
      return;
    }
    busy = true;
    progress = undefined;
    draw();
    try {
      const signer = await ctx.wallet.signer();
      const account = await signer.getAddress();
      // Checked before anything is signed: a person learns they cannot pay before the wallet asks them to.
      const held = currency === "eth" ? await ctx.provider.getBalance(account) : await ctx.contracts.token.balanceOf(account);
      if (held < price()) throw new Error(`Your account holds ${formatAmount(held, currency)}; this answer costs ${formatAmount(price(), currency)}.`);
      fromBlock = await ctx.provider.getBlockNumber();
      const options = { versionId: version.versionId, input: codecs.input.encode(form!.values()), fee: price(), lifetimeSeconds: LIFETIME_SECONDS, salt: BigInt(Date.now()) };
      const market = ctx.contracts.market.connect(signer);
      const paid = currency === "eth" ? await requestWithEth(market, options) : await requestWithTokenPermit(market, ctx.contracts.token.connect(signer), options);
      requestId = paid.requestId;
      paidRequest = paid;
      progress = { stage: "sent", deadline: paid.deadline };
      draw();
      await follow();
    } catch (err) {
      ctx.report(err);
    } finally {
      busy = false;
      if (!stopped) draw();
    }
  };

  const draw = () => {
    if (stopped) return;
    render(
      html`<h1>Ask a model</h1>
        <form class="card" @submit=${(e: Event) => { e.preventDefault(); void ask(); }}>
          <p>
            <label for="version">Model version</label>
            <select id="version" @change=${(e: Event) => (location.hash = `#/ask/${(e.target as HTMLSelectElement).value}`)}>
              ${versions.map((v) => html`<option value=${v.versionId.toString()} ?selected=${v.versionId === version.versionId}>${v.versionId}: ${v.modelName}</option>`)}
            </select>
          </p>
          <fieldset>
            <legend>Pay with</legend>
            <label><input type="radio" name="currency" value="eth" ?checked=${currency === "eth"} @change=${() => { currency = "eth"; draw(); }} /> ETH (${formatAmount(version.priceWei, "eth")})</label>
            <label><input type="radio" name="currency" value="tsr" ?checked=${currency === "tsr"} @change=${() => { currency = "tsr"; draw(); }} /> TSR (${formatAmount(version.priceToken, "tsr")}, by a signed permit: no approval transaction)</label>
          </fieldset>
          <p>Price: <strong data-testid="price">${formatAmount(price(), currency)}</strong> per answer, paid from your wallet; refundable if no worker answers within ${LIFETIME_SECONDS / 60} minutes.</p>
          ${form !== null
            ? form.template(() => draw())
            : html`<p>This page cannot build inputs for the ${codecs.input.spec.name} codec yet: use <code>npx hardhat infer request</code>.</p>`}
          <p><button type="submit" ?disabled=${busy || form === null}>Pay ${formatAmount(price(), currency)} and ask</button></p>
        </form>
        <section class="card" aria-live="polite" aria-label="Request">
          ${requestId === undefined ? html`<p class="muted">No request sent yet.</p>` : html`<p>Request <code data-testid="request-id">${requestId}</code></p>`}
          ${progressList(progress)}
          ${progress?.stage === "expired" ? html`<p><button type="button" ?disabled=${busy} @click=${() => void refund()}>Refund ${formatAmount(BigInt(paidRequest!.request.fee), paidRequest!.request.paymentToken === ZeroAddress ? "eth" : "tsr")} to my credits</button></p>` : ""}
          ${progress?.stage === "refunded" ? html`<p>The fee is in your credits: withdraw it from <a href="#/account">your account</a>.</p>` : ""}
          ${progress?.stage === "answered" ? html`<p>Answer: ${answerText(codecs.output.decode(progress.output))}</p><p class="muted">by worker ${progress.worker}</p>` : ""}
        </section>`,
      container,
    );
  };
  draw();
  return () => {
    stopped = true;
  };
}
