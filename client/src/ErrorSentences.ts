import type { Interface } from "ethers";
import { decodeRevert, formatRevert, revertDataOf } from "../../worker/src/errors.js";
import { hintFor } from "./RevertHints.js";

interface ErrorFields {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly shortMessage?: unknown;
  readonly error?: unknown;
  readonly info?: { readonly error?: unknown };
  readonly cause?: unknown;
}

/** The error and every error it wraps (ethers' `error`/`info.error`, `cause`), outermost first. */
function chain(err: unknown): ErrorFields[] {
  const out: ErrorFields[] = [];
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0 && out.length < 16) {
    const e = queue.shift();
    if (e === null || typeof e !== "object" || seen.has(e)) continue;
    seen.add(e);
    const fields = e as ErrorFields;
    out.push(fields);
    queue.push(fields.error, fields.info?.error, fields.cause);
  }
  return out;
}

/** Solidity's panic codes a person could meet. */
const PANICS: Record<number, string> = { 0x01: ": an assertion failed", 0x11: ": arithmetic overflow", 0x12: ": division by zero", 0x32: ": an index out of range" };

/** Revert data wallets nest one level down (`{ code: -32603, data: { data: "0x…" } }`, MetaMask's shape). */
function nestedRevertData(errors: readonly ErrorFields[]): string | undefined {
  for (const e of errors) {
    const inner = (e as { data?: { data?: unknown } }).data?.data;
    if (typeof inner === "string" && /^0x[0-9a-fA-F]{8,}$/.test(inner)) return inner;
  }
  return undefined;
}

const capitalised = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * One sentence a person understands for anything a wallet, a node or a contract threw: a declined signature, too
 * little ETH, a custom-error revert (named and explained with the tasks' hints, across every contract's
 * `interfaces`), an unreachable node. Never a hex blob: an unknown revert is named by its selector's error, an
 * unknown error by its short message.
 */
export function explainError(err: unknown, interfaces: readonly Interface[]): string {
  const errors = chain(err);
  for (const e of errors) {
    if (e.code === "ACTION_REJECTED" || e.code === 4001) return "You declined the request in your wallet: nothing was sent and nothing was paid.";
    if (e.code === 4100) return "The wallet has not given this page access to that account: connect it first.";
    if (e.code === 4902) return "The wallet does not know this network: add it from the page's network prompt.";
  }
  for (const e of errors) {
    if (e.code === "TRANSACTION_REPLACED") {
      const reason = (e as { reason?: unknown }).reason;
      if (reason === "cancelled") return "Your wallet cancelled the transaction (replaced it with an empty one): nothing was paid.";
      return "Your wallet replaced the transaction with another: look it up in the wallet's activity before trying again.";
    }
  }
  const revert = decodeRevert(revertDataOf(err) ?? nestedRevertData(errors), interfaces);
  if (revert !== null) {
    const hint = hintFor(revert);
    if (hint !== undefined) return `The contract refused: ${hint}.`;
    if (revert.name === "Error") return `The contract refused: ${String(revert.args[0])}.`;
    if (revert.name === "Panic") return `The contract stopped on a failed internal check (panic 0x${BigInt(revert.args[0] as bigint).toString(16)}${PANICS[Number(revert.args[0])] ?? ""}): nothing changed.`;
    return `The contract refused with ${formatRevert(revert)}.`;
  }
  for (const e of errors) {
    const message = typeof e.message === "string" ? e.message : "";
    if (e.code === "INSUFFICIENT_FUNDS" || /insufficient funds/i.test(message)) {
      return "Your account has too little ETH to pay for this and its gas.";
    }
    if (e.code === "NETWORK_ERROR" || e.code === "TIMEOUT" || /failed to fetch|fetch failed|ECONNREFUSED/i.test(message)) {
      return "The chain's node could not be reached: check the network connection and the page's node address.";
    }
  }
  for (const e of errors) {
    if (e.code === "CALL_EXCEPTION") return "The contract refused the transaction without saying why.";
  }
  // ethers' short message leaves out its "(action=…, data=…)" details; other errors are already sentences.
  const first = errors[0];
  const text = (typeof first?.shortMessage === "string" ? first.shortMessage : typeof first?.message === "string" ? first.message : String(err)).trim();
  if (text === "") return "Something went wrong.";
  return /[.!?]$/.test(text) ? capitalised(text) : `${capitalised(text)}.`;
}
