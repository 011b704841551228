import type { Signer } from "ethers";
import type { EmbeddedStack } from "./EmbeddedStack.js";

/** A signer that knows its address without a call: Hardhat's accounts, or a Wallet connected to the stack's chain. */
export type AddressedSigner = Signer & { readonly address: string };

/**
 * Registers `signer` as a worker with `capabilities`, an encryption key and `stake`, or, when it is registered
 * already (a later stage of the same demo), adds the capabilities, replaces its key and endpoint and tops its stake
 * up to `stake` (a slashed worker included). The deployer must be able to mint.
 */
export async function ensureStakedWorker(stack: EmbeddedStack, signer: AddressedSigner, o: { stake: bigint; capabilities: number; encryptionPublicKey: string; endpoint: string }): Promise<void> {
  const { token, workerRegistry } = stack.contracts;
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
