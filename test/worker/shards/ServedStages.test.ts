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
  const ledger = (over: { refuseForMs?: number; maxAgeMs?: number; maxUnsettledPerPeer?: number } = {}) =>
    new ServedStages({ host: me, now: () => now, ...over, refuseForMs: over.refuseForMs ?? HOUR });

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

  it("a Sybil or relay that fetched the stage here under its own key and was paid for it is refused, not only the claimant", () => {
    const served = ledger();
    // The thief's Sybil host fetches shard 2 from this host, the thief claims and posts the Sybil's signature.
    served.record({ peer: sybil, requestId: 20n, shardIndex: 2 });
    expect(served.settle(20n, claimant, [rival, rival, sybil])).to.deep.equal([{ peer: sybil, requestId: 20n, shardIndex: 2, paid: sybil }]);
    expect(served.refusedUntil(sybil)).to.equal(now + HOUR);
    expect(served.refusedUntil(claimant)).to.equal(undefined); // it fetched nothing here
    // A stage fetched by a third key that is neither the claimant nor the paid host is no offence of anyone's.
    served.record({ peer: rival, requestId: 21n, shardIndex: 1 });
    expect(served.settle(21n, claimant, [me, sybil])).to.deep.equal([]);
  });

  it("keeps unsettled requests until maxAgeMs (never evicted for room); a peer holding too many is refused more", () => {
    const served = ledger({ maxUnsettledPerPeer: 2, maxAgeMs: 10_000 });
    served.record({ peer: claimant, requestId: 30n, shardIndex: 0 });
    served.record({ peer: claimant, requestId: 30n, shardIndex: 1 }); // the same request: still one
    expect(served.refusal(claimant)).to.equal(undefined);
    served.record({ peer: claimant, requestId: 31n, shardIndex: 0 });
    expect(served.refusal(claimant)).to.match(/holds 2 requests with stages from this host not yet fulfilled/);
    expect(served.refusal(rival)).to.equal(undefined);
    // Settling one frees the peer; the other is forgotten once maxAgeMs old, not before.
    expect(served.settle(30n, claimant, [me, me])).to.deep.equal([]);
    expect(served.refusal(claimant)).to.equal(undefined);
    now += 9_999;
    expect(served.served(31n)).to.equal(true);
    now += 1;
    expect(served.pending).to.equal(0);
    // A lenient host (refuseForMs 0) finds the offence and refuses nobody.
    const lenient = ledger({ refuseForMs: 0 });
    lenient.record({ peer: claimant, requestId: 1n, shardIndex: 0 });
    expect(lenient.settle(1n, claimant, [sybil])).to.have.length(1);
    expect(lenient.refusedUntil(claimant)).to.equal(undefined);
  });
});
