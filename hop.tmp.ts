import { Wallet } from "ethers";
import { ShardClient } from "./worker/src/shards/transport/ShardClient.js";
import { activationHash } from "./worker/src/shards/ActivationHash.js";
import { host, CHAIN_ID, REGISTRY, VERSION } from "./test/worker/shards/transport/fixtures.js";

const hostKey = Wallet.createRandom();
const caller = Wallet.createRandom();
const h = await host(hostKey, [caller.address]);
const client = new ShardClient({ signer: caller, chainId: CHAIN_ID, shardRegistry: REGISTRY });
for (const size of [3_136, 16_384, 33_585]) {
  const input = new Uint8Array(size).map((_, i) => i & 255);
  const call = (i: number) => client.runStage(h.endpoint, hostKey.address, { requestId: BigInt(i + 1), versionId: VERSION, shardIndex: 0, inputHash: activationHash(input), input });
  for (let i = 0; i < 50; i++) await call(i);
  const n = 300;
  const t = performance.now();
  for (let i = 0; i < n; i++) await call(1000 + i);
  console.log(`${size} B: ${((performance.now() - t) / n).toFixed(3)} ms per stage round trip (one process, identity runner)`);
}
await client.close();
await h.server.stop();
process.exit(0);
