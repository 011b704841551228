import { Signature, concat, getAddress, getBytes, keccak256, toUtf8Bytes, verifyMessage, type Signer } from "ethers";
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
 * without the wallet can make it. The signature must be the account's own (recovered to `signer`'s address: a wallet
 * answering for another account is refused, and so is a non-canonical high-s one); the private key is keccak256 of a
 * domain tag and the signature's r and s (the recovery byte left out: wallets write it as 0/1 or 27/28). With `confirm`, the wallet is asked twice and
 * must answer the same: a wallet that signs with random nonces (some MPC and smart-contract wallets) would give
 * another key next time, and a dataset sealed for this one could never be shared from the page; it is refused with a
 * sentence instead. keccak's output is a valid secp256k1 secret but with probability ~2^-128.
 */
export async function derivePageEncryptionKey(signer: Signer, chainId: number | bigint, dataRegistry: string, options: { confirm?: boolean } = {}): Promise<EncryptionKeyPair> {
  const account = getAddress(await signer.getAddress());
  const message = pageKeyMessage(chainId, dataRegistry);
  const derive = async () => {
    const raw = await signer.signMessage(message);
    let recovered: string;
    let r: string;
    let s: string;
    try {
      // ethers reads only canonical (low-s, EIP-2) signatures: one signature per key and message.
      const signature = Signature.from(raw);
      [r, s] = [signature.r, signature.s];
      recovered = getAddress(verifyMessage(message, signature));
    } catch (err) {
      throw new Error("The wallet's signature of the key message is not a standard one (65 bytes, low s): the page cannot derive your key from it.", { cause: err });
    }
    if (recovered !== account) throw new Error(`The wallet signed the key message as another account than ${account}: the page cannot derive your key from it.`);
    return keccak256(concat([DOMAIN, getBytes(r), getBytes(s)]));
  };
  const privateKey = await derive();
  if (options.confirm === true && (await derive()) !== privateKey) {
    throw new Error("This wallet signs the same message differently each time, so the page cannot give you a key you could use again to share your dataset with training jobs: contribute it with the tasks (`npx hardhat data contribute` with TESSERA_ENCRYPTION_KEY).");
  }
  return { privateKey, publicKey: encryptionPublicKeyOf(privateKey) };
}
