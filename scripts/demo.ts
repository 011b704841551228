/**
 * The embedded demo (`npm run demo`): one command runs the whole of Tessera on this machine.
 * Hardhat's EDR chain (served over JSON-RPC, as a node would) + Ignition deployment, the embedded
 * IPFS blockstore, Redis, four data contributors and three validators (one slice with shuffled
 * labels rejected), a federated training job over the accepted data run by three worker daemons
 * in their own OS processes (one killed mid-round), the trained model registered with its
 * provenance and published as a priced version, a staked worker daemon serving it: 60 paid
 * requests (ETH and token-by-permit, inline and CID inputs) plus one from a contract customer,
 * every answer checked against the local model, an expired request refunded, and every party
 * withdrawing what it earned; the seeds' price-series task end to end; and a sharded model served by three host
 * processes (one killed mid-run), every host paid its share. Exits 0 only if every check held.
 */
import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { formatEther } from "ethers";
import { pino } from "pino";
import { MnistDigitConsumer__factory } from "../typechain-types/index.js";
import { createLogger } from "../worker/src/logger.js";
import { decodeClass, encodeImage, predictClasses } from "../worker/src/ml/InferenceCodec.js";
import { loadMnist, MNIST_PIXELS } from "../worker/src/ml/MnistDataset.js";
import { runDataStage } from "./lib/DataStage.js";
import { EmbeddedStack, PRICE_TOKEN, PRICE_WEI } from "./lib/EmbeddedStack.js";
import { InferenceClient, InputKind, waitForFulfilments, type SentRequest } from "./lib/InferenceClient.js";
import { Report } from "./lib/Report.js";
import { serveChain } from "./lib/RpcChain.js";
import { priceSeriesTask } from "./lib/seedTasks/PriceSeriesTask.js";
import { runTaskInference } from "./lib/TaskInference.js";
import { runShardStage } from "./lib/ShardStage.js";
import { runTrainingStage } from "./lib/TrainingStage.js";

const N_ETH = 30;
const N_TOKEN = 30;
const ROUNDS = Number(process.env.DEMO_TRAINING_ROUNDS ?? 6);
const dataDir = resolve(".tessera/demo");
rmSync(dataDir, { recursive: true, force: true });

const report = new Report();
const logFile = resolve(dataDir, "worker.log");
const logger = createLogger({ level: "info", name: "tessera-demo", destination: pino.destination({ dest: logFile, mkdir: true, sync: false }) });
// The chain is served over JSON-RPC so that worker daemons in other processes can reach it.
const chain = await serveChain();
const { rpcUrl, connection } = chain;
const { ethers, networkHelpers } = connection;

report.stage("1. Embedded stack");
const stack = await EmbeddedStack.start(connection, { dataDir, queuePrefix: `tessera-demo-${process.pid}-${Date.now()}`, logger, worker: { batchMaxSize: 16, batchMaxWaitMs: 100 } });
const { token, market, modelRegistry, workerRegistry, trainingJobs } = stack.contracts;
const { worker, modelOwner, users, treasury } = stack.signers;
for (const [name, address] of Object.entries(stack.deployment.contracts)) report.line(`${name.padEnd(16)} ${address}`);
report.line(`chain            EDR over JSON-RPC at ${rpcUrl}; IPFS blocks in ${resolve(dataDir, "ipfs")}; Redis ${stack.redis.url}`);

