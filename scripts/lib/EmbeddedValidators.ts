import { DataEventsListener } from "../../worker/src/data/DataEventsListener.js";
import type { DatasetValidator } from "../../worker/src/data/DatasetValidator.js";
import { generateEncryptionKey, type EncryptionKeyPair } from "../../worker/src/data/KeyEnvelopes.js";
import { ValidationService } from "../../worker/src/data/ValidationService.js";
import type { Logger } from "../../worker/src/logger.js";
import { removeQueueData } from "../../worker/src/queue/removeQueueData.js";
import { ensureMinter, ensureStakedWorker, type AddressedSigner } from "./EmbeddedStaking.js";
import type { EmbeddedStack } from "./EmbeddedStack.js";

import { CAP_VALIDATE } from "../../worker/src/chain/Capabilities.js";
export { CAP_VALIDATE };

export interface EmbeddedValidator {
  readonly signer: AddressedSigner;
  /** Generated here; its compressed public key is what the validator registered. */
  readonly encryption: EncryptionKeyPair;
  readonly stake: bigint;
}

export interface RunningValidator extends EmbeddedValidator {
  readonly queuePrefix: string;
  readonly listener: DataEventsListener;
  readonly service: ValidationService;
}

/**
 * Registers `signers` as staked CAP_VALIDATE workers, each with a fresh encryption key, and
 * funds the DataRegistry's reward pool with `rewardPool` tokens from the deployer.
 */
export async function stakeValidators(stack: EmbeddedStack, signers: readonly AddressedSigner[], rewardPool: bigint): Promise<EmbeddedValidator[]> {
  const { token, workerRegistry, dataRegistry } = stack.contracts;
  const { deployer } = stack.signers;
  await ensureMinter(stack);
  const stake = (await workerRegistry.minStake()) * 2n;
  const validators: EmbeddedValidator[] = [];
  for (const [i, signer] of signers.entries()) {
    const encryption = generateEncryptionKey();
    await ensureStakedWorker(stack, signer, { stake, capabilities: CAP_VALIDATE, encryptionPublicKey: encryption.publicKey, endpoint: `embedded://validator-${i + 1}` });
    validators.push({ signer, encryption, stake });
  }
  if (rewardPool > 0n) {
    await (await token.mint(deployer.address, rewardPool)).wait();
    await (await token.approve(await dataRegistry.getAddress(), rewardPool)).wait();
    await (await dataRegistry.fundRewardPool(rewardPool)).wait();
  }
  return validators;
}

export interface StartValidatorsOptions {
  /** Each validator is its own operator: its listener and queue live under `${prefix}-v<i>`. */
  readonly queuePrefix: string;
  /** Shared by all validators of the process (one reference model); default: each service's own. */
  readonly validator?: DatasetValidator;
  readonly fromBlock?: number;
  readonly logger?: Logger;
}

/** Starts, per validator, a DataRegistry listener and a ValidationService, all in this process. */
export async function startValidators(stack: EmbeddedStack, validators: readonly EmbeddedValidator[], options: StartValidatorsOptions): Promise<RunningValidator[]> {
  const provider = stack.connection.ethers.provider;
  const { deployment } = stack;
  const running: RunningValidator[] = [];
  for (const [i, v] of validators.entries()) {
    const queuePrefix = `${options.queuePrefix}-v${i + 1}`;
    const logger = options.logger?.child({ validator: v.signer.address });
    const common = { provider, dataRegistry: deployment.contracts.DataRegistry!, chainId: deployment.chainId, redisUrl: stack.redis.url, queuePrefix };
    const listener = new DataEventsListener({
      ...common,
      startBlock: options.fromBlock ?? deployment.startBlock,
      confirmations: 0,
      blockRange: 500,
      pollIntervalMs: 50,
      ...(logger === undefined ? {} : { logger }),
    });
    const service = new ValidationService({
      ...common,
      signer: v.signer,
      encryptionPrivateKey: v.encryption.privateKey,
      store: stack.store,
      fromBlock: deployment.startBlock,
      ...(options.validator === undefined ? {} : { validator: options.validator }),
      ...(logger === undefined ? {} : { logger }),
    });
    await service.start();
    await listener.start();
    running.push({ ...v, queuePrefix, listener, service });
  }
  return running;
}

/** Stops listeners first (no new jobs), then the services (drain), each on its own. */
export async function stopValidators(running: readonly RunningValidator[]): Promise<void> {
  for (const r of running) await r.listener.stop().catch(() => undefined);
  for (const r of running) await r.service.stop().catch(() => undefined);
}

/** Deletes what the validators kept in Redis (queue, cursor, accepted samples): an embedded run's state dies with its chain. */
export async function removeValidatorData(redisUrl: string, running: readonly RunningValidator[]): Promise<void> {
  await removeQueueData(redisUrl, running.map((r) => r.queuePrefix));
}
