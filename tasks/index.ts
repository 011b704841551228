import { ArgumentType } from "hardhat/types/arguments";
import { emptyTask, task } from "hardhat/config";
import type { TaskDefinition } from "hardhat/types/tasks";
import { buildingFirst } from "./lib/BuildFirst.js";
import { DEFAULT_DATA_DIR, DEFAULT_DEPLOYMENT } from "./lib/Defaults.js";

const deployment = {
  name: "deployment",
  description: "Deployment file (chain id, start block, contract addresses); env TESSERA_DEPLOYMENT",
  defaultValue: DEFAULT_DEPLOYMENT,
} as const;
const dataDir = {
  name: "dataDir",
  description: "Where the embedded IPFS store lives (<dir>/ipfs); ignored when IPFS_API_URL is set; env TESSERA_DATA_DIR",
  defaultValue: DEFAULT_DATA_DIR,
} as const;
const versionId = {
  name: "versionId",
  description: "Model version id (required)",
  type: ArgumentType.STRING_WITHOUT_DEFAULT,
  defaultValue: undefined,
} as const;
const requestId = {
  name: "id",
  description: "Request id, decimal or 0x hex (required)",
  type: ArgumentType.STRING_WITHOUT_DEFAULT,
  defaultValue: undefined,
} as const;
const jobId = {
  name: "job",
  description: "Training job id (required)",
  type: ArgumentType.STRING_WITHOUT_DEFAULT,
  defaultValue: undefined,
} as const;
const account = (defaultValue: string, role: string) =>
  ({ name: "account", description: `${role}: account index or address of the network's accounts`, defaultValue }) as const;

