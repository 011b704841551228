import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { getBytes, HDNodeWallet } from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { startEvaluator, type EmbeddedEvaluator } from "../../scripts/lib/EmbeddedEvaluator.js";
import { EmbeddedStack } from "../../scripts/lib/EmbeddedStack.js";
import { stakeValidators, type EmbeddedValidator } from "../../scripts/lib/EmbeddedValidators.js";
import { WorkerProcess } from "../../scripts/lib/WorkerProcess.js";
import { CAP_TRAIN } from "../../worker/src/chain/Capabilities.js";
import { signPermit } from "../../worker/src/chain/Permit.js";
import { contributedDatasetId, currentValidatorRecipients, prepareContribution } from "../../worker/src/data/DataRegistryClient.js";
import { encodeDataset, fromDigitSet } from "../../worker/src/data/DatasetFormat.js";
import { generateEncryptionKey, type EncryptionKeyPair } from "../../worker/src/data/KeyEnvelopes.js";
import { jobKeyRecipients } from "../../worker/src/data/KeyRecipients.js";
import { shareDatasetKey } from "../../worker/src/data/KeySharing.js";
import { cidToBytes, DatasetStatus } from "../../worker/src/data/OnChainDataset.js";
import { loadMnist, selectDigits } from "../../worker/src/ml/MnistDataset.js";
import { publishModel } from "../../worker/src/ml/ModelArtifacts.js";
import { buildMlp } from "../../worker/src/ml/models.js";
import { PrivateRedisServer } from "../../worker/src/redis/PrivateRedisServer.js";
import { JOB_STATUS_NAMES, JobStatus } from "../../worker/src/training/TrainingJobSpec.js";
import { cleanUp, exitWhenDone } from "../helpers/faults/Cleanup.js";
import { CHAIN_KINDS, FaultChain } from "../helpers/faults/FaultChain.js";

