import { pino, type DestinationStream, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  readonly name?: string;
  /** Force (or forbid) pino-pretty; by default pretty only when stdout is a terminal. */
  readonly pretty?: boolean;
  /** Where JSON lines go instead of stdout (tests, log shippers); never prettified. */
  readonly destination?: DestinationStream;
}

/** The application's root logger: JSON lines, human-readable when a person is watching. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const base = { name: options.name ?? "tessera", level: options.level ?? "info" };
  if (options.destination !== undefined) return pino(base, options.destination);
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  if (pretty) return pino({ ...base, transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss.l" } } });
  // Written synchronously, as Node writes process.stdout to files and pipes: pino's default asynchronous
  // writer, at a process exit with a write blocked on a full pipe (a slow log reader), let that write land
  // after the lines flushed at exit, so the last lines of a drain came out of order.
  return pino(base, pino.destination({ dest: 1, sync: true }));
}

/** Context fields a child logger may carry; names are fixed so logs can be queried across services. */
export interface LogContext {
  readonly jobId?: string;
  readonly requestId?: string | bigint;
  readonly txHash?: string;
  readonly blockNumber?: number;
  readonly [key: string]: unknown;
}

/** A child logger carrying `context` (bigints rendered as strings so they serialize). */
export function withContext(logger: Logger, context: LogContext): Logger {
  const bindings: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(context)) {
    if (v !== undefined) bindings[k] = typeof v === "bigint" ? v.toString() : v;
  }
  return logger.child(bindings);
}

/** A logger that drops everything: the default for library classes when none is given. */
export const silentLogger: Logger = pino({ level: "silent" });
