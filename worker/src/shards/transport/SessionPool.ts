import { connect, type ClientHttp2Session } from "node:http2";
import type { Logger } from "../../logger.js";
import { openFlowControl } from "./StageProtocol.js";

/** A session lent to one call; `release` when the call is over. */
export interface SessionLease {
  session: ClientHttp2Session;
  release(): void;
}

interface Entry {
  session: ClientHttp2Session;
  ready: Promise<void>;
  inFlight: number;
}

/**
 * One HTTP/2 session per origin, shared by every call to it (HTTP/2 multiplexes them), opened on first use and
 * reopened when it closed, failed or received GOAWAY. A session with no call in flight does not keep the process
 * alive, and one idle for `idleTimeoutMs` is closed. A failed connection rejects with an error whose `code` is
 * `CONNECT_FAILED`.
 */
export class SessionPool {
  readonly #entries = new Map<string, Entry>();
  readonly #idleTimeoutMs: number;
  readonly #ca: string | Buffer | Array<string | Buffer> | undefined;
  readonly #log: Logger;

  constructor(options: { idleTimeoutMs: number; ca?: string | Buffer | Array<string | Buffer>; logger: Logger }) {
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#ca = options.ca;
    this.#log = options.logger;
  }

  /** A connected session to `origin` (`http://` for h2c, `https://` for h2 over TLS); rejects if `signal` fires first. */
  async acquire(origin: string, signal: AbortSignal): Promise<SessionLease> {
    let entry = this.#entries.get(origin);
    if (entry === undefined || entry.session.closed || entry.session.destroyed) entry = this.#open(origin);
    const current = entry;
    current.inFlight++;
    current.session.ref();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (--current.inFlight === 0 && !current.session.destroyed) current.session.unref();
    };
    try {
      await abortable(current.ready, signal);
    } catch (err) {
      release();
      throw err;
    }
    return { session: current.session, release };
  }

  /** Closes every session (gracefully: calls in flight may still finish, then the sockets close). */
  async close(): Promise<void> {
    const sessions = [...this.#entries.values()].map((e) => e.session);
    this.#entries.clear();
    await Promise.all(
      sessions.map(
        (session) =>
          new Promise<void>((resolve) => {
            if (session.closed || session.destroyed) return resolve();
            session.close(() => resolve());
          }),
      ),
    );
  }

  #open(origin: string): Entry {
    const session = connect(origin, this.#ca === undefined ? {} : { ca: this.#ca });
    // The answers of a batch of stages are not held back while this process is busy (a host it chose; each answer
    // is bounded by maxOutputBytes).
    session.once("connect", () => openFlowControl(session));
    const forget = () => {
      if (this.#entries.get(origin)?.session === session) this.#entries.delete(origin);
    };
    const ready = new Promise<void>((resolve, reject) => {
      session.once("connect", () => resolve());
      session.once("error", (err: Error) => reject(Object.assign(new Error(err.message, { cause: err }), { code: "CONNECT_FAILED" })));
    });
    ready.catch(() => undefined);
    session.on("error", (err) => {
      this.#log.debug({ err, origin }, "shard client: session error");
      forget();
    });
    session.on("goaway", forget);
    session.on("close", forget);
    session.setTimeout(this.#idleTimeoutMs, () => session.close());
    const entry: Entry = { session, ready, inFlight: 0 };
    this.#entries.set(origin, entry);
    return entry;
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
