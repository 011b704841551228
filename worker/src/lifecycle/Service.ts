/**
 * A long-running part of the worker. `start()` returns once the service is ready; `stop()` stops
 * intake, drains what is in flight, releases its resources, and is safe to call more than once.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}
