/** Every BullMQ queue of the worker, in one place so producers and consumers agree on names. */
export const QueueNames = {
  /** Decoded contract events, one job per log, enqueued by the ChainListener. */
  chainEvents: "chain-events",
  /**
   * DataRegistry events for the validator role. A queue of its own, filled by a second
   * ChainListener: BullMQ hands each job to exactly one consumer, so a shared queue would let the
   * inference processor take (and drop) a validator's job.
   */
  dataEvents: "data-events",
  /** TrainingJobs events for the trainer and evaluator roles (a queue of its own for the same reason). */
  trainingEvents: "training-events",
} as const;

export type QueueName = (typeof QueueNames)[keyof typeof QueueNames];
