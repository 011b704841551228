import { silentLogger, type Logger } from "../logger.js";
import type { Service } from "./Service.js";

/**
 * Services started in order and stopped in reverse (the queue consumer stops before the Redis
 * connection it uses). A failed start stops what had started, then rethrows.
 */
export class ServiceGroup implements Service {
  readonly name: string;
  readonly #services: readonly Service[];
  readonly #logger: Logger;
  readonly #started: Service[] = [];
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(name: string, services: readonly Service[], options: { logger?: Logger } = {}) {
    this.name = name;
    this.#services = services;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Starts every service once; later calls return the same promise. */
  start(): Promise<void> {
    if (this.#stopping !== undefined) return Promise.reject(new Error(`${this.name} is stopped`));
    this.#starting ??= (async () => {
      for (const service of this.#services) {
        if (this.#stopping !== undefined) return;
        try {
          await service.start();
        } catch (err) {
          this.#logger.error({ err, service: service.name }, "service failed to start");
          await this.#stopStarted().catch(() => undefined);
          throw err;
        }
        this.#started.push(service);
        this.#logger.info({ service: service.name }, "service started");
      }
    })();
    return this.#starting;
  }

  /**
   * Stops the started services in reverse order, each in its own try/catch so one failure does
   * not keep the rest running; rejects with an AggregateError afterwards if any failed. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      // A start in progress finishes (or fails) first, so no service starts after its stop.
      await this.#starting?.catch(() => undefined);
      await this.#stopStarted();
    })();
    return this.#stopping;
  }

  async #stopStarted(): Promise<void> {
    const errors: unknown[] = [];
    for (const service of [...this.#started].reverse()) {
      try {
        await service.stop();
        this.#logger.info({ service: service.name }, "service stopped");
      } catch (err) {
        errors.push(err);
        this.#logger.error({ err, service: service.name }, "service failed to stop");
      }
    }
    this.#started.length = 0;
    if (errors.length > 0) throw new AggregateError(errors, `${this.name}: ${errors.length} service(s) failed to stop`);
  }
}

export interface SignalHandlerOptions {
  readonly signals?: readonly NodeJS.Signals[];
  /** Injected in tests; `process.exit` otherwise. */
  readonly exit?: (code: number) => void;
  /**
   * A second signal this soon after the first is the same signal reaching this process again (npm
   * and tsx forward what the terminal already sent to the whole process group): ignored. Default 1 s.
   */
  readonly duplicateWindowMs?: number;
  /** Injected in tests; `Date.now` otherwise. */
  readonly now?: () => number;
}

/**
 * SIGINT/SIGTERM stop `group` gracefully (one drain) and exit 0, or 1 if a stop failed. A second
 * signal within `duplicateWindowMs` of the first is logged and ignored; any later one — a second
 * after the window, or a third — exits at once with 130. Returns a function that removes the handlers.
 */
export function installSignalHandlers(group: Service, logger: Logger, options: SignalHandlerOptions = {}): () => void {
  const signals = options.signals ?? ["SIGINT", "SIGTERM"];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const now = options.now ?? Date.now;
  const window = options.duplicateWindowMs ?? 1_000;
  let firstAt: number | undefined;
  let received = 0;
  const handler = (signal: NodeJS.Signals) => {
    received++;
    if (firstAt !== undefined) {
      if (received === 2 && now() - firstAt <= window) {
        logger.info({ signal }, "signal ignored: already shutting down (the same signal reaches every process of the group); send it again to force");
        return;
      }
      logger.warn({ signal }, "signal while shutting down: exiting without waiting");
      exit(130);
      return;
    }
    firstAt = now();
    logger.info({ signal }, "shutting down gracefully: stopping intake, draining in-flight jobs (send the signal twice more to force)");
    group.stop().then(
      () => exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown finished with errors");
        exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}
