import { ZeroAddress } from "ethers";
import { randomBytes } from "node:crypto";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { InferenceClient, InputKind, type SentRequest } from "../../scripts/lib/InferenceClient.js";
import type { ContentStore } from "../../worker/src/ipfs/ContentStore.js";
import { encodeImage } from "../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS, loadMnist } from "../../worker/src/ml/MnistDataset.js";
import { formatAmount, parseCurrency, type Currency } from "../lib/Amounts.js";
import { cidToString } from "../lib/Cids.js";
import { openContentStore } from "../lib/ContentStores.js";
import { MNIST_SPLIT } from "../lib/Defaults.js";
import { parseId } from "../lib/Ids.js";
import { printFields } from "../lib/Printer.js";
import { Session, transactionFailure } from "../lib/Session.js";
import { taskError } from "../lib/TaskError.js";

interface RequestArgs {
  deployment: string;
  dataDir: string;
  account: string;
  versionId: string | undefined;
  digitIndex: number;
  pay: string;
  cid: boolean;
  deadlineSeconds: number;
}

export interface RequestResult {
  requestId: bigint;
  txHash: string;
  requester: string;
  fee: bigint;
  currency: Currency;
  deadline: number;
  inputCid?: string;
  label: number;
}

/** Without --cid the input goes inline and no IPFS store is opened. */
const noStore: ContentStore = {
  kind: "embedded",
  add: () => Promise.reject(new Error("no content store for an inline input")),
  get: () => Promise.reject(new Error("no content store for an inline input")),
  has: () => Promise.resolve(false),
  pin: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

/** Sends a paid inference request for a held-out MNIST digit, in ETH or in TSR by ERC-2612 permit. */
export default async function request(args: RequestArgs, hre: HardhatRuntimeEnvironment): Promise<RequestResult> {
  const currency = parseCurrency(args.pay, "--pay");
  if (!Number.isInteger(args.digitIndex) || args.digitIndex < 0 || args.digitIndex >= MNIST_SPLIT.testCount) {
    throw taskError(`--digit-index must be in 0..${MNIST_SPLIT.testCount - 1} (the held-out MNIST digits), got ${args.digitIndex}`);
  }
  const versionId = parseId(args.versionId, "--version-id");
  const session = await Session.open(hre, args.deployment);
  const requester = await session.signer(args.account);
  const { market, token, modelRegistry } = session.contracts;

  const [owner, priceWei, priceToken, , active] = await modelRegistry.inferenceTerms(versionId);
  if (owner === ZeroAddress) throw taskError(`unknown model version ${versionId}`);
  if (!active) throw taskError(`model version ${versionId} is deprecated and takes no new requests`);
  const { maxRequestLifetime } = await market.params();
  if (!Number.isInteger(args.deadlineSeconds) || args.deadlineSeconds < 1 || args.deadlineSeconds > Number(maxRequestLifetime)) {
    throw taskError(`--deadline-seconds must be in 1..${maxRequestLifetime}, got ${args.deadlineSeconds}`);
  }
  const fee = currency === "eth" ? priceWei : priceToken;
  const balance = currency === "eth" ? await session.ethers.provider.getBalance(requester.address) : await token.balanceOf(requester.address);
  if (balance < fee) throw taskError(`${requester.address} holds ${formatAmount(balance, currency)}, the request costs ${formatAmount(fee, currency)}`);

  const test = (await loadMnist(MNIST_SPLIT)).test;
  const i = args.digitIndex;
  const pixels = encodeImage(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
  const deadline = (await session.now()) + args.deadlineSeconds;
  const salt = randomBytes(8).readBigUInt64BE();
  const store = args.cid ? await openContentStore(args.dataDir) : noStore;
  let sent: SentRequest;
  try {
    const client = new InferenceClient(market, token, store);
    const options = { versionId: versionId, pixels, inputKind: args.cid ? InputKind.Cid : InputKind.Inline, fee, deadline, salt };
    sent = currency === "eth" ? await client.requestWithEth(requester, options) : await client.requestWithTokenPermit(requester, options);
  } catch (err) {
    throw transactionFailure(currency === "eth" ? "requestInference" : "requestInferenceWithToken", err);
  } finally {
    await store.close();
  }
  const log = sent.receipt.logs.map((l) => market.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested");
  const inputCid = args.cid ? cidToString(log!.args.input as string) : undefined;

  printFields(`Requested inference on model version ${versionId}`, [
    ["request id", sent.requestId],
    ["transaction", sent.receipt.hash],
    ["requester", requester.address],
    ["fee", `${formatAmount(fee, currency)}${currency === "tsr" ? " (by permit, no approve)" : ""}`],
    ["input", inputCid === undefined ? `held-out digit #${i} (label ${test.labels[i]}), ${pixels.length} bytes inline` : `held-out digit #${i} (label ${test.labels[i]}), CID ${inputCid}`],
    ["deadline", `${new Date(deadline * 1000).toISOString()} (in ${args.deadlineSeconds} s)`],
    ["next", `npx hardhat${session.networkFlag} infer status --id ${sent.requestId} --wait 60`],
  ]);
  return { requestId: sent.requestId, txHash: sent.receipt.hash, requester: requester.address, fee, currency, deadline, inputCid, label: test.labels[i] };
}
