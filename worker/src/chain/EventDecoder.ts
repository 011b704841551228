import { LogDescription, type EventFragment, type Interface } from "ethers";

/**
 * Decodes the logs of one contract interface by their first topic, each event's topic hash computed once.
 * ethers' `Interface.parseLog` finds a log's event by recomputing the topic hash (the keccak of the formatted
 * signature) of every event fragment in turn, for every log: with the market's ~20 events that is most of the
 * listener's CPU on a busy chain (the load benchmark's profile). One keccak per log is left, in `decodeEventLog`.
 */
export class EventDecoder {
  readonly #byTopic = new Map<string, EventFragment>();

  /** `names`: only these events (default every event of the interface); an unknown name throws. */
  constructor(
    readonly iface: Interface,
    names?: readonly string[],
  ) {
    if (names === undefined) {
      iface.forEachEvent((fragment) => this.#byTopic.set(fragment.topicHash, fragment));
      return;
    }
    for (const name of names) {
      const fragment = iface.getEvent(name);
      if (fragment === null) throw new Error(`EventDecoder: the interface has no event ${name}`);
      this.#byTopic.set(fragment.topicHash, fragment);
    }
  }

  /** The topic hashes of the events decoded (for a log filter). */
  get topics(): string[] {
    return [...this.#byTopic.keys()];
  }

  /** Whether a log with this first topic is one of the decoded events. */
  has(topic: string | undefined): boolean {
    return topic !== undefined && this.#byTopic.has(topic.toLowerCase());
  }

  /** The decoded log, as `parseLog` gives it; null for a log of another event. Throws if its data does not decode. */
  decode(log: { readonly topics: readonly string[]; readonly data: string }): LogDescription | null {
    const topic = log.topics[0]?.toLowerCase();
    const fragment = topic === undefined ? undefined : this.#byTopic.get(topic);
    if (fragment === undefined) return null;
    return new LogDescription(fragment, topic!, this.iface.decodeEventLog(fragment, log.data, log.topics));
  }
}
