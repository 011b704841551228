import type { LayersModel } from "@tensorflow/tfjs";
import { seededPermutation, selectDigits, type DigitSet } from "../ml/MnistDataset.js";
import { evaluate, trainModel } from "../ml/models.js";
import { FedAvgAggregator, type AggregationRule, type ClientUpdate } from "./FedAvgAggregator.js";
import { flattenWeights, loadFlatWeights, weightsHash } from "./ModelWeights.js";
import type { Attack } from "./PoisoningAttacks.js";
import type { UpdateScore } from "./UpdateScreening.js";

/** Each client's training examples, as indices into the train split. */
export type Partition = Uint32Array[];

/** IID: a seeded shuffle of the train split cut into `clients` equal shards (sizes differ by at most one). */
export function partitionIid(count: number, clients: number, seed: number): Partition {
  checkClients(count, clients, 1);
  const order = seededPermutation(count, seed);
  return Array.from({ length: clients }, (_, k) =>
    order.slice(Math.floor((k * count) / clients), Math.floor(((k + 1) * count) / clients)),
  );
}

/**
 * The pathological non-IID split of McMahan et al. 2017: sort the examples by label, cut them into
 * `shardsPerClient * clients` shards of consecutive examples, and deal each client
 * `shardsPerClient` shards at random, so that most clients see only two digits.
 */
