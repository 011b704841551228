import "../NodeGlobals.js";
import { html, type TemplateResult } from "lit-html";
import { formatTsr } from "../../../client/src/Amounts.js";
import { checkDatasetFile, pageSchemaNames, submitDataset, type CheckedDataset, type SubmissionStep, type SubmittedDataset } from "../../../client/src/DatasetSubmission.js";
import { shortAddress } from "../../../client/src/ShortAddress.js";
import { DATASET_STATUS_NAMES } from "../../../worker/src/data/OnChainDataset.js";
import { builtinSchema } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import type { PageScope } from "../PageScope.js";

/** A step as the progress list says it. */
const stepText = (step: SubmissionStep, detail: string | undefined): string => {
  switch (step) {
    case "unlocking-key":
      return "Signing the message that gives this page your encryption key, in the wallet, twice (it sends nothing; both must match): the dataset's key is sealed for you too, to share it later with training jobs";
    case "encrypting":
      return `Encrypted in this browser: ${detail}`;
    case "uploading":
      return `Uploading ${detail}`;
    case "reading-back":
      return `Read back through the gateway: ${detail}`;
    case "signing-permit":
      return `Signing the permit for the bond of ${detail} in the wallet`;
    case "sending":
      return "Sending the contribution";
    case "sent":
      return `Contributed as dataset ${detail}`;
  }
};

/** What the validators decided so far: the dataset's status, and each vote. */
interface Validation {
  readonly status: (typeof DATASET_STATUS_NAMES)[number];
  readonly ballots: readonly { readonly validator: string; readonly accept: boolean }[];
}

/**
 * Contribute data: choose a schema and a file; the file is read under the schema here (sample count, samples per
 * class, or the sentence saying where it does not fit); then it is encrypted in this browser, uploaded as
 * ciphertext, the bond paid by permit and the contribution sent; validation is followed live until the committee
 * decides. Rewards and royalties then show on the Account page.
 */
