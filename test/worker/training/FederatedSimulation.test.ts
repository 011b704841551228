import { expect } from "chai";
import { selectBackend } from "../../../worker/src/ml/backend.js";
import { loadMnist, selectDigits, type MnistSplit } from "../../../worker/src/ml/MnistDataset.js";
import { buildMlp, evaluate, trainModel } from "../../../worker/src/ml/models.js";
import { aggregateWithExclusion, type ClientUpdate } from "../../../worker/src/training/FedAvgAggregator.js";
import { flattenWeights, loadFlatWeights, weightsHash } from "../../../worker/src/training/ModelWeights.js";
import {
  partitionIid,
  partitionPathologicalNonIid,
  runFederatedTraining,
} from "../../../worker/src/training/FederatedSimulation.js";
import { signFlipAttack, stealthyAttack } from "../../../worker/src/training/PoisoningAttacks.js";

function expectExactCover(partition: Uint32Array[], count: number): void {
  const seen = new Uint8Array(count);
  for (const client of partition) for (const i of client) seen[i]++;
  expect(seen.every((n) => n === 1)).to.equal(true);
}

describe("FederatedSimulation", () => {
  let mnist: MnistSplit;

  before(async () => {
    await selectBackend();
    mnist = await loadMnist({ testCount: 2_000, seed: 42 });
  });

  it("IID partition: equal shards covering every example once, with every label in each", () => {
    const partition = partitionIid(mnist.train.count, 100, 1);
    expect(partition).to.have.length(100);
    expect(partition.every((c) => c.length === 80)).to.equal(true);
    expectExactCover(partition, mnist.train.count);
    const labelsPerClient = partition.map((c) => new Set(Array.from(c, (i) => mnist.train.labels[i])).size);
    expect(Math.min(...labelsPerClient)).to.be.at.least(7);
    expect(partitionIid(10, 3, 1).map((c) => c.length)).to.deep.equal([3, 3, 4]);
  });

  it("pathological non-IID partition: 2 shards of sorted labels per client, so most clients hold exactly 2 digits", () => {
    const partition = partitionPathologicalNonIid(mnist.train.labels, 100, 1);
    expect(partition).to.have.length(100);
    expect(partition.every((c) => c.length === 80)).to.equal(true);
    expectExactCover(partition, mnist.train.count);
    const labelsPerClient = partition.map((c) => new Set(Array.from(c, (i) => mnist.train.labels[i])).size);
    // A shard straddling a label boundary adds a third (or fourth) digit; two shards of one digit give one.
    expect(labelsPerClient.filter((n) => n === 2).length).to.be.at.least(70);
    expect(Math.max(...labelsPerClient)).to.be.at.most(4);
    expect(() => partitionPathologicalNonIid(mnist.train.labels.subarray(0, 5), 3, 1)).to.throw(RangeError);
  });

  it("FedAvg of 3 clients for 2 rounds improves test accuracy, leaks no tensors, and the same seed gives the same global hash", async () => {
    const train = selectDigits(mnist.train, Array.from({ length: 600 }, (_, i) => i));
    const test = selectDigits(mnist.test, Array.from({ length: 500 }, (_, i) => i));
    const options = {
      buildModel: () => buildMlp({ seed: 5 }),
      train,
      test,
      partition: partitionIid(train.count, 3, 2),
      clientFraction: 1,
      localEpochs: 1,
      batchSize: 10,
      learningRate: 0.05,
      maxRounds: 2,
      seed: 3,
    };
    const { tf } = await selectBackend();
    const tensorsBefore = tf.memory().numTensors;
    const first = await runFederatedTraining(options);
    expect(tf.memory().numTensors).to.equal(tensorsBefore);
    expect(first.roundsRun).to.equal(2);
    expect(first.rounds.map((r) => r.clients)).to.deep.equal([[0, 1, 2], [0, 1, 2]]);
    expect(first.rounds[0].samplesTrained).to.equal(600);
    expect(first.initialAccuracy).to.be.below(0.3);
    expect(first.finalAccuracy).to.be.above(first.initialAccuracy + 0.4);
    expect(first.samplesPerSecond).to.be.above(0);
    const second = await runFederatedTraining(options);
    expect(second.globalHash).to.equal(first.globalHash);
  });

  it("stops at the target accuracy and samples a fraction C of the clients each round", async () => {
    const train = selectDigits(mnist.train, Array.from({ length: 400 }, (_, i) => i));
    const test = selectDigits(mnist.test, Array.from({ length: 300 }, (_, i) => i));
    const result = await runFederatedTraining({
      buildModel: () => buildMlp({ seed: 5 }),
      train,
      test,
      partition: partitionIid(train.count, 10, 2),
      clientFraction: 0.3,
      localEpochs: 2,
      batchSize: "all",
      learningRate: 0.1,
      maxRounds: 5,
      targetAccuracy: 0,
      seed: 1,
    });
    expect(result.roundsToTarget).to.equal(1);
    expect(result.roundsRun).to.equal(1);
    expect(result.rounds[0].clients).to.have.length(3);
    expect(result.rounds[0].samplesTrained).to.equal(3 * 40 * 2);
  });
  it("client momentum: each round starts from zero velocity, and it trains further per round than plain SGD", async () => {
    const train = selectDigits(mnist.train, Array.from({ length: 300 }, (_, i) => i));
    const test = selectDigits(mnist.test, Array.from({ length: 300 }, (_, i) => i));
    const options = {
      buildModel: () => buildMlp({ seed: 5 }),
      train,
      test,
      partition: partitionIid(train.count, 1, 2),
      clientFraction: 1,
      localEpochs: 1,
      batchSize: 30,
      learningRate: 0.01,
      maxRounds: 2,
      seed: 4,
    };
    const withMomentum = await runFederatedTraining({ ...options, momentum: 0.9 });
    const plain = await runFederatedTraining(options);
    expect(withMomentum.globalHash).to.not.equal(plain.globalHash);
    // Heavy-ball at 0.9 takes steps up to 10x plain SGD's: the loss falls further in the same 2 rounds.
    expect(withMomentum.rounds[1].loss).to.be.below(plain.rounds[1].loss);
    expect(withMomentum.finalAccuracy).to.be.above(plain.finalAccuracy);

    // One client, C = 1: the global model is that client's. Two rounds equal two separate
    // trainModel calls (each a fresh optimizer, zero velocity) with the rounds' shuffle seeds.
    const roundSeed = (round: number) => (options.seed * 1_000_003 + round) * 1 + 0;
    const manual = buildMlp({ seed: 5 });
    const client = selectDigits(train, partitionIid(train.count, 1, 2)[0]);
    for (const round of [1, 2]) {
      await trainModel(manual, client, { epochs: 1, batchSize: 30, learningRate: 0.01, momentum: 0.9, seed: roundSeed(round) });
    }
    expect(weightsHash(flattenWeights(manual).values)).to.equal(withMomentum.globalHash);
    manual.dispose();

    let caught: unknown;
    await runFederatedTraining({ ...options, momentum: 1 }).catch((e: unknown) => (caught = e));
    expect(caught).to.be.instanceOf(RangeError);
  });

  describe("poisoning (K = 10 IID clients of 100 real digits)", () => {
    const setup = () => {
      const train = selectDigits(mnist.train, Array.from({ length: 1_000 }, (_, i) => i));
      const test = selectDigits(mnist.test, Array.from({ length: 500 }, (_, i) => i));
      return { train, test, partition: partitionIid(train.count, 10, 7) };
    };

    it("a scaled sign-flipped update is excluded by screened-fedavg and the nine honest ones are not; FedAvg without the screen sinks", async () => {
      const { train, test, partition } = setup();
      const model = buildMlp({ seed: 5 });
      const global = flattenWeights(model).values;
      const updates: ClientUpdate[] = [];
      for (let k = 0; k < 10; k++) {
        loadFlatWeights(model, global);
        await trainModel(model, selectDigits(train, partition[k]), { epochs: 1, batchSize: 10, learningRate: 0.1, seed: k });
        const weights = flattenWeights(model).values;
        // Client 9 trains honestly, then sends global - 10 * (its own delta).
        if (k === 9) for (let i = 0; i < weights.length; i++) weights[i] = global[i] - 10 * (weights[i] - global[i]);
        updates.push({ key: `client-${k}`, weights, samples: partition[k].length });
      }
      const screened = aggregateWithExclusion(updates, { kind: "screened-fedavg" }, { global });
      const plain = aggregateWithExclusion(updates, { kind: "fedavg" });
      expect(screened.excludedCids).to.deep.equal(["client-9"]);
      expect(plain.excludedCids).to.deep.equal([]);
      expect(screened.scores?.filter((s) => s.excluded).map((s) => s.key)).to.deep.equal(["client-9"]);
      // What is left is exactly the FedAvg of the nine honest updates.
      expect(weightsHash(screened.weights)).to.equal(weightsHash(aggregateWithExclusion(updates.slice(0, 9), { kind: "fedavg" }).weights));
      loadFlatWeights(model, screened.weights);
      const defended = (await evaluate(model, test)).accuracy;
      loadFlatWeights(model, plain.weights);
      const undefended = (await evaluate(model, test)).accuracy;
      model.dispose();
      expect(defended).to.be.above(0.6);
      expect(undefended).to.be.below(0.3);
    });

    it("runs a coalition in the simulation: its clients do not train, the screen excludes all three every round and no honest client", async () => {
      const { train, test, partition } = setup();
      const options = {
        buildModel: () => buildMlp({ seed: 5 }),
        train,
        test,
        partition,
        clientFraction: 1,
        localEpochs: 1,
        batchSize: 10,
        learningRate: 0.1,
        maxRounds: 3,
        seed: 2,
      };
      const attacked = await runFederatedTraining({
        ...options,
        rule: { kind: "screened-fedavg" },
        adversary: { clients: [9, 8, 7], attack: signFlipAttack(10) },
      });
      expect(attacked.rounds.map((r) => r.excluded)).to.deep.equal([[7, 8, 9], [7, 8, 9], [7, 8, 9]]);
      expect(attacked.rounds[0].samplesTrained).to.equal(700);
      const clean = await runFederatedTraining({ ...options, rule: { kind: "screened-fedavg" } });
      expect(clean.rounds.every((r) => r.excluded.length === 0)).to.equal(true);
      expect(attacked.finalAccuracy).to.be.above(0.7);
      // Without the screen the same coalition sinks the model.
      const sunk = await runFederatedTraining({ ...options, adversary: { clients: [9, 8, 7], attack: signFlipAttack(10) } });
      expect(sunk.finalAccuracy).to.be.below(0.2);

      let caught: unknown;
      await runFederatedTraining({ ...options, adversary: { clients: [10], attack: signFlipAttack(10) } }).catch((e: unknown) => (caught = e));
      expect(caught).to.be.instanceOf(RangeError);
    });

    it("a stealthy coalition that knows the thresholds stays in, but cannot turn the model around: it only slows it", async () => {
      const { train, test, partition } = setup();
      const options = {
        buildModel: () => buildMlp({ seed: 5 }),
        train,
        test,
        partition,
        clientFraction: 1,
        localEpochs: 1,
        batchSize: 10,
        learningRate: 0.1,
        maxRounds: 3,
        seed: 2,
        rule: { kind: "screened-fedavg" } as const,
      };
      const clean = await runFederatedTraining(options);
      const stealthy = await runFederatedTraining({ ...options, adversary: { clients: [9, 8, 7], attack: stealthyAttack() } });
      expect(stealthy.rounds.every((r) => r.excluded.length === 0)).to.equal(true);
      // Its updates must keep a non-negative cosine to the median delta: at most a zero update (free-riding).
      for (const round of stealthy.rounds) {
        for (const score of round.scores ?? []) expect(score.cosine).to.be.at.least(0);
      }
      expect(stealthy.finalAccuracy).to.be.above(clean.finalAccuracy - 0.1);
      expect(stealthy.finalAccuracy).to.be.above(stealthy.initialAccuracy + 0.4);
    });
  });
});