/** Hardhat's and Anvil's development mnemonic: the keys of their well-known accounts (never real ones). */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";
const devKey = (index: number) => HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`).privateKey;
const TOKEN = 10n ** 18n;
const MAX_BPS = 10_000n;
/**
 * Both nodes have at least 10 accounts: 0 deploys, 2 (the stack's model owner) requests the job, 3 is the treasury
 * (it takes slashes: never a party), 5, 6, 7 validate (accept the dataset, then evaluate the trained model), 8
 * contributes the dataset, and 1, 4, 9 train, each a worker daemon of its own (an OS process).
 */
const TRAINER_ACCOUNTS = [1, 4, 9];
const VALIDATOR_ACCOUNTS = [5, 6, 7];
const CONTRIBUTOR_ACCOUNT = 8;
const REQUESTER_ACCOUNT = 2;
/**
 * A small job: 2 rounds of 3 workers over 900 digits (300 each), two local epochs: a few seconds of training per round,
 * the window the kill has to land in (the test prints it).
 */
const ROUNDS = 2;
const KILL_ROUND = 1;
const SAMPLES = 900;
const LOCAL_EPOCHS = 2;
const BUDGET = 300n * TOKEN;
const ROYALTY_BPS = 1_000;
const EVALUATION_BPS = 500;
/** The chain's phase lengths (seconds, chain time): a restart takes seconds, far inside the commit window. */
const DURATIONS = { enroll: 3_600, commit: 600, reveal: 300, vote: 300, evaluation: 900 };
/** A dead process's BullMQ job is handed to the restarted one once its lock lapses (within about twice this). */
const JOB_LOCK_MS = 5_000;

exitWhenDone();

/**
 * Fault injection for the training role: three trainer daemons as OS processes run a federated job; one is SIGKILLed
 * while it trains a round (started, not committed) and started again (same key, same Redis queue prefix). The
 * restarted trainer takes its round up again in time: every worker commits, reveals and votes at most once per
 * round, the job is finalized, everybody is paid what the contract's split says, nobody is slashed, and the
 * TrainingJobs' books balance: token balance == escrowed + credits (the stakes stay in the WorkerRegistry).
 */
for (const kind of CHAIN_KINDS) {
  describe(`Training under faults on ${kind} @faults`, function () {
    this.timeout(600_000);
    let chain: FaultChain | undefined;
    let stack: EmbeddedStack | undefined;
    let redis: PrivateRedisServer | undefined;
    let dataDir: string | undefined;
    let validators: EmbeddedValidator[];
    let trainers: { signer: HardhatEthersSigner; encryption: EncryptionKeyPair }[];
    let stake: bigint;
    const processes: WorkerProcess[] = [];
    const evaluators: EmbeddedEvaluator[] = [];
    const prefix = `tessera-faults-t-${randomUUID()}`;

    function startTrainer(i: number, generation: number): WorkerProcess {
      const p = new WorkerProcess({
        name: `trainer-${i + 1}-${generation}`,
        rpcUrl: chain!.rpcUrl,
        workerKey: devKey(TRAINER_ACCOUNTS[i]),
        encryptionKey: trainers[i].encryption.privateKey,
        dataDir: dataDir!,
        redisUrl: redis!.url,
        queuePrefix: `${prefix}-t${i}`,
        roles: "listener,trainer",
        env: {
          POLL_INTERVAL_MS: "100",
          CONFIRMATIONS: "0",
          JOB_LOCK_MS: String(JOB_LOCK_MS),
          KEEPER_INTERVAL_MS: "1000",
          TRAINING_CONCURRENCY: "1",
        },
      });
      processes.push(p);
      return p;
    }

    /** Every trainer's log tail, for a failure message. */
    function logTails(chars = 2_500): string {
      return processes.map((p) => `--- ${p.options.name} (${p.alive ? "running" : `exited ${p.child.exitCode ?? p.child.signalCode}`}):\n${p.log().slice(-chars)}`).join("\n");
    }

    before(async function () {
      dataDir = mkdtempSync(join(tmpdir(), `tessera-faults-t-${kind}-`));
      chain = await FaultChain.start(kind);
      redis = await PrivateRedisServer.start();
      stack = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: prefix });
      const signers = await chain.connection.ethers.getSigners();
      validators = await stakeValidators(stack, VALIDATOR_ACCOUNTS.map((i) => signers[i]), 1_000n * TOKEN);
      const { token, workerRegistry } = stack.contracts;
      stake = (await workerRegistry.minStake()) * 2n;
      trainers = [];
      for (const [i, account] of TRAINER_ACCOUNTS.entries()) {
        const signer = signers[account];
        const encryption = generateEncryptionKey();
        await (await token.mint(signer.address, stake)).wait();
        await (await token.connect(signer).approve(await workerRegistry.getAddress(), stake)).wait();
        await (await workerRegistry.connect(signer).register(stake, CAP_TRAIN, encryption.publicKey, `faults://trainer-${i + 1}`)).wait();
        trainers.push({ signer, encryption });
      }
    });

    after(async function () {
      const failed = this.test?.parent?.tests.some((t) => t.state === "failed") ?? false;
      await cleanUp({
        ...Object.fromEntries(processes.map((p) => [`stopping ${p.options.name}`, () => p.stop(5_000)])),
        ...Object.fromEntries(processes.map((p) => [`killing ${p.options.name}`, () => p.kill("SIGKILL")])),
        ...Object.fromEntries(evaluators.map((e, i) => [`stopping evaluator ${i + 1}'s listener`, () => e.listener.stop()])),
        ...Object.fromEntries(evaluators.map((e, i) => [`stopping evaluator ${i + 1}`, () => e.service.stop()])),
        stack: () => stack?.stop(),
        redis: () => redis?.stop(),
        chain: () => chain?.close(),
        dataDir: () => {
          if (failed && dataDir !== undefined) console.log(`      kept ${dataDir} (worker logs) for the failure`);
          else if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
        },
      });
    });

    it("a trainer SIGKILLed while it trains a round: restarted, it submits once per round, the job is finalized, everyone is paid, nobody is slashed, and the books balance", async function () {
      const started = Date.now();
      const s = stack!;
      const c = chain!;
      const { token, workerRegistry, trainingJobs, dataRegistry } = s.contracts;
      const signers = await c.connection.ethers.getSigners();
      const contributor = signers[CONTRIBUTOR_ACCOUNT];
      const requester = signers[REQUESTER_ACCOUNT];
      const provider = c.connection.ethers.provider;
      /** The trainer SIGKILLed (its first process): expected to exit. */
      let victim: WorkerProcess | undefined;

      const running = trainers.map((_, i) => startTrainer(i, 1));

      // The dataset: 900 real digits, contributed encrypted; the three validators accept it (votes sent here: the
      // validation role has its own fault case). Meanwhile the trainer processes start.
      const data = await loadMnist({ testCount: 2_000, seed: 42 });
      await (await token.mint(contributor.address, 100n * TOKEN)).wait();
      const samples = fromDigitSet(selectDigits(data.train, Array.from({ length: SAMPLES }, (_, k) => k)));
      const recipients = await currentValidatorRecipients(workerRegistry, dataRegistry, s.deployment.startBlock);
      const prepared = await prepareContribution({ registry: dataRegistry, token, signer: contributor, store: s.store, source: { samples }, recipients, license: "CC-BY-4.0", keepKey: true });
      const contributed = await (await dataRegistry.connect(contributor).contribute(prepared.args, prepared.permit)).wait();
      const datasetId = contributedDatasetId(dataRegistry, contributed);
      for (const v of validators) await (await dataRegistry.connect(v.signer).vote(datasetId, true, 0)).wait();
      expect((await dataRegistry.datasetOf(datasetId)).status, "the dataset accepted").to.equal(BigInt(DatasetStatus.Accepted));

      // The validators evaluate the final model: each a listener + TrainingService (evaluator role) in this process.
      for (const [i, v] of validators.entries()) {
        evaluators.push(await startEvaluator(s, v.signer, { queuePrefix: `${prefix}-e${i}`, redisUrl: redis!.url, keeperIntervalMs: 1_000 }));
      }

      for (const p of running) await p.waitFor((r) => r.msg === "service started" && r.service === "worker-daemon", 180_000, "the daemon up");

      // The requester's job: a fresh 2NN, 500 held-out digits to evaluate on, the budget by permit.
      const initial = buildMlp({ seed: 11 });
      const published = await publishModel(s.store, initial, { name: "mnist-2nn-faults", description: "784-200-200-10 MLP, trained by FedAvg under faults" });
      initial.dispose();
      const evalCount = 500;
      const evalSetCid = await s.store.add(encodeDataset(fromDigitSet({ images: data.test.images.subarray(0, evalCount * 784), labels: data.test.labels.subarray(0, evalCount), count: evalCount })));
      await (await token.mint(requester.address, BUDGET)).wait();
      const latest = (await provider.getBlock("latest"))!;
      const permit = await signPermit(token, requester, await trainingJobs.getAddress(), BUDGET, BigInt(latest.timestamp + 3_600));
      const args = {
        manifestCid: cidToBytes(published.manifestCid),
        weightsCid: cidToBytes(published.weightsCid),
        evalSetCid: cidToBytes(evalSetCid),
        modelName: "mnist-2nn-faults",
        datasetIds: [datasetId],
        budget: BUDGET,
        rounds: ROUNDS,
        workersPerRound: trainers.length,
        evaluators: validators.length,
        localEpochs: LOCAL_EPOCHS,
        batchSize: 20,
        learningRate: 100_000, // 0.1
        rule: 3, // ScreenedFedAvg: the default for jobs of untrusted workers
        quorumBps: 6_666,
        royaltyBps: ROYALTY_BPS,
        evaluationBps: EVALUATION_BPS,
        durations: DURATIONS,
      };
      const created = (await (await trainingJobs.connect(requester).createJob(args, permit)).wait())!;
      const jobId = created.logs.map((l) => trainingJobs.interface.parseLog(l)).find((p) => p?.name === "JobCreated")!.args.jobId as bigint;
      const jobStartBlock = created.blockNumber;

      const jobState = async () => {
        const job = await trainingJobs.jobOf(jobId);
        return `${JOB_STATUS_NAMES[Number(job.status)]}, round ${job.round}, committed ${job.committed}, revealed ${job.revealed}, active ${job.active}`;
      };
      const until = async (check: () => Promise<boolean>, timeoutMs: number, what: string) => {
        const deadline = Date.now() + timeoutMs;
        while (!(await check())) {
          for (const p of processes) {
            if (!p.alive && p !== victim) throw new Error(`${p.options.name} exited while waiting for ${what} (job ${await jobState()}):\n${logTails()}`);
          }
          if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms (job ${await jobState()}):\n${logTails()}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      };

      // The trainers enroll on their own; the owner shares the dataset's key with the three of them.
      await until(async () => Number((await trainingJobs.jobOf(jobId)).status) === JobStatus.Committing, 120_000, "three enrollments");
      const workers = await trainingJobs.workersOf(jobId);
      const { recipients: readers } = await jobKeyRecipients({ trainingJobs, workerRegistry, jobId, datasetId });
      await shareDatasetKey({ registry: dataRegistry.connect(contributor), store: s.store, datasetId, datasetKey: getBytes(prepared.contribution.keyHex!), recipients: readers });

      // Kill trainer 1 once it is training round KILL_ROUND (its data decrypted, its update not yet committed).
      const v = 0;
      const victimAddress = trainers[v].signer.address;
      victim = running[v];
      const isTraining = (r: Record<string, unknown>) => r.msg === "training the round's update" && r.round === KILL_ROUND && r.jobId === jobId.toString();
      await victim.waitFor(isTraining, 180_000, `its training of round ${KILL_ROUND}`);
      victim.kill("SIGKILL");
      const killedAt = Date.now();
      await new Promise((r) => (victim!.alive ? victim!.child.once("exit", r) : r(undefined)));
      const committedBeforeKill = (await trainingJobs.participantOf(jobId, victimAddress)).committedRound >= BigInt(KILL_ROUND);
      const sentBeforeKill = victim.records((r) => r.msg === "commitUpdate sent" && r.round === KILL_ROUND).length;
      expect({ committedBeforeKill, sentBeforeKill }, `${victim.options.name} was killed while it trained round ${KILL_ROUND}, before its commit`).to.deep.equal({ committedBeforeKill: false, sentBeforeKill: 0 });

      // The same operator starts it again: same key, same queue prefix; it takes the round up from its queue.
      const restarted = startTrainer(v, 2);
      await restarted.waitFor((r) => r.msg === "service started" && r.service === "worker-daemon", 180_000, "the restarted daemon up");
      const restartedAt = Date.now();

      await until(async () => {
        const status = Number((await trainingJobs.jobOf(jobId)).status);
        if (status === JobStatus.Cancelled) throw new Error(`job ${jobId} was cancelled:\n${logTails()}`);
        return status === JobStatus.Finalized;
      }, 300_000, "finalization");
      const finalizedAt = Date.now();

      // Once per round: one commit and one reveal per worker and round, at most one vote; the restarted trainer trained
      // its round again (nothing was committed, so nothing was kept) and sent one commit for it in all.
      const job = await trainingJobs.jobOf(jobId);
      expect(job.status).to.equal(BigInt(JobStatus.Finalized));
      const count = (events: { args: { round: bigint; worker: string } }[], round: number, worker: string) =>
        events.filter((e) => Number(e.args.round) === round && e.args.worker === worker).length;
      const commits = await trainingJobs.queryFilter(trainingJobs.filters.UpdateCommitted(jobId), jobStartBlock);
      const reveals = await trainingJobs.queryFilter(trainingJobs.filters.UpdateRevealed(jobId), jobStartBlock);
      const votes = await trainingJobs.queryFilter(trainingJobs.filters.AggregateVoted(jobId), jobStartBlock);
      for (let round = 1; round <= ROUNDS; round++) {
        for (const w of workers) {
          expect(count(commits, round, w), `commits of ${w} in round ${round}`).to.equal(1);
          expect(count(reveals, round, w), `reveals of ${w} in round ${round}`).to.equal(1);
          expect(count(votes, round, w), `votes of ${w} in round ${round}`).to.be.at.most(1);
        }
      }
      const victimLogs = [running[v], restarted];
      const commitsSent = victimLogs.map((p) => p.records((r) => r.msg === "commitUpdate sent" && r.round === KILL_ROUND && r.jobId === jobId.toString()).length);
      const retrained = restarted.records(isTraining).length;
      expect(commitsSent, "commitUpdate sent for the round, by the killed and the restarted process").to.deep.equal([0, 1]);
      expect(retrained, "the restarted trainer trained the round again, once").to.equal(1);
      const restartCommit = restarted.records((r) => r.msg === "commitUpdate sent" && r.round === KILL_ROUND)[0];
      // How long a trainer takes from the start of its training to its commit: the window the kill had to land in.
      const window = (p: WorkerProcess) => {
        const from = p.records(isTraining).at(-1)?.time as number | undefined;
        const to = p.records((r) => r.msg === "commitUpdate sent" && r.round === KILL_ROUND && r.jobId === jobId.toString())[0]?.time as number | undefined;
        return from === undefined || to === undefined ? "?" : ((to - from) / 1000).toFixed(1);
      };
      console.log(
        `      trainer 1 (partition ${workers.indexOf(victimAddress)}) SIGKILLed while it trained round ${KILL_ROUND} (not yet committed); ` +
          `restarted in ${((restartedAt - killedAt) / 1000).toFixed(1)} s, it trained the round again and committed ${(((restartCommit.time as number) - killedAt) / 1000).toFixed(1)} s after the kill ` +
          `(training to commit: ${[restarted, ...running.slice(1)].map(window).join(" / ")} s for it and the others)`,
      );
      console.log(
        `      events: ${commits.length} commits, ${reveals.length} reveals, ${votes.length} votes over ${ROUNDS} rounds x ${workers.length} workers: one commit and one reveal per worker and round, at most one vote`,
      );

      // Every round aggregated all three updates, none excluded (honest workers, the restarted one included).
      const results = [];
      for (let round = 1; round <= ROUNDS; round++) results.push(await trainingJobs.roundResultOf(jobId, round));
      expect(results.map((r) => [Number(r.updates), r.excludedMask])).to.deep.equal(results.map(() => [3, 0n]));

      // Paid what the contract's split says: royalties and the evaluation pool off the top, the rest in equal parts per
      // round (the last takes the dust), each in equal shares per update (the last included takes the dust).
      const royalties = (BUDGET * BigInt(ROYALTY_BPS)) / MAX_BPS;
      const evaluationPool = (BUDGET * BigInt(EVALUATION_BPS)) / MAX_BPS;
      const workerPool = BUDGET - royalties - evaluationPool;
      const expected = new Map<string, bigint>(workers.map((w) => [w, 0n]));
      for (let round = 1; round <= ROUNDS; round++) {
        const roundPool = round === ROUNDS ? workerPool - (workerPool / BigInt(ROUNDS)) * BigInt(ROUNDS - 1) : workerPool / BigInt(ROUNDS);
        const n = BigInt(results[round - 1].updates);
        const share = roundPool / n;
        workers.forEach((w, i) => expected.set(w, expected.get(w)! + (i === workers.length - 1 ? roundPool - share * (n - 1n) : share)));
      }
      const credited = await trainingJobs.queryFilter(trainingJobs.filters.Credited(undefined, jobId), jobStartBlock);
      const creditedTo = (account: string, reason: number) =>
        credited.filter((e) => e.args.account === account && Number(e.args.reason) === reason).reduce((sum, e) => sum + e.args.amount, 0n);
      for (const w of workers) {
        expect((await trainingJobs.participantOf(jobId, w)).earned, `earned by ${w}`).to.equal(expected.get(w));
        expect(creditedTo(w, 0), `update credits of ${w}`).to.equal(expected.get(w));
      }
      const evaluationShare = evaluationPool / BigInt(validators.length);
      const evaluations = await trainingJobs.evaluationsOf(jobId);
      expect(evaluations.map((e) => e.validator).sort()).to.deep.equal(validators.map((x) => x.signer.address).sort());
      evaluations.forEach((e, i) =>
        expect(creditedTo(e.validator, 1), `evaluation credit of ${e.validator}`).to.equal(i === evaluations.length - 1 ? evaluationPool - evaluationShare * BigInt(i) : evaluationShare),
      );
      const royaltiesPaid = (await trainingJobs.queryFilter(trainingJobs.filters.RoyaltiesPaid(jobId), jobStartBlock)).reduce((sum, e) => sum + e.args.amount, 0n);
      expect(royaltiesPaid, "royalties to the dataset's contributor").to.equal(royalties);
      const refunds = creditedTo(requester.address, 2);
      expect(refunds, "refunds (nothing excluded, nothing cancelled)").to.equal(0n);
      const workerPaid = [...expected.values()].reduce((a, b) => a + b, 0n);
      expect(workerPaid + evaluationPool + royaltiesPaid + refunds).to.equal(BUDGET);
      expect(job.paid).to.equal(BUDGET);
      const tsr = (wei: bigint) => `${wei / TOKEN}.${(wei % TOKEN).toString().padStart(18, "0").slice(0, 4)}`;
      console.log(
        `      paid (TSR): trainers ${workers.map((w) => tsr(expected.get(w)!)).join(" / ")} (partitions 0-2), evaluators ${tsr(evaluationPool)}, royalties ${tsr(royaltiesPaid)}, refunds ${tsr(refunds)} == budget ${tsr(BUDGET)}`,
      );

      // Nobody slashed: nobody dropped or slashed for dissent; the trainers' stakes are whole and unbonded.
      expect(await trainingJobs.queryFilter(trainingJobs.filters.WorkerDropped(jobId), jobStartBlock), "drops").to.have.length(0);
      expect(await trainingJobs.queryFilter(trainingJobs.filters.DissentSlashed(jobId), jobStartBlock), "dissent slashes").to.have.length(0);
      for (const t of trainers) {
        expect(await workerRegistry.queryFilter(workerRegistry.filters.WorkerSlashed(t.signer.address), jobStartBlock), `slashes of ${t.signer.address}`).to.have.length(0);
        expect((await workerRegistry.workerOf(t.signer.address)).stake, `stake of ${t.signer.address}`).to.equal(stake);
        expect(await workerRegistry.obligationsOf(t.signer.address), `obligations of ${t.signer.address}`).to.equal(0n);
      }
      console.log(`      nobody slashed: no drop, no dissent; the three trainers' stakes whole (${tsr(stake)} TSR each) and released`);

      // The books: what TrainingJobs holds is exactly the escrow of open jobs plus the unwithdrawn credits.
      const balance = await token.balanceOf(await trainingJobs.getAddress());
      const [escrowed, totalCredits] = [await trainingJobs.escrowed(), await trainingJobs.totalCredits()];
      let credits = 0n;
      for (const a of [...workers, ...validators.map((x) => x.signer.address), requester.address]) credits += await trainingJobs.creditOf(a);
      console.log(`      ${kind} TrainingJobs books (TSR wei): balance ${balance} == escrowed ${escrowed} + credits ${totalCredits} (the parties' credits sum to ${credits})`);
      expect(credits).to.equal(totalCredits);
      expect(escrowed).to.equal(0n);
      expect(balance).to.equal(escrowed + totalCredits);
      console.log(`      ${kind}: job ${jobId} finalized (accuracy ${(Number(job.accuracy) / 1e4).toFixed(1)} %) ${((finalizedAt - started) / 1000).toFixed(1)} s after the daemons were started`);
    });
  });
}
