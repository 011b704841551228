import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { formatEther, getBytes, type ContractTransactionReceipt } from "ethers";
import { contributedDatasetId, currentValidatorRecipients, prepareContribution } from "../../worker/src/data/DataRegistryClient.js";
import { DatasetValidator } from "../../worker/src/data/DatasetValidator.js";
import { CREDIT_REASON_NAMES, DATASET_STATUS_NAMES, DECISION_REASON_NAMES, DatasetStatus } from "../../worker/src/data/OnChainDataset.js";
import { sharedReferenceClassifier } from "../../worker/src/data/ReferenceClassifier.js";
import type { ValidationOutcome } from "../../worker/src/data/ValidationProcessor.js";
import type { EmbeddedStack } from "./EmbeddedStack.js";
import { removeValidatorData, stakeValidators, startValidators, stopValidators, type EmbeddedValidator, type RunningValidator } from "./EmbeddedValidators.js";
import type { Report } from "./Report.js";
import { mnistTask } from "./seedTasks/MnistTask.js";
import type { SeedTask, TaskContribution } from "./seedTasks/SeedTask.js";

const TOKEN = 10n ** 18n;
const REASONS: readonly string[] = DECISION_REASON_NAMES;

export interface DataStageOptions {
  /** What is contributed (default: the MNIST task with `sliceSize` and `shuffledSize`). */
  readonly task?: SeedTask;
  /** MNIST digits per clean contributed slice (default 2,500: three of them cover the train split past the shuffled slice). */
  readonly sliceSize?: number;
  /** MNIST digits of the shuffled-label slice (default 500). */
  readonly shuffledSize?: number;
  /** Tokens the deployer puts in the reward pool (default 1,000 TSR). */
  readonly rewardPool?: bigint;
}

/** An accepted dataset and what its owner keeps off chain: the key it can share with a job's workers. */
export interface AcceptedDataset {
  readonly datasetId: bigint;
  readonly contributor: HardhatEthersSigner;
  readonly datasetKey: Uint8Array;
  readonly samples: number;
}

export interface DataStageResult {
  readonly datasetIds: readonly bigint[];
  readonly accepted: readonly AcceptedDataset[];
  /** The staked validators (stopped at the end of the stage; the training stage restarts them as evaluators). */
  readonly validators: readonly EmbeddedValidator[];
  readonly gas: Readonly<Record<string, bigint[]>>;
}

interface Contributed {
  readonly name: string;
  readonly contributor: HardhatEthersSigner;
  readonly datasetKey: Uint8Array;
  readonly corrupted: boolean;
  readonly bad: TaskContribution["bad"];
  readonly datasetId: bigint;
  readonly datasetCid: string;
  readonly commitment: string;
  readonly samples: number;
  readonly receipt: ContractTransactionReceipt;
}

/**
 * The data side of Tessera in the embedded demo: three staked validators (each its own listener
 * and ValidationService), four contributors sending slices of the MNIST train digits through the
 * client library (encrypted, key sealed for the registered validators, bond by permit), one slice
 * with shuffled labels; the validators decide, and everyone withdraws what it was credited.
 */
