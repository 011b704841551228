import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { Block, Provider } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { TaskDefinitionType, type TaskDefinition } from "hardhat/types/tasks";
import { buildingFirst } from "../../tasks/lib/BuildFirst.js";
import { nextBlockTime } from "../../client/src/ChainTime.js";

/** A provider whose latest and pending blocks have the given timestamps (null: the node builds no pending block). */
function providerWith(latest: number, pending: number | null): Provider {
  return {
    getBlock: async (tag: string) => {
      if (tag === "pending") {
        if (pending === null) throw new Error("pending block not supported");
        return { timestamp: pending } as Block;
      }
      return { timestamp: latest } as Block;
    },
  } as unknown as Provider;
}

describe("Tasks on a node that mines on demand", function () {
  const wallClock = () => Math.floor(Date.now() / 1000);

  it("take the next block's time, not the latest block's, when the chain lags the wall clock (Anvil, hardhat node)", async function () {
    const lagging = wallClock() - 600;
    const now = await nextBlockTime(providerWith(lagging, null));
    expect(now).to.be.within(wallClock() - 1, wallClock() + 1);
    // A 5-second deadline computed from it is still in the future when the request is mined.
    expect(now + 5).to.be.greaterThan(wallClock());
  });

  it("take the pending block's time where the node builds one, and never go before latest + 1", async function () {
    const ahead = wallClock() + 3_600; // a chain whose clock was moved forward (evm_increaseTime)
    expect(await nextBlockTime(providerWith(ahead, ahead + 1))).to.equal(ahead + 1);
    expect(await nextBlockTime(providerWith(ahead, null))).to.equal(ahead + 1);
  });

  it("build the contracts before loading a task's action (the actions import the typechain output)", async function () {
    const order: string[] = [];
    const definition = {
      type: TaskDefinitionType.NEW_TASK,
      id: ["demo", "task"],
      description: "",
      action: async () => {
        order.push("action module loaded");
        return { default: async () => "ran" };
      },
      options: {},
      positionalArguments: [],
    } as unknown as TaskDefinition;
    // The build runs under the build lock on the project's cache directory: here a temporary one.
    const cache = join(mkdtempSync(join(tmpdir(), "tessera-task-build-")), "cache");
    const hre = { config: { paths: { cache } }, tasks: { getTask: () => ({ run: async () => void order.push("build") }) } } as unknown as HardhatRuntimeEnvironment;
    const wrapped = buildingFirst(definition) as unknown as { action: () => Promise<{ default: (a: object, h: HardhatRuntimeEnvironment) => Promise<string> }> };
    const module = await wrapped.action();
    expect(order).to.deep.equal([]);
    expect(await module.default({}, hre)).to.equal("ran");
    expect(await module.default({}, hre)).to.equal("ran");
    expect(order).to.deep.equal(["build", "action module loaded", "action module loaded"]);
  });
});
