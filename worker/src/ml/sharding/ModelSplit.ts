import type { LayersModel } from "@tensorflow/tfjs";
import { activeTf } from "../backend.js";
import { ShardingError } from "./ShardingError.js";

/** A layer of a LayersModel (the tfjs `Layer` class is not exported under a stable name). */
export type ModelLayer = LayersModel["layers"][number];

/** Per-example shape: no batch dimension; `null` where the model takes any size. */
export type ExampleShape = Array<number | null>;

/**
 * How to cut: into `shards` pieces with the weight bytes balanced, or into the fewest pieces
 * whose weight bytes each fit `maxShardBytes` (one host's memory budget for weights).
 */
export type SplitPlan = { shards: number } | { maxShardBytes: number };

/** One contiguous range of a model's computation layers (see `computationLayers`). */
export interface ShardRange {
  /** Index of the shard's first layer in `computationLayers(model)`, inclusive. */
  firstLayer: number;
  /** Index after its last layer, exclusive: the next shard's `firstLayer`. */
  endLayer: number;
}

/** One piece of a split model: a LayersModel of its own, holding the original layers' weights. */
export interface ModelShard extends ShardRange {
  index: number;
  /** The names of the original layers the shard holds, in order. */
  layerNames: string[];
  /** A `tf.Sequential` of those layers (same configs, same weights), taking `inputShape`. */
  model: LayersModel;
  /** Bytes of the shard's weights as tfjs stores them (float32: 4 per value). */
  weightBytes: number;
  /** What the shard takes: the model's input for shard 0, else the previous shard's output. */
  inputShape: ExampleShape;
  outputShape: ExampleShape;
}

/** The pythonic JSON `model.toJSON(null, false)` gives (what model.json's `modelTopology` holds). */
interface LayerEntry {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name?: string };
  /** Functional models only: per call of the layer, the tensors it takes as [layer, node, tensor, kwargs]. */
  inbound_nodes?: Array<Array<[string, number, number, unknown?]>>;
}
interface TopologyJson {
  class_name: string;
  config: { name?: string; layers: LayerEntry[]; input_layers?: unknown[][]; output_layers?: unknown[][] };
}

const BYTES_PER_VALUE: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

/**
 * The layers of `model` that compute, in order: `model.layers` without InputLayers. A
 * `tf.Sequential` lists none; a functional model lists its InputLayer first. Every shard range
 * (`firstLayer`, `endLayer`) indexes this list.
 */
export function computationLayers(model: LayersModel): ModelLayer[] {
  return model.layers.filter((layer) => layer.getClassName() !== "InputLayer");
}

/** Bytes of one layer's weights (trainable and not, e.g. batch-norm statistics) as tfjs stores them. */
export function layerWeightBytes(layer: ModelLayer): number {
  return layer.weights.reduce((sum, w) => sum + (w.shape as number[]).reduce((n, d) => n * d, 1) * (BYTES_PER_VALUE[w.dtype] ?? 4), 0);
}

/**
 * Checks that `model` is a single chain of layers (each takes the previous one's only output;
 * one input, one output, no shared layer) and returns its computation layers; a ShardingError
 * naming the first layer that breaks the chain otherwise.
 */
export function sequentialLayers(model: LayersModel): ModelLayer[] {
  const topology = topologyOf(model);
  const fail = (why: string): never => {
    throw new ShardingError(`model ${model.name} is not sequential: ${why}`);
  };
  if (model.inputs.length !== 1) fail(`it has ${model.inputs.length} inputs`);
  if (model.outputs.length !== 1) fail(`it has ${model.outputs.length} outputs`);
  const layers = computationLayers(model);
  if (layers.length === 0) fail("it has no layer that computes");
  if (topology.class_name !== "Sequential") {
    const entries = topology.config.layers;
    const entryNames = entries.map((e) => e.name ?? e.config.name);
    // Merges first, so that a branch that rejoins is reported at the layer that joins it.
    for (const entry of entries) {
      const nodes = entry.inbound_nodes ?? [];
      if (nodes.length > 1) fail(`layer '${entry.name}' is applied ${nodes.length} times (a shared layer)`);
      const inbound = nodes[0] ?? [];
      if (inbound.length > 1) fail(`layer '${entry.name}' has ${inbound.length} inbound layers (${inbound.map((t) => `'${t[0]}'`).join(", ")})`);
    }
    entries.forEach((entry, i) => {
      const inbound = entry.inbound_nodes?.[0]?.[0];
      if (i === 0) {
        if (entry.class_name !== "InputLayer") fail(`its first layer '${entryNames[0]}' is not its input`);
        return;
      }
      if (inbound === undefined) fail(`layer '${entryNames[i]}' has no inbound layer`);
      if (inbound![0] !== entryNames[i - 1]) {
        fail(`layer '${entryNames[i]}' takes its input from '${inbound![0]}', not from the layer before it ('${entryNames[i - 1]}'): the model branches`);
      }
      if (inbound![2] !== 0) fail(`layer '${entryNames[i]}' takes output ${inbound![2]} of '${inbound![0]}'`);
    });
    const output = topology.config.output_layers?.[0];
    if (output?.[0] !== entryNames[entries.length - 1]) fail(`its output comes from '${String(output?.[0])}', not from its last layer '${entryNames[entries.length - 1]}'`);
  }
  for (const layer of layers) {
    if (Array.isArray(layer.outputShape[0])) fail(`layer '${layer.name}' has ${layer.outputShape.length} outputs`);
  }
  return layers;
}

