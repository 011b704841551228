import type { Provider } from "ethers";
import { DataRegistry__factory } from "../../../typechain-types/index.js";
import { QueuedEventsListener } from "../chain/QueuedEventsListener.js";
import type { Logger } from "../logger.js";
import { QueueNames } from "../queue/QueueNames.js";
import { VALIDATION_EVENTS } from "./ValidationProcessor.js";
import { DATA_REGISTRY_SOURCE } from "./ValidationService.js";

export interface DataEventsListenerOptions {
  readonly provider: Provider;
  readonly dataRegistry: string;
  readonly chainId: number;
  readonly redisUrl: string;
  readonly queuePrefix: string;
  readonly startBlock: number;
  readonly confirmations: number;
  readonly blockRange: number;
  readonly pollIntervalMs: number;
  readonly logger?: Logger;
}

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
