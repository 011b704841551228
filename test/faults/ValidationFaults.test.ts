import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { HDNodeWallet } from "ethers";
import { EmbeddedStack } from "../../scripts/lib/EmbeddedStack.js";
import { stakeValidators, type EmbeddedValidator } from "../../scripts/lib/EmbeddedValidators.js";
import { WorkerProcess } from "../../scripts/lib/WorkerProcess.js";
import { contributedDatasetId, currentValidatorRecipients, prepareContribution } from "../../worker/src/data/DataRegistryClient.js";
import { fromDigitSet } from "../../worker/src/data/DatasetFormat.js";
import { DatasetStatus } from "../../worker/src/data/OnChainDataset.js";
import { loadMnist, selectDigits } from "../../worker/src/ml/MnistDataset.js";
import { PrivateRedisServer } from "../../worker/src/redis/PrivateRedisServer.js";
import { cleanUp, exitWhenDone } from "../helpers/faults/Cleanup.js";
import { CHAIN_KINDS, FaultChain } from "../helpers/faults/FaultChain.js";

/** Hardhat's and Anvil's development mnemonic: the keys of their well-known accounts (never real ones). */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";
const devKey = (index: number) => HDNodeWallet.fromPhrase(DEV_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`).privateKey;
const TOKEN = 10n ** 18n;
/** Accounts 5, 6, 7 validate; 8 contributes (both nodes have at least 10 accounts). */
const VALIDATOR_ACCOUNTS = [5, 6, 7];
const CONTRIBUTOR_ACCOUNT = 8;

exitWhenDone();

/**
 * Fault injection for the validation role: three validator daemons as OS processes, one SIGKILLed while it checks a
 * dataset and started again. The dataset is decided once, by every drawn validator's single vote, and the
 * DataRegistry's books balance: token balance == bonds held + reward pool + credits.
 */
for (const kind of CHAIN_KINDS) {
  describe(`Validation under faults on ${kind} @faults`, function () {
    this.timeout(300_000);
    let chain: FaultChain;
    let stack: EmbeddedStack;
    let redis: PrivateRedisServer;
    let dataDir: string;
    let validators: EmbeddedValidator[];
    const processes: WorkerProcess[] = [];
    const prefix = `tessera-faults-v-${randomUUID()}`;

    function startValidator(i: number, generation: number): WorkerProcess {
      const p = new WorkerProcess({
        name: `validator-${i + 1}-${generation}`,
        rpcUrl: chain.rpcUrl,
        workerKey: devKey(VALIDATOR_ACCOUNTS[i]),
        encryptionKey: validators[i].encryption.privateKey,
        dataDir,
        redisUrl: redis.url,
        queuePrefix: `${prefix}-v${i}`,
        roles: "listener,validator",
        env: { POLL_INTERVAL_MS: "100", CONFIRMATIONS: "0", JOB_LOCK_MS: "2000" },
      });
      processes.push(p);
      return p;
    }

    before(async function () {
      dataDir = mkdtempSync(join(tmpdir(), `tessera-faults-v-${kind}-`));
      chain = await FaultChain.start(kind);
      redis = await PrivateRedisServer.start();
      stack = await EmbeddedStack.start(chain.connection, { dataDir, queuePrefix: prefix });
      const signers = await chain.connection.ethers.getSigners();
      validators = await stakeValidators(stack, VALIDATOR_ACCOUNTS.map((i) => signers[i]), 1_000n * TOKEN);
    });

    after(async function () {
      await cleanUp({
        validators: () => processes.forEach((p) => p.kill("SIGKILL")),
        stack: () => stack?.stop(),
        redis: () => redis?.stop(),
        chain: () => chain?.close(),
        dataDir: () => rmSync(dataDir, { recursive: true, force: true }),
      });
    });

    it("a validator SIGKILLed while it checks a dataset: restarted, it votes once, and the dataset is decided by all three", async function () {
      const running = validators.map((_, i) => startValidator(i, 1));
      for (const p of running) await p.waitFor((r) => r.msg === "service started" && r.service === "worker-daemon", 120_000, "the daemon up");

      const { dataRegistry, token, workerRegistry } = stack.contracts;
      const contributor = (await chain.connection.ethers.getSigners())[CONTRIBUTOR_ACCOUNT];
      await (await token.mint(contributor.address, 100n * TOKEN)).wait();
      const train = (await loadMnist({ testCount: 2_000, seed: 42 })).train;
      const samples = fromDigitSet(selectDigits(train, Array.from({ length: 300 }, (_, k) => 1_000 + k)));
      const recipients = await currentValidatorRecipients(workerRegistry, dataRegistry, stack.deployment.startBlock);
      const prepared = await prepareContribution({ registry: dataRegistry, token, signer: contributor, store: stack.store, source: { samples }, recipients, license: "CC-BY-4.0" });
      const receipt = await (await dataRegistry.connect(contributor).contribute(prepared.args, prepared.permit)).wait();
      const datasetId = contributedDatasetId(dataRegistry, receipt);

      // Kill validator 1 as soon as it has taken the dataset (before its vote), then start it again.
      const victim = running[0];
      await victim.waitFor((r) => r.datasetId !== undefined || r.msg === "dataset checked", 120_000, "validator 1 at work on the dataset");
      const votedBeforeKill = await dataRegistry.hasVoted(datasetId, validators[0].signer.address);
      victim.kill("SIGKILL");
      await new Promise((r) => victim.child.once("exit", r));
      startValidator(0, 2);

      const until = Date.now() + 240_000;
      let status = (await dataRegistry.datasetOf(datasetId)).status;
      while (status === BigInt(DatasetStatus.Pending)) {
        if (Date.now() > until) throw new Error(`dataset ${datasetId} still pending:\n${processes.at(-1)!.log().slice(-3_000)}`);
        await new Promise((r) => setTimeout(r, 250));
        status = (await dataRegistry.datasetOf(datasetId)).status;
      }
      expect(status, "accepted by the whole committee").to.equal(BigInt(DatasetStatus.Accepted));
      const votes = await dataRegistry.queryFilter(dataRegistry.filters.DatasetVoted(datasetId));
      expect(votes.map((v) => v.args.validator).sort()).to.deep.equal(validators.map((v) => v.signer.address).sort());
      console.log(`      validator 1 had ${votedBeforeKill ? "already voted" : "not yet voted"} when killed; ${votes.length} votes, one per validator`);

      const balance = await token.balanceOf(await dataRegistry.getAddress());
      const accounts = [contributor.address, ...validators.map((v) => v.signer.address)];
      let credits = 0n;
      for (const a of accounts) credits += await dataRegistry.creditOf(a);
      const [bondsHeld, pool] = [await dataRegistry.bondsHeld(), await dataRegistry.rewardPool()];
      console.log(`      ${kind} DataRegistry books (TSR wei): balance ${balance} == bonds ${bondsHeld} + pool ${pool} + credits ${credits}`);
      expect(balance).to.equal(bondsHeld + pool + credits);
    });
  });
}
