import type { EmbeddedStack } from "../../scripts/lib/EmbeddedStack.js";
import { PRICE_WEI } from "../../scripts/lib/EmbeddedStack.js";
import { InferenceClient, InputKind, type SentRequest } from "../../scripts/lib/InferenceClient.js";
import { encodeImage } from "../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS } from "../../worker/src/ml/MnistDataset.js";

/**
 * `send(i)`: held-out digit `i` as a paid ETH request on the stack's trained version, from one of three users, with a
 * fresh salt and a deadline `lifetime` seconds after the later of the chain's clock and the wall clock (a node that
 * mines on demand lags the wall clock).
 */
export function digitRequester(stack: EmbeddedStack, options: { inputKind?: InputKind; lifetime?: number; versionId?: bigint } = {}): (i: number) => Promise<SentRequest> {
  const client = new InferenceClient(stack.contracts.market, stack.contracts.token, stack.store);
  const test = stack.trained!.data.test;
  let salt = 0n;
  return async (i: number) => {
    const latest = (await stack.connection.ethers.provider.getBlock("latest"))!.timestamp;
    const digit = i % test.count;
    return client.requestWithEth(stack.signers.users[i % 3], {
      versionId: options.versionId ?? stack.trained!.versionId,
      pixels: encodeImage(test.images.subarray(digit * MNIST_PIXELS, (digit + 1) * MNIST_PIXELS)),
      inputKind: options.inputKind ?? InputKind.Cid,
      fee: PRICE_WEI,
      deadline: Math.max(latest, Math.floor(Date.now() / 1000)) + (options.lifetime ?? 900),
      salt: salt++,
    });
  };
}
