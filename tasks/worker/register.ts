import { SigningKey, hashMessage, ZeroAddress } from "ethers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { CAP_INFER, CAP_TRAIN, CAP_VALIDATE } from "../../worker/src/chain/Capabilities.js";
import { encryptionPublicKeyOf } from "../../worker/src/data/KeyEnvelopes.js";
import { checkUint96, formatTsr, parseUnits18 } from "../lib/Amounts.js";
import { printFields } from "../lib/Printer.js";
import { Session } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface RegisterArgs {
  deployment: string;
  account: string;
  stake: string;
  endpoint: string;
  serve: string;
  validate?: boolean;
  train?: boolean;
}

export interface RegisterResult {
  worker: string;
  stake: bigint;
  added: bigint;
  served: bigint[];
  txHashes: string[];
}

/**
 * Approves and stakes TSR for the account (registering it with the inference capability, or
 * topping up an existing registration), then declares the model versions it serves.
 */
export default async function register(args: RegisterArgs, hre: HardhatRuntimeEnvironment): Promise<RegisterResult> {
  const amount = checkUint96(parseUnits18(args.stake, "--stake"), "--stake");
  const versionIds = parseVersionList(args.serve);
  // Validators and trainers decrypt datasets: both register the public key of TESSERA_ENCRYPTION_KEY.
  const wantsKey = args.validate === true || args.train === true;
  const validatorKey = wantsKey ? validatorEncryptionKey(args.train === true ? "--train" : "--validate") : undefined;
  const extraCaps = (args.validate === true ? CAP_VALIDATE : 0) | (args.train === true ? CAP_TRAIN : 0);
  const session = await Session.open(hre, args.deployment);
  const worker = await session.signer(args.account);
  const { token, workerRegistry, modelRegistry } = session.contracts;

  for (const id of versionIds) {
    const [owner, , , , active] = await modelRegistry.inferenceTerms(id);
    if (owner === ZeroAddress) throw taskError(`--serve: unknown model version ${id}`);
    if (!active) throw taskError(`--serve: model version ${id} is deprecated`);
  }
  const info = await workerRegistry.workerOf(worker.address);
  const minStake = await workerRegistry.minStake();
  if (!info.registered && amount < minStake) {
    throw taskError(`--stake ${formatTsr(amount)} is below the minimum stake ${formatTsr(minStake)}`);
  }
  if (info.registered && amount === 0n && versionIds.length === 0 && validatorKey === undefined) {
    throw taskError(`${worker.address} is already registered (stake ${formatTsr(info.stake)}); pass --stake to top up or --serve to add versions`);
  }
  const balance = await token.balanceOf(worker.address);
  if (balance < amount) {
    throw taskError(`${worker.address} holds ${formatTsr(balance)}, needs ${formatTsr(amount)} to stake`);
  }

  const txHashes: string[] = [];
  const registry = await workerRegistry.getAddress();
  if (amount > 0n && (await token.allowance(worker.address, registry)) < amount) {
    txHashes.push((await session.send(worker, token, "approve", [registry, amount])).hash);
  }
  if (!info.registered) {
    const pubkey = validatorKey ?? (await encryptionKeyOf(worker));
    const capabilities = CAP_INFER | extraCaps;
    txHashes.push((await session.send(worker, workerRegistry, "register", [amount, capabilities, pubkey, args.endpoint])).hash);
  } else {
    if (amount > 0n) txHashes.push((await session.send(worker, workerRegistry, "addStake", [amount])).hash);
    if (validatorKey !== undefined) {
      const capabilities = Number(info.capabilities) | extraCaps;
      const endpoint = args.endpoint === "" ? info.endpoint : args.endpoint;
      txHashes.push((await session.send(worker, workerRegistry, "updateProfile", [capabilities, validatorKey, endpoint])).hash);
    }
  }
  if (versionIds.length > 0) {
    txHashes.push((await session.send(worker, workerRegistry, "setServedModels", [versionIds, true])).hash);
  }

  const after = await workerRegistry.workerOf(worker.address);
  const eligibility = await Promise.all(versionIds.map((id) => workerRegistry.isEligibleInferrer(worker.address, id)));
  printFields(`Worker ${worker.address} ${info.registered ? "topped up" : "registered"}`, [
    ["stake", `${formatTsr(after.stake)} (added ${formatTsr(amount)}, minimum ${formatTsr(minStake)})`],
    ["endpoint", after.endpoint === "" ? "(none)" : after.endpoint],
    ...(validatorKey === undefined
      ? []
      : ([[args.train === true ? (args.validate === true ? "validator + trainer" : "trainer") : "validator", `${[args.validate === true ? "CAP_VALIDATE" : "", args.train === true ? "CAP_TRAIN" : ""].filter((c) => c !== "").join(" | ")}, encryption key ${validatorKey}`]] as [string, unknown][])),
    ["serves", versionIds.length === 0 ? "(unchanged)" : versionIds.map((id, i) => `${id}${eligibility[i] ? " (eligible)" : " (not eligible)"}`).join(", ")],
    ["transactions", txHashes.join(", ")],
  ]);
  return { worker: worker.address, stake: after.stake, added: amount, served: versionIds, txHashes };
}

/** The compressed public key of TESSERA_ENCRYPTION_KEY (env only: it is the worker's secret). */
function validatorEncryptionKey(flag: string): string {
  const key = process.env.TESSERA_ENCRYPTION_KEY?.trim();
  if (key === undefined || key === "") {
    throw taskError(
      `${flag} needs TESSERA_ENCRYPTION_KEY (32-byte hex, separate from the signing key), the key the worker daemon will decrypt datasets with;` +
      " a fresh one: node -e \"console.log('0x'+require('crypto').randomBytes(32).toString('hex'))\"",
    );
  }
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(key)) throw taskError("TESSERA_ENCRYPTION_KEY must be a 32-byte hex secp256k1 private key");
  try {
    return encryptionPublicKeyOf(key);
  } catch (err) {
    throw taskError("TESSERA_ENCRYPTION_KEY is not a valid secp256k1 private key", err);
  }
}

function parseVersionList(value: string): bigint[] {
  if (value.trim() === "") return [];
  return value.split(",").map((part) => {
    const p = part.trim();
    if (!/^\d+$/.test(p) || BigInt(p) === 0n) throw taskError(`--serve: ${JSON.stringify(p)} is not a version id (expected e.g. 1,2)`);
    return BigInt(p);
  });
}

/**
 * The account's own secp256k1 public key, compressed (33 bytes), recovered from a signature: the
 * key data owners encrypt to (ECIES) without the worker having to manage a second key.
 */
async function encryptionKeyOf(signer: HardhatEthersSigner): Promise<string> {
  const message = "Tessera worker encryption key";
  const signature = await signer.signMessage(message);
  return SigningKey.computePublicKey(SigningKey.recoverPublicKey(hashMessage(message), signature), true);
}