export function partitionPathologicalNonIid(
  labels: Uint8Array,
  clients: number,
  seed: number,
  shardsPerClient = 2,
): Partition {
  const count = labels.length;
  const shards = clients * shardsPerClient;
  checkClients(count, clients, shardsPerClient);
  // Stable sort by label: ties keep index order, so the split is the same on every machine.
  const byLabel = Uint32Array.from({ length: count }, (_, i) => i).sort((a, b) => labels[a] - labels[b] || a - b);
  const dealt = seededPermutation(shards, seed);
  return Array.from({ length: clients }, (_, k) => {
    const parts: Uint32Array[] = [];
    for (let s = 0; s < shardsPerClient; s++) {
      const shard = dealt[k * shardsPerClient + s];
      parts.push(byLabel.subarray(Math.floor((shard * count) / shards), Math.floor(((shard + 1) * count) / shards)));
    }
    const indices = new Uint32Array(parts.reduce((sum, p) => sum + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      indices.set(part, offset);
      offset += part.length;
    }
    return indices;
  });
}

function checkClients(count: number, clients: number, shardsPerClient: number): void {
  if (!Number.isInteger(clients) || clients < 1) throw new RangeError(`clients must be a positive integer, got ${clients}`);
  if (!Number.isInteger(shardsPerClient) || shardsPerClient < 1) {
    throw new RangeError(`shardsPerClient must be a positive integer, got ${shardsPerClient}`);
  }
  if (count < clients * shardsPerClient) {
    throw new RangeError(`${count} examples cannot be cut into ${clients * shardsPerClient} non-empty shards`);
  }
}

export interface FederatedOptions {
  /** Builds the architecture; the first model built gives the initial global weights. */
  buildModel: () => LayersModel;
  train: DigitSet;
  /** Held-out digits the global model is evaluated on after every round. */
  test: DigitSet;
  partition: Partition;
  /** C: the fraction of clients picked each round (at least one). */
  clientFraction: number;
  /** E: local epochs per round. */
  localEpochs: number;
  /** B: local minibatch size; `"all"` is the whole local dataset (with E = 1: FedSGD). */
  batchSize: number | "all";
  /** Plain SGD's learning rate on the clients. */
  learningRate: number;
  /**
   * Heavy-ball momentum of the clients' SGD, in [0, 1); each client starts every round with zero
   * velocity (no optimizer state crosses rounds or clients). 0 or absent: plain SGD, as in the paper.
   */
  momentum?: number;
  rule?: AggregationRule;
  /**
   * A coalition of poisoning clients: the clients it controls (indices into `partition`) do not
   * train; when picked, they send what `attack` crafts from the round's honest updates.
   */
  adversary?: { clients: readonly number[]; attack: Attack };
  maxRounds: number;
  /** Stop after the first round whose global model reaches this test accuracy. */
  targetAccuracy?: number;
  /** Keep training to `maxRounds` after the target is reached (to measure the final accuracy). */
  continuePastTarget?: boolean;
  /** Seeds the client sampling and the local shuffles. */
  seed?: number;
  onRound?: (report: RoundReport) => void | Promise<void>;
}

export interface RoundReport {
  round: number;
  clients: number[];
  accuracy: number;
  loss: number;
  /** Examples processed by local SGD this round (sum over clients of E * n_k). */
  samplesTrained: number;
  trainSeconds: number;
  /** keccak256 of the aggregated global weights: what workers would post on chain. */
  globalHash: `0x${string}`;
  /** The clients whose updates the rule excluded, ascending. */
  excluded: number[];
  /** What the screen measured of each update (screened-fedavg only), in client order. */
  scores?: UpdateScore[];
}

export interface FederatedResult {
  initialAccuracy: number;
  finalAccuracy: number;
  /** The first round whose global model reached the target, or undefined if none did. */
  roundsToTarget: number | undefined;
  roundsRun: number;
  rounds: RoundReport[];
  /** Local training throughput over all clients and rounds (forward + backward + update). */
  samplesPerSecond: number;
  globalWeights: Float32Array;
  globalHash: `0x${string}`;
}

/**
 * FederatedAveraging (McMahan et al. 2017, Algorithm 1) simulated in one process: each round
 * picks max(round(C * K), 1) clients with a seeded permutation, each runs E epochs of plain SGD
 * with batch B from the global weights, and the server aggregates their weights with
 * FedAvgAggregator (keyed by client index, zero-padded, so the order is the index order), after
 * any adversary's clients have added their crafted updates.
 */
export async function runFederatedTraining(options: FederatedOptions): Promise<FederatedResult> {
  const { partition, train, test, maxRounds } = options;
  const clientCount = partition.length;
  if (!(options.clientFraction > 0 && options.clientFraction <= 1)) {
    throw new RangeError(`clientFraction must be in (0, 1], got ${options.clientFraction}`);
  }
  if (!Number.isInteger(maxRounds) || maxRounds < 0) throw new RangeError(`maxRounds must be a non-negative integer`);
  const momentum = options.momentum ?? 0;
  if (!(momentum >= 0 && momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${options.momentum}`);
  const perRound = Math.max(Math.round(options.clientFraction * clientCount), 1);
  const seed = options.seed ?? 0;
  const aggregator = new FedAvgAggregator(options.rule ?? { kind: "fedavg" });
  const clientData = partition.map((indices) => selectDigits(train, indices));
  const keyWidth = String(clientCount - 1).length;
  const keyOf = (k: number) => String(k).padStart(keyWidth, "0");
  const malicious = new Set(options.adversary?.clients ?? []);
  for (const k of malicious) {
    if (!Number.isInteger(k) || k < 0 || k >= clientCount) throw new RangeError(`adversary client ${k} is not in 0..${clientCount - 1}`);
  }

  const model = options.buildModel();
  try {
    let global = flattenWeights(model).values;
    const initialAccuracy = (await evaluate(model, test)).accuracy;
    const rounds: RoundReport[] = [];
    let roundsToTarget: number | undefined;
    let samples = 0;
    let seconds = 0;
    for (let round = 1; round <= maxRounds; round++) {
      const picked = Array.from(seededPermutation(clientCount, seed * 1_000_003 + round).subarray(0, perRound)).sort(
        (a, b) => a - b,
      );
      const updates: ClientUpdate[] = [];
      let roundSamples = 0;
      let roundSeconds = 0;
      for (const k of picked) {
        if (malicious.has(k)) continue;
        const data = clientData[k];
        loadFlatWeights(model, global);
        const result = await trainModel(model, data, {
          epochs: options.localEpochs,
          batchSize: options.batchSize === "all" ? data.count : options.batchSize,
          learningRate: options.learningRate,
          optimizer: "sgd",
          momentum: options.momentum,
          seed: (seed * 1_000_003 + round) * clientCount + k,
        });
        roundSamples += data.count * options.localEpochs;
        roundSeconds += result.seconds;
        updates.push({ key: keyOf(k), weights: flattenWeights(model).values, samples: data.count });
      }
      const attackers = picked.filter((k) => malicious.has(k)).map((k) => ({ key: keyOf(k), samples: clientData[k].count }));
      if (attackers.length > 0 && options.adversary !== undefined) {
        const crafted = options.adversary.attack({ round, global, honest: updates, attackers, rule: aggregator.rule });
        attackers.forEach(({ key, samples }, a) => updates.push({ key, samples, weights: crafted[a] }));
      }
      const aggregate = aggregator.aggregateWithExclusion(updates, { global });
      global = aggregate.weights;
      loadFlatWeights(model, global);
      const { accuracy, loss } = await evaluate(model, test);
      samples += roundSamples;
      seconds += roundSeconds;
      const report: RoundReport = {
        round,
        clients: picked,
        accuracy,
        loss,
        samplesTrained: roundSamples,
        trainSeconds: roundSeconds,
        globalHash: weightsHash(global),
        excluded: aggregate.excludedCids.map(Number),
        scores: aggregate.scores,
      };
      rounds.push(report);
      await options.onRound?.(report);
      if (roundsToTarget === undefined && options.targetAccuracy !== undefined && accuracy >= options.targetAccuracy) {
        roundsToTarget = round;
        if (!options.continuePastTarget) break;
      }
    }
    return {
      initialAccuracy,
      finalAccuracy: rounds.at(-1)?.accuracy ?? initialAccuracy,
      roundsToTarget,
      roundsRun: rounds.length,
      rounds,
      samplesPerSecond: seconds > 0 ? samples / seconds : 0,
      globalWeights: global,
      globalHash: weightsHash(global),
    };
  } finally {
    model.dispose();
  }
}