export async function contributePage(scope: PageScope): Promise<void> {
  const { ctx } = scope;
  const registry = ctx.contracts.dataRegistry;
  if (registry === undefined) {
    scope.render(html`<h1>Contribute data</h1><p>This deployment has no DataRegistry.</p>`);
    return;
  }
  const bond = (await registry.params()).bond;
  const names = pageSchemaNames();
  let schemaName = names.includes("iris-4/species-3") ? "iris-4/species-3" : names[0]!;
  let checked: CheckedDataset | undefined;
  let busy = false;
  const steps: string[] = [];
  let submitted: SubmittedDataset | undefined;
  let validation: Validation | undefined;

  const check = async (form: HTMLFormElement) => {
    ctx.clearProblem();
    checked = undefined;
    const data = new FormData(form);
    schemaName = String(data.get("schema"));
    const file = data.get("dataset-file");
    const labels = data.get("labels-file");
    try {
      if (!(file instanceof File) || file.name === "") throw new Error("Choose the dataset file first.");
      checked = checkDatasetFile(schemaName, {
        name: file.name,
        bytes: new Uint8Array(await file.arrayBuffer()),
        ...(labels instanceof File && labels.name !== "" ? { labels: { name: labels.name, bytes: new Uint8Array(await labels.arrayBuffer()) } } : {}),
      });
    } catch (err) {
      scope.report(err);
    }
    draw();
  };

  const contribute = async (license: string) => {
    if (checked === undefined) return;
    ctx.clearProblem();
    busy = true;
    steps.length = 0;
    draw();
    try {
      const signer = await ctx.wallet.signer();
      submitted = await submitDataset({
        dataRegistry: registry,
        token: ctx.contracts.token,
        workerRegistry: ctx.contracts.workerRegistry,
        signer,
        checked,
        license,
        ipfsApi: ctx.ipfsApi.get(),
        gateway: ctx.gateway.get(),
        fromBlock: ctx.config.deployment.startBlock,
        ownKey: () => ctx.pageKey(signer, { confirm: true }),
        onStep: (step, detail) => {
          steps.push(stepText(step, detail));
          draw();
        },
      });
      void follow(submitted.datasetId);
    } catch (err) {
      scope.report(err);
    } finally {
      busy = false;
      draw();
    }
  };

  /** Reads the dataset's status and votes every second until the committee decided (or the person left the page). */
  const follow = async (datasetId: bigint) => {
    while (scope.current) {
      try {
        const [dataset, ballots] = await Promise.all([registry.datasetOf(datasetId), registry.ballotsOf(datasetId)]);
        validation = { status: DATASET_STATUS_NAMES[Number(dataset.status)], ballots: ballots.map((b) => ({ validator: b.validator, accept: b.accept })) };
        draw();
        if (validation.status !== "Pending") return;
      } catch (err) {
        scope.report(err);
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  };

  const draw = () => {
    const schema = builtinSchema(schemaName)!.document;
    const connected = ctx.wallet.state.get().status === "connected";
    scope.render(html`<h1>Contribute data</h1>
      <form class="card" aria-label="Dataset" @submit=${(e: Event) => { e.preventDefault(); void check(e.target as HTMLFormElement); }}>
        <p><label for="schema">Schema</label><br />
          <select id="schema" name="schema" @change=${(e: Event) => { schemaName = (e.target as HTMLSelectElement).value; checked = undefined; draw(); }}>
            ${names.map((n) => html`<option value=${n} ?selected=${n === schemaName}>${n}</option>`)}
          </select></p>
        <p class="muted">${schema.description} Files: ${schema.formats.filter((f) => f !== "image-folder").join(", ")}.</p>
        <p><label for="dataset-file">Dataset file</label><br /><input id="dataset-file" name="dataset-file" type="file" /></p>
        <p><label for="labels-file">Labels file (NPY and IDX features only)</label><br /><input id="labels-file" name="labels-file" type="file" /></p>
        <p><label for="license">License</label><br /><input id="license" name="license" value="CC-BY-4.0" /></p>
        <p><button type="submit" ?disabled=${busy}>Check the file</button></p>
      </form>
      ${checked === undefined ? "" : checkedCard(checked, bond, connected, busy, () => void contribute((document.getElementById("license") as HTMLInputElement).value))}
      ${steps.length === 0 ? "" : progressCard(steps, submitted, validation)}`);
  };
  draw();
}

/** The file as read under the schema, and the button that sends it. */
function checkedCard(checked: CheckedDataset, bond: bigint, connected: boolean, busy: boolean, send: () => void): TemplateResult {
  return html`<section class="card" aria-label="Checked file">
    <h2>${checked.fileName}</h2>
    <p data-testid="checked-samples">${checked.samples.count} samples fit ${checked.schemaName}.</p>
    ${checked.classCounts.length === 0
      ? ""
      : html`<table data-testid="class-counts">
          <thead><tr><th scope="col">Class</th><th scope="col">Samples</th></tr></thead>
          <tbody>${checked.classCounts.map((c) => html`<tr><td>${c.label}</td><td>${c.count}</td></tr>`)}</tbody>
        </table>`}
    <p class="muted">Nothing has left this page yet. Contributing encrypts the samples here under a fresh key sealed for the current validators; only ciphertext is uploaded.</p>
    <p><button type="button" ?disabled=${busy} @click=${send}>Encrypt, upload and contribute (bond ${formatTsr(bond)})</button>
      ${connected ? "" : html`<span class="muted">It asks your wallet to sign: connect one first.</span>`}</p>
  </section>`;
}

/** The steps so far, then the dataset's validation as the chain has it. */
function progressCard(steps: readonly string[], submitted: SubmittedDataset | undefined, validation: Validation | undefined): TemplateResult {
  return html`<section class="card" aria-label="Contribution">
    <h2>Contribution</h2>
    <ol data-testid="contribution-steps">${steps.map((s) => html`<li>${s}</li>`)}</ol>
    ${submitted === undefined
      ? ""
      : html`<dl>
          <dt>Dataset</dt><dd data-testid="dataset-id">${submitted.datasetId}</dd>
          <dt>Ciphertext</dt><dd><code>${submitted.datasetCid}</code></dd>
          <dt>Key envelopes</dt><dd><code>${submitted.envelopesCid}</code> (for ${submitted.recipients.length} validators)</dd>
          <dt>Status</dt><dd data-testid="dataset-status" aria-live="polite">${validation?.status ?? "Pending"}</dd>
          <dt>Votes</dt><dd data-testid="dataset-votes">${validation === undefined || validation.ballots.length === 0
            ? "none yet"
            : validation.ballots.map((b) => html`<span>${shortAddress(b.validator)} ${b.accept ? "accepted" : "rejected"}</span> `)}</dd>
        </dl>
        ${validation?.status === "Accepted" ? html`<p>Accepted: the bond came back and the reward is in your data credits (Account page).</p>` : ""}`}
  </section>`;
}
