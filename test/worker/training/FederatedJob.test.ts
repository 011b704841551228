import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { runDataStage } from "../../../scripts/lib/DataStage.js";
import { EmbeddedStack } from "../../../scripts/lib/EmbeddedStack.js";
import { Report } from "../../../scripts/lib/Report.js";
import { serveChain, type RpcChain } from "../../../scripts/lib/RpcChain.js";
import { runTrainingStage } from "../../../scripts/lib/TrainingStage.js";
import { cidFromBytes } from "../../../worker/src/data/OnChainDataset.js";
import { JobStatus } from "../../../worker/src/training/TrainingJobSpec.js";
import { removeQueueData } from "../../helpers/queue.js";

/**
 * The whole federated path with real parts: the contracts on a JSON-RPC chain, the embedded IPFS
 * store shared by directory, Redis, and three worker daemons as separate OS processes
 * (`worker/src/main.ts`, trainer role) on small slices of real MNIST digits. The third worker is
 * SIGKILLed while it trains round 2: the job must go on without it, drop and slash it, agree on
 * every aggregate, have the validators evaluate, and register the model with its provenance.
 */
describe("Federated training job: three worker processes, one killed mid-round", function () {
  this.timeout(420_000);
  let stack: EmbeddedStack;
  let chain: RpcChain;
  let dataDir: string;
  const prefix = `tessera-test-${randomUUID()}`;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-fed-"));
    chain = await serveChain();
    stack = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: prefix });
  });

  after(async function () {
    await removeQueueData(stack.redis.url, prefix);
    await stack.stop();
    await chain.close();
    const failed = this.test?.parent?.tests.some((t) => t.state === "failed") ?? false;
    if (failed) console.log(`    kept ${dataDir} (worker logs) for the failure`);
    else rmSync(dataDir, { recursive: true, force: true });
  });

  it("drops the killed worker, agrees on every round, evaluates, pays out the budget and registers the model", async () => {
    const report = new Report({ print: false });
    const data = await runDataStage(stack, report, { sliceSize: 300, shuffledSize: 200 });
    expect(data.accepted, report.lines.join("\n")).to.have.length(3);

    const { trainingJobs, modelRegistry, workerRegistry } = stack.contracts;
    const trainers = stack.signers.users.slice(6, 9);
    const requester = stack.signers.modelOwner;
    const fed = await runTrainingStage(stack, {
      rpcUrl: chain.rpcUrl,
      accepted: data.accepted,
      validators: data.validators,
      trainers,
      requester,
      rounds: 2,
      localEpochs: 1,
      batchSize: 20,
      learningRate: 0.1,
      killRound: 2,
      evalDigits: 500,
      timeoutMs: 240_000,
      report,
    }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${report.lines.join("\n")}`);
    });

    // The killed worker (the last to enroll): dropped in round 2's commit phase and slashed; the others went on.
    const enrolled = await trainingJobs.workersOf(fed.jobId);
    const victim = trainers.find((t) => t.address === enrolled[2])!;
    const survivors = trainers.filter((t) => t !== victim);
    expect(fed.killed).to.equal(victim.address);
    expect(fed.dropped).to.deep.equal([victim.address]);
    const drops = await trainingJobs.queryFilter(trainingJobs.filters.WorkerDropped(fed.jobId));
    expect(drops[0].args.round).to.equal(2n);
    expect(drops[0].args.status).to.equal(BigInt(JobStatus.Committing));
    expect(drops[0].args.slashed).to.be.greaterThan(0n);
    expect((await trainingJobs.participantOf(fed.jobId, victim.address)).dropped).to.equal(true);
    const staked = (await workerRegistry.minStake()) * 2n; // what the training stage staked for each
    expect((await workerRegistry.workerOf(survivors[0].address)).stake).to.equal(staked);
    expect((await workerRegistry.workerOf(victim.address)).stake).to.equal(staked - drops[0].args.slashed);
    // The slash went to the protocol's treasury, never to the requester; every stake is unbonded once training ended.
    const slashEvents = await workerRegistry.queryFilter(workerRegistry.filters.WorkerSlashed(victim.address));
    expect(slashEvents.map((e) => [e.args.recipient, e.args.slashed])).to.deep.equal([[await stack.contracts.market.treasury(), drops[0].args.slashed]]);
    for (const t of trainers) expect(await workerRegistry.obligationsOf(t.address)).to.equal(0n);

    // The trainer's BullMQ job carried its training progress: the last epoch's figures.
    expect(fed.round1Progress).to.include({ jobId: fed.jobId.toString(), round: 1, epoch: 1, epochs: 1, samples: 300 });
    expect(fed.round1Progress!.loss).to.be.greaterThan(0);
    expect(fed.round1Progress!.accuracy).to.be.within(0, 1);
    expect(fed.round1Progress!.samplesPerSecond).to.be.greaterThan(0);

    // Every round agreed on by a quorum: 3 updates in round 1, 2 in round 2, none excluded (FedAvg of honest workers).
    expect(fed.rounds.map((r) => r.updates)).to.deep.equal([3, 2]);
    expect(fed.rounds.map((r) => r.excludedMask)).to.deep.equal([0n, 0n]);
    // A round completes at the vote that reaches the quorum (2 of 3, 2 of 2); a later vote loses the race.
    for (const r of fed.rounds) expect(r.votes).to.equal(Math.ceil((r.updates * 6_666) / 10_000));
    const votes = await trainingJobs.queryFilter(trainingJobs.filters.AggregateVoted(fed.jobId));
    for (const v of votes) {
      const agreed = fed.rounds[Number(v.args.round) - 1];
      expect([v.args.aggregateHash, cidFromBytes(v.args.aggregateCid), v.args.excludedMask]).to.deep.equal([agreed.aggregateHash, agreed.aggregateCid, 0n]);
    }

    // Evaluated by the three validators; the median is on chain and matches a local evaluation closely.
    const job = await trainingJobs.jobOf(fed.jobId);
    expect(job.status).to.equal(BigInt(JobStatus.Finalized));
    expect(job.evaluations).to.equal(3n);
    expect(fed.medianAccuracy).to.be.greaterThan(0.6);
    expect(fed.trained.testAccuracy).to.be.greaterThan(0.6);

    // Provenance: the job's version commits to the last agreed aggregate; the requester's priced
    // version holds exactly those bytes (same weights CID and sha256).
    const finalRound = fed.rounds[fed.rounds.length - 1];
    expect(await trainingJobs.jobOfVersion(fed.jobVersionId)).to.equal(fed.jobId);
    expect((await modelRegistry.getVersion(fed.jobVersionId)).contentHash).to.equal(finalRound.aggregateHash);
    expect(fed.trained.published.contentHash).to.equal(finalRound.aggregateHash);
    expect(fed.trained.published.weightsCid).to.equal(finalRound.aggregateCid);
    expect((await modelRegistry.getModel(fed.trained.modelId)).owner).to.equal(requester.address);

    // Money: the budget is fully paid; the survivors earned both rounds, the killed worker round 1 only.
    expect(job.paid).to.equal(job.budget);
    expect(await trainingJobs.escrowed()).to.equal(0n);
    const earned = await Promise.all([...survivors, victim].map(async (t) => (await trainingJobs.participantOf(fed.jobId, t.address)).earned));
    expect(earned[0]).to.be.greaterThan(earned[2]);
    expect(earned[1]).to.be.greaterThan(earned[2]);
    expect(earned[2]).to.be.greaterThan(0n);
  });
});
