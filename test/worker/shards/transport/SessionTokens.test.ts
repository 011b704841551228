import { expect } from "chai";
import { type Signer, Wallet } from "ethers";
import { SessionTokens } from "../../../../worker/src/shards/transport/SessionTokens.js";
import { signSessionToken } from "../../../../worker/src/shards/transport/StageProtocol.js";
import { CHAIN_ID, REGISTRY } from "./fixtures.js";

describe("SessionTokens: a host's memory of the session tokens it checked", () => {
  const host = Wallet.createRandom().address;
  const T = 1_800_000_000_000;
  const tokens = (capacity?: number) =>
    new SessionTokens({ chainId: CHAIN_ID, shardRegistry: REGISTRY, host, clockSkewMs: 1_000, maxLifetimeMs: 60_000, ...(capacity === undefined ? {} : { capacity }) });
  const tokenOf = (who: Signer, expires = T + 30_000, forHost = host) => signSessionToken(who, { chainId: CHAIN_ID, shardRegistry: REGISTRY, host: forHost, expires });

  it("recovers a token to its peer, and remembers it only when told (after the peer's authorization); never a forged or foreign one", async () => {
    const known = tokens();
    const alice = Wallet.createRandom();
    const token = await tokenOf(alice);
    expect(known.check(token, T)).to.deep.equal({ ok: true, known: false });
    expect(known.size).to.equal(0); // not authorized yet: not remembered
    known.remember(token, T);
    expect(known.check(token, T + 10_000)).to.deep.equal({ ok: true, known: true });
    expect(known.size).to.equal(1);
    const forged = { ...token, peer: Wallet.createRandom().address };
    expect(known.check(forged, T)).to.include({ ok: false, code: "BAD_AUTH" });
    const foreign = await tokenOf(alice, T + 30_000, alice.address); // for another host
    expect(known.check(foreign, T)).to.include({ ok: false, code: "BAD_AUTH" });
    expect(known.check({ ...token, auth: "0x" + "22".repeat(65) }, T)).to.include({ ok: false, code: "BAD_AUTH" });
    expect(known.size).to.equal(1);
    // A remembered token still expires: past expires + skew it is refused, at the edge it is not.
    expect(known.check(token, T + 31_000)).to.deep.equal({ ok: true, known: true });
    expect(known.check(token, T + 31_001)).to.include({ ok: false, code: "AUTH_EXPIRED" });
  });

  it("holds at most its capacity, forgetting the oldest and the expired first", async () => {
    const known = tokens(2);
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => tokenOf(Wallet.createRandom())));
    for (const t of [a!, b!, c!]) {
      expect(known.check(t, T).ok).to.equal(true);
      known.remember(t, T);
    }
    expect(known.size).to.equal(2);
    expect(known.check(a!, T)).to.deep.equal({ ok: true, known: false }); // the oldest was forgotten: recovered again
    const late = await tokenOf(Wallet.createRandom(), T + 90_000);
    known.remember(late, T + 40_000); // a, b and c expired by then: forgotten
    expect(known.size).to.equal(1);
  });
});
