/** Every BullMQ queue of the worker, in one place so producers and consumers agree on names. */
export const QueueNames = {
  /** Decoded contract events, one job per log, enqueued by the ChainListener. */
  chainEvents: "chain-events",
} as const;

export type QueueName = (typeof QueueNames)[keyof typeof QueueNames];
