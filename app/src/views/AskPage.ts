import { ZeroAddress } from "ethers";
import { html, type TemplateResult } from "lit-html";
import { formatAmount, type Currency } from "../../../client/src/Amounts.js";
import { isFinal, requestProgress, requestWithEth, requestWithTokenPermit, type RequestProgress } from "../../../client/src/InferenceRequests.js";
import { fetchManifest, fetchTokenizer, listVersions, type VersionSummary } from "../../../client/src/ModelCatalog.js";
import type { DecodedOutput, OutputCodec } from "../../../worker/src/ml/codecs/OutputCodec.js";
import { codecsOf } from "../../../worker/src/ml/ModelManifest.js";
import { PaidRequestStore, type FollowedRequest } from "../PaidRequestStore.js";
import type { PageScope } from "../PageScope.js";
import { inputFormFor } from "./InputForms.js";
import { shortAddress } from "../../../client/src/ShortAddress.js";

const LIFETIME_SECONDS = 600;
const STAGES = ["sent", "claimed", "answered"] as const;

function answerText(codec: OutputCodec, output: Uint8Array): TemplateResult {
  let answer: DecodedOutput;
  try {
    answer = codec.decode(output);
  } catch {
    return html`<span data-testid="answer">an answer this model's codec cannot read (${output.length} bytes): the worker misbehaved</span>`;
  }
  switch (answer.codec) {
    case "class-index":
      return html`<span class="answer" data-testid="answer">${answer.classIndex}</span>`;
    case "top-k":
      return html`<span class="answer" data-testid="answer">${answer.top[0]?.classIndex ?? "?"}</span>
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
 * Ask a model: choose an active version, give it an input through a form that fits its codec, see the price, pay in
 * ETH or TSR from the wallet, follow the request sent → claimed → answered (or expired, then refunded) from the
 * chain, and read the answer decoded by the version's output codec. What is paid is fixed when the person presses
 * the button (version, currency, fee, input); the request is kept in the browser until it ends, so a reload or a
 * page left mid-payment comes back to it.
 */
export async function askPage(scope: PageScope, versionParam: string | undefined): Promise<void> {
  const { ctx } = scope;
  scope.render(html`<h1>Ask a model</h1><p>Reading the registry…</p>`);
  const versions = (await listVersions(ctx.contracts.modelRegistry)).filter((v) => v.status === "Active");
  if (versions.length === 0) return scope.render(html`<h1>Ask a model</h1><p>No active model version to ask.</p>`);
  const version: VersionSummary | undefined = versionParam === undefined ? versions[0] : versions.find((v) => v.versionId.toString() === versionParam);
  if (version === undefined) {
    return scope.render(html`<h1>Ask a model</h1><p>Version ${versionParam} is not an active version of this registry: pick one on the <a href="#/models">Models</a> page.</p>`);
  }
  const manifest = await fetchManifest(ctx.gateway.get(), version.manifestCid);
  const codecs = codecsOf(manifest);
  const maxInlineBytes = Number((await ctx.contracts.market.params()).maxInlineInputBytes);
  const tokenizer = manifest.tokenizer === undefined ? undefined : await fetchTokenizer(ctx.gateway.get(), manifest.tokenizer);
  const form = inputFormFor(codecs.input, maxInlineBytes, tokenizer);
  let currency: Currency = "eth";
  const price = () => (currency === "eth" ? version.priceWei : version.priceToken);
  let busy = false;
  let followed: FollowedRequest | undefined;
  let progress: RequestProgress | undefined;

  const storeOf = async () => {
    const signer = await ctx.wallet.signer();
    return { signer, store: new PaidRequestStore(ctx.config.deployment.chainId, await signer.getAddress()) };
  };

  /**
   * Polls until the request ends (answered, refunded): every 250 ms for its first 10 s (most answers come within a
   * second: bench:app), then every second, every 2 s once expired, with back-off through node trouble.
   */
  const follow = async (request: FollowedRequest, store: PaidRequestStore | undefined) => {
    let failures = 0;
    let polls = 0;
    while (scope.current && followed === request && (progress === undefined || !isFinal(progress))) {
      polls++;
      try {
        progress = await requestProgress(ctx.contracts.market, request.paid, request.fromBlock);
        failures = 0;
        draw();
        if (isFinal(progress)) store?.remove(request.paid.requestId);
      } catch (err) {
        if (failures++ === 0) scope.report(err);
      }
      const interval = progress?.stage === "expired" ? 2_000 : failures > 0 ? Math.min(500 * 2 ** failures, 8_000) : polls <= 40 ? 250 : 1_000;
      await new Promise((r) => setTimeout(r, interval));
    }
  };

  const ask = async () => {
    ctx.clearProblem();
    const missing = form === null ? "This page cannot build inputs for this model." : form.missing();
    if (missing !== null) return void ctx.problem.set(missing);
    // What the person agreed to when pressing the button, whatever the form shows afterwards.
    const terms = { currency, fee: price(), input: codecs.input.encode(form!.values()) };
    busy = true;
    draw();
    try {
      const { signer, store } = await storeOf();
      const account = await signer.getAddress();
      // Checked before anything is signed: a person learns they cannot pay before the wallet asks them to.
      const held = terms.currency === "eth" ? await ctx.provider.getBalance(account) : await ctx.contracts.token.balanceOf(account);
      if (held < terms.fee) throw new Error(`Your account holds ${formatAmount(held, terms.currency)}; this answer costs ${formatAmount(terms.fee, terms.currency)}.`);
      const fromBlock = await ctx.provider.getBlockNumber();
      const options = { versionId: version.versionId, input: terms.input, fee: terms.fee, lifetimeSeconds: LIFETIME_SECONDS, salt: BigInt(Date.now()) };
      const market = ctx.contracts.market.connect(signer);
      const paid = terms.currency === "eth" ? await requestWithEth(market, options) : await requestWithTokenPermit(market, ctx.contracts.token.connect(signer), options);
      followed = { paid, fromBlock, versionId: version.versionId };
      store.add(followed);
      progress = { stage: "sent", deadline: paid.deadline };
      busy = false;
      draw();
      await follow(followed, store);
    } catch (err) {
      scope.report(err);
    } finally {
      busy = false;
      draw();
    }
  };

  /** An expired request's fee back to the requester's credits (anyone may send it; the page's person does). */
  const refund = async () => {
    ctx.clearProblem();
    const request = followed;
    if (request === undefined) return;
    busy = true;
    draw();
    try {
      const { signer, store } = await storeOf();
      await (await ctx.contracts.market.connect(signer).refund(request.paid.request)).wait();
      progress = await requestProgress(ctx.contracts.market, request.paid, request.fromBlock);
      if (isFinal(progress)) store.remove(request.paid.requestId);
    } catch (err) {
      scope.report(err);
    } finally {
      busy = false;
      draw();
    }
  };

  const draw = () =>
    scope.render(
      html`<h1>Ask a model</h1>
        <form class="card" @submit=${(e: Event) => { e.preventDefault(); void ask(); }}>
          <fieldset class="plain" ?disabled=${busy}>
            <p>
              <label for="version">Model version</label>
              <select id="version" @change=${(e: Event) => (location.hash = `#/ask/${(e.target as HTMLSelectElement).value}`)}>
                ${versions.map((v) => html`<option value=${v.versionId.toString()} ?selected=${v.versionId === version.versionId}>${v.versionId}: ${v.modelName} (owner ${shortAddress(v.owner)})</option>`)}
              </select>
            </p>
            <fieldset>
              <legend>Pay with</legend>
              <label><input type="radio" name="currency" value="eth" ?checked=${currency === "eth"} @change=${() => { currency = "eth"; draw(); }} /> ETH (${formatAmount(version.priceWei, "eth")})</label>
              <label><input type="radio" name="currency" value="tsr" ?checked=${currency === "tsr"} @change=${() => { currency = "tsr"; draw(); }} /> TSR (${formatAmount(version.priceToken, "tsr")}, by a signed permit: no approval transaction)</label>
            </fieldset>
            <p>Price: <strong data-testid="price">${formatAmount(price(), currency)}</strong> per answer, paid from your wallet to version ${version.versionId} of model owner <code>${version.owner}</code>; refundable if no worker answers within ${LIFETIME_SECONDS / 60} minutes.</p>
            ${form !== null ? form.template(() => draw()) : html`<p>This page cannot build this model's inputs (${codecs.input.spec.name}, ${codecs.input.byteLength} bytes; the page sends inputs of at most ${maxInlineBytes} bytes inline): use <code>npx hardhat infer request</code>.</p>`}
            <p><button type="submit" ?disabled=${busy || form === null}>Pay ${formatAmount(price(), currency)} and ask</button></p>
          </fieldset>
        </form>
        <section class="card" aria-live="polite" aria-label="Request">
          ${followed === undefined ? html`<p class="muted">No request sent yet.</p>` : html`<p>Request <code data-testid="request-id">${followed.paid.requestId}</code></p>`}
          ${progressList(progress)}
          ${progress?.stage === "expired" && followed !== undefined
            ? html`<p><button type="button" ?disabled=${busy} @click=${() => void refund()}>Refund ${formatAmount(BigInt(followed.paid.request.fee), followed.paid.request.paymentToken === ZeroAddress ? "eth" : "tsr")} to my credits</button></p>`
            : ""}
          ${progress?.stage === "refunded" ? html`<p>The fee is in your credits: withdraw it from <a href="#/account">your account</a>.</p>` : ""}
          ${progress?.stage === "answered" ? html`<p>Answer: ${answerText(codecs.output, progress.output)}</p><p class="muted">by worker ${progress.worker}</p>` : ""}
        </section>`,
    );
  draw();

  // A request of this version paid from this browser and not yet seen to end: followed again.
  const state = ctx.wallet.state.get();
  if (state.status === "connected" && state.rightChain) {
    const store = new PaidRequestStore(ctx.config.deployment.chainId, state.account);
    const pending = store.list().filter((r) => r.versionId === version.versionId).at(-1);
    if (pending !== undefined) {
      followed = pending;
      draw();
      void follow(pending, store);
    }
  }
}
