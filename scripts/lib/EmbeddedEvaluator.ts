import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { Logger } from "../../worker/src/logger.js";
import { QueuedEventsListener } from "../../worker/src/chain/QueuedEventsListener.js";
import { QueueNames } from "../../worker/src/queue/QueueNames.js";
import { TRAINING_EVENTS } from "../../worker/src/training/TrainingProcessor.js";
import { TRAINING_JOBS_SOURCE, TrainingService } from "../../worker/src/training/TrainingService.js";
import type { EmbeddedStack } from "./EmbeddedStack.js";

/** A training evaluator run inside this process: its own training-events listener and a TrainingService (evaluator role). */
export interface EmbeddedEvaluator {
  readonly listener: QueuedEventsListener;
  readonly service: TrainingService;
  readonly queuePrefix: string;
}

export interface EvaluatorOptions {
  /** Its own queue prefix (one listener cursor and queue per evaluator). */
  readonly queuePrefix: string;
  /** Defaults to the stack's Redis. */
  readonly redisUrl?: string;
  readonly keeperIntervalMs: number;
  readonly logger?: Logger;
}

/** Starts an evaluator with `signer`'s key on the stack's TrainingJobs, listening from the current block. */
export async function startEvaluator(stack: EmbeddedStack, signer: HardhatEthersSigner, o: EvaluatorOptions): Promise<EmbeddedEvaluator> {
  const provider = stack.connection.ethers.provider;
  const { contracts } = stack.deployment;
  const common = { chainId: stack.deployment.chainId, redisUrl: o.redisUrl ?? stack.redis.url, queuePrefix: o.queuePrefix };
  const listener = new QueuedEventsListener({
    ...common,
    provider,
    queueName: QueueNames.trainingEvents,
    source: TRAINING_JOBS_SOURCE,
    address: contracts.TrainingJobs!,
    contractInterface: stack.contracts.trainingJobs.interface,
    events: TRAINING_EVENTS,
    startBlock: await provider.getBlockNumber(),
    confirmations: 0,
    blockRange: 500,
    pollIntervalMs: 100,
  });
  const service = new TrainingService({
    ...common,
    trainingJobs: contracts.TrainingJobs!,
    dataRegistry: contracts.DataRegistry!,
    workerRegistry: contracts.WorkerRegistry,
    modelRegistry: contracts.ModelRegistry,
    signer,
    provider,
    store: stack.store,
    roles: { trainer: false, evaluator: true },
    autoEnroll: false,
    fromBlock: stack.deployment.startBlock,
    keeperIntervalMs: o.keeperIntervalMs,
    ...(o.logger === undefined ? {} : { logger: o.logger }),
  });
  await service.start();
  await listener.start();
  return { listener, service, queuePrefix: o.queuePrefix };
}
