import { Signature, concat, getAddress, getBytes, keccak256, toUtf8Bytes, type Signer } from "ethers";
import { encryptionPublicKeyOf, type EncryptionKeyPair } from "../../worker/src/data/KeyEnvelopes.js";

const DOMAIN = toUtf8Bytes("tessera/page-encryption-key/v1");

/**
 * The message a wallet signs to give the page its encryption key on one deployment. It names what the signature is
 * for, so that a person asked to sign it elsewhere can refuse.
 */
export function pageKeyMessage(chainId: number | bigint, dataRegistry: string): string {
  return [
    "Tessera: unlock the encryption key of your datasets.",
    "",
    "This signature lets the Tessera page derive your encryption key: the key your datasets' keys are sealed for, so",
    "that you can share them later with the workers of training jobs. It sends nothing and costs nothing.",
    "Sign it only on a Tessera page you trust: whoever holds this signature can open your datasets.",
    "",
    `Chain: ${chainId}`,
    `DataRegistry: ${getAddress(dataRegistry)}`,
  ].join("\n");
}

/**
 * The person's encryption key on a deployment, derived from their wallet's signature of `pageKeyMessage`: nothing is
 * stored, the same wallet gives the same key on any browser (wallets sign deterministically, RFC 6979), and no one
 * without the wallet can make it. The private key is keccak256 of a domain tag and the signature's r and s (the
 * recovery byte left out: wallets write it as 0/1 or 27/28); keccak's output is a valid secp256k1 secret but with
 * probability ~2^-128, and such a signature is refused rather than mapped.
 */
export async function derivePageEncryptionKey(signer: Signer, chainId: number | bigint, dataRegistry: string): Promise<EncryptionKeyPair> {
  const signature = Signature.from(await signer.signMessage(pageKeyMessage(chainId, dataRegistry)));
  const privateKey = keccak256(concat([DOMAIN, getBytes(signature.r), getBytes(signature.s)]));
  return { privateKey, publicKey: encryptionPublicKeyOf(privateKey) };
}