try {
  report.stage("1b. Datasets: four contributors, three validators, one slice with shuffled labels");
  const data = await runDataStage(stack, report);

  report.stage(`2. Federated training: 3 worker processes, ${ROUNDS} FedAvg rounds over the accepted datasets, one worker killed mid-round`);
  const budgetBefore = await token.balanceOf(await trainingJobs.getAddress());
  const fed = await runTrainingStage(stack, {
    rpcUrl,
    accepted: data.accepted,
    validators: data.validators,
    trainers: users.slice(6, 9),
    requester: modelOwner,
    rounds: ROUNDS,
    killRound: ROUNDS - 1,
    report,
  });
  const trained = fed.trained;
  for (const r of fed.rounds) report.line(`round ${r.round}          ${r.updates} updates, ${r.votes} matching votes -> ${r.aggregateCid} (sha256 ${r.aggregateHash.slice(0, 18)}…)`);
  report.line(`local training   ${fed.samplesPerSecond.map((x) => x.toFixed(0)).join(" / ")} samples/s per worker on ${stack.backend.name} (3 processes sharing the CPU)`);
  report.line(`evaluation       median accuracy ${(fed.medianAccuracy * 100).toFixed(2)} %, median loss ${fed.medianLoss.toFixed(4)} (3 validators on ${trained.evalSet.count} held-out digits)`);
  report.line(`model / version  ${trained.modelId} / ${fed.jobVersionId} registered by job ${fed.jobId} (provenance: jobOfVersion, datasetsOf, roundResultOf)`);
  report.line(`priced version   ${trained.versionId}: ${trained.published.manifestCid}, weights ${trained.published.weightsCid} (price ${formatEther(PRICE_WEI)} ETH or ${formatEther(PRICE_TOKEN)} TSR, royalty 10 %)`);
  report.line(`stage time       ${fed.seconds.toFixed(0)} s`);
  const job = await trainingJobs.jobOf(fed.jobId);
  report.check("the killed worker was dropped and slashed, and the job went on to finalization", fed.killed !== undefined && fed.dropped.includes(fed.killed) && Number(job.status) === 6);
  report.check("every round's aggregate agreed by a quorum of bit-identical hashes", fed.rounds.every((r) => r.votes >= 2 && r.votes * 10_000 >= r.updates * 6_666));
  report.check("the trained version is registered with its provenance", (await trainingJobs.jobOfVersion(fed.jobVersionId)) === fed.jobId && (await modelRegistry.getVersion(fed.jobVersionId)).contentHash === fed.rounds[fed.rounds.length - 1].aggregateHash);
  report.check("the priced version serves exactly the agreed weights", trained.published.contentHash === fed.rounds[fed.rounds.length - 1].aggregateHash);
  report.check(`federated 2NN reaches >= 95 % on the held-out digits (${(trained.testAccuracy * 100).toFixed(2)} %)`, trained.testAccuracy >= 0.95);
  report.check("the job's budget is fully paid out (escrow back to where it was)", job.paid === job.budget && (await token.balanceOf(await trainingJobs.getAddress())) - budgetBefore === (await trainingJobs.totalCredits()));

  report.stage("3. Stake a worker and start its daemon");
  const stake = await stack.stakeWorker(trained.versionId);
  await stack.startWorker();
  report.line(`worker           ${worker.address} staked ${formatEther(stake)} TSR, serves version ${trained.versionId}`);
  report.check("worker is eligible on chain", await workerRegistry.isEligibleInferrer(worker.address, trained.versionId));

  report.stage(`4. ${N_ETH + N_TOKEN} paid requests on held-out digits (+1 from a contract customer)`);
  const client = new InferenceClient(market, token, stack.store);
  for (const user of users.slice(0, 4)) await (await token.mint(user.address, PRICE_TOKEN * 100n)).wait();
  const firstBlock = await ethers.provider.getBlockNumber();
  const test = (await loadMnist({ testCount: 2_000, seed: 42 })).test;
  const pixels = (i: number) => encodeImage(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
  const now = (await ethers.provider.getBlock("latest"))!.timestamp;
  const sent: SentRequest[] = [];
  const gas: Record<string, bigint[]> = {};
  const record = (op: string, g: bigint) => (gas[op] ??= []).push(g);
  for (let i = 0; i < N_ETH + N_TOKEN; i++) {
    const user = users[i % 4];
    const payInToken = i >= N_ETH;
    const inputKind = i % 3 === 0 ? InputKind.Inline : InputKind.Cid;
    const options = { versionId: trained.versionId, pixels: pixels(i), inputKind, fee: payInToken ? PRICE_TOKEN : PRICE_WEI, deadline: now + 600, salt: BigInt(i) };
    const s = payInToken ? await client.requestWithTokenPermit(user, options) : await client.requestWithEth(user, options);
    sent.push(s);
    record(`requestInference (${payInToken ? "token + permit" : "ETH"}, ${inputKind === InputKind.Cid ? "CID" : "inline 784 B"} input)`, s.receipt.gasUsed);
  }
  const consumer = await ethers.deployContract("MnistDigitConsumer", [await market.getAddress()]);
  const consumerTyped = MnistDigitConsumer__factory.connect(await consumer.getAddress(), users[0]);
  const callbackGas = 100_000;
  const consumerFee = PRICE_WEI + BigInt(callbackGas) * (await market.params()).callbackGasPriceWei;
  const consumerIndex = N_ETH + N_TOKEN;
  const askTx = await (await consumerTyped.ask(trained.versionId, pixels(consumerIndex), now + 600, callbackGas, { value: consumerFee })).wait();
  const askEvent = askTx!.logs.map((l) => market.interface.parseLog(l)).find((p) => p?.name === "InferenceRequested")!;
  const consumerRequestId: bigint = askEvent.args.requestId;
  record("MnistDigitConsumer.ask (contract customer, inline input)", askTx!.gasUsed);
  report.line(`sent             ${N_ETH} in ETH, ${N_TOKEN} in TSR by permit (no approve tx); ${sent.filter((s) => s.inputKind === InputKind.Cid).length} inputs by CID, the rest inline`);

  const fulfilled = await waitForFulfilments(market, [...sent.map((s) => s.requestId), consumerRequestId], { fromBlock: firstBlock, timeoutMs: 180_000 });
  const last = Math.max(...[...fulfilled.values()].map((f) => f.seenAtMs));
  report.line(`fulfilled        ${fulfilled.size}/${sent.length + 1} in ${((last - sent[0].minedAtMs) / 1000).toFixed(1)} s`);

  report.stage("5. Check every answer against the local model");
  const inputs = Array.from({ length: N_ETH + N_TOKEN + 1 }, (_, i) => pixels(i));
  const local = await predictClasses(trained.model, inputs);
  let agree = 0;
  let correct = 0;
  sent.forEach((s, i) => {
    const answer = decodeClass(fulfilled.get(s.requestId)!.output);
    if (answer === local[i]) agree++;
    if (answer === test.labels[i]) correct++;
  });
  const [consumerDigit, answered] = await consumerTyped.answerOf(consumerRequestId);
  report.line(`on-chain == local prediction   ${agree}/${sent.length}`);
  report.line(`on-chain == true label         ${correct}/${sent.length} (accuracy ${((correct / sent.length) * 100).toFixed(1)} %)`);
  report.line(`contract customer got digit    ${consumerDigit} (local model: ${local[consumerIndex]}, label ${test.labels[consumerIndex]}) via onInferenceResult`);
  report.check("every on-chain answer equals the local prediction", agree === sent.length);
  report.check("the contract customer stored the answer on chain", answered && Number(consumerDigit) === local[consumerIndex]);

  const workerTxs = new Set([...fulfilled.values()].map((f) => f.txHash));
  const claimEvents = await market.queryFilter(market.filters.InferencesClaimed(), firstBlock);
  for (const e of claimEvents) {
    const r = await e.getTransactionReceipt();
    record(`claimBatch per request`, r.gasUsed / BigInt(e.args.requestIds.length));
  }
  for (const hash of workerTxs) {
    const r = await ethers.provider.getTransactionReceipt(hash);
    const n = r!.logs.filter((l) => market.interface.parseLog(l)?.name === "InferenceFulfilled").length;
    record(`fulfillBatch per request`, r!.gasUsed / BigInt(n));
  }
  report.line(`worker txs       ${claimEvents.length} claimBatch + ${workerTxs.size} fulfillBatch for ${fulfilled.size} requests (daemon: ${JSON.stringify(stack.daemon!.stats.outcomes)})`);

  report.stage("6. An unanswered request is refunded after its deadline");
  await stack.stopWorker(); // the worker goes offline
  const lateUser = users[5];
  const late = await client.requestWithEth(lateUser, { versionId: trained.versionId, pixels: pixels(0), inputKind: InputKind.Cid, fee: PRICE_WEI, deadline: (await ethers.provider.getBlock("latest"))!.timestamp + 60, salt: 999n });
  record("requestInference (ETH, CID input)", late.receipt.gasUsed);
  await networkHelpers.time.increase(61);
  const before = await ethers.provider.getBalance(lateUser.address);
  const refundTx = await (await market.connect(treasury).refund(late.request)).wait();
  record("refund", refundTx!.gasUsed);
  const credit = await market.creditOf(lateUser.address, ethers.ZeroAddress);
  const wd = await (await market.connect(lateUser).withdraw(ethers.ZeroAddress)).wait();
  record("withdraw (ETH)", wd!.gasUsed);
  const after = await ethers.provider.getBalance(lateUser.address);
  const net = after - before + wd!.gasUsed * wd!.gasPrice;
  report.line(`request ${late.requestId.toString().slice(0, 12)}… deadline passed unanswered; refund() by anyone credited ${formatEther(credit)} ETH; requester withdrew ${formatEther(net)} ETH`);
  report.check("the whole fee came back to the requester", credit === PRICE_WEI && net === PRICE_WEI);

  report.stage("7. Everyone is paid (pull payments)");
  const eth = ethers.ZeroAddress;
  const tokenAddr = await token.getAddress();
  // The worker's earnings per (version, currency) are split into credits by settle (anyone may call it).
  const settle = await (await market.settle(worker.address, [trained.versionId], eth)).wait();
  record("settle (1 worker, 1 version)", settle!.gasUsed);
  await (await market.settle(worker.address, [trained.versionId], tokenAddr)).wait();
  const parties: [string, typeof worker][] = [["worker", worker], ["model owner", modelOwner], ["treasury", treasury]];
  const ethTotal = PRICE_WEI * BigInt(N_ETH) + consumerFee;
  const tokenTotal = PRICE_TOKEN * BigInt(N_TOKEN);
  let ethSum = 0n;
  let tokenSum = 0n;
  for (const [name, who] of parties) {
    const e = await market.creditOf(who.address, eth);
    const t = await market.creditOf(who.address, tokenAddr);
    ethSum += e;
    tokenSum += t;
    const tb = await token.balanceOf(who.address);
    if (e > 0n) await (await market.connect(who).withdraw(eth)).wait();
    if (t > 0n) await (await market.connect(who).withdraw(tokenAddr)).wait();
    const moved = (await token.balanceOf(who.address)) - tb;
    report.line(`${name.padEnd(12)} earned ${formatEther(e).padStart(10)} ETH + ${formatEther(t).padStart(6)} TSR, withdrew them (token balance +${formatEther(moved)})`);
  }
  report.check("fees paid in == credits paid out (ETH)", ethSum === ethTotal);
  report.check("fees paid in == credits paid out (TSR)", tokenSum === tokenTotal);
  report.check("market holds nothing once everyone withdrew", (await ethers.provider.getBalance(await market.getAddress())) === 0n && (await token.balanceOf(await market.getAddress())) === 0n);

  report.stage("8. Gas per operation (receipts)");
  for (const [op, values] of Object.entries(gas)) {
    const mean = values.reduce((a, b) => a + b, 0n) / BigInt(values.length);
    report.line(`${op.padEnd(58)} ${mean.toString().padStart(8)}${values.length > 1 ? `  (mean of ${values.length})` : ""}`);
  }

  // Beyond digits: the seeds' stock example through the same stages, with its own schema, model and codecs.
  const price = priceSeriesTask();
  report.stage(`9. Beyond digits: ${price.description}, end to end`);
  const priceData = await runDataStage(stack, report, { task: price });
  const priceFed = await runTrainingStage(stack, {
    rpcUrl,
    accepted: priceData.accepted,
    validators: priceData.validators,
    trainers: users.slice(6, 9),
    requester: modelOwner,
    task: price,
    killRound: 0,
    report,
  });
  const priceBaseline = price.baseline!(priceFed.trained.evalSet);
  report.line(`evaluation       median accuracy ${(priceFed.medianAccuracy * 100).toFixed(2)} % on ${priceFed.trained.evalSet.count} held-out days of a fourth generated series (${priceBaseline.name}: ${(priceBaseline.score * 100).toFixed(2)} %)`);
  report.line(`priced version   ${priceFed.trained.versionId}: ${priceFed.trained.published.manifestCid} (float32-tensor [20, 2] in, binary-probability out)`);
  const priced = await runTaskInference(stack, price, priceFed.trained, { count: 12, report });
  report.check(`the federated price model beats ${priceBaseline.name} on held-out days (${(priceFed.trained.testAccuracy * 100).toFixed(2)} % > ${(priceBaseline.score * 100).toFixed(2)} %)`, priceFed.trained.testAccuracy > priceBaseline.score);
  report.check("every round of the price job agreed by a quorum, the budget fully paid", priceFed.rounds.every((r) => r.votes >= 2) && (await trainingJobs.jobOf(priceFed.jobId)).paid === (await trainingJobs.jobOf(priceFed.jobId)).budget);
  report.check(`every paid price request answered on chain as the local prediction (${priced.matchingLocal}/${priced.requests})`, priced.matchingLocal === priced.requests);

  // The model-shard registry: the 2NN cut into shards served by different host processes, one of them killed.
  report.stage("10. Sharded model: 2 shards, 3 host processes, one host killed mid-run, every host paid its share");
  await runShardStage(stack, { rpcUrl, trained, dataDir, report });
} catch (err) {
  report.fail(err);
} finally {
  await stack.stop();
  await chain.close();
}
process.exit(report.finish());
