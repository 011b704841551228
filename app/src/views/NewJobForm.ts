import { parseUnits } from "ethers";
import { html, type TemplateResult } from "lit-html";
import { formatTsr } from "../../../client/src/Amounts.js";
import { checkDatasetFile, pageSchemaNames, type CheckedDataset } from "../../../client/src/DatasetSubmission.js";
import { acceptedDatasetsOf, createTrainingJob, DEFAULT_JOB_TERMS, startingPointOf, type JobTerms, type TrainableDataset } from "../../../client/src/JobCreation.js";
import { listVersions, type VersionSummary } from "../../../client/src/ModelCatalog.js";
import { RULE_NAMES, type RuleName } from "../../../client/src/TrainingJobView.js";
import { builtinSchema } from "../../../worker/src/data/schema/BuiltinSchemas.js";
import type { PageScope } from "../PageScope.js";

/**
 * Whether a version may start a job on `schema`'s data: active, whole (not sharded), and taking one example of the
 * schema's features, or not declaring its input (the versions TrainingJobs registers for the models jobs trained).
 */
const fits = (v: VersionSummary, shape: readonly number[]) =>
  v.shardCount <= 1 && v.status === "Active" && (v.inputShape.length === 0 || (v.inputShape.length === shape.length && v.inputShape.every((d, i) => d === shape[i])));

/**
 * The form that creates a training job: a schema, the registered version to start from (those whose input is the
 * schema's features), the Accepted datasets of that schema, a public evaluation file read under it in the browser,
 * the terms with `train create`'s defaults, and the budget paid by a permit. The contract checks the terms before
 * anything is uploaded or signed (JobCreation.ts). `redraw` draws the page it sits on again.
 */
export class NewJobForm {
  #schemaName = pageSchemaNames().includes("iris-4/species-3") ? "iris-4/species-3" : pageSchemaNames()[0]!;
  #versions: VersionSummary[] = [];
  #datasets: TrainableDataset[] = [];
  #evaluation: CheckedDataset | undefined;
  #busy = false;
  #steps: string[] = [];
  #created: bigint | undefined;

  constructor(
    private readonly scope: PageScope,
    private readonly redraw: () => void,
  ) {}

  /** Reads the registry's versions and the schema's Accepted datasets (again after a schema change). */
  async load(): Promise<void> {
    const { ctx } = this.scope;
    const schema = builtinSchema(this.#schemaName)!;
    const [versions, datasets] = await Promise.all([
      listVersions(ctx.contracts.modelRegistry),
      ctx.contracts.dataRegistry === undefined ? Promise.resolve([]) : acceptedDatasetsOf(ctx.contracts.dataRegistry, schema, ctx.config.deployment.startBlock),
    ]);
    this.#versions = versions.filter((v) => fits(v, schema.document.features.shape));
    this.#datasets = datasets;
    this.redraw();
  }

  async #submit(form: HTMLFormElement): Promise<void> {
    const { ctx } = this.scope;
    const data = new FormData(form);
    const number = (name: string) => Number(data.get(name));
    ctx.clearProblem();
    this.#busy = true;
    this.#steps = [];
    this.#created = undefined;
    this.redraw();
    try {
      const file = data.get("eval-file");
      if (!(file instanceof File) || file.name === "") throw new Error("Choose the public evaluation file: the validators score the trained model on it.");
      this.#evaluation = checkDatasetFile(this.#schemaName, { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) });
      const datasetIds = data.getAll("dataset").map((d) => BigInt(String(d)));
      if (datasetIds.length === 0) throw new Error("Choose at least one accepted dataset to train on.");
      const versionId = BigInt(String(data.get("start")));
      const terms: JobTerms = {
        ...DEFAULT_JOB_TERMS,
        rounds: number("rounds"),
        workersPerRound: number("workers"),
        evaluators: number("evaluators"),
        localEpochs: number("epochs"),
        batchSize: number("batch"),
        learningRate: number("lr"),
        rule: String(data.get("rule")) as RuleName,
        budget: parseUnits(String(data.get("budget")), 18),
        durations: { ...DEFAULT_JOB_TERMS.durations, enroll: Math.round(number("enroll") * 60) },
      };
      const { jobId } = await createTrainingJob({
        trainingJobs: ctx.contracts.trainingJobs!,
        token: ctx.contracts.token,
        signer: await ctx.wallet.signer(),
        modelName: String(data.get("model-name")),
        start: await startingPointOf(ctx.contracts.modelRegistry, versionId),
        evaluation: { schema: this.#evaluation.schema, samples: this.#evaluation.samples },
        datasetIds,
        terms,
        ipfsApi: ctx.ipfsApi.get(),
        gateway: ctx.gateway.get(),
        onStep: (step, detail) => {
          this.#steps.push(
            { checking: "Terms checked by the contract", uploading: `Uploading ${detail}`, "signing-permit": `Signing the permit for the budget of ${detail} in the wallet`, sending: "Sending the job" }[step],
          );
          this.redraw();
        },
      });
      this.#created = jobId;
    } catch (err) {
      this.scope.report(err);
    } finally {
      this.#busy = false;
      this.redraw();
    }
  }

