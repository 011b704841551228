import type { Signer } from "ethers";
import type { EmbeddedStack } from "./EmbeddedStack.js";

/** A signer that knows its address without a call: Hardhat's accounts, or a Wallet connected to the stack's chain. */
export type AddressedSigner = Signer & { readonly address: string };

/** Lets the stack's deployer mint TSR (it holds the admin role): what staking and funding pools in the stack need. */
export async function ensureMinter(stack: EmbeddedStack): Promise<void> {
  const { token } = stack.contracts;
  const minter = await token.MINTER_ROLE();
  if (!(await token.hasRole(minter, stack.signers.deployer.address))) await (await token.grantRole(minter, stack.signers.deployer.address)).wait();
}

/**
 * Registers `signer` as a worker with `capabilities`, an encryption key and `stake`, or, when it is registered
 * already (a later stage of the same demo), adds the capabilities, replaces its key and endpoint and tops its stake
 * up to `stake` (a slashed worker included). Its stake is minted (`ensureMinter`), and an account with no ETH (a key
 * beyond the chain's funded accounts) is given 1 ETH of gas money.
 */
export async function ensureStakedWorker(stack: EmbeddedStack, signer: AddressedSigner, o: { stake: bigint; capabilities: number; encryptionPublicKey: string; endpoint: string }): Promise<void> {
  const { token, workerRegistry } = stack.contracts;
  await ensureMinter(stack);
  if ((await stack.connection.ethers.provider.getBalance(signer.address)) === 0n) {
    await (await stack.signers.deployer.sendTransaction({ to: signer.address, value: 10n ** 18n })).wait();
  }
  const info = await workerRegistry.workerOf(signer.address);
  const missing = info.registered ? (o.stake > info.stake ? o.stake - info.stake : 0n) : o.stake;
  if (missing > 0n) {
    await (await token.mint(signer.address, missing)).wait();
    await (await token.connect(signer).approve(await workerRegistry.getAddress(), missing)).wait();
  }
  if (!info.registered) {
    await (await workerRegistry.connect(signer).register(o.stake, o.capabilities, o.encryptionPublicKey, o.endpoint)).wait();
    return;
  }
  if (missing > 0n) await (await workerRegistry.connect(signer).addStake(missing)).wait();
  await (await workerRegistry.connect(signer).updateProfile(Number(info.capabilities) | o.capabilities, o.encryptionPublicKey, o.endpoint)).wait();
}
