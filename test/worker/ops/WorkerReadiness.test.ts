import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { network } from "hardhat";
import { EmbeddedStack } from "../../../scripts/lib/EmbeddedStack.js";
import { WorkerReadiness } from "../../../worker/src/ops/WorkerReadiness.js";

/**
 * The readiness check learns the versions a key serves from ServedModelsUpdated since the deployment's startBlock;
 * a deployment file that starts later than the key's registration (an operator skipping history, the load
 * benchmark's) must not make it warn that the key serves nothing: it asks the registry.
 */
describe("WorkerReadiness: the versions a key serves", function () {
  this.timeout(120_000);
  let stack: EmbeddedStack;
  let dataDir: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-readiness-"));
    stack = await EmbeddedStack.start(await network.create(), { dataDir, queuePrefix: `tessera-test-${randomUUID()}`, trainEpochs: 1 });
    await stack.trainAndPublish();
    await stack.stakeWorker(stack.trained!.versionId);
  });

  after(async () => {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function check(startBlock: number, worker = stack.signers.worker.address) {
    const readiness = new WorkerReadiness({
      provider: stack.connection.ethers.provider,
      deployment: { ...stack.deployment, startBlock },
      worker,
      roles: ["processor"],
      blockRange: 1_000,
      refreshMs: 0,
    });
    await readiness.start();
    await readiness.stop();
    return readiness.report!;
  }

  it("finds the served version from the events, and from the registry when startBlock is after the registration", async () => {
    const versionId = stack.trained!.versionId.toString();
    const fromDeployment = await check(stack.deployment.startBlock);
    expect(fromDeployment.servedVersions).to.deep.equal([versionId]);
    expect(fromDeployment.ok).to.equal(true);

    const head = await stack.connection.ethers.provider.getBlockNumber();
    const late = await check(head + 1);
    expect(late.servedVersions).to.deep.equal([versionId]);
    expect(late.roles).to.deep.equal([{ role: "processor", ok: true, problems: [] }]);

    // Withdrawn: neither the events since startBlock nor the registry name it any more.
    await (await stack.contracts.workerRegistry.connect(stack.signers.worker).setServedModels([stack.trained!.versionId], false)).wait();
    expect((await check(head + 1)).roles[0]).to.deep.equal({ role: "processor", ok: false, problems: ["serves no model version (`worker register --serve <ids>`)"] });
    await (await stack.contracts.workerRegistry.connect(stack.signers.worker).setServedModels([stack.trained!.versionId], true)).wait();
  });

  it("a key that serves nothing is told so, whatever the startBlock", async () => {
    const stranger = stack.signers.users[0].address;
    const report = await check(0, stranger);
    expect(report.registered).to.equal(false);
    expect(report.servedVersions).to.deep.equal([]);
    expect(report.roles[0].ok).to.equal(false);
  });
});
