import { pino } from "pino";
import { AppStack } from "./app/AppStack.js";
import { devWallet } from "./lib/ShardedStack.js";
import { checkDatasetFile, submitDataset } from "../client/src/DatasetSubmission.js";
import { irisTask } from "./lib/seedTasks/IrisTask.js";
import { builtinSchema } from "../worker/src/data/schema/BuiltinSchemas.js";
const logger = pino({ level: "info" });
const app = await AppStack.start({ trainEpochs: 1, logger: logger as never });
try {
  console.log("validators", await app.startValidators());
  const provider = app.stack.connection.ethers.provider;
  const person = devWallet(9).connect(provider);
  const { dataRegistry, token, workerRegistry } = app.stack.contracts;
  const bond = (await dataRegistry.params()).bond;
  await (await token.mint(person.address, bond)).wait();
  const schema = builtinSchema("iris-4/species-3")!;
  const flowers = await irisTask.evalSet();
  const species = (schema.document.label as { classes: string[] }).classes;
  const rows = Array.from({ length: flowers.count }, (_, i) => [...flowers.features.subarray(i * 4, i * 4 + 4)].map((v) => Number(v.toPrecision(6))).join(",") + "," + species[flowers.labels[i]!]);
  const csv = ["sepal_length,sepal_width,petal_length,petal_width,species", ...rows].join("\n") + "\n";
  const checked = checkDatasetFile("iris-4/species-3", { name: "iris.csv", bytes: new TextEncoder().encode(csv) });
  console.log("checked", checked.samples.count, checked.classCounts);
  const sub = await submitDataset({ dataRegistry: dataRegistry!, token, workerRegistry, signer: person, checked, license: "CC-BY-4.0", ipfsApi: app.url, fromBlock: app.stack.deployment.startBlock, onStep: (s, d) => console.log("step", s, d) });
  console.log("submitted", sub.datasetId, sub.recipients);
  for (let i = 0; i < 30; i++) {
    const d = await dataRegistry!.datasetOf(sub.datasetId);
    const v = await dataRegistry!.validationOf(sub.datasetId);
    console.log("status", d.status, "accept", v.acceptSeats, "reject", v.rejectSeats, "seed", v.seed);
    if (d.status !== 1n) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
} finally {
  await app.stop();
}
process.exit(0);