  template(): TemplateResult {
    const schema = builtinSchema(this.#schemaName)!.document;
    const t = DEFAULT_JOB_TERMS;
    const field = (id: string, label: string, value: string | number, attrs: { min?: number; step?: string } = {}) =>
      html`<p><label for=${id}>${label}</label><br /><input id=${id} name=${id} type="number" .value=${String(value)} min=${attrs.min ?? 1} step=${attrs.step ?? "1"} required /></p>`;
    return html`<details class="card" ?open=${this.#busy || this.#steps.length > 0}>
      <summary>Create a training job</summary>
      <form aria-label="New training job" @submit=${(e: Event) => { e.preventDefault(); void this.#submit(e.target as HTMLFormElement); }}>
        <p><label for="job-schema">Data schema</label><br />
          <select id="job-schema" @change=${(e: Event) => { this.#schemaName = (e.target as HTMLSelectElement).value; void this.load().catch((err: unknown) => this.scope.report(err)); }}>
            ${pageSchemaNames().map((n) => html`<option value=${n} ?selected=${n === this.#schemaName}>${n}</option>`)}
          </select></p>
        <p><label for="start">Start from version</label><br />
          <select id="start" name="start" required>
            ${this.#versions.map((v) => html`<option value=${v.versionId.toString()}>${v.versionId}: ${v.modelName}${v.inputShape.length === 0 ? " (input not declared)" : ""}</option>`)}
          </select>
          ${this.#versions.length === 0 ? html`<br /><span class="muted">No active version takes ${schema.name}'s features: publish one with the tasks.</span>` : ""}</p>
        <fieldset><legend>Accepted datasets of ${schema.name}</legend>
          ${this.#datasets.length === 0
            ? html`<span class="muted">None yet: contribute one first.</span>`
            : this.#datasets.map((d) => html`<label><input type="checkbox" name="dataset" value=${d.datasetId.toString()} checked /> dataset ${d.datasetId} (${d.samples} samples)</label> `)}
        </fieldset>
        <p><label for="eval-file">Public evaluation file (${schema.formats.filter((f) => f !== "image-folder").join(", ")})</label><br /><input id="eval-file" name="eval-file" type="file" /></p>
        <p><label for="model-name">Name of the trained model</label><br /><input id="model-name" name="model-name" maxlength="64" required value="${schema.name.split("/")[0]} trained from the page" /></p>
        <div class="row">
          ${field("rounds", "Rounds", t.rounds)} ${field("workers", "Workers per round", t.workersPerRound, { min: 2 })} ${field("evaluators", "Evaluators", t.evaluators, { min: 3 })}
          ${field("epochs", "Local epochs", t.localEpochs)} ${field("batch", "Batch size", t.batchSize)} ${field("lr", "Learning rate", t.learningRate, { min: 0, step: "any" })}
          ${field("enroll", "Minutes to enrol", t.durations.enroll / 60)}
          <p><label for="rule">Aggregation</label><br /><select id="rule" name="rule">${RULE_NAMES.map((r) => html`<option value=${r} ?selected=${r === t.rule}>${r}</option>`)}</select></p>
          <p><label for="budget">Budget (TSR)</label><br /><input id="budget" name="budget" .value=${(Number(t.budget / 10n ** 16n) / 100).toString()} required /></p>
        </div>
        <p><button type="submit" ?disabled=${this.#busy}>Create the job</button> <span class="muted">The budget is paid by a permit; what is not paid out comes back if the job is cancelled.</span></p>
      </form>
      ${this.#steps.length === 0 ? "" : html`<ol data-testid="job-steps">${this.#steps.map((s) => html`<li>${s}</li>`)}</ol>`}
      ${this.#created === undefined ? "" : html`<p data-testid="job-created">Job ${this.#created} created: it is listed below.</p>`}
      <p class="muted">Defaults as <code>npx hardhat train create</code> has them; budget ${formatTsr(t.budget)} by default.</p>
    </details>`;
  }
}
