import { mkdirSync } from "node:fs";
import { CAP_TRAIN } from "../../worker/src/chain/Capabilities.js";
import { generateEncryptionKey, type EncryptionKeyPair } from "../../worker/src/data/KeyEnvelopes.js";
import type { EmbeddedStack } from "./EmbeddedStack.js";
import { ensureStakedWorker, type AddressedSigner } from "./EmbeddedStaking.js";
import { WorkerProcess } from "./WorkerProcess.js";

/** An account that becomes a trainer: its signer on the stack's chain and its private key (the process's TESSERA_WORKER_KEY). */
export interface TrainerAccount {
  readonly signer: AddressedSigner;
  readonly key: string;
  /** Its encryption key (a fresh one when absent): a trainer restarted mid-job keeps the key its datasets were shared with. */
  readonly encryption?: EncryptionKeyPair;
}

/** A staked CAP_TRAIN worker running as its own OS process. */
export interface RunningTrainer extends TrainerAccount {
  readonly encryption: EncryptionKeyPair;
  readonly process: WorkerProcess;
}

export interface StartTrainersOptions {
  /** The chain's JSON-RPC URL (the processes connect to it). */
  readonly rpcUrl: string;
  /** Each trainer's queues are `${queuePrefix}-t${n}`. */
  readonly queuePrefix: string;
  /** Process names are `${name}-${n}` (default "trainer"); their logs are `<dataDir>/${name}-${n}.log`. */
  readonly name?: string;
  /** Extra environment of each process (the worker's config). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Trainers for the embedded stack: each account is staked (twice the minimum, minted) as a CAP_TRAIN worker with its
 * encryption key (a fresh one unless given; gas money if it has no ETH: ensureStakedWorker), and runs the worker daemon as its own OS process with the
 * listener and trainer roles (WORKER_ROLES=listener,trainer), enrolling in jobs on its own. Resolves once every
 * process said its training service started; a process that fails to start stops them all.
 */
export async function startTrainers(stack: EmbeddedStack, accounts: readonly TrainerAccount[], o: StartTrainersOptions): Promise<RunningTrainer[]> {
  const { workerRegistry } = stack.contracts;
  const stake = (await workerRegistry.minStake()) * 2n;
  mkdirSync(stack.options.dataDir, { recursive: true });
  const staked: (TrainerAccount & { encryption: EncryptionKeyPair })[] = [];
  for (const [i, account] of accounts.entries()) {
    const encryption = account.encryption ?? generateEncryptionKey();
    await ensureStakedWorker(stack, account.signer, { stake, capabilities: CAP_TRAIN, encryptionPublicKey: encryption.publicKey, endpoint: `embedded://${o.name ?? "trainer"}-${i + 1}` });
    staked.push({ ...account, encryption });
  }
  const trainers = staked.map((t, i) => ({
    ...t,
    process: new WorkerProcess({
      name: `${o.name ?? "trainer"}-${i + 1}`,
      rpcUrl: o.rpcUrl,
      workerKey: t.key,
      encryptionKey: t.encryption.privateKey,
      dataDir: stack.options.dataDir,
      redisUrl: stack.redis.url,
      queuePrefix: `${o.queuePrefix}-t${i + 1}`,
      roles: "listener,trainer",
      env: { KEEPER_INTERVAL_MS: "300", TRAINING_CONCURRENCY: "1", JOB_LOCK_MS: "30000", ...o.env },
    }),
  }));
  try {
    await Promise.all(trainers.map((t) => t.process.waitFor((r) => r.msg === "training service started", 120_000, "start-up")));
  } catch (err) {
    await Promise.all(trainers.map((t) => t.process.stop()));
    throw err;
  }
  return trainers;
}
