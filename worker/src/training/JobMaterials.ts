import type { DatasetKeyring } from "../data/DatasetKeyring.js";
import type { LayersModel, io } from "@tensorflow/tfjs";
import type { DataRegistry, TrainingJobs } from "../../../typechain-types/index.js";
import { decodeSamples, readDatasetHeader, type Samples } from "../data/schema/DatasetEncoding.js";
import type { SchemaDocument } from "../data/schema/SchemaDocument.js";
import { SchemaResolver } from "../data/schema/SchemaResolver.js";
import { cidFromBytes } from "../data/OnChainDataset.js";
import { UnrecoverableError } from "../errors.js";
import type { ContentStore } from "../ipfs/ContentStore.js";
import { deserializeModel, readManifest, sha256Hex, type ModelManifest } from "../ml/ModelArtifacts.js";
import { trainingSetOf, type TrainingSet } from "../ml/TrainingSet.js";
import type { PartitionSlice } from "./Partition.js";
import { loadPartition } from "./PartitionData.js";
import { readJobSpec, type TrainingJobSpec } from "./TrainingJobSpec.js";

export interface JobMaterialsOptions {
  readonly jobs: TrainingJobs;
  readonly dataRegistry: DataRegistry;
  readonly store: ContentStore;
  /** The worker's encryption key (to open the dataset keys shared with it); trainers only. */
  readonly encryptionPrivateKey?: string;
  /** The dataset keys the worker opened before (DatasetKeyring.ts): used when the current envelopes no longer list it. */
  readonly datasetKeyring?: DatasetKeyring;
  /** Where to look for the jobs' and datasets' events (the deployment block). */
  readonly fromBlock?: number;
}

/**
 * What a worker reads to take part in a job, fetched, checked and kept once per process: the job's terms, its model's
 * manifest, the worker's partition and the public evaluation set as the model takes them (through its input codec),
 * and each round's global model, whose bytes must hash to what the quorum agreed. A failed read is forgotten, so the
 * next call retries.
 */
export class JobMaterials {
  readonly #o: JobMaterialsOptions;
  readonly #specs = new Map<bigint, Promise<TrainingJobSpec>>();
  readonly #manifests = new Map<string, Promise<ModelManifest>>();
  readonly #partitions = new Map<bigint, Promise<TrainingSet>>();
  readonly #evalSets = new Map<string, Promise<TrainingSet>>();
  readonly #schemas: SchemaResolver;

  constructor(options: JobMaterialsOptions) {
    this.#o = options;
    this.#schemas = new SchemaResolver(options.store);
  }

  /** A job's terms, read from its `JobCreated` event. */
  spec(jobId: bigint): Promise<TrainingJobSpec> {
    return memo(this.#specs, jobId, () => readJobSpec(this.#o.jobs, jobId, this.#o.fromBlock ?? 0));
  }

  /** Drops what was kept for a closed job. */
  forget(jobId: bigint): void {
    this.#partitions.delete(jobId);
    this.#specs.delete(jobId);
  }

  /** The worker's partition as the job's model takes it (through the model's input codec). */
  partition(spec: TrainingJobSpec, slices: readonly PartitionSlice[]): Promise<TrainingSet> {
    return memo(this.#partitions, spec.jobId, async () => {
      if (slices.every((s) => s.end <= s.start)) throw new UnrecoverableError(`job ${spec.jobId}: this worker's partition holds no samples`);
      const partition = await loadPartition(slices, {
        registry: this.#o.dataRegistry,
        store: this.#o.store,
        encryptionPrivateKey: this.#o.encryptionPrivateKey!,
        fromBlock: this.#o.fromBlock ?? 0,
        schemas: this.#schemas,
        ...(this.#o.datasetKeyring === undefined ? {} : { keyring: this.#o.datasetKeyring }),
      });
      return this.#asTrainingSet(spec, partition.document, partition.samples);
    });
  }

  /** The job's public evaluation set (plaintext, any schema) as its model takes it. */
  evalSet(spec: TrainingJobSpec): Promise<TrainingSet> {
    return memo(this.#evalSets, `${spec.manifestCid}:${spec.evalSetCid}`, async () => {
      const bytes = await this.#o.store.get(spec.evalSetCid);
      const schema = await this.#schemas.byId(readDatasetHeader(bytes).schemaId);
      return this.#asTrainingSet(spec, schema.document, decodeSamples(schema, bytes));
    });
  }

  async #asTrainingSet(spec: TrainingJobSpec, document: SchemaDocument, samples: Samples): Promise<TrainingSet> {
    const manifest = await this.manifest(spec.manifestCid);
    try {
      return trainingSetOf(manifest, document, samples);
    } catch (err) {
      throw new UnrecoverableError(`job ${spec.jobId}: ${(err as Error).message}`, { cause: err });
    }
  }

  manifest(cid: string): Promise<ModelManifest> {
    return memo(this.#manifests, cid, () => readManifest(this.#o.store, cid));
  }

  /**
   * The model to train from in `round`: the job's architecture with the initial weights (round 1)
   * or the previous round's agreed aggregate, whose bytes must hash to the agreed `modelHash`.
   */
  async globalModel(spec: TrainingJobSpec, round: number, modelHash: string, modelCidBytes: string): Promise<LayersModel> {
    const manifest = await this.manifest(spec.manifestCid);
    const weightData = await this.#weightData(spec, round, modelHash, modelCidBytes);
    return deserializeModel({
      modelTopology: manifest.modelTopology,
      weightSpecs: manifest.weightSpecs as io.WeightsManifestEntry[],
      weightData,
    });
  }

  /** The bytes of the global model `round` started from: the initial weights, or the previous round's agreed aggregate. */
  async #weightData(spec: TrainingJobSpec, round: number, modelHash: string, modelCidBytes: string): Promise<Uint8Array> {
    if (round === 1) return this.#o.store.get(spec.weightsCid);
    const cid = cidFromBytes(modelCidBytes);
    const weightData = await this.#o.store.get(cid);
    const actual = sha256Hex(weightData);
    if (actual !== modelHash.toLowerCase()) {
      throw new UnrecoverableError(`job ${spec.jobId} round ${round}: global model ${cid} hashes to ${actual}, the quorum agreed on ${modelHash}`);
    }
    return weightData;
  }

  /** The global model of `round` as read from the chain's record of the previous round (for the screened rule's deltas). */
  async globalWeightData(spec: TrainingJobSpec, round: number): Promise<Uint8Array> {
    if (round === 1) return this.#weightData(spec, 1, "", "0x");
    const previous = await this.#o.jobs.roundResultOf(spec.jobId, round - 1);
    return this.#weightData(spec, round, previous.aggregateHash, previous.aggregateCid);
  }
}

/** One load per key at a time and cached after; a failed load is forgotten, so the next call retries. */
function memo<K, V>(cache: Map<K, Promise<V>>, key: K, load: () => Promise<V>): Promise<V> {
  let pending = cache.get(key);
  if (pending === undefined) {
    pending = load();
    pending.catch(() => cache.delete(key));
    cache.set(key, pending);
  }
  return pending;
}
