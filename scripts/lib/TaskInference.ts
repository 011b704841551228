import { selectSamples } from "../../worker/src/data/schema/DatasetEncoding.js";
import { featureSize } from "../../worker/src/data/schema/SchemaDocument.js";
import { readManifest } from "../../worker/src/ml/ModelArtifacts.js";
import { PRICE_WEI, type EmbeddedStack } from "./EmbeddedStack.js";
import { decodeAnswer, encodeInput, InferenceClient, InputKind, predictLocally, waitForFulfilments } from "./InferenceClient.js";
import type { Report } from "./Report.js";
import type { SeedTask } from "./seedTasks/SeedTask.js";
import type { TrainedVersion } from "./TrainingStage.js";

export interface TaskInferenceResult {
  readonly requests: number;
  /** Answers on chain equal, byte for byte, to the requester's local prediction with the same codecs. */
  readonly matchingLocal: number;
  /** Answers (classes) equal to the samples' labels. */
  readonly correct: number;
  readonly meanGasPerRequest: bigint;
  /** From the request mined to its fulfilment seen, p50 (ms). */
  readonly latencyP50Ms: number;
}

/**
 * Paid inference on a trained seed-task model: the stack's worker stakes for (or adds) the version and serves it,
 * requesters send `count` requests on samples of the evaluation set (inputs encoded by the version's own input codec,
 * inline and by CID in turn, paid in ETH), and every on-chain answer is checked against the local prediction.
 */
export async function runTaskInference(stack: EmbeddedStack, task: SeedTask, trained: TrainedVersion, options: { count: number; report?: Report; timeoutMs?: number }): Promise<TaskInferenceResult> {
  const { market, token, workerRegistry } = stack.contracts;
  const { worker, users } = stack.signers;
  if ((await workerRegistry.workerOf(worker.address)).stake === 0n) await stack.stakeWorker(trained.versionId);
  else await (await workerRegistry.connect(worker).setServedModels([trained.versionId], true)).wait();
  if (stack.daemon === undefined) await stack.startWorker();

  const manifest = await readManifest(stack.store, trained.published.manifestCid);
  const count = Math.min(options.count, trained.evalSet.count);
  const samples = selectSamples(task.schema.document, trained.evalSet, Array.from({ length: count }, (_, i) => i));
  const size = featureSize(task.schema.document);
  const inputs = Array.from({ length: count }, (_, i) => encodeInput(manifest, samples.features.subarray(i * size, (i + 1) * size)));
  const client = new InferenceClient(market, token, stack.store);
  const provider = stack.connection.ethers.provider;
  const fromBlock = await provider.getBlockNumber();
  const now = (await provider.getBlock("latest"))!.timestamp;
  const sent = [];
  for (let i = 0; i < count; i++) {
    const inputKind = i % 2 === 0 ? InputKind.Inline : InputKind.Cid;
    sent.push(await client.requestWithEth(users[i % 4], { versionId: trained.versionId, pixels: inputs[i], inputKind, fee: PRICE_WEI, deadline: now + 600, salt: BigInt(1_000_000 + i) }));
  }
  const fulfilments = await waitForFulfilments(market, sent.map((s) => s.requestId), { fromBlock, timeoutMs: options.timeoutMs ?? 120_000 });
  const local = await predictLocally(trained.model, manifest, inputs);
  let matchingLocal = 0;
  let correct = 0;
  let gas = 0n;
  const latencies: number[] = [];
  for (const [i, s] of sent.entries()) {
    const f = fulfilments.get(s.requestId)!;
    if (Buffer.from(f.output).equals(Buffer.from(local[i]))) matchingLocal++;
    const answer = decodeAnswer(manifest, f.output);
    const predicted = answer.codec === "class-index" ? answer.classIndex : answer.codec === "top-k" ? answer.top[0].classIndex : answer.codec === "binary-probability" ? Number(answer.probability >= 0.5) : Number.NaN;
    if (predicted === samples.labels[i]) correct++;
    gas += s.receipt.gasUsed;
    latencies.push(f.seenAtMs - s.minedAtMs);
  }
  latencies.sort((a, b) => a - b);
  const result = { requests: count, matchingLocal, correct, meanGasPerRequest: gas / BigInt(count), latencyP50Ms: latencies[Math.floor(latencies.length / 2)] };
  options.report?.line(
    `inference        ${count} paid requests on held-out samples (inline and by CID): ${matchingLocal}/${count} answers equal the local prediction, ${correct}/${count} right; request gas ${result.meanGasPerRequest}, latency p50 ${result.latencyP50Ms} ms`,
  );
  return result;
}
