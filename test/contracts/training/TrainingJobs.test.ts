import { expect } from "chai";
import { id } from "ethers";
import { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { CAP_INFER, CAP_TRAIN, deployTessera, signPermit } from "../../helpers/tessera.js";
import {
  NO_PERMIT,
  Reason,
  TOKEN,
  contribution,
  datasetIdOf,
  deployDataRegistry,
  registerValidator,
} from "../../helpers/data.js";
import {
  DURATIONS,
  EVAL_SET_CID,
  JobStatus,
  LAPSE_SLASH,
  MANIFEST_CID,
  MIN_UPDATE_PAY,
  TrainingCreditReason,
  WEIGHTS_CID,
  commitmentOf,
  deployTrainingJobs,
  jobArgs,
  jobIdOf,
  trainingJobsFactory,
  update,
} from "../../helpers/training.js";

const { ethers, networkHelpers } = await network.create();
const { time } = networkHelpers;

const BUDGET = 1_000n * TOKEN;
const ROYALTIES = 100n * TOKEN; // 10 %
const EVAL_POOL = 50n * TOKEN; // 5 %
const ROUND_POOL = 425n * TOKEN; // (1000 - 100 - 50) / 2 rounds
const AGG = (round: number) => id(`aggregate-${round}`);
const AGG_CID = (round: number) => "0x01551220" + (0xe0 + round).toString(16).repeat(32);

describe("TrainingJobs", () => {
  async function fixture() {
    const [admin, treasury, alice, requester, v1, v2, e1, e2, e3, w1, w2, w3, w4, inferrer, outsider] =
      await ethers.getSigners();
    const d = await deployTessera(ethers, admin, treasury.address);
    const data = await deployDataRegistry(ethers, d, admin);
    for (const v of [v1, v2, e1, e2, e3]) await registerValidator(d, v);
    for (const w of [w1, w2, w3, w4]) await registerValidator(d, w, CAP_TRAIN);
    await registerValidator(d, inferrer, CAP_INFER);
    await d.token.mint(alice.address, 1_000n * TOKEN);
    await d.token.connect(alice).approve(await data.getAddress(), ethers.MaxUint256);
    const datasetIds: bigint[] = [];
    for (const [seed, sampleCount] of [
      [1, 1_000],
      [2, 3_000],
    ]) {
      const tx = await data.connect(alice).contribute(contribution(seed, { sampleCount }), NO_PERMIT);
      const datasetId = datasetIdOf(data, await tx.wait());
      for (const v of [v1, v2, e1, e2, e3]) await data.connect(v).vote(datasetId, true, Reason.Ok); // the whole drawn committee
      datasetIds.push(datasetId);
    }
    const jobs = await deployTrainingJobs(ethers, d, data, admin, { treasury: treasury.address });
    const jobsAddress = await jobs.getAddress();
    await d.token.mint(requester.address, 10_000n * TOKEN);
    await d.token.connect(requester).approve(jobsAddress, ethers.MaxUint256);
    const trainers = [w1, w2, w3];
    return {
      ...d,
      data,
      jobs,
      jobsAddress,
      datasetIds,
      admin,
      treasury,
      alice,
      requester,
      v1,
      v2,
      e1,
      e2,
      e3,
      w1,
      w2,
      w3,
      w4,
      trainers,
      inferrer,
      outsider,
    };
  }
  type World = Awaited<ReturnType<typeof fixture>>;

  async function createJob(w: World, overrides: Parameters<typeof jobArgs>[1] = {}) {
    const tx = await w.jobs.connect(w.requester).createJob(jobArgs(w.datasetIds, overrides), NO_PERMIT);
    return jobIdOf(w.jobs, await tx.wait());
  }

  async function enrolled(w: World, overrides: Parameters<typeof jobArgs>[1] = {}) {
    const jobId = await createJob(w, overrides);
    for (const worker of w.trainers) await w.jobs.connect(worker).enroll(jobId);
    return jobId;
  }

  async function commit(w: World, jobId: bigint, round: number, workers: HardhatEthersSigner[]) {
    for (const worker of workers) {
      const u = update(round * 10 + w.trainers.indexOf(worker));
      await w.jobs.connect(worker).commitUpdate(jobId, commitmentOf(u, worker.address));
    }
  }

  async function reveal(w: World, jobId: bigint, round: number, workers: HardhatEthersSigner[]) {
    for (const worker of workers) {
      const u = update(round * 10 + w.trainers.indexOf(worker));
      await w.jobs.connect(worker).revealUpdate(jobId, u.updateCid, u.updateHash, u.sampleCount, u.salt);
    }
  }

  async function vote(w: World, jobId: bigint, round: number, workers: HardhatEthersSigner[], hash = AGG(round)) {
    for (const worker of workers) await w.jobs.connect(worker).voteAggregate(jobId, round, hash, AGG_CID(round), 0n);
  }

  async function runRound(w: World, jobId: bigint, round: number, workers = w.trainers) {
    await commit(w, jobId, round, workers);
    await reveal(w, jobId, round, workers);
    await vote(w, jobId, round, workers.slice(0, 2)); // 2 of 3 ≥ 66.66 %
  }

  async function trained(w: World) {
    const jobId = await enrolled(w);
    await runRound(w, jobId, 1);
    await runRound(w, jobId, 2);
    return jobId;
  }

  const stakeOf = async (w: World, who: { address: string }) => (await w.workers.workerOf(who.address)).stake;

  describe("construction and administration", () => {
    it("rejects zero addresses", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const factory = await trainingJobsFactory(ethers, w.admin);
      const params = { treasury: w.treasury.address, lapseSlash: LAPSE_SLASH, minUpdatePay: MIN_UPDATE_PAY };
      const addrs = [
        w.admin.address,
        await w.token.getAddress(),
        await w.workers.getAddress(),
        await w.data.getAddress(),
        await w.models.getAddress(),
      ];
      for (let i = 0; i < addrs.length; ++i) {
        const args = [...addrs];
        args[i] = ethers.ZeroAddress;
        await expect(
          factory.deploy(...(args as [string, string, string, string, string]), params)
        ).to.be.revertedWithCustomError(w.jobs, "TrainingJobsZeroAddress");
      }
      await expect(
        factory.deploy(...(addrs as [string, string, string, string, string]), { ...params, treasury: ethers.ZeroAddress })
      ).to.be.revertedWithCustomError(w.jobs, "TrainingJobsZeroAddress");
    });

    it("lets PARAMS_ROLE set the treasury, lapse slash and least pay, and PAUSER_ROLE pause job creation", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const next = { treasury: w.alice.address, lapseSlash: 7n, minUpdatePay: 3n };
      await expect(w.jobs.setParams(next))
        .to.emit(w.jobs, "ParamsUpdated")
        .withArgs([w.alice.address, 7n, 3n]);
      expect([...(await w.jobs.params())]).to.deep.equal([w.alice.address, 7n, 3n]);
      await expect(w.jobs.setParams({ ...next, treasury: ethers.ZeroAddress })).to.be.revertedWithCustomError(
        w.jobs,
        "TrainingJobsZeroAddress"
      );
      await expect(w.jobs.connect(w.outsider).setParams(next))
        .to.be.revertedWithCustomError(w.jobs, "AccessControlUnauthorizedAccount")
        .withArgs(w.outsider.address, await w.jobs.PARAMS_ROLE());
      await expect(w.jobs.connect(w.outsider).pause())
        .to.be.revertedWithCustomError(w.jobs, "AccessControlUnauthorizedAccount")
        .withArgs(w.outsider.address, await w.jobs.PAUSER_ROLE());
      await w.jobs.pause();
      await expect(
        w.jobs.connect(w.requester).createJob(jobArgs(w.datasetIds), NO_PERMIT)
      ).to.be.revertedWithCustomError(w.jobs, "EnforcedPause");
      await w.jobs.unpause();
      await createJob(w);
      expect(await w.jobs.jobCount()).to.equal(1n);
    });
  });

  describe("createJob", () => {
    it("escrows the budget and announces every term", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const args = jobArgs(w.datasetIds);
      const before = await w.token.balanceOf(w.requester.address);
      const tx = w.jobs.connect(w.requester).createJob(args, NO_PERMIT);
      const enrollDeadline = (await time.latest()) + 1 + DURATIONS.enroll;
      await expect(tx).to.emit(w.jobs, "JobCreated");
      const receipt = await (await tx).wait();
      const log = w.jobs.interface.parseLog(receipt!.logs.find((l) => l.address === w.jobsAddress)!)!;
      expect(log.args.jobId).to.equal(1n);
      expect(log.args.requester).to.equal(w.requester.address);
      expect(log.args.args.manifestCid).to.equal(MANIFEST_CID);
      expect(log.args.args.weightsCid).to.equal(WEIGHTS_CID);
      expect(log.args.args.evalSetCid).to.equal(EVAL_SET_CID);
      expect(log.args.args.learningRate).to.equal(1_000n);
      expect(log.args.samplesUsed).to.deep.equal([1_000n, 3_000n]);
      expect(log.args.enrollDeadline).to.equal(BigInt(enrollDeadline));
      expect(await w.token.balanceOf(w.requester.address)).to.equal(before - BUDGET);
      expect(await w.token.balanceOf(w.jobsAddress)).to.equal(BUDGET);
      expect(await w.jobs.escrowed()).to.equal(BUDGET);
      const job = await w.jobs.jobOf(1n);
      expect(job.status).to.equal(JobStatus.Enrolling);
      expect(job.budget).to.equal(BUDGET);
      expect(job.deadline).to.equal(BigInt(enrollDeadline));
      const [ids, samples] = await w.jobs.datasetsOf(1n);
      expect(ids).to.deep.equal(w.datasetIds);
      expect(samples).to.deep.equal([1_000n, 3_000n]);
    });

    it("takes the budget through an ERC-2612 permit", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await w.token.connect(w.requester).approve(w.jobsAddress, 0n);
      const deadline = BigInt((await time.latest()) + 3600);
      const sig = await signPermit(w.token, w.requester, w.jobsAddress, BUDGET, deadline);
      const permit = { value: BUDGET, deadline, v: sig.v, r: sig.r, s: sig.s };
      await w.jobs.connect(w.requester).createJob(jobArgs(w.datasetIds), permit);
      expect(await w.token.balanceOf(w.jobsAddress)).to.equal(BUDGET);
      // The permit was consumed: replaying it falls back to the (now zero) allowance.
      await expect(w.jobs.connect(w.requester).createJob(jobArgs(w.datasetIds), permit))
        .to.be.revertedWithCustomError(w.token, "ERC20InsufficientAllowance")
        .withArgs(w.jobsAddress, 0n, BUDGET);
    });

    it("rejects every bad term precisely", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const create = (o: Parameters<typeof jobArgs>[1]) =>
        w.jobs.connect(w.requester).createJob(jobArgs(w.datasetIds, o), NO_PERMIT);
      const long = "0x" + "11".repeat(65);
      await expect(create({ manifestCid: "0x" })).to.be.revertedWithCustomError(w.jobs, "TrainingJobsEmptyCid");
      await expect(create({ weightsCid: "0x" })).to.be.revertedWithCustomError(w.jobs, "TrainingJobsEmptyCid");
      await expect(create({ evalSetCid: long }))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsCidTooLong")
        .withArgs(65n, 64n);
      for (const rounds of [0, 1_001]) {
        await expect(create({ rounds }))
          .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidRounds")
          .withArgs(rounds);
      }
      for (const workersPerRound of [1, 33]) {
        await expect(create({ workersPerRound }))
          .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidWorkers")
          .withArgs(workersPerRound);
      }
      for (const evaluators of [0, 2, 16]) {
        await expect(create({ evaluators }))
          .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidEvaluators")
          .withArgs(evaluators);
      }
      for (const bad of [{ localEpochs: 0 }, { batchSize: 0 }, { learningRate: 0 }]) {
        await expect(create(bad)).to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidHyperparameters");
      }
      for (const quorumBps of [5_000, 10_001]) {
        await expect(create({ quorumBps }))
          .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidQuorum")
          .withArgs(quorumBps);
      }
      // A quorum that needs every worker lets one block: 3 × 6 667 bps needs 3 votes of 3; 2 workers always do.
      for (const [workersPerRound, quorumBps] of [[3, 6_667], [2, 10_000], [2, 5_001], [4, 7_501]]) {
        await expect(create({ workersPerRound, quorumBps }))
          .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidQuorum")
          .withArgs(quorumBps);
      }
      for (const [workersPerRound, quorumBps] of [[3, 6_666], [4, 7_500]]) await create({ workersPerRound, quorumBps });
      await expect(create({ royaltyBps: 6_000, evaluationBps: 4_000 }))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidShares")
        .withArgs(6_000, 4_000);
      for (const key of Object.keys(DURATIONS) as (keyof typeof DURATIONS)[]) {
        for (const value of [0, 299, 30 * 24 * 3600 + 1]) {
          await expect(create({ durations: { ...DURATIONS, [key]: value } })).to.be.revertedWithCustomError(
            w.jobs,
            "TrainingJobsInvalidDuration"
          );
        }
      }
      // The worker pool must pay minUpdatePay per update: 2 rounds × 3 workers × 1 TSR, at the wei.
      const least = 6n * MIN_UPDATE_PAY;
      await expect(create({ budget: least - 1n, royaltyBps: 0, evaluationBps: 0 }))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsBudgetTooLow")
        .withArgs(least - 1n, least);
      await create({ budget: least, royaltyBps: 0, evaluationBps: 0 });
      await expect(create({ datasetIds: [] }))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidDatasets")
        .withArgs(0n);
      await expect(create({ datasetIds: Array(17).fill(1n) }))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidDatasets")
        .withArgs(17n);
      await expect(create({ datasetIds: [1n, 2n, 1n] }))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidDatasets")
        .withArgs(3n);
      for (const unknown of [0n, 99n]) {
        await expect(create({ datasetIds: [unknown] }))
          .to.be.revertedWithCustomError(w.jobs, "TrainingJobsDatasetNotAccepted")
          .withArgs(unknown);
      }
      const tx = await w.data.connect(w.alice).contribute(contribution(3), NO_PERMIT);
      const pending = datasetIdOf(w.data, await tx.wait());
      await expect(create({ datasetIds: [1n, pending] }))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsDatasetNotAccepted")
        .withArgs(pending);
    });
  });

  describe("enroll", () => {
    it("enrolls CAP_TRAIN workers in order and the K-th starts round 1", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await createJob(w);
      await expect(w.jobs.connect(w.w1).enroll(jobId))
        .to.emit(w.jobs, "WorkerEnrolled")
        .withArgs(jobId, w.w1.address, 0);
      await expect(w.jobs.connect(w.w2).enroll(jobId))
        .to.emit(w.jobs, "WorkerEnrolled")
        .withArgs(jobId, w.w2.address, 1);
      const tx = w.jobs.connect(w.w3).enroll(jobId);
      const commitDeadline = (await time.latest()) + 1 + DURATIONS.commit;
      await expect(tx).to.emit(w.jobs, "WorkerEnrolled").withArgs(jobId, w.w3.address, 2);
      await expect(tx).to.emit(w.jobs, "RoundStarted").withArgs(jobId, 1, ethers.ZeroHash, "0x", commitDeadline);
      const job = await w.jobs.jobOf(jobId);
      expect(job.status).to.equal(JobStatus.Committing);
      expect(job.round).to.equal(1n);
      expect(job.active).to.equal(3n);
      expect(await w.jobs.workersOf(jobId)).to.deep.equal([w.w1.address, w.w2.address, w.w3.address]);
      expect((await w.jobs.participantOf(jobId, w.w2.address)).index).to.equal(2n);
      await expect(w.jobs.connect(w.w4).enroll(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(jobId, JobStatus.Committing);
    });

    it("rejects unknown jobs, non-trainers, the requester, repeats and late workers", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await expect(w.jobs.connect(w.w1).enroll(9n))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsUnknownJob")
        .withArgs(9n);
      const jobId = await createJob(w);
      for (const who of [w.e1, w.inferrer, w.outsider]) {
        await expect(w.jobs.connect(who).enroll(jobId))
          .to.be.revertedWithCustomError(w.jobs, "TrainingJobsNotTrainer")
          .withArgs(who.address);
      }
      await expect(w.jobs.connect(w.requester).enroll(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsConflictOfInterest")
        .withArgs(jobId, w.requester.address);
      await w.jobs.connect(w.w1).enroll(jobId);
      await expect(w.jobs.connect(w.w1).enroll(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsAlreadyEnrolled")
        .withArgs(jobId, w.w1.address);
      const deadline = (await w.jobs.jobOf(jobId)).deadline;
      await time.increaseTo(deadline + 1n);
      await expect(w.jobs.connect(w.w2).enroll(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsDeadlinePassed")
        .withArgs(jobId, deadline);
    });
  });

  describe("rounds", () => {
    it("commit, reveal and vote move the phases; the quorum completes the round and pays its updates", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      const u = update(10);
      const commitment = commitmentOf(u, w.w1.address);
      await expect(w.jobs.connect(w.w1).commitUpdate(jobId, commitment))
        .to.emit(w.jobs, "UpdateCommitted")
        .withArgs(jobId, 1, w.w1.address, commitment);
      await commit(w, jobId, 1, [w.w2, w.w3]);
      expect((await w.jobs.jobOf(jobId)).status).to.equal(JobStatus.Revealing);
      await expect(w.jobs.connect(w.w1).revealUpdate(jobId, u.updateCid, u.updateHash, u.sampleCount, u.salt))
        .to.emit(w.jobs, "UpdateRevealed")
        .withArgs(jobId, 1, w.w1.address, u.updateCid, u.updateHash, u.sampleCount);
      const u2 = update(11);
      const u3 = update(12);
      await w.jobs.connect(w.w2).revealUpdate(jobId, u2.updateCid, u2.updateHash, u2.sampleCount, u2.salt);
      const tx = w.jobs.connect(w.w3).revealUpdate(jobId, u3.updateCid, u3.updateHash, u3.sampleCount, u3.salt);
      const voteDeadline = (await time.latest()) + 1 + DURATIONS.vote;
      await expect(tx).to.emit(w.jobs, "PhaseStarted").withArgs(jobId, 1, JobStatus.Voting, voteDeadline);

      await expect(w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n))
        .to.emit(w.jobs, "AggregateVoted")
        .withArgs(jobId, 1, w.w1.address, AGG(1), AGG_CID(1), 0n);
      expect(await w.jobs.votesFor(jobId, 1, AGG(1), AGG_CID(1), 0n)).to.equal(1n);
      const share = ROUND_POOL / 3n;
      const deciding = w.jobs.connect(w.w2).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n);
      await expect(deciding).to.emit(w.jobs, "RoundCompleted").withArgs(jobId, 1, AGG(1), AGG_CID(1), 3, 0n);
      await expect(deciding)
        .to.emit(w.jobs, "Credited")
        .withArgs(w.w3.address, jobId, TrainingCreditReason.Update, ROUND_POOL - 2n * share);
      await expect(deciding)
        .to.emit(w.jobs, "RoundStarted")
        .withArgs(jobId, 2, AGG(1), AGG_CID(1), (await time.latest()) + DURATIONS.commit);
      expect(await w.jobs.creditOf(w.w1.address)).to.equal(share);
      expect((await w.jobs.participantOf(jobId, w.w1.address)).earned).to.equal(share);
      expect(await w.jobs.escrowed()).to.equal(BUDGET - ROUND_POOL);
      const result = await w.jobs.roundResultOf(jobId, 1);
      expect(result.aggregateHash).to.equal(AGG(1));
      expect(result.aggregateCid).to.equal(AGG_CID(1));
      expect(result.updates).to.equal(3n);
      expect(result.votes).to.equal(2n);
      // The round is over: late votes are for a round that is no longer current.
      await expect(w.jobs.connect(w.w3).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(jobId, JobStatus.Committing);
    });

    it("rejects bad commits, reveals and votes precisely", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await expect(w.jobs.connect(w.w1).commitUpdate(jobId, ethers.ZeroHash)).to.be.revertedWithCustomError(
        w.jobs,
        "TrainingJobsZeroHash"
      );
      await expect(w.jobs.connect(w.w4).commitUpdate(jobId, id("x")))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsNotParticipant")
        .withArgs(jobId, w.w4.address);
      const u1 = update(10);
      await w.jobs.connect(w.w1).commitUpdate(jobId, commitmentOf(u1, w.w1.address));
      await expect(w.jobs.connect(w.w1).commitUpdate(jobId, id("again")))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsAlreadyDone")
        .withArgs(jobId, 1, w.w1.address);
      await expect(w.jobs.connect(w.w1).revealUpdate(jobId, u1.updateCid, u1.updateHash, u1.sampleCount, u1.salt))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(jobId, JobStatus.Committing);
      await w.jobs.connect(w.w2).commitUpdate(jobId, commitmentOf(update(11), w.w2.address));
      await w.jobs.connect(w.w3).commitUpdate(jobId, commitmentOf(update(12), w.w3.address));

      await expect(
        w.jobs.connect(w.w1).revealUpdate(jobId, "0x", u1.updateHash, 1, u1.salt)
      ).to.be.revertedWithCustomError(w.jobs, "TrainingJobsEmptyCid");
      await expect(
        w.jobs.connect(w.w1).revealUpdate(jobId, u1.updateCid, ethers.ZeroHash, 1, u1.salt)
      ).to.be.revertedWithCustomError(w.jobs, "TrainingJobsZeroHash");
      await expect(
        w.jobs.connect(w.w1).revealUpdate(jobId, u1.updateCid, u1.updateHash, 0, u1.salt)
      ).to.be.revertedWithCustomError(w.jobs, "TrainingJobsZeroSamples");
      // Copying someone else's revealed update does not open one's own commitment.
      await expect(w.jobs.connect(w.w2).revealUpdate(jobId, u1.updateCid, u1.updateHash, u1.sampleCount, u1.salt))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsCommitmentMismatch")
        .withArgs(jobId, 1, w.w2.address);
      await w.jobs.connect(w.w1).revealUpdate(jobId, u1.updateCid, u1.updateHash, u1.sampleCount, u1.salt);
      await expect(w.jobs.connect(w.w1).revealUpdate(jobId, u1.updateCid, u1.updateHash, u1.sampleCount, u1.salt))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsAlreadyDone")
        .withArgs(jobId, 1, w.w1.address);
      await reveal(w, jobId, 1, [w.w2]);
      // Now Revealing with w3 missing: votes are not open yet.
      await expect(w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(jobId, JobStatus.Revealing);
      await reveal(w, jobId, 1, [w.w3]);
      await expect(
        w.jobs.connect(w.w1).voteAggregate(jobId, 1, ethers.ZeroHash, AGG_CID(1), 0n)
      ).to.be.revertedWithCustomError(w.jobs, "TrainingJobsZeroHash");
      await expect(w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), "0x", 0n)).to.be.revertedWithCustomError(
        w.jobs,
        "TrainingJobsEmptyCid"
      );
      await expect(w.jobs.connect(w.w1).voteAggregate(jobId, 2, AGG(1), AGG_CID(1), 0n))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongRound")
        .withArgs(jobId, 2, 1);
      await expect(w.jobs.connect(w.w4).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsNotParticipant")
        .withArgs(jobId, w.w4.address);
      await w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n);
      await expect(w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsAlreadyDone")
        .withArgs(jobId, 1, w.w1.address);
      const deadline = (await w.jobs.jobOf(jobId)).deadline;
      await time.increaseTo(deadline + 1n);
      await expect(w.jobs.connect(w.w2).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsDeadlinePassed")
        .withArgs(jobId, deadline);
    });

    it("advance drops the workers that missed the commit deadline (round 1: unslashed, see below) or the reveal deadline (slashed)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await expect(w.jobs.advance(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsPhaseOpen")
        .withArgs(jobId, (await w.jobs.jobOf(jobId)).deadline);
      await commit(w, jobId, 1, [w.w1, w.w2]);
      await time.increase(DURATIONS.commit + 1);
      const stake3 = await stakeOf(w, w.w3);
      const requesterBefore = await w.token.balanceOf(w.requester.address);
      const treasuryBefore = await w.token.balanceOf(w.treasury.address);
      const tx = w.jobs.connect(w.outsider).advance(jobId);
      await expect(tx)
        .to.emit(w.jobs, "WorkerDropped")
        .withArgs(jobId, 1, w.w3.address, JobStatus.Committing, 0n);
      await expect(tx).to.emit(w.jobs, "PhaseStarted");
      expect(await stakeOf(w, w.w3)).to.equal(stake3);
      expect(await w.token.balanceOf(w.requester.address)).to.equal(requesterBefore);
      expect(await w.token.balanceOf(w.treasury.address)).to.equal(treasuryBefore);
      expect(await w.workers.obligationsOf(w.w3.address)).to.equal(0n);
      expect(await w.workers.obligationsOf(w.w1.address)).to.equal(1n);
      const job = await w.jobs.jobOf(jobId);
      expect(job.status).to.equal(JobStatus.Revealing);
      expect(job.active).to.equal(2n);
      expect((await w.jobs.participantOf(jobId, w.w3.address)).dropped).to.equal(true);
      await expect(w.jobs.connect(w.w3).commitUpdate(jobId, id("late")))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(jobId, JobStatus.Revealing);
      await expect(w.jobs.advance(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsPhaseOpen")
        .withArgs(jobId, job.deadline);
      await reveal(w, jobId, 1, [w.w1, w.w2]);
      await expect(w.jobs.advance(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(jobId, JobStatus.Voting);
      // Two of two is the quorum now; the dropped worker cannot vote.
      await expect(w.jobs.connect(w.w3).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsNotParticipant")
        .withArgs(jobId, w.w3.address);
      await vote(w, jobId, 1, [w.w1, w.w2]);
      expect(await w.jobs.creditOf(w.w1.address)).to.equal(ROUND_POOL / 2n);
      expect(await w.jobs.creditOf(w.w3.address)).to.equal(0n);
      // Round 2 with the two that remain; one misses the reveal: too few updates to go on.
      await commit(w, jobId, 2, [w.w1, w.w2]);
      await reveal(w, jobId, 2, [w.w1].map((x) => x).slice(0, 0));
      await time.increase(DURATIONS.reveal + 1);
      await expect(w.jobs.advance(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsTooFewUpdates")
        .withArgs(jobId, 0);
    });

    it("advance after the reveal deadline drops the silent revealer; a dropped worker is never dropped twice", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w, { evaluationBps: 0 });
      await commit(w, jobId, 1, w.trainers);
      await reveal(w, jobId, 1, [w.w1, w.w2]);
      await time.increase(DURATIONS.reveal + 1);
      const stake3 = await stakeOf(w, w.w3);
      await expect(w.jobs.advance(jobId))
        .to.emit(w.jobs, "WorkerDropped")
        .withArgs(jobId, 1, w.w3.address, JobStatus.Revealing, LAPSE_SLASH);
      expect(await stakeOf(w, w.w3)).to.equal(stake3 - LAPSE_SLASH);
      expect((await w.jobs.jobOf(jobId)).status).to.equal(JobStatus.Voting);
      await vote(w, jobId, 1, [w.w1, w.w2]);
      const roundPool = (BUDGET - ROYALTIES) / 2n;
      expect(await w.jobs.creditOf(w.w2.address)).to.equal(roundPool / 2n);
      // Round 2: only w1 commits; cancelling drops w2 and leaves the already dropped w3 alone.
      await commit(w, jobId, 2, [w.w1]);
      await time.increase(DURATIONS.commit + 1);
      const tx = w.jobs.cancel(jobId);
      await expect(tx)
        .to.emit(w.jobs, "WorkerDropped")
        .withArgs(jobId, 2, w.w2.address, JobStatus.Committing, LAPSE_SLASH);
      await expect(tx)
        .to.emit(w.jobs, "JobCancelled")
        .withArgs(jobId, w.admin.address, 1, BUDGET - roundPool - ROYALTIES / 2n);
      expect(await stakeOf(w, w.w3)).to.equal(stake3 - LAPSE_SLASH);
    });

    it("finalize with no evaluation pool pays only the royalties", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w, { evaluationBps: 0, rounds: 1 });
      await runRound(w, jobId, 1);
      for (const e of [w.e1, w.e2, w.e3]) await w.jobs.connect(e).postEvaluation(jobId, 1, 1);
      await expect(w.jobs.finalize(jobId)).to.emit(w.jobs, "RoyaltiesPaid").withArgs(jobId, ROYALTIES);
      expect(await w.jobs.creditOf(w.e1.address)).to.equal(0n);
      expect(await w.token.balanceOf(w.jobsAddress)).to.equal(BUDGET - ROYALTIES);
      expect(await w.jobs.totalCredits()).to.equal(BUDGET - ROYALTIES);
    });

    it("a split vote stalls the round: after the deadline anyone cancels, non-voters are slashed, revealers paid", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await runRound(w, jobId, 1);
      await commit(w, jobId, 2, w.trainers);
      await reveal(w, jobId, 2, w.trainers);
      await w.jobs.connect(w.w1).voteAggregate(jobId, 2, AGG(2), AGG_CID(2), 0n);
      await w.jobs.connect(w.w2).voteAggregate(jobId, 2, id("other"), AGG_CID(2), 0n);
      await expect(w.jobs.connect(w.outsider).cancel(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsPhaseOpen")
        .withArgs(jobId, (await w.jobs.jobOf(jobId)).deadline);
      await time.increase(DURATIONS.vote + 1);
      // Both rounds' updates were revealed in time: both are paid; the requester gets the rest back.
      const requesterCredit = BUDGET - 2n * ROUND_POOL - ROYALTIES / 2n;
      const tx = w.jobs.connect(w.outsider).cancel(jobId);
      await expect(tx).to.emit(w.jobs, "WorkerDropped").withArgs(jobId, 2, w.w3.address, JobStatus.Voting, LAPSE_SLASH);
      await expect(tx).to.emit(w.jobs, "JobCancelled").withArgs(jobId, w.outsider.address, 1, requesterCredit);
      await expect(tx)
        .to.emit(w.jobs, "RoyaltiesPaid")
        .withArgs(jobId, ROYALTIES / 2n);
      // Royalties pro rata to samples: 1 000 and 3 000.
      await expect(tx)
        .to.emit(w.data, "RoyaltiesCredited")
        .withArgs(w.datasetIds[1], w.alice.address, w.jobsAddress, 3_000, ROYALTIES / 2n - ROYALTIES / 2n / 4n);
      expect(await w.jobs.creditOf(w.requester.address)).to.equal(requesterCredit);
      expect(await w.jobs.escrowed()).to.equal(0n);
      expect(await w.token.balanceOf(w.jobsAddress)).to.equal(await w.jobs.totalCredits());
      expect(await w.jobs.totalCredits()).to.equal(2n * ROUND_POOL + requesterCredit);
      expect(await w.jobs.creditOf(w.w3.address)).to.equal(2n * (ROUND_POOL - 2n * (ROUND_POOL / 3n)));
    });
  });

  describe("cancel", () => {
    it("the requester cancels while enrolling; others only after the enroll deadline", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await createJob(w);
      await w.jobs.connect(w.w1).enroll(jobId);
      await expect(w.jobs.connect(w.outsider).cancel(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsNotCancellable")
        .withArgs(jobId, w.outsider.address);
      await expect(w.jobs.connect(w.requester).cancel(jobId))
        .to.emit(w.jobs, "JobCancelled")
        .withArgs(jobId, w.requester.address, 0, BUDGET)
        .and.to.emit(w.jobs, "Credited")
        .withArgs(w.requester.address, jobId, TrainingCreditReason.Refund, BUDGET);
      await expect(w.jobs.connect(w.requester).cancel(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(jobId, JobStatus.Cancelled);
      const before = await w.token.balanceOf(w.requester.address);
      await expect(w.jobs.connect(w.requester).withdraw())
        .to.emit(w.jobs, "Withdrawn")
        .withArgs(w.requester.address, BUDGET);
      expect(await w.token.balanceOf(w.requester.address)).to.equal(before + BUDGET);
      await expect(w.jobs.connect(w.requester).withdraw())
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsNothingToWithdraw")
        .withArgs(w.requester.address);

      const second = await createJob(w);
      await time.increase(DURATIONS.enroll + 1);
      await expect(w.jobs.connect(w.outsider).cancel(second)).to.emit(w.jobs, "JobCancelled");
    });

    it("a commit phase with fewer than two commits can be cancelled, not advanced", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await commit(w, jobId, 1, [w.w1]);
      await time.increase(DURATIONS.commit + 1);
      await expect(w.jobs.advance(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsTooFewUpdates")
        .withArgs(jobId, 1);
      await expect(w.jobs.cancel(jobId)).to.emit(w.jobs, "JobCancelled").withArgs(jobId, w.admin.address, 0, BUDGET);
      expect((await w.jobs.participantOf(jobId, w.w2.address)).dropped).to.equal(true);
      expect((await w.jobs.participantOf(jobId, w.w1.address)).dropped).to.equal(false);
    });

    it("refuses to cancel a job that can advance", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await commit(w, jobId, 1, [w.w1, w.w2]);
      await time.increase(DURATIONS.commit + 1);
      await expect(w.jobs.cancel(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsNotStalled")
        .withArgs(jobId);
      await w.jobs.advance(jobId);
      await reveal(w, jobId, 1, [w.w1, w.w2]);
      await expect(w.jobs.cancel(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsPhaseOpen")
        .withArgs(jobId, (await w.jobs.jobOf(jobId)).deadline);
    });

    it("a revealing phase with too few reveals is cancellable", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await commit(w, jobId, 1, w.trainers);
      await reveal(w, jobId, 1, [w.w1, w.w2]);
      await time.increase(DURATIONS.reveal + 1);
      await expect(w.jobs.cancel(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsNotStalled")
        .withArgs(jobId);
      const other = await createJob(w);
      for (const worker of w.trainers) await w.jobs.connect(worker).enroll(other);
      await commit(w, other, 1, w.trainers);
      await reveal(w, other, 1, [w.w1]);
      await time.increase(DURATIONS.reveal + 1);
      // The one update revealed in time is paid the round's part.
      const tx = w.jobs.cancel(other);
      await expect(tx).to.emit(w.jobs, "JobCancelled").withArgs(other, w.admin.address, 0, BUDGET - ROUND_POOL);
      await expect(tx).to.emit(w.jobs, "Credited").withArgs(w.w1.address, other, TrainingCreditReason.Update, ROUND_POOL);
    });
  });

  describe("evaluation and finalization", () => {
    it("validators score the final model; finalize registers it with provenance and pays everyone", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await trained(w);
      expect((await w.jobs.jobOf(jobId)).status).to.equal(JobStatus.Evaluating);
      await expect(w.jobs.finalize(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsPhaseOpen")
        .withArgs(jobId, (await w.jobs.jobOf(jobId)).deadline);
      await expect(w.jobs.connect(w.e1).postEvaluation(jobId, 970_000, 90_000))
        .to.emit(w.jobs, "EvaluationPosted")
        .withArgs(jobId, w.e1.address, 970_000, 90_000);
      await w.jobs.connect(w.e2).postEvaluation(jobId, 950_000, 120_000);
      await w.jobs.connect(w.e3).postEvaluation(jobId, 980_000, 80_000);
      await expect(w.jobs.connect(w.v1).postEvaluation(jobId, 1, 1))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsEvaluationsComplete")
        .withArgs(jobId, 3);

      const dataBefore = await w.token.balanceOf(await w.data.getAddress());
      const tx = w.jobs.connect(w.outsider).finalize(jobId);
      await expect(tx).to.emit(w.jobs, "JobFinalized").withArgs(jobId, 1n, 1n, 970_000, 90_000, 3);
      await expect(tx).to.emit(w.jobs, "RoyaltiesPaid").withArgs(jobId, ROYALTIES);
      await expect(tx).to.emit(w.models, "VersionPublished");
      await expect(tx)
        .to.emit(w.models, "ModelOwnershipTransferStarted")
        .withArgs(1n, w.jobsAddress, w.requester.address);
      expect(await w.token.balanceOf(await w.data.getAddress())).to.equal(dataBefore + ROYALTIES);
      expect(await w.data.creditOf(w.alice.address)).to.be.greaterThanOrEqual(ROYALTIES);
      for (const e of [w.e1, w.e2]) expect(await w.jobs.creditOf(e.address)).to.equal(EVAL_POOL / 3n);
      expect(await w.jobs.creditOf(w.e3.address)).to.equal(EVAL_POOL - 2n * (EVAL_POOL / 3n));
      const share = ROUND_POOL / 3n;
      expect(await w.jobs.creditOf(w.w1.address)).to.equal(2n * share);
      expect(await w.jobs.creditOf(w.w3.address)).to.equal(2n * (ROUND_POOL - 2n * share));
      expect(await w.jobs.creditOf(w.requester.address)).to.equal(0n);
      expect(await w.jobs.escrowed()).to.equal(0n);
      expect(await w.token.balanceOf(w.jobsAddress)).to.equal(BUDGET - ROYALTIES);
      expect(await w.jobs.totalCredits()).to.equal(BUDGET - ROYALTIES);

      const job = await w.jobs.jobOf(jobId);
      expect(job.status).to.equal(JobStatus.Finalized);
      expect(job.accuracy).to.equal(970_000n);
      expect(job.loss).to.equal(90_000n);
      expect(job.versionId).to.equal(1n);
      expect(await w.jobs.jobOfVersion(1n)).to.equal(jobId);
      const version = await w.models.getVersion(1n);
      expect(version.manifestCid).to.equal(MANIFEST_CID);
      expect(version.weightsCid).to.equal(AGG_CID(2));
      expect(version.contentHash).to.equal(AGG(2));
      expect((await w.models.getModel(1n)).name).to.equal("mnist-mlp-federated");
      await w.models.connect(w.requester).acceptModelOwnership(1n);
      expect((await w.models.getVersion(1n)).owner).to.equal(w.requester.address);
      expect((await w.jobs.evaluationsOf(jobId)).length).to.equal(3);

      for (const worker of w.trainers) {
        const credit = await w.jobs.creditOf(worker.address);
        const before = await w.token.balanceOf(worker.address);
        await w.jobs.connect(worker).withdraw();
        expect(await w.token.balanceOf(worker.address)).to.equal(before + credit);
      }
      await expect(w.jobs.finalize(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(jobId, JobStatus.Finalized);
      await expect(w.jobs.cancel(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(jobId, JobStatus.Finalized);
    });

    it("takes evaluations until the evaluation deadline, inclusive, and none after it", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await trained(w);
      const deadline = (await w.jobs.jobOf(jobId)).deadline;
      await time.setNextBlockTimestamp(deadline);
      await expect(w.jobs.connect(w.e1).postEvaluation(jobId, 900_000, 1))
        .to.emit(w.jobs, "EvaluationPosted")
        .withArgs(jobId, w.e1.address, 900_000, 1);
      expect(BigInt(await time.latest())).to.equal(deadline);
      await expect(w.jobs.connect(w.e2).postEvaluation(jobId, 900_000, 1)) // one second late
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsDeadlinePassed")
        .withArgs(jobId, deadline);
      expect((await w.jobs.jobOf(jobId)).evaluations).to.equal(1n);
      expect((await w.jobs.evaluationsOf(jobId)).length).to.equal(1);
      // The late evaluator is not paid: the one evaluation posted in time gets its third of the pool.
      await w.jobs.cancel(jobId);
      expect(await w.jobs.creditOf(w.e1.address)).to.equal(EVAL_POOL / 3n);
      expect(await w.jobs.creditOf(w.e2.address)).to.equal(0n);
    });

    it("rejects evaluations from the requester, the job's workers, non-validators and repeats", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await trained(w);
      for (const who of [w.requester, w.w1]) {
        await expect(w.jobs.connect(who).postEvaluation(jobId, 1, 1))
          .to.be.revertedWithCustomError(w.jobs, "TrainingJobsConflictOfInterest")
          .withArgs(jobId, who.address);
      }
      for (const who of [w.w4, w.outsider]) {
        await expect(w.jobs.connect(who).postEvaluation(jobId, 1, 1))
          .to.be.revertedWithCustomError(w.jobs, "TrainingJobsNotValidator")
          .withArgs(who.address);
      }
      await w.jobs.connect(w.e1).postEvaluation(jobId, 1, 1);
      await expect(w.jobs.connect(w.e1).postEvaluation(jobId, 1, 1))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsAlreadyEvaluated")
        .withArgs(jobId, w.e1.address);
      const early = await createJob(w);
      await expect(w.jobs.connect(w.e1).postEvaluation(early, 1, 1))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(early, JobStatus.Enrolling);
      await expect(w.jobs.finalize(early))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(early, JobStatus.Enrolling);
      await expect(w.jobs.advance(early))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsWrongStatus")
        .withArgs(early, JobStatus.Enrolling);
    });

    it("after the deadline: fewer than three evaluations cancel (posted ones paid), four finalize on the median", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await trained(w);
      await w.jobs.connect(w.e1).postEvaluation(jobId, 900_000, 100_000);
      await w.jobs.connect(w.e2).postEvaluation(jobId, 800_000, 300_000);
      await expect(w.jobs.cancel(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsPhaseOpen")
        .withArgs(jobId, (await w.jobs.jobOf(jobId)).deadline);
      await time.increase(DURATIONS.evaluation + 1);
      await expect(w.jobs.finalize(jobId))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsTooFewEvaluations")
        .withArgs(jobId, 2, 3);
      // Two evaluations cannot make a robust median: the job is cancelled, each posted evaluation paid its share.
      const tx = w.jobs.cancel(jobId);
      await expect(tx).to.emit(w.jobs, "JobCancelled").withArgs(jobId, w.admin.address, 2, EVAL_POOL - 2n * (EVAL_POOL / 3n));
      await expect(tx).to.emit(w.jobs, "RoyaltiesPaid").withArgs(jobId, ROYALTIES);
      // Training ended before: no worker is dropped or slashed, no stake released a second time.
      await expect(tx).not.to.emit(w.jobs, "WorkerDropped");
      await expect(tx).not.to.emit(w.workers, "StakeReleased");
      expect(await w.jobs.creditOf(w.e1.address)).to.equal(EVAL_POOL / 3n);

      const even = await createJob(w, { evaluators: 5 });
      for (const worker of w.trainers) await w.jobs.connect(worker).enroll(even);
      await runRound(w, even, 1);
      await runRound(w, even, 2);
      for (const [e, acc, loss] of [[w.e1, 900_000, 100_000], [w.e2, 800_000, 300_000], [w.e3, 700_000, 200_000], [w.v1, 600_000, 400_000]] as const) {
        await w.jobs.connect(e).postEvaluation(even, acc, loss);
      }
      await time.increase(DURATIONS.evaluation + 1);
      await expect(w.jobs.finalize(even)).to.emit(w.jobs, "JobFinalized").withArgs(even, 1n, 1n, 750_000, 250_000, 4);
      // Past the deadline the pool goes to the evaluations posted: four of five.
      expect(await w.jobs.creditOf(w.v1.address)).to.equal(EVAL_POOL / 4n);

      const silent = await createJob(w);
      for (const worker of w.trainers) await w.jobs.connect(worker).enroll(silent);
      await runRound(w, silent, 1);
      await runRound(w, silent, 2);
      await time.increase(DURATIONS.evaluation + 1);
      await expect(w.jobs.finalize(silent))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsTooFewEvaluations")
        .withArgs(silent, 0, 3);
      const refund = EVAL_POOL;
      await expect(w.jobs.cancel(silent))
        .to.emit(w.jobs, "JobCancelled")
        .withArgs(silent, w.admin.address, 2, refund)
        .and.to.emit(w.jobs, "RoyaltiesPaid")
        .withArgs(silent, ROYALTIES);
    });

    it("royalties of datasets withdrawn since creation go back to the requester", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await trained(w);
      for (const datasetId of w.datasetIds) await w.data.connect(w.alice).withdrawDataset(datasetId);
      for (const e of [w.e1, w.e2, w.e3]) await w.jobs.connect(e).postEvaluation(jobId, 1, 1);
      await expect(w.jobs.finalize(jobId))
        .to.emit(w.jobs, "Credited")
        .withArgs(w.requester.address, jobId, TrainingCreditReason.Refund, ROYALTIES)
        .and.not.to.emit(w.jobs, "RoyaltiesPaid");
      expect(await w.token.balanceOf(w.jobsAddress)).to.equal(await w.jobs.totalCredits());
    });

    it("pays only the datasets still accepted when some were withdrawn", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await trained(w);
      await w.data.connect(w.alice).withdrawDataset(w.datasetIds[0]);
      for (const e of [w.e1, w.e2, w.e3]) await w.jobs.connect(e).postEvaluation(jobId, 1, 1);
      await expect(w.jobs.finalize(jobId))
        .to.emit(w.data, "RoyaltiesCredited")
        .withArgs(w.datasetIds[1], w.alice.address, w.jobsAddress, 3_000, ROYALTIES);
    });

    it("royalties the DataRegistry refuses go back to the requester: the failure is recorded, no allowance is left", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await trained(w);
      for (const e of [w.e1, w.e2, w.e3]) await w.jobs.connect(e).postEvaluation(jobId, 900_000, 1);
      // The registry no longer takes royalties from this TrainingJobs (say, the role was moved to a successor).
      const role = await w.data.ROYALTY_PAYER_ROLE();
      await w.data.revokeRole(role, w.jobsAddress);
      const dataAddress = await w.data.getAddress();
      const aliceCredit = await w.data.creditOf(w.alice.address);
      const tx = w.jobs.finalize(jobId);
      const reason = w.data.interface.encodeErrorResult("AccessControlUnauthorizedAccount", [w.jobsAddress, role]);
      await expect(tx).to.emit(w.jobs, "RoyaltiesFailed").withArgs(jobId, ROYALTIES, reason);
      await expect(tx)
        .to.emit(w.jobs, "Credited")
        .withArgs(w.requester.address, jobId, TrainingCreditReason.Refund, ROYALTIES);
      await expect(tx).not.to.emit(w.jobs, "RoyaltiesPaid");
      await expect(tx).to.emit(w.jobs, "JobFinalized");
      await expect(tx).to.changeTokenBalances(ethers, w.token, [w.jobsAddress, dataAddress], [0n, 0n]);
      expect(await w.token.allowance(w.jobsAddress, dataAddress)).to.equal(0n);
      expect(await w.data.creditOf(w.alice.address)).to.equal(aliceCredit);
      for (const datasetId of w.datasetIds) {
        const d = await w.data.datasetOf(datasetId);
        expect([d.timesUsed, d.royalties]).to.deep.equal([0n, 0n]);
      }
      expect(await w.jobs.creditOf(w.requester.address)).to.equal(ROYALTIES);
      expect(await w.jobs.escrowed()).to.equal(0n);
      expect(await w.token.balanceOf(w.jobsAddress)).to.equal(await w.jobs.totalCredits());
      await expect(w.jobs.connect(w.requester).withdraw()).to.changeTokenBalances(
        ethers,
        w.token,
        [w.requester, w.jobs],
        [ROYALTIES, -ROYALTIES],
      );
    });
  });

  describe("adversaries (issue 8)", () => {
    const CID_B = "0x01551220" + "fe".repeat(32);

    it("a requester cannot farm lapse slashes: a round nobody could commit slashes no one; slashes never reach it", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      const stakes = await Promise.all(w.trainers.map((t) => stakeOf(w, t)));
      const requesterBefore = await w.token.balanceOf(w.requester.address);
      await time.increase(DURATIONS.commit + 1);
      const tx = w.jobs.connect(w.requester).cancel(jobId);
      for (const t of w.trainers) {
        await expect(tx).to.emit(w.jobs, "WorkerDropped").withArgs(jobId, 1, t.address, JobStatus.Committing, 0n);
      }
      await expect(tx).to.emit(w.jobs, "JobCancelled").withArgs(jobId, w.requester.address, 0, BUDGET);
      expect(await Promise.all(w.trainers.map((t) => stakeOf(w, t)))).to.deep.equal(stakes);
      expect(await w.token.balanceOf(w.requester.address)).to.equal(requesterBefore);
      for (const t of w.trainers) expect(await w.workers.obligationsOf(t.address)).to.equal(0n);

      // When a peer did commit (from round 2 on: round 1's commit is never slashed), the laggards are slashed, and
      // the slash goes to the treasury.
      const second = await enrolled(w);
      await commit(w, second, 1, w.trainers);
      await reveal(w, second, 1, w.trainers);
      await vote(w, second, 1, [w.w1, w.w2]); // the quorum: the round is agreed
      await commit(w, second, 2, [w.w1]);
      await time.increase(DURATIONS.commit + 1);
      const treasuryBefore = await w.token.balanceOf(w.treasury.address);
      const requesterTokens = await w.token.balanceOf(w.requester.address);
      await w.jobs.connect(w.requester).cancel(second);
      expect(await w.token.balanceOf(w.requester.address)).to.equal(requesterTokens);
      expect(await w.token.balanceOf(w.treasury.address)).to.equal(treasuryBefore + 2n * LAPSE_SLASH);
    });

    it("a contributor who withholds its key from one worker's partition cannot get it slashed: round 1's missed commit drops it unpaid and unslashed; from round 2 on, a missed commit is slashed", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      const stakes = await Promise.all(w.trainers.map((t) => stakeOf(w, t)));
      const treasuryBefore = await w.token.balanceOf(w.treasury.address);
      // w3's dataset owner never shares the key with it: w1 and w2 (their data shared) commit, w3 cannot.
      await commit(w, jobId, 1, [w.w1, w.w2]);
      await time.increase(DURATIONS.commit + 1);
      const tx = w.jobs.connect(w.outsider).advance(jobId);
      await expect(tx).to.emit(w.jobs, "WorkerDropped").withArgs(jobId, 1, w.w3.address, JobStatus.Committing, 0n);
      await expect(tx).to.not.emit(w.workers, "WorkerSlashed");
      expect(await Promise.all(w.trainers.map((t) => stakeOf(w, t)))).to.deep.equal(stakes);
      expect(await w.token.balanceOf(w.treasury.address)).to.equal(treasuryBefore);
      expect(await w.workers.obligationsOf(w.w3.address)).to.equal(0n); // free to work elsewhere
      // Round 1 goes on with the two; in round 2 w2 misses the commit with its data in hand: slashed.
      await reveal(w, jobId, 1, [w.w1, w.w2]);
      await vote(w, jobId, 1, [w.w1, w.w2]);
      expect(await w.jobs.creditOf(w.w3.address)).to.equal(0n);
      await commit(w, jobId, 2, [w.w1]);
      await time.increase(DURATIONS.commit + 1);
      await expect(w.jobs.cancel(jobId)).to.emit(w.jobs, "WorkerDropped").withArgs(jobId, 2, w.w2.address, JobStatus.Committing, LAPSE_SLASH);
      expect(await stakeOf(w, w.w2)).to.equal(stakes[1]! - LAPSE_SLASH);
      expect(await w.token.balanceOf(w.treasury.address)).to.equal(treasuryBefore + LAPSE_SLASH);
    });

    it("a job that cannot pay minUpdatePay per worker-round is rejected (a budget of a few wei)", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      await expect(w.jobs.connect(w.requester).createJob(jobArgs(w.datasetIds, { budget: 6n }), NO_PERMIT))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsBudgetTooLow")
        .withArgs(6n, 6n * MIN_UPDATE_PAY);
    });

    it("a poisoned update excluded by the quorum is not paid; its share is refunded; the exclusion is announced", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await commit(w, jobId, 1, w.trainers);
      await reveal(w, jobId, 1, w.trainers);
      const mask = 1n << 2n; // w3, partition index 2
      // A mask naming a worker that did not reveal, a bit beyond the workers, or every update is refused.
      for (const bad of [1n << 3n, 7n]) {
        await expect(w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), bad))
          .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidExclusion")
          .withArgs(jobId, 1, bad);
      }
      // The exclusions are part of the agreed tuple: a vote without them counts apart.
      await w.jobs.connect(w.w3).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n);
      await w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), mask);
      expect(await w.jobs.votesFor(jobId, 1, AGG(1), AGG_CID(1), mask)).to.equal(1n);
      const share = ROUND_POOL / 3n;
      const tx = w.jobs.connect(w.w2).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), mask);
      await expect(tx).to.emit(w.jobs, "RoundCompleted").withArgs(jobId, 1, AGG(1), AGG_CID(1), 3, mask);
      await expect(tx).to.emit(w.jobs, "UpdateExcluded").withArgs(jobId, 1, w.w3.address);
      await expect(tx)
        .to.emit(w.jobs, "Credited")
        .withArgs(w.requester.address, jobId, TrainingCreditReason.Refund, share);
      await expect(tx).to.emit(w.jobs, "DissentSlashed").withArgs(jobId, 1, w.w3.address, LAPSE_SLASH);
      expect(await w.jobs.creditOf(w.w3.address)).to.equal(0n);
      expect(await w.jobs.creditOf(w.w1.address)).to.equal(share);
      expect(await w.jobs.creditOf(w.w2.address)).to.equal(ROUND_POOL - 2n * share);
      expect((await w.jobs.roundResultOf(jobId, 1)).excludedMask).to.equal(mask);
      expect(await w.token.balanceOf(w.jobsAddress)).to.equal((await w.jobs.escrowed()) + (await w.jobs.totalCredits()));
    });

    it("an exclusion naming a dropped worker, which revealed nothing this round, is refused; a revealer's is not", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await commit(w, jobId, 1, w.trainers);
      await reveal(w, jobId, 1, [w.w1, w.w2]);
      await time.increase(DURATIONS.reveal + 1);
      await w.jobs.advance(jobId); // drops w3 (partition index 2): two updates revealed, voting open
      expect((await w.jobs.jobOf(jobId)).status).to.equal(JobStatus.Voting);
      // Within the workers and one bit below the two revealed: only the bit's owner tells it apart. Had it passed,
      // the round would pay both revealed updates and refund the "excluded" share on top of them.
      const dropped = 1n << 2n;
      await expect(w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), dropped))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidExclusion")
        .withArgs(jobId, 1, dropped);
      expect(await w.jobs.votesFor(jobId, 1, AGG(1), AGG_CID(1), dropped)).to.equal(0n);
      expect((await w.jobs.participantOf(jobId, w.w1.address)).votedRound).to.equal(0n);
      const revealer = 1n << 1n; // w2
      await expect(w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), revealer))
        .to.emit(w.jobs, "AggregateVoted")
        .withArgs(jobId, 1, w.w1.address, AGG(1), AGG_CID(1), revealer);
    });

    it("the deciding voter cannot choose the aggregate's CID: the quorum is over hash and CID together", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await commit(w, jobId, 1, w.trainers);
      await reveal(w, jobId, 1, w.trainers);
      await w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n);
      // Same hash, another CID: on the old contract this vote completed the round with CID_B.
      await expect(w.jobs.connect(w.w2).voteAggregate(jobId, 1, AGG(1), CID_B, 0n)).not.to.emit(w.jobs, "RoundCompleted");
      await expect(w.jobs.connect(w.w3).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n))
        .to.emit(w.jobs, "RoundCompleted")
        .withArgs(jobId, 1, AGG(1), AGG_CID(1), 3, 0n);
      expect((await w.jobs.roundResultOf(jobId, 1)).aggregateCid).to.equal(AGG_CID(1));
    });

    it("dissent from a reached quorum is slashed (to the treasury) but the dissenter's revealed update is paid", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await commit(w, jobId, 1, w.trainers);
      await reveal(w, jobId, 1, w.trainers);
      await w.jobs.connect(w.w3).voteAggregate(jobId, 1, id("sabotage"), AGG_CID(1), 0n);
      const stake3 = await stakeOf(w, w.w3);
      const treasuryBefore = await w.token.balanceOf(w.treasury.address);
      await w.jobs.connect(w.w1).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n);
      const tx = w.jobs.connect(w.w2).voteAggregate(jobId, 1, AGG(1), AGG_CID(1), 0n);
      await expect(tx).to.emit(w.jobs, "DissentSlashed").withArgs(jobId, 1, w.w3.address, LAPSE_SLASH);
      expect(await stakeOf(w, w.w3)).to.equal(stake3 - LAPSE_SLASH);
      expect(await w.token.balanceOf(w.treasury.address)).to.equal(treasuryBefore + LAPSE_SLASH);
      expect(await w.jobs.creditOf(w.w3.address)).to.equal(ROUND_POOL - 2n * (ROUND_POOL / 3n));
    });

    it("a requester's worker cannot block: withholding its vote leaves 2 of 3; blocking 2 of 2 pays the revealers", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await commit(w, jobId, 1, w.trainers);
      await reveal(w, jobId, 1, w.trainers);
      // w3 (the requester's) waits for every update to be public and withholds its vote: the quorum needs only 2.
      await vote(w, jobId, 1, [w.w1, w.w2]);
      expect((await w.jobs.jobOf(jobId)).round).to.equal(2n);
      // Round 2: w3 withholds its reveal after the others revealed: dropped and slashed, the round goes on.
      await commit(w, jobId, 2, w.trainers);
      await reveal(w, jobId, 2, [w.w1, w.w2]);
      await time.increase(DURATIONS.reveal + 1);
      await expect(w.jobs.advance(jobId))
        .to.emit(w.jobs, "WorkerDropped")
        .withArgs(jobId, 2, w.w3.address, JobStatus.Revealing, LAPSE_SLASH);

      // With two left, a dissenting vote stalls the round, but the revealed work is paid, not refunded.
      const other = await enrolled(w, { rounds: 1 });
      await commit(w, other, 1, w.trainers);
      await reveal(w, other, 1, [w.w1, w.w2]);
      await time.increase(DURATIONS.reveal + 1);
      await w.jobs.advance(other);
      await w.jobs.connect(w.w1).voteAggregate(other, 1, AGG(1), AGG_CID(1), 0n);
      await w.jobs.connect(w.w2).voteAggregate(other, 1, id("blocker"), AGG_CID(1), 0n);
      await time.increase(DURATIONS.vote + 1);
      const pool = BUDGET - ROYALTIES - EVAL_POOL;
      const before = await w.jobs.creditOf(w.w1.address);
      const tx = w.jobs.connect(w.requester).cancel(other);
      await expect(tx).to.emit(w.jobs, "JobCancelled").withArgs(other, w.requester.address, 0, BUDGET - pool);
      expect((await w.jobs.creditOf(w.w1.address)) - before).to.equal(pool / 2n);
    });

    it("a worker cannot unbond its stake during a job, nor earn once it asked to leave", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      expect(await w.workers.obligationsOf(w.w1.address)).to.equal(1n);
      await w.workers.connect(w.w1).requestUnstake();
      await expect(w.jobs.connect(w.w1).commitUpdate(jobId, id("c")))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsNotTrainer")
        .withArgs(w.w1.address);
      await time.increase(Number(await w.workers.unbondingDelay()) + 1);
      await expect(w.workers.connect(w.w1).withdrawStake())
        .to.be.revertedWithCustomError(w.workers, "WorkerRegistryStakeBonded")
        .withArgs(w.w1.address, 1n);
      // The job ends (nobody committed: nobody slashed); the stake is released and can be withdrawn.
      await w.jobs.cancel(jobId);
      expect(await w.workers.obligationsOf(w.w1.address)).to.equal(0n);
      await expect(w.workers.connect(w.w1).withdrawStake()).to.emit(w.workers, "StakeWithdrawn");
    });

    it("stakes are released when training ends, before evaluation", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await enrolled(w);
      await runRound(w, jobId, 1);
      for (const t of w.trainers) expect(await w.workers.obligationsOf(t.address)).to.equal(1n);
      await runRound(w, jobId, 2);
      for (const t of w.trainers) expect(await w.workers.obligationsOf(t.address)).to.equal(0n);
    });

    it("evaluations are range-checked at the edge, and one outlier cannot move the median", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const jobId = await trained(w);
      await expect(w.jobs.connect(w.e1).postEvaluation(jobId, 1_000_001, 1))
        .to.be.revertedWithCustomError(w.jobs, "TrainingJobsInvalidEvaluation")
        .withArgs(1_000_001);
      await w.jobs.connect(w.e1).postEvaluation(jobId, 1_000_000, 1);
      await w.jobs.connect(w.e2).postEvaluation(jobId, 940_000, 60_000);
      await w.jobs.connect(w.e3).postEvaluation(jobId, 950_000, 50_000);
      await expect(w.jobs.finalize(jobId)).to.emit(w.jobs, "JobFinalized").withArgs(jobId, 1n, 1n, 950_000, 50_000, 3);
    });

    it("a registry that refuses the model cannot lock the job: finalize pays out and records the failure", async () => {
      const w = await networkHelpers.loadFixture(fixture);
      const models = await ethers.deployContract("ModelRegistry", [w.admin.address]);
      // A market that cannot take version terms: every publishVersion reverts.
      await models.setInferenceMarket(await (await ethers.deployContract("EventEmitterMock")).getAddress());
      const broken = await deployTrainingJobs(ethers, { ...w, models } as never, w.data, w.admin, {
        treasury: w.treasury.address,
      });
      const b = { ...w, jobs: broken, jobsAddress: await broken.getAddress() };
      await w.token.connect(w.requester).approve(b.jobsAddress, ethers.MaxUint256);
      const jobId = await trained(b);
      for (const e of [w.e1, w.e2, w.e3]) await broken.connect(e).postEvaluation(jobId, 900_000, 1);
      await expect(broken.finalize(jobId, { gasLimit: 900_000 }))
        .to.be.revertedWithCustomError(broken, "TrainingJobsInsufficientGas");
      const tx = broken.finalize(jobId);
      await expect(tx).to.emit(broken, "ModelRegistrationFailed");
      await expect(tx).to.emit(broken, "JobFinalized").withArgs(jobId, 0n, 0n, 900_000, 1, 3);
      await expect(tx).to.emit(broken, "RoyaltiesPaid").withArgs(jobId, ROYALTIES);
      expect(await broken.escrowed()).to.equal(0n);
      expect(await w.token.balanceOf(b.jobsAddress)).to.equal(await broken.totalCredits());
      await expect(broken.registerTrainedModel(jobId))
        .to.be.revertedWithCustomError(broken, "TrainingJobsOnlySelf")
        .withArgs(w.admin.address);
    });
  });
});
