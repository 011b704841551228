/**
 * `npm run app`: the dApp against the embedded stack, on one port (APP_PORT, default 5173; APP_HOST, default
 * 127.0.0.1): chain, contracts, a trained MNIST model (whole, and cut in two shards served by a shard host), a worker
 * daemon serving it, an Iris model trained by a federated job (its provenance), three validators for the datasets
 * contributed from the page, three trainers and the validators as evaluators for the jobs created from the page, the page, its JSON-RPC proxy, IPFS gateway and upload call (scripts/app/AppStack.ts). Prints the URL and the development accounts a wallet can import; runs until
 * Ctrl-C.
 */
import { resolve } from "node:path";
import { pino } from "pino";
import { createLogger } from "../worker/src/logger.js";
import { AppStack } from "./app/AppStack.js";
import { devWallet } from "./lib/ShardedStack.js";

const dataDir = resolve(".tessera/app");
const logger = createLogger({ level: "info", name: "tessera-app", destination: pino.destination({ dest: resolve(dataDir, "worker.log"), mkdir: true, sync: false }) });
console.log("Starting the chain, training the MNIST model and starting its worker (about a minute)…");
const app = await AppStack.start({ dataDir, port: Number(process.env.APP_PORT ?? 5173), host: process.env.APP_HOST ?? "127.0.0.1", logger });
// If either fails, every process the stack started is stopped before the error is shown.
const { sharded, federated, validators, trainers } = await (async () => {
  try {
    const sharded = await app.addShardedVersion();
    console.log("Training a model by a federated job (the Iris task: data validated, three trainers; about 30 s)…");
    const federated = await app.addTrainedVersion();
    const validators = await app.startValidators();
    return { sharded, federated, validators, trainers: await app.startTrainers() };
  } catch (err) {
    await app.stop();
    throw err;
  }
})();
// Hardhat's development accounts (the well-known test mnemonic): never hold real funds with these keys.
const account = devWallet;
console.log(`
Tessera is at ${app.url}
  chain   ${AppStack.CHAIN_NAME}, chain id ${app.stack.deployment.chainId}, JSON-RPC ${app.url}/rpc (proxied to ${app.chain.rpcUrl})
  IPFS    ${app.url}/ipfs/<cid> (gateway) and ${app.url}/api/v0/add (uploads) over ${resolve(dataDir, "ipfs")}
  data    ${validators.length} validators running (${validators.join(", ")}): contribute a dataset from the page's Contribute data tab
  train   ${trainers.length} trainers running (${trainers.join(", ")}), the validators evaluating: create a job from the Training tab over
          your dataset, then share its key with the job's workers there
  model   version ${app.stack.trained!.versionId}: MNIST 2NN, ${(app.stack.trained!.testAccuracy * 100).toFixed(2)} % on the test split
          version ${sharded.versionId}: the same model cut in 2 shards, both served by host ${sharded.host} (its own process)
          version ${federated.jobVersionId}: Iris, trained by job ${federated.jobId} (${(federated.medianAccuracy * 100).toFixed(2)} %): its provenance on the Models page
  wallet  add the network above to your wallet and import a development account, e.g.
          ${account(9).address}  key ${account(9).privateKey}
  log     ${resolve(dataDir, "worker.log")}
Ctrl-C stops everything.`);
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log("stopping…");
    void app.stop().then(() => process.exit(0));
  });
}
