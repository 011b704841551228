import { expect } from "chai";
import { network } from "hardhat";
import { EventDecoder } from "../../../worker/src/chain/EventDecoder.js";

const { ethers } = await network.create();

describe("EventDecoder: logs decoded by topic, as parseLog decodes them", () => {
  it("gives parseLog's name, topic and arguments for every event, null for events it was not given, and throws on bad data", async () => {
    const mock = await ethers.deployContract("EventEmitterMock");
    const receipts = [await (await mock.ping(7n, 10n ** 30n, "a note ✓")).wait(), await (await mock.pingMany(3n, 2n)).wait()];
    const logs = receipts.flatMap((r) => r!.logs);
    expect(logs).to.have.length(3);
    const all = new EventDecoder(mock.interface);
    for (const log of logs) {
      const ours = all.decode(log)!;
      const theirs = mock.interface.parseLog(log)!;
      expect([ours.name, ours.signature, ours.topic]).to.deep.equal([theirs.name, theirs.signature, theirs.topic]);
      expect(ours.args.toArray(true)).to.deep.equal(theirs.args.toArray(true));
    }
    expect(all.decode(logs[0])!.args.note).to.equal("a note ✓");

    const onlyBatched = new EventDecoder(mock.interface, ["Batched"]);
    expect(onlyBatched.topics).to.deep.equal([mock.interface.getEvent("Batched")!.topicHash]);
    expect(onlyBatched.has(logs[0].topics[0])).to.equal(false);
    expect(onlyBatched.decode(logs[0])).to.equal(null);
    expect(onlyBatched.decode({ topics: logs[1].topics.map((t) => t.toUpperCase().replace("0X", "0x")), data: logs[1].data })!.args.id).to.equal(3n);
    expect(onlyBatched.decode({ topics: [], data: "0x" })).to.equal(null);
    expect(() => onlyBatched.decode({ topics: logs[1].topics, data: "0x1234" })).to.throw();
    expect(() => new EventDecoder(mock.interface, ["Nope"])).to.throw("EventDecoder: the interface has no event Nope");
  });
});