/** The tasks of the people who run Tessera: operators, model owners, workers and requesters. */
const definitions: TaskDefinition[] = [
  emptyTask("tessera", "Deploy and operate the Tessera protocol").build(),
  task(["tessera", "deploy"], "Deploy the contracts with Ignition and write the deployment file")
    .addOption(deployment)
    .addOption({ name: "treasury", description: "Receiver of protocol fees and slashes (default: the deployer)", defaultValue: "" })
    .addFlag({ name: "reset", description: "Discard Ignition's journal for this chain first (a restarted node)" })
    .setAction(() => import("./tessera/deploy.js"))
    .build(),

  task(["tessera", "mint"], "Mint TSR to an account (local and test networks), as the token admin")
    .addOption(deployment)
    .addOption(account("0", "Minter (the token admin or a MINTER_ROLE holder)"))
    .addOption({ name: "to", description: "Receiver: account index or address", defaultValue: "1" })
    .addOption({ name: "amount", description: "TSR in whole tokens (e.g. 2000)", defaultValue: "0" })
    .setAction(() => import("./tessera/mint.js"))
    .build(),

  emptyTask("model", "Publish and inspect models in the ModelRegistry").build(),
  task(["model", "publish"], "Publish a tfjs model (--dir) or the MNIST 2NN trained here to IPFS and register it as a model version")
    .addOption(deployment)
    .addOption(dataDir)
    .addOption(account("0", "Model owner"))
    .addOption({ name: "name", description: "Model name", defaultValue: "mnist-2nn" })
    .addOption({ name: "epochs", description: "Training epochs", type: ArgumentType.INT, defaultValue: 3 })
    .addOption({ name: "priceWei", description: "Price per request in wei", type: ArgumentType.BIGINT, defaultValue: 10n ** 14n })
    .addOption({ name: "priceToken", description: "Price per request in TSR base units (18 decimals)", type: ArgumentType.BIGINT, defaultValue: 10n ** 17n })
    .addOption({ name: "royaltyBps", description: "Owner's share of each fee in basis points", type: ArgumentType.INT, defaultValue: 1_000 })
    .addOption({ name: "modelId", description: "Publish a new version of this model instead of registering a new one", type: ArgumentType.BIGINT, defaultValue: 0n })
    .addOption({ name: "dir", description: "Folder of a tfjs LayersModel (model.json + weight files, as model.save or the Keras converter write them); without it the MNIST 2NN is trained", defaultValue: "" })
    .addOption({ name: "inputCodec", description: "With --dir: float32-tensor | int32-tokens | uint8-image, or its JSON (e.g. '{\"name\":\"uint8-image\",\"scale\":0.00392}'); overrides tessera.json", defaultValue: "" })
    .addOption({ name: "outputCodec", description: "With --dir: class-index | top-k | binary-probability | float32-tensor, or its JSON (e.g. '{\"name\":\"top-k\",\"k\":3}'); overrides tessera.json", defaultValue: "" })
    .addOption({ name: "shards", description: "Cut the (sequential) model into this many shards, each served by its own hosts (2..16; 0 = whole)", type: ArgumentType.INT, defaultValue: 0 })
    .addOption({ name: "maxShardBytes", description: "Or: the fewest shards whose weights each fit in this many bytes (a host's memory budget)", type: ArgumentType.INT, defaultValue: 0 })
    .setAction(() => import("./model/publish.js"))
    .build(),
  task(["model", "shard"], "Cut a published version's model into shards, each served by its own hosts, and publish them as a new version")
    .addOption(deployment)
    .addOption(dataDir)
    .addOption(account("2", "Model owner"))
    .addOption(versionId)
    .addOption({ name: "shards", description: "Number of shards (2..16)", type: ArgumentType.INT, defaultValue: 0 })
    .addOption({ name: "maxShardBytes", description: "Or: the fewest shards whose weights each fit in this many bytes (a host's memory budget)", type: ArgumentType.INT, defaultValue: 0 })
    .setAction(() => import("./model/shard.js"))
    .build(),
  task(["model", "show"], "Print a model version: owner, status, prices, royalty, CIDs, shapes; the training job's provenance if one trained it")
    .addOption(deployment)
    .addOption(versionId)
    .setAction(() => import("./model/show.js"))
    .build(),

  emptyTask("host", "Host the shards of sharded model versions (ShardRegistry)").build(),
  task(["host", "announce"], "Announce the account as a host of one shard of a sharded version, at an endpoint (binds its stake)")
    .addOption(deployment)
    .addOption(account("1", "Host (a staked inference worker)"))
    .addOption(versionId)
    .addOption({ name: "shard", description: "Shard index (0-based)", defaultValue: "0" })
    .addOption({ name: "endpoint", description: "Where the host takes the shard's activations (its worker's SHARD_HOST_URL)", defaultValue: "" })
    .setAction(() => import("./host/announce.js"))
    .build(),
  task(["host", "withdraw"], "Stop hosting a shard (its stake stays bound until the release time), or --release the stake after it")
    .addOption(deployment)
    .addOption(account("1", "Host"))
    .addOption(versionId)
    .addOption({ name: "shard", description: "Shard index (0-based)", defaultValue: "0" })
    .addFlag({ name: "release", description: "Unbind the stake the announcement bound (after its release time)" })
    .setAction(() => import("./host/withdraw.js"))
    .build(),
  task(["host", "list"], "List a sharded version's shards, who hosts each and where, and which shards lack a host")
    .addOption(deployment)
    .addOption(versionId)
    .setAction(() => import("./host/list.js"))
    .build(),

  emptyTask("worker", "Manage a worker's registration in the WorkerRegistry").build(),
  task(["worker", "register"], "Stake TSR (register or top up) and declare the model versions served")
    .addOption(deployment)
    .addOption(account("1", "Worker"))
    .addOption({ name: "stake", description: "TSR to stake, in whole tokens (e.g. 2000 or 0.5)", defaultValue: "0" })
    .addOption({ name: "endpoint", description: "Network endpoint announced on registration", defaultValue: "" })
    .addOption({ name: "serve", description: "Comma-separated model version ids to serve (e.g. 1,2)", defaultValue: "" })
    .addFlag({ name: "validate", description: "Also validate datasets and evaluate trained models (CAP_VALIDATE); registers the public key of TESSERA_ENCRYPTION_KEY" })
    .addFlag({ name: "train", description: "Also train in federated jobs (CAP_TRAIN); registers the public key of TESSERA_ENCRYPTION_KEY" })
    .setAction(() => import("./worker/register.js"))
    .build(),

  emptyTask("infer", "Request inference, follow requests, refund expired ones").build(),
  task(["infer", "request"], "Request inference on a file (--input values.json, --image picture.png), a text (--text) or a held-out MNIST digit, paid in ETH or TSR (permit)")
    .addOption(deployment)
    .addOption(dataDir)
    .addOption(account("0", "Requester"))
    .addOption(versionId)
    .addOption({ name: "digitIndex", description: "Index of the held-out MNIST digit (0..1999), when no file is given", type: ArgumentType.INT, defaultValue: 0 })
    .addOption({ name: "input", description: "A JSON file of the input's values (an array, nested as the model's shape, or flat)", defaultValue: "" })
    .addOption({ name: "image", description: "A PNG or JPEG image of the model's size (grey models get its luma)", defaultValue: "" })
    .addOption({ name: "text", description: "A text, for a model whose manifest names a tokenizer", defaultValue: "" })
    .addOption({ name: "pay", description: "eth or tsr (TSR by ERC-2612 permit)", defaultValue: "eth" })
    .addFlag({ name: "cid", description: "Put the input on IPFS and send its CID instead of the bytes" })
    .addOption({ name: "deadlineSeconds", description: "Seconds until the request expires", type: ArgumentType.INT, defaultValue: 600 })
    .setAction(() => import("./infer/request.js"))
    .build(),
  task(["infer", "status"], "Show a request: open/claimed/expired, or its answer (read by the model's output codec) or refund")
    .addOption(deployment)
    .addOption(dataDir)
    .addOption(requestId)
    .addOption({ name: "wait", description: "Wait up to this many seconds for the answer (or the refund, or the deadline)", type: ArgumentType.INT, defaultValue: 0 })
    .setAction(() => import("./infer/status.js"))
    .build(),
  task(["infer", "refund"], "Refund an expired request to its requester's credit")
    .addOption(deployment)
    .addOption(account("0", "Sender (anyone may refund)"))
    .addOption(requestId)
    .setAction(() => import("./infer/refund.js"))
    .build(),

  emptyTask("market", "Balances and payouts in the InferenceMarket").build(),
  task(["market", "balance"], "Show an account's market credit, unsettled earnings, wallet and stake")
    .addOption(deployment)
    .addOption(account("0", "Account"))
    .setAction(() => import("./market/balance.js"))
    .build(),
  task(["market", "withdraw"], "Settle what the account is owed and withdraw its credit")
    .addOption(deployment)
    .addOption(account("0", "Account"))
    .addOption({ name: "token", description: "eth or tsr", defaultValue: "eth" })
    .setAction(() => import("./market/withdraw.js"))
    .build(),

  emptyTask("data", "Contribute encrypted datasets to the DataRegistry and follow their validation").build(),
  task(["data", "contribute"], "Encrypt a dataset file, seal its key for the registered validators (and for you with TESSERA_ENCRYPTION_KEY), pin it and contribute it (bond by permit)")
    .addOption(deployment)
    .addOption(dataDir)
    .addOption(account("0", "Contributor"))
    .addOption({ name: "file", description: "Dataset file of the schema's formats: .csv, .json, .jsonl, .npy or .idx (features), or a folder of <class>/<image> (required)", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .addOption({ name: "labels", description: "The labels file of an .npy or .idx features file", defaultValue: "" })
    .addOption({ name: "schema", description: "Dataset schema: a built-in name (`data schema list`), a schema id (0x...) or a CID", defaultValue: "mnist-784/labels-10" })
    .addOption({ name: "license", description: "License name (its keccak256 goes on chain)", defaultValue: "CC-BY-4.0" })
    .addOption({ name: "bond", description: "Most TSR you agree to bond, whole tokens (default: the registry's bond)", defaultValue: "" })
    .setAction(() => import("./data/contribute.js"))
    .build(),
  emptyTask(["data", "schema"], "Dataset schemas: what a sample is, its label, the file formats and the validators' checks").build(),
  task(["data", "schema", "list"], "List the built-in dataset schemas with their ids")
    .setAction(() => import("./data/schema-list.js"))
    .build(),
  task(["data", "schema", "show"], "Show a dataset schema's document, id and CID")
    .addOption(dataDir)
    .addOption({ name: "schema", description: "A built-in name, a schema id (0x...) or a CID (required)", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .setAction(() => import("./data/schema-show.js"))
    .build(),
  task(["data", "schema", "publish"], "Store a dataset schema document (JSON) on IPFS in canonical form and print its on-chain id")
    .addOption(dataDir)
    .addOption({ name: "file", description: "The schema document, JSON (required)", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .setAction(() => import("./data/schema-publish.js"))
    .build(),
  task(["data", "share"], "Share your dataset's key with the enrolled workers of a training job that train on it (needs TESSERA_ENCRYPTION_KEY)")
    .addOption(deployment)
    .addOption(dataDir)
    .addOption(account("0", "Contributor"))
    .addOption({ name: "dataset", description: "Dataset id (required)", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .addOption(jobId)
    .setAction(() => import("./data/share.js"))
    .build(),
  task(["data", "status"], "Show a dataset: status, decision reason, CID, commitment, votes and credits")
    .addOption(deployment)
    .addOption({ name: "id", description: "Dataset id (required)", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .setAction(() => import("./data/status.js"))
    .build(),
  task(["data", "list"], "List every contributed dataset with its status and votes")
    .addOption(deployment)
    .setAction(() => import("./data/list.js"))
    .build(),
  task(["data", "withdraw"], "Withdraw your dataset (Pending and unvoted: bond back; Accepted and unused)")
    .addOption(deployment)
    .addOption(account("0", "Contributor"))
    .addOption({ name: "id", description: "Dataset id (required)", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .setAction(() => import("./data/withdraw.js"))
    .build(),

  emptyTask("train", "Federated training jobs in TrainingJobs: create, enroll, follow").build(),
  task(["train", "create"], "Publish the initial model (a fresh MNIST 2NN/CNN, or any tfjs LayersModel folder) and an evaluation set, and create a federated training job (budget by permit)")
    .addOption(deployment)
    .addOption(dataDir)
    .addOption(account("0", "Requester"))
    .addOption({ name: "datasets", description: "Comma-separated ids of Accepted datasets (required, e.g. 1,2)", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .addOption({ name: "model", description: "A fresh MNIST model: mlp (784-200-200-10, the default) or cnn", defaultValue: "" })
    .addOption({ name: "dir", description: "Or: a tfjs LayersModel folder to start from, fresh or pretrained (model.json + float32 weight files; tessera.json may name its codecs and training objective)", defaultValue: "" })
    .addOption({ name: "seed", description: "Seed of the initial weights (--model)", type: ArgumentType.INT, defaultValue: 1 })
    .addOption({ name: "name", description: "Name of the model registered at finalization; empty: mnist-<model>-federated", defaultValue: "" })
    .addOption({ name: "evalDigits", description: "Evaluate on the first N held-out MNIST digits, published in plaintext (1..2000)", type: ArgumentType.INT, defaultValue: 0 })
    .addOption({ name: "evalSet", description: "Or: CID of a public evaluation set in the canonical dataset format", defaultValue: "" })
    .addOption({ name: "evalFile", description: "Or: a file of samples of --schema (CSV, JSON/JSONL, NPY, IDX or an image folder, as data contribute reads), published in plaintext", defaultValue: "" })
    .addOption({ name: "schema", description: "The dataset schema of --eval-file: a name, schema id or CID (see data schema list)", defaultValue: "" })
    .addOption({ name: "labels", description: "The labels file of an --eval-file that has none inside (IDX, NPY)", defaultValue: "" })
    .addOption({ name: "budget", description: "TSR escrowed, whole tokens (required, e.g. 1000)", type: ArgumentType.STRING_WITHOUT_DEFAULT, defaultValue: undefined })
    .addOption({ name: "rounds", description: "Rounds R (1..1000)", type: ArgumentType.INT, defaultValue: 5 })
    .addOption({ name: "workers", description: "Workers per round K (2..32)", type: ArgumentType.INT, defaultValue: 3 })
    .addOption({ name: "evaluators", description: "Evaluations N that close the evaluation early (3..15; the metrics are their median)", type: ArgumentType.INT, defaultValue: 3 })
    .addOption({ name: "epochs", description: "Local epochs E per round", type: ArgumentType.INT, defaultValue: 1 })
    .addOption({ name: "batchSize", description: "Local batch size B", type: ArgumentType.INT, defaultValue: 10 })
    .addOption({ name: "learningRate", description: "SGD learning rate, a multiple of 1e-6; empty: 0.2 for mlp, 0.05 for cnn (the FedAvg benchmark's); required with --dir", defaultValue: "" })
    .addOption({ name: "rule", description: "Aggregation rule: screened-fedavg (FedAvg after excluding outlying updates: the default for untrusted workers), fedavg, median or trimmed-mean", defaultValue: "screened-fedavg" })
    .addOption({ name: "quorumBps", description: "Share of a round's revealers that must agree on the aggregate (above 5000, reachable without one worker; 6666 = 2 of 3)", type: ArgumentType.INT, defaultValue: 6_666 })
    .addOption({ name: "royaltyBps", description: "Budget share for the datasets' contributors", type: ArgumentType.INT, defaultValue: 1_000 })
    .addOption({ name: "evaluationBps", description: "Budget share for the evaluators", type: ArgumentType.INT, defaultValue: 500 })
    .addOption({ name: "enrollTime", description: "Enrollment phase (e.g. 1h, 30m, 600s; 5m..30d)", defaultValue: "1h" })
    .addOption({ name: "commitTime", description: "Commit phase of each round", defaultValue: "30m" })
    .addOption({ name: "revealTime", description: "Reveal phase of each round", defaultValue: "10m" })
    .addOption({ name: "voteTime", description: "Aggregate vote phase of each round", defaultValue: "10m" })
    .addOption({ name: "evaluationTime", description: "Evaluation phase", defaultValue: "30m" })
    .setAction(() => import("./train/create.js"))
    .build(),
  task(["train", "enroll"], "Enroll a staked CAP_TRAIN worker in a job; prints its partition and the samples it trains on")
    .addOption(deployment)
    .addOption(account("1", "Worker"))
    .addOption(jobId)
    .setAction(() => import("./train/enroll.js"))
    .build(),
  task(["train", "status"], "Show a training job: status, deadline, workers, rounds, evaluations, model, money")
    .addOption(deployment)
    .addOption(jobId)
    .setAction(() => import("./train/status.js"))
    .build(),

  emptyTask("rewards", "Payouts of the DataRegistry").build(),
  task(["rewards", "withdraw"], "Withdraw the account's DataRegistry credit (bonds, accept and validator rewards, deferred accept rewards, royalties)")
    .addOption(deployment)
    .addOption(account("0", "Account"))
    .setAction(() => import("./rewards/withdraw.js"))
    .build(),
];

/** Every task builds the contracts (incrementally) before its action loads: they work on a fresh clone. */
export const tesseraTasks: TaskDefinition[] = definitions.map(buildingFirst);
