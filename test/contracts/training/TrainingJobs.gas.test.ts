import { expect } from "chai";
import hre, { network } from "hardhat";
import { CAP_TRAIN, deployTessera, signPermit } from "../../helpers/tessera.js";
import {
  NO_PERMIT,
  Reason,
  TOKEN,
  contribution,
  datasetIdOf,
  deployDataRegistry,
  registerValidator,
} from "../../helpers/data.js";
import { DURATIONS, commitmentOf, deployTrainingJobs, jobArgs, jobIdOf, update } from "../../helpers/training.js";
import { id } from "ethers";

const { ethers, networkHelpers } = await network.create();
// Coverage instrumentation adds gas: the figures are only meaningful (and bounded) without it.
const measuring = !hre.globalOptions.coverage;

/** Gas of TrainingJobs' external functions on the in-process chain (cancun), 2 datasets, 3 workers. */
describe("TrainingJobs gas", () => {
  const report: Record<string, number> = {};

  async function fixture() {
    const [admin, treasury, alice, requester, v1, v2, e1, e2, e3, w1, w2, w3] = await ethers.getSigners();
    const d = await deployTessera(ethers, admin, treasury.address);
    const data = await deployDataRegistry(ethers, d, admin);
    for (const v of [v1, v2, e1, e2, e3]) await registerValidator(d, v);
    for (const w of [w1, w2, w3]) await registerValidator(d, w, CAP_TRAIN);
    await d.token.mint(alice.address, 1_000n * TOKEN);
    await d.token.connect(alice).approve(await data.getAddress(), ethers.MaxUint256);
    const datasetIds: bigint[] = [];
    for (const seed of [1, 2]) {
      const tx = await data.connect(alice).contribute(contribution(seed), NO_PERMIT);
      const datasetId = datasetIdOf(data, await tx.wait());
      for (const v of [v1, v2, e1, e2, e3]) await data.connect(v).vote(datasetId, true, Reason.Ok); // the whole drawn committee
      datasetIds.push(datasetId);
    }
    const jobs = await deployTrainingJobs(ethers, d, data, admin);
    await d.token.mint(requester.address, 100_000n * TOKEN);
    await d.token.connect(requester).approve(await jobs.getAddress(), ethers.MaxUint256);
    return { ...d, data, jobs, datasetIds, requester, e1, e2, e3, trainers: [w1, w2, w3] };
  }
  type World = Awaited<ReturnType<typeof fixture>>;

  async function gasOf(tx: Promise<{ wait(): Promise<{ gasUsed: bigint } | null> }>): Promise<number> {
    return Number((await (await tx).wait())!.gasUsed);
  }

  async function create(w: World) {
    const tx = await w.jobs.connect(w.requester).createJob(jobArgs(w.datasetIds), NO_PERMIT);
    return jobIdOf(w.jobs, await tx.wait());
  }

  /** Runs round `round` of `jobId`, recording the gas of each step when `record` is set. */
  async function round(w: World, jobId: bigint, r: number, record: boolean) {
    const [w1, w2, w3] = w.trainers;
    const put = (key: string, gas: number) => {
      if (record) report[key] = gas;
    };
    const c = (worker: typeof w1, i: number) =>
      w.jobs.connect(worker).commitUpdate(jobId, commitmentOf(update(r * 10 + i), worker.address));
    put("commitUpdate", await gasOf(c(w1, 0)));
    await c(w2, 1);
    put("commitUpdate (last: starts reveal)", await gasOf(c(w3, 2)));
    const rv = (worker: typeof w1, i: number) => {
      const u = update(r * 10 + i);
      return w.jobs.connect(worker).revealUpdate(jobId, u.updateCid, u.updateHash, u.sampleCount, u.salt);
    };
    put("revealUpdate (36-byte CID)", await gasOf(rv(w1, 0)));
    await rv(w2, 1);
    put("revealUpdate (last: starts vote)", await gasOf(rv(w3, 2)));
    const cid = "0x01551220" + "ef".repeat(32);
    put("voteAggregate (non-deciding)", await gasOf(w.jobs.connect(w1).voteAggregate(jobId, r, id(`agg${r}`), cid, 0n)));
    return gasOf(w.jobs.connect(w2).voteAggregate(jobId, r, id(`agg${r}`), cid, 0n));
  }

  it("createJob (allowance, permit) and enroll", async () => {
    const w = await networkHelpers.loadFixture(fixture);
    await create(w); // the contract already holds tokens, as in a live deployment
    report["createJob (allowance, 2 datasets)"] = await gasOf(
      w.jobs.connect(w.requester).createJob(jobArgs(w.datasetIds), NO_PERMIT)
    );
    const spender = await w.jobs.getAddress();
    await w.token.connect(w.requester).approve(spender, 0n);
    const deadline = BigInt((await networkHelpers.time.latest()) + 3600);
    const budget = jobArgs(w.datasetIds).budget;
    const sig = await signPermit(w.token, w.requester, spender, budget, deadline);
    report["createJob (permit, 2 datasets)"] = await gasOf(
      w.jobs
        .connect(w.requester)
        .createJob(jobArgs(w.datasetIds), { value: budget, deadline, v: sig.v, r: sig.r, s: sig.s })
    );
    const [w1, w2, w3] = w.trainers;
    report["enroll"] = await gasOf(w.jobs.connect(w1).enroll(2n));
    await w.jobs.connect(w2).enroll(2n);
    report["enroll (K-th: starts round 1)"] = await gasOf(w.jobs.connect(w3).enroll(2n));
    if (measuring) expect(report["createJob (allowance, 2 datasets)"]).to.be.lessThan(400_000);
  });

  it("a round, evaluation and finalize", async () => {
    const w = await networkHelpers.loadFixture(fixture);
    const warm = await create(w); // workers and validators already hold credit, as in steady state
    for (const worker of w.trainers) await w.jobs.connect(worker).enroll(warm);
    await round(w, warm, 1, false);
    await round(w, warm, 2, false);
    for (const e of [w.e1, w.e2, w.e3]) await w.jobs.connect(e).postEvaluation(warm, 1, 1);
    await w.jobs.finalize(warm);

    const jobId = await create(w);
    for (const worker of w.trainers) await w.jobs.connect(worker).enroll(jobId);
    report["voteAggregate (deciding: 3 updates paid, next round)"] = await round(w, jobId, 1, true);
    report["voteAggregate (deciding, last round: starts evaluation)"] = await round(w, jobId, 2, false);
    report["postEvaluation (1st)"] = await gasOf(w.jobs.connect(w.e1).postEvaluation(jobId, 970_000, 90_000));
    await w.jobs.connect(w.e2).postEvaluation(jobId, 950_000, 120_000);
    report["postEvaluation (3rd)"] = await gasOf(w.jobs.connect(w.e3).postEvaluation(jobId, 980_000, 80_000));
    report["finalize (3 evaluations, 2 datasets, model + version)"] = await gasOf(w.jobs.finalize(jobId));
    report["withdraw"] = await gasOf(w.jobs.connect(w.trainers[0]).withdraw());
    if (measuring) {
      expect(report["commitUpdate"]).to.be.lessThan(100_000);
      expect(report["voteAggregate (non-deciding)"]).to.be.lessThan(100_000);
    }
  });

  it("advance (drops one: round 1's commit, unslashed) and cancel", async () => {
    const w = await networkHelpers.loadFixture(fixture);
    const jobId = await create(w);
    const [w1, w2, w3] = w.trainers;
    for (const worker of w.trainers) await w.jobs.connect(worker).enroll(jobId);
    for (const [i, worker] of [w1, w2].entries()) {
      await w.jobs.connect(worker).commitUpdate(jobId, commitmentOf(update(10 + i), worker.address));
    }
    await networkHelpers.time.increase(DURATIONS.commit + 1);
    report["advance (round 1 commit phase, drops 1 unslashed)"] = await gasOf(w.jobs.advance(jobId));
    const enrolling = await create(w);
    report["cancel (requester, enrolling)"] = await gasOf(w.jobs.connect(w.requester).cancel(enrolling));
    void w3;
  });

  after(() => {
    if (measuring) console.table(report);
  });
});
