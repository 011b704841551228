import { DataRegistry__factory } from "../../../typechain-types/index.js";
import { QueuedEventsListener, type QueuedEventsListenerOptions } from "../chain/QueuedEventsListener.js";
import { QueueNames } from "../queue/QueueNames.js";
import { VALIDATION_EVENTS } from "./ValidationProcessor.js";
import { DATA_REGISTRY_SOURCE } from "./ValidationService.js";

export type DataEventsListenerOptions = Omit<QueuedEventsListenerOptions, "queueName" | "source" | "address" | "contractInterface" | "events"> & {
  readonly dataRegistry: string;
};

/** The DataRegistry's validation events, on the `data-events` queue the validator role consumes. */
export class DataEventsListener extends QueuedEventsListener {
  constructor(options: DataEventsListenerOptions) {
    const { dataRegistry, ...rest } = options;
    super({
      ...rest,
      queueName: QueueNames.dataEvents,
      source: DATA_REGISTRY_SOURCE,
      address: dataRegistry,
      contractInterface: DataRegistry__factory.createInterface(),
      events: VALIDATION_EVENTS,
    });
  }
}
