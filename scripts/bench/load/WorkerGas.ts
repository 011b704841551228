import type { EIP1193Provider } from "hardhat/types/providers";
import type { InferenceMarket } from "../../../typechain-types/index.js";

interface RawTx {
  readonly hash: string;
  readonly from: string;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** Transactions each worker address has sent so far (its nonce). */
export async function nonces(provider: EIP1193Provider, workers: readonly string[]): Promise<number[]> {
  return Promise.all(workers.map(async (w) => Number(await provider.request({ method: "eth_getTransactionCount", params: [w, "latest"] }))));
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

/**
 * Gas of every transaction the workers sent in [fromBlock, toBlock]. The hashes come from the
 * market's events (the claims of these workers, the fulfilments seen); when they account for fewer
 * transactions than the workers' nonces moved (a claimBatch that claimed nothing emits no event, a
 * reverted one none at all), the blocks are scanned for the rest.
 */
export async function workerGas(
  provider: EIP1193Provider,
  market: InferenceMarket,
  workers: readonly string[],
  range: { fromBlock: number; toBlock: number },
  fulfilmentTxs: Iterable<string>,
  expectedTxs: number,
): Promise<{ txs: number; gas: bigint; scannedBlocks: number }> {
  const address = await market.getAddress();
  const claimedTopic = market.interface.getEvent("InferencesClaimed").topicHash;
  const claimLogs = (await provider.request({
    method: "eth_getLogs",
    params: [
      {
        address,
        topics: [claimedTopic, workers.map((w) => `0x${w.slice(2).toLowerCase().padStart(64, "0")}`)],
        fromBlock: hex(range.fromBlock),
        toBlock: hex(range.toBlock),
      },
    ],
  })) as { transactionHash: string }[];
  const hashes = new Set<string>([...fulfilmentTxs, ...claimLogs.map((l) => l.transactionHash)]);
  let scannedBlocks = 0;
  if (hashes.size < expectedTxs) {
    const mine = new Set(workers.map((w) => w.toLowerCase()));
    const blocks = Array.from({ length: range.toBlock - range.fromBlock + 1 }, (_, i) => range.fromBlock + i);
    const txs = await mapLimit(blocks, 16, async (n) => {
      const block = (await provider.request({ method: "eth_getBlockByNumber", params: [hex(n), true] })) as { transactions: RawTx[] };
      return block.transactions.filter((t) => mine.has(t.from.toLowerCase())).map((t) => t.hash);
    });
    for (const list of txs) for (const h of list) hashes.add(h);
    scannedBlocks = blocks.length;
  }
  const used = await mapLimit([...hashes], 16, async (hash) => {
    const receipt = (await provider.request({ method: "eth_getTransactionReceipt", params: [hash] })) as { gasUsed: string };
    return BigInt(receipt.gasUsed);
  });
  return { txs: hashes.size, gas: used.reduce((a, b) => a + b, 0n), scannedBlocks };
}
