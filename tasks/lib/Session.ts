import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { getAddress, isAddress, type BaseContract, type Interface, type TransactionReceipt } from "ethers";
import { HardhatPluginError } from "hardhat/plugins";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { NetworkConnection } from "hardhat/types/network";
import type { ShardRegistry } from "../../typechain-types/index.js";
import { loadDeployment, type Deployment } from "../../worker/src/Deployment.js";
import { TxSender } from "../../worker/src/chain/TxSender.js";
import { ContractRevertError, TesseraError, decodeRevert, formatRevert, revertDataOf } from "../../worker/src/errors.js";
import { nextBlockTime } from "../../client/src/ChainTime.js";
import { connectContracts, tesseraInterfaces, type TesseraContracts } from "../../client/src/TesseraContracts.js";
import { hintFor } from "../../client/src/RevertHints.js";
import { taskError } from "./TaskError.js";

export type { TesseraContracts };

/** Every contract interface of the protocol: a revert bubbling up from a callee is named too. */
export const PROTOCOL_INTERFACES: readonly Interface[] = tesseraInterfaces();

/**
 * What a task works with: the selected network's connection, the deployment file checked against
 * it, the contracts (read-only), the signers, and `send`, which simulates every transaction first
 * and turns a revert into a task error naming the custom error.
 */
export class Session {
  private constructor(
    readonly connection: NetworkConnection,
    readonly deployment: Deployment,
    readonly deploymentPath: string,
    readonly contracts: TesseraContracts,
  ) {}

  static async open(hre: HardhatRuntimeEnvironment, deploymentPath: string): Promise<Session> {
    let deployment: Deployment;
    try {
      deployment = loadDeployment(deploymentPath);
    } catch (err) {
      if (err instanceof TesseraError) {
        throw taskError(`${err.message}. Run \`npx hardhat tessera deploy\` first or pass --deployment <path>.`, err);
      }
      throw taskError(`the deployment file ${deploymentPath} is not valid JSON`, err);
    }
    const connection = await hre.network.getOrCreate();
    const { provider } = connection.ethers;
    const chainId = Number((await provider.getNetwork()).chainId);
    if (chainId !== deployment.chainId) {
      throw taskError(
        `the deployment file ${deploymentPath} is for chain ${deployment.chainId}, but network "${connection.networkName}" is chain ${chainId}`,
      );
    }
    const market = deployment.contracts.InferenceMarket;
    if ((await provider.getCode(market)) === "0x") {
      throw taskError(
        `no contract at InferenceMarket ${market} on network "${connection.networkName}": the deployment file ${deploymentPath} belongs to another chain instance (an in-process chain lives only as long as its process)`,
      );
    }
    const contracts = connectContracts(deployment, provider);
    return new Session(connection, deployment, deploymentPath, contracts);
  }

  /** The ShardRegistry, or a task error saying the deployment predates sharding. */
  shards(): ShardRegistry {
    const registry = this.contracts.shardRegistry;
    if (registry === undefined) throw taskError(`the deployment ${this.deploymentPath} has no ShardRegistry (deployed before sharding): redeploy with \`npx hardhat tessera deploy\``);
    return registry;
  }

  get ethers() {
    return this.connection.ethers;
  }

  /** ` --network <name>` for follow-up commands a task prints ("" on the default network). */
  get networkFlag(): string {
    return this.connection.networkName === "default" ? "" : ` --network ${this.connection.networkName}`;
  }

  /** The signer named by `account`: an index into the network's accounts, or one of their addresses. */
  async signer(account: string): Promise<HardhatEthersSigner> {
    const signers = await this.ethers.getSigners();
    if (/^\d+$/.test(account)) {
      const index = Number(account);
      if (index >= signers.length) {
        throw taskError(`--account ${account}: network "${this.connection.networkName}" has ${signers.length} accounts (0..${signers.length - 1})`);
      }
      return signers[index];
    }
    const address = parseAddress(account, "--account");
    const signer = signers.find((s) => s.address === address);
    if (signer === undefined) throw taskError(`--account ${address} is not one of the accounts of network "${this.connection.networkName}"`);
    return signer;
  }

  /** The address named by `account` (an index or any address), for read-only tasks. */
  async address(account: string): Promise<string> {
    return /^\d+$/.test(account) ? (await this.signer(account)).address : parseAddress(account, "--account");
  }

  /**
   * Simulates, sends and waits for one transaction (transport failures are retried); a revert
   * becomes a task error naming the custom error, with a hint where one helps.
   */
  async send(
    signer: HardhatEthersSigner,
    contract: BaseContract,
    method: string,
    args: readonly unknown[],
    options: { value?: bigint } = {},
  ): Promise<TransactionReceipt> {
    const sender = new TxSender({ signer, interfaces: PROTOCOL_INTERFACES, maxAttempts: 3 });
    try {
      const { receipt } = await sender.send(contract, method, args, options);
      return receipt;
    } catch (err) {
      throw transactionFailure(method, err);
    }
  }

  /**
   * The timestamp the next block will have: the clock a transaction sent now is judged by. Nodes that mine on
   * demand (Anvil, `hardhat node`) leave the latest block minutes behind the wall clock, so the latest block's
   * time would let a deadline pass unnoticed.
   */
  async now(): Promise<number> {
    return nextBlockTime(this.ethers.provider);
  }
}

export function parseAddress(value: string, what: string): string {
  if (!isAddress(value)) {
    const checksum = isAddress(String(value).toLowerCase()) ? " (its mixed-case checksum is wrong; check it or write it in lower case)" : "";
    throw taskError(`${what}: ${JSON.stringify(value)} is not an address${checksum}`);
  }
  return getAddress(value);
}

/** A task error for a failed transaction: the custom error by name (and a hint) when it reverted. */
export function transactionFailure(what: string, err: unknown): HardhatPluginError {
  if (HardhatPluginError.isHardhatPluginError(err)) return err;
  const revert = err instanceof ContractRevertError && err.revert !== null ? err.revert : decodeRevert(revertDataOf(err), PROTOCOL_INTERFACES);
  if (revert !== null) {
    const hint = hintFor(revert);
    return taskError(`${what} reverts with ${formatRevert(revert)}${hint ? `: ${hint}` : ""}`, err);
  }
  return taskError(`${what} failed: ${(err as Error).message}`, err);
}
