import { expect } from "chai";
import { StageAuthorization, type AuthorizationReads } from "../../../worker/src/shards/StageAuthorization.js";

describe("StageAuthorization: a staked worker of the version, on a request on chain; positive reads reused briefly", () => {
  const PEER = "0x00000000000000000000000000000000000000aa";
  let now = 1_000;
  let reads: { eligible: number; state: number };
  let eligible: boolean;
  let states: Map<bigint, { status: bigint; modelVersionId: bigint }>;
  let failNext: boolean;
  const chain: AuthorizationReads = {
    isEligibleInferrer: async () => {
      reads.eligible++;
      if (failNext) throw new Error("rpc down");
      return eligible;
    },
    requestState: async (id) => {
      reads.state++;
      return states.get(id) ?? { status: 0n, modelVersionId: 0n };
    },
  };
  beforeEach(() => {
    now = 1_000;
    reads = { eligible: 0, state: 0 };
    eligible = true;
    states = new Map([[7n, { status: 2n, modelVersionId: 3n }]]);
    failNext = false;
  });

  it("a batch's stages asked about at once share the reads in flight: the peer's eligibility read once, each request once; a failed read is not kept", async () => {
    states.set(8n, { status: 2n, modelVersionId: 3n });
    states.set(9n, { status: 2n, modelVersionId: 4n });
    const auth = new StageAuthorization(chain, { now: () => now });
    const verdicts = await Promise.all([7n, 8n, 9n, 7n].map((id) => auth.authorize(PEER, id, 3n)));
    expect(verdicts).to.deep.equal([true, true, false, true]);
    expect(reads).to.deep.equal({ eligible: 1, state: 3 });
    failNext = true;
    const other = "0x00000000000000000000000000000000000000bb";
    const failed = await Promise.allSettled([auth.authorize(other, 7n, 3n), auth.authorize(other, 8n, 3n)]);
    expect(failed.map((f) => f.status)).to.deep.equal(["rejected", "rejected"]);
    expect(reads.eligible).to.equal(2);
    failNext = false;
    expect(await auth.authorize(other, 7n, 3n)).to.equal(true);
    expect(reads.eligible).to.equal(3);
  });

  it("authorizes a request's stages with one read of each until ttlMs has passed (exact edge), then reads again", async () => {
    const auth = new StageAuthorization(chain, { ttlMs: 2_000, now: () => now });
    expect(await auth.authorize(PEER, 7n, 3n)).to.equal(true);
    now += 1_999;
    expect(await auth.authorize(PEER.toUpperCase().replace("0X", "0x"), 7n, 3n)).to.equal(true);
    expect(reads).to.deep.equal({ eligible: 1, state: 1 });
    now += 1; // exactly ttlMs after the reads: read again
    expect(await auth.authorize(PEER, 7n, 3n)).to.equal(true);
    expect(reads).to.deep.equal({ eligible: 2, state: 2 });
  });

  it("refuses another version's request, an unknown request and an ineligible peer, and reuses none of those answers", async () => {
    const auth = new StageAuthorization(chain, { now: () => now });
    expect(await auth.authorize(PEER, 7n, 4n)).to.equal(false); // the request is of version 3
    expect(await auth.authorize(PEER, 8n, 3n)).to.equal(false); // no such request (yet)
    states.set(8n, { status: 1n, modelVersionId: 3n });
    expect(await auth.authorize(PEER, 8n, 3n)).to.equal(true); // seen once it exists: a refusal is not remembered
    eligible = false;
    expect(await auth.authorize("0x00000000000000000000000000000000000000bb", 7n, 3n)).to.equal(false);
    eligible = true;
    expect(await auth.authorize("0x00000000000000000000000000000000000000bb", 7n, 3n)).to.equal(true);
  });

  it("a failed read fails the authorization (the host answers 503) and is not remembered", async () => {
    const auth = new StageAuthorization(chain, { now: () => now });
    failNext = true;
    let failure: unknown;
    try {
      await auth.authorize(PEER, 7n, 3n);
    } catch (err) {
      failure = err;
    }
    expect((failure as Error).message).to.equal("rpc down");
    failNext = false;
    expect(await auth.authorize(PEER, 7n, 3n)).to.equal(true);
    expect(reads.eligible).to.equal(2);
  });
});
