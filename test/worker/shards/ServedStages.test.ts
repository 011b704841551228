import { expect } from "chai";
import { Wallet } from "ethers";
import { ServedStages } from "../../../worker/src/shards/ServedStages.js";

describe("ServedStages: tit for tat against a claimant that pays another host for this host's stage", () => {
  const me = Wallet.createRandom().address;
  const claimant = Wallet.createRandom().address;
  const sybil = Wallet.createRandom().address;
  const rival = Wallet.createRandom().address;
  const HOUR = 3_600_000;
  let now = 1_000_000;
  const ledger = (over: { capacity?: number; refuseForMs?: number } = {}) => new ServedStages({ host: me, refuseForMs: over.refuseForMs ?? HOUR, now: () => now, ...(over.capacity === undefined ? {} : { capacity: over.capacity }) });

  it("a claimant paid this host for the stage it was given: nothing to settle, never refused", () => {
    const served = ledger();
    served.record({ peer: claimant, requestId: 1n, shardIndex: 1 });
    expect(served.settle(1n, claimant, [sybil, me, sybil])).to.deep.equal([]);
    expect(served.refusedUntil(claimant)).to.equal(undefined);
    expect(served.pending).to.equal(0);
  });

  it("given shard 1's output, paying its Sybil for shard 1: refused for exactly refuseForMs (case of the address ignored)", () => {
    const served = ledger();
    served.record({ peer: claimant, requestId: 2n, shardIndex: 1 });
    served.record({ peer: claimant, requestId: 2n, shardIndex: 2 });
    const unpaid = served.settle(2n, claimant.toLowerCase(), [me, sybil, me.toLowerCase()]);
    expect(unpaid).to.deep.equal([{ peer: claimant.toLowerCase(), requestId: 2n, shardIndex: 1, paid: sybil }]);
    expect(served.refusedUntil(claimant)).to.equal(now + HOUR);
    now += HOUR - 1;
    expect(served.refusedUntil(claimant)).to.equal(now + 1);
    now += 1;
    expect(served.refusedUntil(claimant)).to.equal(undefined);
  });

  it("stages given to a caller that lost the race to claim are no offence of the winner's, nor of the loser's", () => {
    const served = ledger();
    served.record({ peer: rival, requestId: 3n, shardIndex: 0 });
    expect(served.settle(3n, claimant, [sybil])).to.deep.equal([]);
    expect(served.refusedUntil(claimant)).to.equal(undefined);
    expect(served.refusedUntil(rival)).to.equal(undefined);
    // A request this host served nothing of, or settles twice, changes nothing.
    expect(served.settle(99n, claimant, [sybil])).to.deep.equal([]);
    expect(served.settle(3n, rival, [sybil])).to.deep.equal([]);
  });

  it("holds at most `capacity` requests (the oldest forgotten), and refuses nobody with refuseForMs 0", () => {
    const served = ledger({ capacity: 2 });
    for (const id of [10n, 11n, 12n]) served.record({ peer: claimant, requestId: id, shardIndex: 0 });
    expect(served.pending).to.equal(2);
    expect(served.served(10n)).to.equal(false);
    expect(served.served(12n)).to.equal(true);
    const lenient = ledger({ refuseForMs: 0 });
    lenient.record({ peer: claimant, requestId: 1n, shardIndex: 0 });
    expect(lenient.settle(1n, claimant, [sybil])).to.have.length(1);
    expect(lenient.refusedUntil(claimant)).to.equal(undefined);
  });
});