export async function runDataStage(stack: EmbeddedStack, report: Report, options: DataStageOptions = {}): Promise<DataStageResult> {
  const { token, workerRegistry, dataRegistry } = stack.contracts;
  const { users } = stack.signers;
  const task = options.task ?? mnistTask({ ...(options.sliceSize === undefined ? {} : { sliceSize: options.sliceSize }), ...(options.shuffledSize === undefined ? {} : { shuffledSize: options.shuffledSize }) });
  const staked = await stakeValidators(stack, users.slice(-3), options.rewardPool ?? 1_000n * TOKEN);
  const contributors = users.slice(-7, -3);
  const builtinReference = task.schema.document.checks.reference?.model === "tessera:mnist-2nn";
  const reference = builtinReference ? await sharedReferenceClassifier() : undefined;
  const running = await startValidators(stack, staked, {
    queuePrefix: stack.options.queuePrefix,
    validator: new DatasetValidator({ ...(reference === undefined ? {} : { reference }), store: stack.store }),
    ...(stack.options.logger === undefined ? {} : { logger: stack.options.logger }),
  });
  const gas: Record<string, bigint[]> = {};
  const record = (op: string, g: bigint) => (gas[op] ??= []).push(g);
  try {
    const params = await dataRegistry.params();
    report.line(`validators       ${running.map((v) => v.signer.address.slice(0, 10) + "…").join(", ")}: staked ${formatEther(staked[0].stake)} TSR each, CAP_VALIDATE, fresh secp256k1 encryption keys`);
    report.line(`registry         bond ${formatEther(params.bond)} TSR, accept reward ${formatEther(params.acceptReward)}, validator reward ${formatEther(params.validatorReward)}, dissent slash ${formatEther(params.dissentSlash)} per seat`);
    report.line(`committee        ${params.committeeSize} expected seats drawn by stake from the contribution block's hash (3 equal stakes: every validator drawn, ${Number(params.committeeSize) / 3} seats each), quorum ${params.quorum} seats, ${Number(params.upfrontRewardBps) / 100} % of the accept reward upfront, the rest at the first royalty`);
    report.line(`schema           ${task.schema.document.name} (id ${task.schema.id.slice(0, 18)}…): ${task.schema.document.features.dtype}[${task.schema.document.features.shape.join("x")}] features`);
    if (reference !== undefined) report.line(`reference 2NN    ${((reference.heldOutAccuracy ?? 0) * 100).toFixed(1)} % on held-out digits (each validator's label-noise check)`);
    const poolBefore = await dataRegistry.rewardPool();
    // What the registry held before this stage beyond its pool (a later stage of the demo: royalties credited by a
    // training job, some of them to this stage's parties), so that the stage's own books can be checked.
    const partiesBefore = [...contributors, ...running.map((v) => v.signer)];
    const creditsBefore = (await Promise.all(partiesBefore.map((p) => dataRegistry.creditOf(p.address)))).reduce((a, b) => a + b, 0n);
    const heldBefore = (await token.balanceOf(await dataRegistry.getAddress())) - poolBefore;

    await task.prepare?.(stack.store);
    const contributions = await task.contributions();
    if (contributions.length > contributors.length) throw new RangeError(`${contributions.length} contributions for ${contributors.length} contributors`);
    const recipients = await currentValidatorRecipients(workerRegistry, dataRegistry, stack.deployment.startBlock);
    report.line(`recipients       ${recipients.length} registered validators found in the WorkerRegistry; each dataset key is sealed for them`);

    const contributed: Contributed[] = [];
    for (const [i, c] of contributions.entries()) {
      const who = contributors[i];
      await (await token.mint(who.address, 100n * TOKEN)).wait();
      const corrupted = c.bad !== undefined;
      const prepared = await prepareContribution({ registry: dataRegistry, token, signer: who, store: stack.store, source: { schema: task.schema, samples: c.samples }, recipients, license: "CC-BY-4.0", keepKey: true });
      const receipt = (await (await dataRegistry.connect(who).contribute(prepared.args, prepared.permit)).wait())!;
      record("contribute (bond by permit)", receipt.gasUsed);
      contributed.push({
        name: `contributor ${i + 1}${corrupted ? ` (${c.name})` : ""}`,
        bad: c.bad,
        contributor: who,
        datasetKey: getBytes(prepared.contribution.keyHex!),
        corrupted,
        datasetId: contributedDatasetId(dataRegistry, receipt),
        datasetCid: prepared.contribution.datasetCid,
        commitment: prepared.contribution.commitment,
        samples: prepared.contribution.sampleCount,
        receipt,
      });
    }

    const outcomes = await Promise.all(contributed.map((c) => outcomesFor(running, c.datasetId)));
    let creditedTotal = 0n;
    let slashedTotal = 0n;
    for (const [k, c] of contributed.entries()) {
      const [d, validation] = await Promise.all([dataRegistry.datasetOf(c.datasetId), dataRegistry.validationOf(c.datasetId)]);
      report.line("");
      report.line(`dataset ${c.datasetId}        ${c.name}, ${c.samples} samples`);
      report.line(`  CID            ${c.datasetCid}`);
      report.line(`  commitment     ${c.commitment}`);
      for (const [i, o] of outcomes[k].entries()) {
        const who = `validator ${i + 1}`;
        if (o.status === "voted") {
          record(`vote (${o.decided ? `last, settles ${o.accept ? "accept" : "reject"}` : "not last"})`, BigInt(o.gasUsed));
          report.line(`  ${who}    ${o.accept ? "accept" : `reject ${o.reasonCode} (${REASONS[o.reasonCode]})`}: ${o.details}${o.decided ? " — the last of the committee: settled it" : ""}`);
        } else report.line(`  ${who}    no vote: ${o.reason}`);
      }
      report.line(`  decision       ${DATASET_STATUS_NAMES[Number(d.status)]}${d.status === BigInt(DatasetStatus.Rejected) ? `, reason ${d.reasonCode} (${REASONS[Number(d.reasonCode)]})` : ""}; ${d.acceptVotes} accept / ${d.rejectVotes} reject (${Number(validation.acceptSeats) / 1_000} / ${Number(validation.rejectSeats) / 1_000} seats)`);
      const from = c.receipt.blockNumber;
      for (const e of await dataRegistry.queryFilter(dataRegistry.filters.Credited(undefined, c.datasetId), from)) {
        creditedTotal += e.args.amount;
        report.line(`  credited       ${formatEther(e.args.amount).padStart(5)} TSR to ${label(e.args.account, contributors.map((s) => s.address), running)} (${CREDIT_REASON_NAMES[Number(e.args.reason)]})`);
      }
      for (const e of await dataRegistry.queryFilter(dataRegistry.filters.DissenterSlashed(c.datasetId), from)) {
        slashedTotal += e.args.slashed;
        report.line(`  slashed        ${formatEther(e.args.slashed)} TSR from ${label(e.args.validator, [], running)} (dissent) into the reward pool`);
      }
    }
    report.line("");
    const clean = contributed.filter((c) => !c.corrupted);
    const corrupted = contributed.find((c) => c.corrupted)!;
    const status = async (c: Contributed) => dataRegistry.datasetOf(c.datasetId);
    const cleanStatuses = await Promise.all(clean.map(status));
    report.check(`all ${clean.length} clean slices accepted`, cleanStatuses.every((d) => d.status === BigInt(DatasetStatus.Accepted)));
    const bad = await status(corrupted);
    const expected = corrupted.bad!;
    report.check(`the bad slice (${expected.what}) rejected with reason ${expected.reason} (${REASONS[expected.reason]})`, bad.status === BigInt(DatasetStatus.Rejected) && bad.reasonCode === BigInt(expected.reason));
    const poolAfter = await dataRegistry.rewardPool();
    report.check(
      `credits (${formatEther(creditedTotal)} TSR) == ${contributed.length} bonds + pool before - pool after + slashes (${formatEther(poolBefore - poolAfter + slashedTotal)}): a rejected bond stays in the pool; no bond left held`,
      creditedTotal === BigInt(contributed.length) * params.bond + (poolBefore - poolAfter) + slashedTotal && (await dataRegistry.bondsHeld()) === 0n,
    );

    const parties = [...contributors, ...running.map((v) => v.signer)];
    let withdrawn = 0n;
    let withdrawers = 0;
    for (const p of parties) {
      const credit = await dataRegistry.creditOf(p.address);
      if (credit === 0n) continue;
      const r = (await (await dataRegistry.connect(p).withdraw()).wait())!;
      record("withdraw (registry credit)", r.gasUsed);
      withdrawn += credit;
      withdrawers++;
    }
    const registryBalance = await token.balanceOf(await dataRegistry.getAddress());
    report.line(`withdrawn        ${formatEther(withdrawn)} TSR by the ${withdrawers} parties credited; the registry keeps the reward pool (${formatEther(poolAfter)} TSR)`);
    report.check(
      creditsBefore === 0n && heldBefore === 0n
        ? "registry token balance == reward pool once everyone withdrew"
        : `registry token balance == reward pool + what it held for others before the stage, once everyone withdrew (the parties also took ${formatEther(creditsBefore)} TSR credited earlier)`,
      registryBalance - poolAfter === heldBefore - creditsBefore && withdrawn === creditedTotal + creditsBefore,
    );

    for (const [op, values] of Object.entries(gas)) {
      const mean = values.reduce((a, b) => a + b, 0n) / BigInt(values.length);
      report.line(`gas ${op.padEnd(32)} ${mean.toString().padStart(8)}${values.length > 1 ? `  (mean of ${values.length})` : ""}`);
    }
    return {
      datasetIds: contributed.map((c) => c.datasetId),
      accepted: clean.map((c) => ({ datasetId: c.datasetId, contributor: c.contributor, datasetKey: c.datasetKey, samples: c.samples })),
      validators: staked,
      gas,
    };
  } finally {
    await stopValidators(running);
    await removeValidatorData(stack.redis.url, running);
  }
}

function label(address: string, contributors: readonly string[], validators: readonly RunningValidator[]): string {
  const c = contributors.indexOf(address);
  if (c >= 0) return `contributor ${c + 1}`;
  const v = validators.findIndex((r) => r.signer.address === address);
  return v >= 0 ? `validator ${v + 1}` : address;
}

async function outcomesFor(running: readonly RunningValidator[], datasetId: bigint, timeoutMs = 120_000): Promise<ValidationOutcome[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = running.map((v) => v.service.results.find((r) => r.datasetId === datasetId.toString()));
    if (found.every((f) => f !== undefined)) return found as ValidationOutcome[];
    if (Date.now() > until) {
      throw new Error(`dataset ${datasetId}: validators did not all finish (${JSON.stringify(running.map((v) => v.service.failures))})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
