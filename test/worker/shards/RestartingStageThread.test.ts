import { expect } from "chai";
import type { EmbeddedContentStore } from "../../../worker/src/ipfs/EmbeddedContentStore.js";
import { temporaryStore } from "../../helpers/temporaryStore.js";
import { selectBackend, type Tf } from "../../../worker/src/ml/backend.js";
import { float32Bytes } from "../../../worker/src/ml/codecs/LittleEndian.js";
import { readManifest } from "../../../worker/src/ml/ModelArtifacts.js";
import { SHARD_CODECS } from "../../../worker/src/ml/sharding/ShardArtifacts.js";
import { storeShardedModel } from "../../../worker/src/shards/ShardedModels.js";
import { RestartingStageThread } from "../../../worker/src/shards/thread/RestartingStageThread.js";
import { StageThreadStoppedError } from "../../../worker/src/shards/thread/ThreadedStageRunner.js";
import { buildTestMlp, rejection } from "../ml/sharding/fixtures.js";
import { until } from "../../helpers/until.js";

// The raw float32 codecs in and out: those every shard's own manifest names.
const RAW_CODECS = SHARD_CODECS;
const CRASHING = { url: new URL("./fixtures/CrashingStageThread.ts", import.meta.url), execArgv: ["--import", "tsx"] };

describe("A stage thread that dies is restarted with the same shards (RestartingStageThread)", function () {
  this.timeout(120_000);
  let tf: Tf;
  const openStore = temporaryStore("tessera-restarting-thread-");
  let store: EmbeddedContentStore;

  before(async () => {
    ({ tf } = await selectBackend());
    store = openStore();
  });

  it("its stages fail (retryable) and it serves none while a new thread loads the shards again; later and later while it keeps dying; nothing after dispose", async () => {
    const model = buildTestMlp(tf);
    const stored = await storeShardedModel(store, model, { shards: 2 }, RAW_CODECS, { name: "restarting" });
    const codecs = await readManifest(store, stored.whole.manifestCid);
    const shard = stored.shards[1]!;
    const stops: number[] = [];
    const restarts: number[] = [];
    // A thread that takes the shard's weights and dies at its first run.
    const thread = await RestartingStageThread.start({
      backend: "wasm",
      store,
      minDelayMs: 100,
      maxDelayMs: 10_000,
      script: CRASHING,
      onStopped: (_err, restartInMs) => stops.push(restartInMs),
      onRestarted: (n) => restarts.push(n),
    });
    try {
      await thread.load({ versionId: 4n, shardIndex: 1, shardCount: 2, codecs, manifestCid: shard.manifestCid, contentHash: shard.contentHash });
      expect(thread.serves(4n, 1)).to.equal(true);
      const input = float32Bytes(new Array(64).fill(0.25));

      const crashed = await rejection(thread.runBatch(4n, 1, [input]));
      expect(crashed).to.be.instanceOf(StageThreadStoppedError);
      expect(crashed.message).to.equal("the stage thread failed: a kernel failed");
      expect(stops).to.deep.equal([100]);
      // Until the new thread has loaded the shard: nothing is served, and a stage is refused at once, retryably.
      expect(thread.serves(4n, 1)).to.equal(false);
      const meanwhile = await rejection(thread.run(4n, 1, input));
      expect(meanwhile).to.be.instanceOf(StageThreadStoppedError);
      expect(meanwhile.message).to.equal("the stage thread is restarting");
      expect((meanwhile as StageThreadStoppedError).retryable).to.equal(true);

      await until(async () => (thread.serves(4n, 1) ? true : undefined), "restart", { pollMs: 10 });
      expect(restarts).to.deep.equal([1]);
      expect(thread.restarts).to.equal(1);
      expect(thread.backend).to.equal("crashing");

      // It dies again soon after its start: the next restart waits twice as long.
      await rejection(thread.runBatch(4n, 1, [input]));
      expect(stops).to.deep.equal([100, 200]);
      await until(async () => (thread.serves(4n, 1) ? true : undefined), "second restart", { pollMs: 10 });
      expect(thread.restarts).to.equal(2);

      // Disposed while a restart waits: no thread comes back.
      await rejection(thread.runBatch(4n, 1, [input]));
      expect(stops).to.deep.equal([100, 200, 400]);
      await thread.dispose();
      await new Promise((r) => setTimeout(r, 600));
      expect([thread.restarts, thread.serves(4n, 1)]).to.deep.equal([2, false]);
    } finally {
      await thread.dispose();
      model.dispose();
    }
  });
});
