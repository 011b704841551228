import { readFileSync } from "node:fs";
import { expect } from "chai";
import { defaultConfirmations } from "../../../worker/src/chain/ConfirmationDepth.js";
import { batchesInFlight, CONFIG_ENV_KEYS, ConfigError, loadConfig } from "../../../worker/src/config.js";

function loadConfigError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig({}, env, { envFile: false });
  } catch (e) {
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("applies defaults, then env, then overrides, and freezes the result", () => {
    const config = loadConfig({ confirmations: 0 }, { BLOCK_RANGE: "100", CONFIRMATIONS: "5", QUEUE_PREFIX: "" }, { envFile: false });
    expect(config.confirmations).to.equal(0);
    expect(config.blockRange).to.equal(100);
    expect(config.queuePrefix).to.equal("tessera");
    expect(config.dataDir).to.equal(".tessera");
    expect(config.tfBackend).to.equal("auto");
    expect(config.ipfsApiUrl).to.equal(undefined);
    expect(Object.isFrozen(config)).to.equal(true);
  });

  it("parses WORKER_ROLES (listener and processor by default) and refuses unknown roles", () => {
    expect(loadConfig({}, {}, { envFile: false }).roles).to.deep.equal(["listener", "processor"]);
    expect(loadConfig({}, { WORKER_ROLES: " processor " }, { envFile: false }).roles).to.deep.equal(["processor"]);
    const error = loadConfigError({ WORKER_ROLES: "listener,miner" });
    expect(error.problems.map((p) => p.key)).to.deep.equal(["WORKER_ROLES"]);
    expect(error.problems[0].reason).to.match(/listener.*processor/);
  });

  it("parses the training settings: trainer/evaluator roles, auto-enroll, concurrency, keeper interval", () => {
    const config = loadConfig(
      {},
      { WORKER_ROLES: "listener,trainer,evaluator", TRAINING_AUTO_ENROLL: "false", TRAINING_CONCURRENCY: "3", KEEPER_INTERVAL_MS: "0" },
      { envFile: false },
    );
    expect(config.roles).to.deep.equal(["listener", "trainer", "evaluator"]);
    expect(config.trainingAutoEnroll).to.equal(false);
    expect(config.trainingConcurrency).to.equal(3);
    expect(config.keeperIntervalMs).to.equal(0);
    const defaults = loadConfig({}, {}, { envFile: false });
    expect([defaults.trainingAutoEnroll, defaults.trainingConcurrency, defaults.keeperIntervalMs]).to.deep.equal([true, 2, 15_000]);
    const error = loadConfigError({ TRAINING_AUTO_ENROLL: "maybe", TRAINING_CONCURRENCY: "0" });
    expect(error.problems.map((p) => p.key).sort()).to.deep.equal(["TRAINING_AUTO_ENROLL", "TRAINING_CONCURRENCY"]);
  });

  it("accepts the validator role and takes TESSERA_ENCRYPTION_KEY from env only, never echoing it", () => {
    const key = "0x" + "22".repeat(32);
    const config = loadConfig({ encryptionKey: "nope" } as never, { WORKER_ROLES: "listener,validator", TESSERA_ENCRYPTION_KEY: key }, { envFile: false });
    expect(config.roles).to.deep.equal(["listener", "validator"]);
    expect(config.encryptionKey).to.equal(key);
    const error = loadConfigError({ TESSERA_ENCRYPTION_KEY: "0x1234" });
    expect(error.problems.map((p) => p.key)).to.deep.equal(["TESSERA_ENCRYPTION_KEY"]);
    expect(error.message).to.not.include("0x1234");
  });

  it("batches in flight per process: BATCH_MAX_IN_FLIGHT, else as many full batches as WORKER_CONCURRENCY jobs hold, at least 2", () => {
    const load = (env: NodeJS.ProcessEnv) => batchesInFlight(loadConfig({}, env, { envFile: false }));
    expect(load({})).to.equal(2); // 4 jobs, batches of 16: still one claiming while one fulfils
    expect(load({ BATCH_MAX_SIZE: "1", WORKER_CONCURRENCY: "4" })).to.equal(4); // unbatched: four one-request batches
    expect(load({ BATCH_MAX_SIZE: "16", WORKER_CONCURRENCY: "64" })).to.equal(4);
    expect(load({ BATCH_MAX_IN_FLIGHT: "1" })).to.equal(1);
    expect(loadConfigError({ BATCH_MAX_IN_FLIGHT: "0" }).problems.map((p) => p.key)).to.deep.equal(["BATCH_MAX_IN_FLIGHT"]);
    expect(loadConfig({}, {}, { envFile: false }).batchIdleWaitMs).to.equal(0); // an idle process starts at once
  });

  it("takes the worker key from env only", () => {
    const key = "0x" + "11".repeat(32);
    const config = loadConfig({ workerKey: "nope" } as never, { TESSERA_WORKER_KEY: key }, { envFile: false });
    expect(config.workerKey).to.equal(key);
  });

  it("lists every invalid key with its reason, never echoing the secret", () => {
    let error: unknown;
    try {
      loadConfig(
        {},
        {
          CONFIRMATIONS: "-1",
          BLOCK_RANGE: "lots",
          TF_BACKEND: "cuda",
          REDIS_URL: "not a url",
          TESSERA_WORKER_KEY: "0xdeadbeef",
          POLL_INTERVAL_MS: "1000",
        },
        { envFile: false },
      );
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems.map((p) => p.key).sort()).to.deep.equal(
      ["BLOCK_RANGE", "CONFIRMATIONS", "REDIS_URL", "TESSERA_WORKER_KEY", "TF_BACKEND"].sort(),
    );
    expect((error as Error).message).to.include("CONFIRMATIONS").and.include("-1");
    expect((error as Error).message).not.to.include("deadbeef");
  });

  it("CONFIRMATIONS unset means by chain id: 0 only on the embedded 31337 chain, a safe depth elsewhere", () => {
    expect(loadConfig({}, {}, { envFile: false }).confirmations).to.equal(undefined);
    expect(loadConfig({}, { CONFIRMATIONS: "3" }, { envFile: false }).confirmations).to.equal(3);
    expect(defaultConfirmations(31337)).to.equal(0);
    expect(defaultConfirmations(1)).to.equal(12);
    expect(defaultConfirmations(8453)).to.equal(10);
    expect(defaultConfirmations(987_654_321)).to.equal(12);
  });

  it("monitoring is off by default and binds 127.0.0.1; a port outside 0-65535 is refused", () => {
    const config = loadConfig({}, {}, { envFile: false });
    expect([config.metricsPort, config.metricsHost, config.txReplaceAfterMs]).to.deep.equal([0, "127.0.0.1", 60_000]);
    expect(loadConfig({}, { METRICS_PORT: "9464" }, { envFile: false }).metricsPort).to.equal(9464);
    expect(loadConfigError({ METRICS_PORT: "70000" }).problems.map((p) => p.key)).to.deep.equal(["METRICS_PORT"]);
  });

  it("SHARD_STAGES_PER_HOST: 8 by default (what a host admits from one caller by default), 1-256, anything else refused", () => {
    expect(loadConfig({}, {}, { envFile: false }).shardStagesPerHost).to.equal(8);
    expect(loadConfig({}, { SHARD_STAGES_PER_HOST: "1" }, { envFile: false }).shardStagesPerHost).to.equal(1);
    expect(loadConfig({}, { SHARD_STAGES_PER_HOST: "256" }, { envFile: false }).shardStagesPerHost).to.equal(256);
    for (const bad of ["0", "257", "2.5", "many"]) expect(loadConfigError({ SHARD_STAGES_PER_HOST: bad }).problems.map((p) => p.key)).to.deep.equal(["SHARD_STAGES_PER_HOST"]);
  });

  it("SHARD_HOST_THREAD: auto by default; true/false/1/0 in any case; anything else refused", () => {
    const value = (v: string) => loadConfig({}, { SHARD_HOST_THREAD: v }, { envFile: false }).shardHostThread;
    expect(loadConfig({}, {}, { envFile: false }).shardHostThread).to.equal("auto");
    expect([value(""), value(" AUTO "), value("true"), value("0"), value("FALSE"), value("1")]).to.deep.equal(["auto", "auto", true, false, false, true]);
    expect(loadConfigError({ SHARD_HOST_THREAD: "yes" }).problems.map((p) => p.key)).to.deep.equal(["SHARD_HOST_THREAD"]);
  });

  it("every setting's variable is in .env.example, so an operator can find it", () => {
    const example = readFileSync(new URL("../../../.env.example", import.meta.url), "utf8");
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    expect(Object.values(CONFIG_ENV_KEYS).filter((name) => !documented.has(name))).to.deep.equal([]);
  });
});
