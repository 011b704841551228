import type { ContractRunner, Interface } from "ethers";
import {
  DataRegistry__factory,
  InferenceMarket__factory,
  ModelRegistry__factory,
  ShardRegistry__factory,
  TesseraToken__factory,
  TrainingJobs__factory,
  WorkerRegistry__factory,
  type DataRegistry,
  type InferenceMarket,
  type ModelRegistry,
  type ShardRegistry,
  type TesseraToken,
  type TrainingJobs,
  type WorkerRegistry,
} from "../../typechain-types/index.js";
import type { Deployment } from "./DeploymentRecord.js";

/** The deployment's contracts, typed, on one runner (a provider to read, a signer to send). */
export interface TesseraContracts {
  readonly token: TesseraToken;
  readonly workerRegistry: WorkerRegistry;
  readonly modelRegistry: ModelRegistry;
  readonly market: InferenceMarket;
  /** Absent in deployments made before sharding. */
  readonly shardRegistry?: ShardRegistry;
  /** Absent in deployments without the training module. */
  readonly trainingJobs?: TrainingJobs;
  /** Absent in deployments without the data module. */
  readonly dataRegistry?: DataRegistry;
}

export function connectContracts(deployment: Deployment, runner: ContractRunner): TesseraContracts {
  const c = deployment.contracts;
  return {
    token: TesseraToken__factory.connect(c.TesseraToken, runner),
    workerRegistry: WorkerRegistry__factory.connect(c.WorkerRegistry, runner),
    modelRegistry: ModelRegistry__factory.connect(c.ModelRegistry, runner),
    market: InferenceMarket__factory.connect(c.InferenceMarket, runner),
    ...(c.ShardRegistry === undefined ? {} : { shardRegistry: ShardRegistry__factory.connect(c.ShardRegistry, runner) }),
    ...(c.TrainingJobs === undefined ? {} : { trainingJobs: TrainingJobs__factory.connect(c.TrainingJobs, runner) }),
    ...(c.DataRegistry === undefined ? {} : { dataRegistry: DataRegistry__factory.connect(c.DataRegistry, runner) }),
  };
}

/** Every contract's interface: a revert raised anywhere in a call is named by one of them. */
export function tesseraInterfaces(): Interface[] {
  return [
    InferenceMarket__factory.createInterface(),
    ModelRegistry__factory.createInterface(),
    WorkerRegistry__factory.createInterface(),
    TesseraToken__factory.createInterface(),
    ShardRegistry__factory.createInterface(),
    DataRegistry__factory.createInterface(),
    TrainingJobs__factory.createInterface(),
  ];
}
