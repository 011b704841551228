import { Signature, type Signer } from "ethers";
import type { TesseraToken } from "../../../typechain-types/index.js";

/** An ERC-2612 permit as the protocol's contracts take it (`PermitArgs`); `deadline == 0` = none. */
export interface PermitArgs {
  value: bigint;
  deadline: bigint;
  v: number;
  r: string;
  s: string;
}

export const NO_PERMIT: PermitArgs = { value: 0n, deadline: 0n, v: 0, r: "0x" + "00".repeat(32), s: "0x" + "00".repeat(32) };

const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

/**
 * Signs an ERC-2612 permit for `spender` to pull `value` of `token` from `signer`, with the
 * EIP-712 domain the token itself reports (ERC-5267), so a contribution or a token-paid request
 * needs no separate approve transaction.
 */
export async function signPermit(token: TesseraToken, signer: Signer, spender: string, value: bigint, deadline: bigint): Promise<PermitArgs> {
  const owner = await signer.getAddress();
  const d = await token.eip712Domain();
  const domain = { name: d.name, version: d.version, chainId: d.chainId, verifyingContract: d.verifyingContract };
  const message = { owner, spender, value, nonce: await token.nonces(owner), deadline };
  const sig = Signature.from(await signer.signTypedData(domain, PERMIT_TYPES, message));
  return { value, deadline, v: sig.v, r: sig.r, s: sig.s };
}
