import { CID } from "multiformats/cid";
import { getBytes, hexlify, id, isHexString } from "ethers";
import { MNIST_SCHEMA } from "./schema/BuiltinSchemas.js";
import type { DatasetContribution } from "./DatasetContribution.js";

/**
 * How the off-chain dataset library meets the DataRegistry: the bytes32 schema id (sha256 of the schema document's
 * canonical bytes, see schema/SchemaDocument) and license id (keccak256 of its name, as the contract's NatSpec
 * suggests), CIDs as the raw CID bytes the registry stores, and the `ContributionArgs` struct built from a
 * client-side contribution.
 */
export const MNIST_SCHEMA_NAME = MNIST_SCHEMA.document.name;

/** The on-chain id of the MNIST schema (the demo's). */
export const MNIST_SCHEMA_ID = MNIST_SCHEMA.id;

/** keccak256 of an SPDX-like license name (`CC-BY-4.0`); a 0x-bytes32 is taken as is. */
export function licenseIdOf(license: string): string {
  return isHexString(license, 32) ? license.toLowerCase() : id(license);
}

/** A CID string as the bytes the registry stores. */
export function cidToBytes(cid: string): string {
  return hexlify(CID.parse(cid).bytes);
}

/** CID bytes from an event or struct back to the string form; throws on bytes that are not a CID. */
export function cidFromBytes(bytes: string): string {
  return CID.decode(getBytes(bytes)).toString();
}

export interface ContributionArgs {
  cid: string;
  commitment: string;
  sampleCount: number;
  schemaId: string;
  licenseId: string;
  keyEnvelopesCid: string;
}

/** The `contribute` arguments for a contribution made by `contributeDataset`. */
export function contributionArgsOf(contribution: DatasetContribution, license: string): ContributionArgs {
  return {
    cid: cidToBytes(contribution.datasetCid),
    commitment: contribution.commitment,
    sampleCount: contribution.sampleCount,
    schemaId: contribution.schemaId,
    licenseId: licenseIdOf(license),
    keyEnvelopesCid: cidToBytes(contribution.envelopesCid),
  };
}

/** DatasetStatus of the registry, by value. */
export const DatasetStatus = { None: 0, Pending: 1, Accepted: 2, Rejected: 3, Undecided: 4, Withdrawn: 5 } as const;
export const DATASET_STATUS_NAMES = ["None", "Pending", "Accepted", "Rejected", "Undecided", "Withdrawn"] as const;
/** A dataset's decision or vote reason code, by value (ValidationReason of the validator). */
export const DECISION_REASON_NAMES = ["ok", "schema (structure, ranges, labels or class balance)", "sample count", "duplicate samples", "label noise", "decryption", "commitment mismatch"] as const;
/** CreditReason of the registry, by value. */
export const CREDIT_REASON_NAMES = ["bond refund", "accept reward", "validator reward", "deferred accept reward"] as const;
