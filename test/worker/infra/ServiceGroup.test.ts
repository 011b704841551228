import { expect } from "chai";
import { silentLogger } from "../../../worker/src/logger.js";
import type { Service } from "../../../worker/src/lifecycle/Service.js";
import { ServiceGroup, installSignalHandlers } from "../../../worker/src/lifecycle/ServiceGroup.js";

function recorder(log: string[], name: string, fail: { start?: boolean; stop?: boolean } = {}): Service {
  return {
    name,
    async start() {
      log.push(`start ${name}`);
      if (fail.start) throw new Error(`${name} cannot start`);
    },
    async stop() {
      log.push(`stop ${name}`);
      if (fail.stop) throw new Error(`${name} cannot stop`);
    },
  };
}

describe("ServiceGroup", () => {
  it("starts in order, stops in reverse, once", async () => {
    const log: string[] = [];
    const group = new ServiceGroup("g", [recorder(log, "redis"), recorder(log, "listener"), recorder(log, "worker")]);
    await Promise.all([group.start(), group.start()]);
    await Promise.all([group.stop(), group.stop()]);
    await group.stop();
    expect(log).to.deep.equal(["start redis", "start listener", "start worker", "stop worker", "stop listener", "stop redis"]);
  });

  it("stops every service even when one stop fails, then reports the failure", async () => {
    const log: string[] = [];
    const group = new ServiceGroup("g", [recorder(log, "a"), recorder(log, "b", { stop: true }), recorder(log, "c")]);
    await group.start();
    const error = await group.stop().catch((e: unknown) => e);
    expect(error).to.be.instanceOf(AggregateError);
    expect(log.slice(3)).to.deep.equal(["stop c", "stop b", "stop a"]);
  });

  it("rolls back the started services when one fails to start", async () => {
    const log: string[] = [];
    const group = new ServiceGroup("g", [recorder(log, "a"), recorder(log, "b", { start: true }), recorder(log, "c")]);
    const error = await group.start().catch((e: unknown) => e);
    expect((error as Error).message).to.equal("b cannot start");
    expect(log).to.deep.equal(["start a", "start b", "stop a"]);
  });

  it("a signal stops the group and exits 0; the same signal again within the window is ignored; a third forces exit", async () => {
    const log: string[] = [];
    let release!: () => void;
    const slow: Service = {
      name: "slow",
      start: async () => undefined,
      stop: () => new Promise<void>((resolve) => (release = () => (log.push("slow stopped"), resolve()))),
    };
    const group = new ServiceGroup("g", [slow]);
    await group.start();
    const codes: number[] = [];
    let clock = 0;
    const uninstall = installSignalHandlers(group, silentLogger, { signals: ["SIGUSR2"], exit: (c) => codes.push(c), now: () => clock });
    try {
      process.emit("SIGUSR2", "SIGUSR2");
      await new Promise((r) => setImmediate(r));
      expect(codes).to.deep.equal([]);
      // The same signal delivered again to the process group: one drain, not a forced exit.
      clock = 1_000;
      process.emit("SIGUSR2", "SIGUSR2");
      expect(codes).to.deep.equal([]);
      process.emit("SIGUSR2", "SIGUSR2");
      expect(codes).to.deep.equal([130]);
      release();
      await group.stop();
      await new Promise((r) => setImmediate(r));
      expect(codes).to.deep.equal([130, 0]);
      expect(log).to.deep.equal(["slow stopped"]);
    } finally {
      uninstall();
    }
  });
});
