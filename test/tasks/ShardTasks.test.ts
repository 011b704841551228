import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import hre from "hardhat";
import type { PublishResult } from "../../tasks/model/publish.js";
import type { ShardResult } from "../../tasks/model/shard.js";
import type { AnnounceResult } from "../../tasks/host/announce.js";
import type { ListResult } from "../../tasks/host/list.js";
import type { WithdrawResult } from "../../tasks/host/withdraw.js";
import type { Deployment } from "../../worker/src/Deployment.js";
import { runTask, taskFailure } from "../helpers/taskRunner.js";

/**
 * The tasks of a sharded model: publish --shards and model shard, host announce / list / withdraw (--release), on the in-process
 * chain: what they print and what they leave on chain.
 */
describe("Hardhat tasks: model publish --shards, host announce, list, withdraw", function () {
  this.timeout(180_000);
  let dir: string;
  let deploymentPath: string;
  const common = () => ({ deployment: deploymentPath });

  before(async () => {
    // The chain first, as TesseraTasks.test does: the tasks' own `build` (noTests) can leave a build info without
    // contracts (TrainingTypes.sol) that EDR then fails to parse when it starts.
    await hre.network.getOrCreate();
    dir = mkdtempSync(join(tmpdir(), "tessera-shard-tasks-"));
    deploymentPath = join(dir, "deployment.json");
    const { result } = await runTask<Deployment>(hre, ["tessera", "deploy"], common());
    expect(result.contracts.ShardRegistry).to.match(/^0x[0-9a-fA-F]{40}$/);
    for (const to of ["1", "3"]) {
      await runTask(hre, ["tessera", "mint"], { ...common(), to, amount: "2000" });
      await runTask(hre, ["worker", "register"], { ...common(), account: to, stake: "2000" });
    }
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("model publish --shards 2: the 2NN is cut into two shards, stored and registered; bad sharding options are refused first", async () => {
    const bad = await taskFailure(hre, ["model", "publish"], { ...common(), dataDir: dir, account: "2", epochs: 1, shards: 1 });
    expect(bad.message).to.equal("--shards must be 0 (whole model) or an integer in 2..16, got 1");
    const both = await taskFailure(hre, ["model", "publish"], { ...common(), dataDir: dir, account: "2", epochs: 1, shards: 2, maxShardBytes: 1000 });
    expect(both.message).to.equal("give --shards or --max-shard-bytes, not both");
    const { result, output } = await runTask<PublishResult>(hre, ["model", "publish"], { ...common(), dataDir: dir, account: "2", name: "mnist-2nn-sharded", epochs: 1, shards: 2 });
    expect(result.shardCount).to.equal(2);
    expect(output).to.match(/shard 0 +layers 0\.\.\d, \d+ weight bytes, cost weight \d+, bafk/);
    expect(output).to.include(`host announce --version-id ${result.versionId} --shard <i>`);
  });

  it("model shard --version-id --shards 3: a published whole version cut into a new sharded version of the same model, same terms", async () => {
    const whole = await runTask<PublishResult>(hre, ["model", "publish"], { ...common(), dataDir: dir, account: "2", name: "mnist-2nn", epochs: 1 });
    expect(whole.result.versionId).to.equal(2n);
    const { result, output } = await runTask<ShardResult>(hre, ["model", "shard"], { ...common(), dataDir: dir, account: "2", versionId: "2", shards: 3 });
    expect(result.versionId).to.equal(3n);
    expect(result.shards.map((s) => [s.firstLayer, s.endLayer])).to.deep.equal([[0, 1], [1, 2], [2, 3]]);
    expect(output).to.include("Version 2 cut into 3 shards: version 3");
    const again = await taskFailure(hre, ["model", "shard"], { ...common(), dataDir: dir, account: "2", versionId: "3", shards: 2 });
    expect(again.message).to.equal("version 3 is already sharded (3 shards)");
    const notOwner = await taskFailure(hre, ["model", "shard"], { ...common(), dataDir: dir, account: "4", versionId: "2", shards: 2 });
    expect(notOwner.message).to.match(/^version 2 is owned by 0x3C44/);
    const oneShard = await taskFailure(hre, ["model", "shard"], { ...common(), dataDir: dir, account: "2", versionId: "2", maxShardBytes: 10_000_000 });
    expect(oneShard.message).to.equal("the model fits in one shard under that budget (796840 weight bytes): publish it whole");
    const noPlan = await taskFailure(hre, ["model", "shard"], { ...common(), dataDir: dir, account: "2", versionId: "2" });
    expect(noPlan.message).to.equal("give --shards (2..16) or --max-shard-bytes");
  });

  it("host announce / list: each host announces its shard; the list shows both and says the version is servable", async () => {
    const none = await runTask<ListResult>(hre, ["host", "list"], { ...common(), versionId: "1" });
    expect(none.result.unhosted).to.deep.equal([0, 1]);
    expect(none.output).to.include("no: shard 0, 1 has no host (requests end refunded)");
    // The 2NN's layers: 784x200 (628 KiB) | 200x200 + 200x10 (164 KiB): the cut balances the bytes as well as it can.
    expect(none.result.shards.map((s) => [s.firstLayer, s.endLayer])).to.deep.equal([[0, 1], [1, 3]]);
    expect(none.result.shards[0].byteSize).to.equal(BigInt((784 * 200 + 200) * 4));

    const first = await runTask<AnnounceResult>(hre, ["host", "announce"], { ...common(), account: "1", versionId: "1", shard: "0", endpoint: "http://127.0.0.1:7001" });
    expect(first.result.obligations).to.equal(1n);
    await runTask(hre, ["host", "announce"], { ...common(), account: "3", versionId: "1", shard: "1", endpoint: "http://127.0.0.1:7002" });
    const listed = await runTask<ListResult>(hre, ["host", "list"], { ...common(), versionId: "1" });
    expect(listed.result.unhosted).to.deep.equal([]);
    expect(listed.result.shards.map((s) => s.hosts.map((h) => h.endpoint))).to.deep.equal([["http://127.0.0.1:7001"], ["http://127.0.0.1:7002"]]);
    expect(listed.output).to.include("yes: every shard has a host");

    const badShard = await taskFailure(hre, ["host", "announce"], { ...common(), account: "1", versionId: "1", shard: "2", endpoint: "http://x" });
    expect(badShard.message).to.match(/ShardRegistryNoSuchShard\(1, 2\)/);
    const stranger = await taskFailure(hre, ["host", "announce"], { ...common(), account: "5", versionId: "1", shard: "0", endpoint: "http://x" });
    expect(stranger.message).to.match(/ShardRegistryHostNotEligible/);
    const noEndpoint = await taskFailure(hre, ["host", "announce"], { ...common(), account: "1", versionId: "1", shard: "0", endpoint: " " });
    expect(noEndpoint.message).to.match(/^--endpoint is required/);
    const whole = await taskFailure(hre, ["host", "list"], { ...common(), versionId: "7" });
    expect(whole.message).to.match(/version 7 does not exist/);
  });

  it("host withdraw: routing stops and the list names the shard without a host; --release waits for the release time", async () => {
    const { result, output } = await runTask<WithdrawResult>(hre, ["host", "withdraw"], { ...common(), account: "3", versionId: "1", shard: "1" });
    expect(result.action).to.equal("withdrawn");
    expect(output).to.include("stake bound until").and.include("--release");
    const listed = await runTask<ListResult>(hre, ["host", "list"], { ...common(), versionId: "1" });
    expect(listed.result.unhosted).to.deep.equal([1]);
    expect(listed.output).to.include("NO HOST");
    const early = await taskFailure(hre, ["host", "withdraw"], { ...common(), account: "3", versionId: "1", shard: "1", release: true });
    expect(early.message).to.match(/ShardRegistryNotReleasable/);
    const connection = await hre.network.getOrCreate();
    await connection.networkHelpers.time.increaseTo(result.releasableAt + 1);
    const released = await runTask<WithdrawResult>(hre, ["host", "withdraw"], { ...common(), account: "3", versionId: "1", shard: "1", release: true });
    expect(released.result.action).to.equal("released");
    expect(released.output).to.include("0 obligation(s) left");
  });
});