/**
 * Where to cut `layerBytes.length` contiguous layers of the given weight bytes. By count, the
 * split minimises the largest shard's bytes, then (among those) the sum of squared shard bytes,
 * then the sum of `cutCosts[j]` over the cuts made before layer j (e.g. the activation size
 * crossing it); remaining ties go to the earlier cut. By budget, the count is the fewest whose
 * shards each fit, and that count is then balanced the same way. Every shard gets a layer.
 */
export function planShards(layerBytes: readonly number[], plan: SplitPlan, layerNames: readonly string[] = [], cutCosts: readonly number[] = []): ShardRange[] {
  const count = layerBytes.length;
  if (count === 0) throw new ShardingError("there are no layers to split");
  let shards: number;
  if ("shards" in plan && "maxShardBytes" in plan) throw new ShardingError("give either shards or maxShardBytes, not both");
  if ("shards" in plan) {
    shards = plan.shards;
    if (!Number.isInteger(shards) || shards < 1) throw new ShardingError(`shards must be a positive integer, got ${shards}`);
    if (shards > count) throw new ShardingError(`cannot split ${count} layers into ${shards} shards: every shard needs a layer`);
  } else {
    const budget = plan.maxShardBytes;
    if (!(budget > 0) || !Number.isFinite(budget)) throw new ShardingError(`maxShardBytes must be a positive number, got ${budget}`);
    shards = 1;
    let used = 0;
    layerBytes.forEach((bytes, i) => {
      if (bytes > budget) {
        throw new ShardingError(`layer '${layerNames[i] ?? `#${i}`}' has ${bytes} weight bytes, more than maxShardBytes ${budget}: no shard can hold it`);
      }
      if (used + bytes > budget) {
        shards++;
        used = bytes;
      } else used += bytes;
    });
  }
  return balance(layerBytes, shards, cutCosts);
}

/** The three-level optimum of `planShards` for a fixed count, by dynamic programming (at most O(shards × layers²)). */
function balance(bytes: readonly number[], shards: number, cutCosts: readonly number[]): ShardRange[] {
  const n = bytes.length;
  const prefix = [0];
  for (const b of bytes) prefix.push(prefix[prefix.length - 1] + b);
  const part = (j: number, i: number) => prefix[i] - prefix[j];
  // Level 1: the smallest achievable largest shard.
  let best = prefix.map((p) => p);
  for (let k = 2; k <= shards; k++) {
    const next = new Array<number>(n + 1).fill(Infinity);
    for (let i = k; i <= n; i++) {
      // Going left the last shard only grows: stop once it alone is no better.
      for (let j = i - 1; j >= k - 1 && part(j, i) < next[i]; j--) next[i] = Math.min(next[i], Math.max(best[j], part(j, i)));
    }
    best = next;
  }
  const largest = best[n];
  // Levels 2 and 3 (both additive, so optimal prefixes compose), shards capped at `largest`.
  type Cost = { squares: bigint; cuts: number } | undefined;
  // Candidates come right to left, so a tie replaces: the earliest cut wins.
  const atLeastAsGood = (a: Cost, b: Cost) => a !== undefined && (b === undefined || a.squares < b.squares || (a.squares === b.squares && a.cuts <= b.cuts));
  const square = (j: number, i: number) => BigInt(part(j, i)) ** 2n;
  let cost: Cost[] = prefix.map((_, i) => (i > 0 && part(0, i) <= largest ? { squares: square(0, i), cuts: 0 } : undefined));
  const choices: number[][] = [];
  for (let k = 2; k <= shards; k++) {
    const next: Cost[] = new Array<Cost>(n + 1).fill(undefined);
    const choice = new Array<number>(n + 1).fill(-1);
    for (let i = k; i <= n; i++) {
      for (let j = i - 1; j >= k - 1 && part(j, i) <= largest; j--) {
        const before = cost[j];
        if (before === undefined) continue;
        const candidate = { squares: before.squares + square(j, i), cuts: before.cuts + (cutCosts[j] ?? 0) };
        if (atLeastAsGood(candidate, next[i])) {
          next[i] = candidate;
          choice[i] = j;
        }
      }
    }
    cost = next;
    choices.push(choice);
  }
  const ranges: ShardRange[] = [];
  let end = n;
  for (let k = shards; k >= 2; k--) {
    const start = choices[k - 2][end];
    ranges.unshift({ firstLayer: start, endLayer: end });
    end = start;
  }
  ranges.unshift({ firstLayer: 0, endLayer: end });
  return ranges;
}

/**
 * Cuts a sequential LayersModel (a `tf.Sequential`, or a functional model whose layers form one
 * chain) into shards at layer boundaries, as `plan` says (see `planShards`). Each shard is a new
 * `tf.Sequential` built from its layers' serialized configs, with the original weights copied
 * in; run in order, the shards compute what the model does. The caller disposes the shards'
 * models; `model` is left as it was.
 */
export async function splitModel(model: LayersModel, plan: SplitPlan): Promise<ModelShard[]> {
  const layers = sequentialLayers(model);
  const bytes = layers.map(layerWeightBytes);
  const outputShapes = layers.map((layer) => (layer.outputShape as ExampleShape).slice(1));
  const cutCosts = layers.map((_, j) => (j === 0 ? 0 : outputShapes[j - 1].reduce<number>((n, d) => n * (d ?? 1), 1)));
  const ranges = planShards(bytes, plan, layers.map((l) => l.name), cutCosts);
  const entries = layerEntries(topologyOf(model));
  const modelInputShape = (model.inputs[0].shape as ExampleShape).slice(1);
  const shards: ModelShard[] = [];
  try {
    for (const [index, range] of ranges.entries()) {
      const shardLayers = layers.slice(range.firstLayer, range.endLayer);
      const inputShape = range.firstLayer === 0 ? modelInputShape : outputShapes[range.firstLayer - 1];
      const shardModel = await buildShardModel(`${model.name}_shard${index}`, shardLayers, entries, inputShape);
      shards.push({
        index,
        ...range,
        layerNames: shardLayers.map((l) => l.name),
        model: shardModel,
        weightBytes: bytes.slice(range.firstLayer, range.endLayer).reduce((a, b) => a + b, 0),
        inputShape,
        outputShape: outputShapes[range.endLayer - 1],
      });
    }
  } catch (err) {
    for (const shard of shards) shard.model.dispose();
    throw err;
  }
  return shards;
}

/** A `tf.Sequential` of `layers` rebuilt from their configs (first one taking `inputShape`), holding their weights. */
async function buildShardModel(name: string, layers: ModelLayer[], entries: Map<string, LayerEntry>, inputShape: ExampleShape): Promise<LayersModel> {
  const tf = activeTf();
  const configs = layers.map((layer, k) => {
    const entry = entries.get(layer.name);
    if (entry === undefined) throw new ShardingError(`layer '${layer.name}' is missing from the model's topology`);
    const { batch_input_shape: _batch, input_shape: _input, ...config } = entry.config;
    return { class_name: entry.class_name, config: k === 0 ? { ...config, batch_input_shape: [null, ...inputShape] } : config };
  });
  const topology = { class_name: "Sequential", config: { name, layers: configs } };
  let shard: LayersModel;
  try {
    shard = await tf.models.modelFromJSON(topology as Parameters<typeof tf.models.modelFromJSON>[0]);
  } catch (err) {
    throw new ShardingError(`cannot rebuild layers ${layers.map((l) => `'${l.name}'`).join(", ")} as a model: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (shard.layers.length !== layers.length) throw new ShardingError(`shard ${name} was rebuilt with ${shard.layers.length} layers, expected ${layers.length}`);
    layers.forEach((layer, k) => shard.layers[k].setWeights(layer.getWeights()));
  } catch (err) {
    shard.dispose();
    throw err instanceof ShardingError ? err : new ShardingError(`cannot copy weights into shard ${name}: ${(err as Error).message}`, { cause: err });
  }
  return shard;
}

function topologyOf(model: LayersModel): TopologyJson {
  return model.toJSON(null, false) as unknown as TopologyJson;
}

/** Topology entries by layer name (a Sequential's entries carry the name in their config). */
function layerEntries(topology: TopologyJson): Map<string, LayerEntry> {
  return new Map(topology.config.layers.map((entry) => [entry.name ?? entry.config.name ?? "", entry]));
}
