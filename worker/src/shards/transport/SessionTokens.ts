import { hashMessage } from "ethers";
import { recoverSigner } from "../StageSignature.js";
import { sessionAuthMessage } from "./StageProtocol.js";

/** Why a session token was refused; `known` when it was remembered (no recovery needed). */
export type TokenVerdict = { ok: true; known: boolean } | { ok: false; code: "BAD_AUTH" | "AUTH_EXPIRED"; reason: string };

export interface SessionTokensOptions {
  chainId: bigint;
  shardRegistry: string;
  /** This host's address: tokens name it. */
  host: string;
  clockSkewMs: number;
  maxLifetimeMs: number;
  /** Tokens remembered at once (the oldest forgotten first: it is then recovered again); default 4,096. */
  capacity?: number;
}

/**
 * The session tokens a host has checked (StageProtocol.ts): each recovered (libsecp256k1, 0.05 ms), and remembered
 * once its peer passed the host's authorization (`remember`), until it expires: a staked caller's thousandth stage
 * costs a map lookup, and tokens of keys the host does not serve never take a place. A token is accepted while
 * `now <= expires + clockSkew`, and only if it expires no further ahead than `maxLifetime + clockSkew`; both edges
 * are inclusive. A forged or foreign token (other chain, registry or host) never recovers to its peer.
 */
export class SessionTokens {
  readonly #o: SessionTokensOptions;
  readonly #capacity: number;
  /** `${peer}|${expires}|${auth}` → expires, in insertion order. */
  readonly #known = new Map<string, number>();

  constructor(options: SessionTokensOptions) {
    this.#o = options;
    this.#capacity = options.capacity ?? 4_096;
  }

  get size(): number {
    return this.#known.size;
  }

  check(token: { peer: string; expires: number; auth: string }, now: number): TokenVerdict {
    const { clockSkewMs, maxLifetimeMs } = this.#o;
    if (now > token.expires + clockSkewMs) {
      return { ok: false, code: "AUTH_EXPIRED", reason: `the session token expired ${now - token.expires} ms ago (host's clock; skew allowed ±${clockSkewMs} ms)` };
    }
    if (token.expires - now > maxLifetimeMs + clockSkewMs) {
      return { ok: false, code: "AUTH_EXPIRED", reason: `the session token expires ${token.expires - now} ms ahead: longer than a token may live (${maxLifetimeMs} ms, skew ±${clockSkewMs} ms)` };
    }
    if (this.#known.has(keyOf(token))) return { ok: true, known: true };
    let signer: string;
    try {
      const { chainId, shardRegistry, host } = this.#o;
      signer = recoverSigner(hashMessage(sessionAuthMessage({ chainId, shardRegistry, host, expires: token.expires })), token.auth);
    } catch {
      return { ok: false, code: "BAD_AUTH", reason: "the auth signature is not a valid signature" };
    }
    if (signer !== token.peer) return { ok: false, code: "BAD_AUTH", reason: "the session token is not the peer's for this host" };
    return { ok: true, known: false };
  }

  /** Remembers a token that `check` accepted, once its peer is authorized here. */
  remember(token: { peer: string; expires: number; auth: string }, now: number): void {
    const key = keyOf(token);
    if (this.#known.has(key)) return;
    this.#forgetExpired(now);
    while (this.#known.size >= this.#capacity) this.#known.delete(this.#known.keys().next().value!);
    this.#known.set(key, token.expires);
  }

  #forgetExpired(now: number): void {
    for (const [key, expires] of this.#known) if (now > expires + this.#o.clockSkewMs) this.#known.delete(key);
  }
}

function keyOf(token: { peer: string; expires: number; auth: string }): string {
  return `${token.peer}|${token.expires}|${token.auth}`;
}
