import { ZeroAddress } from "ethers";
import { randomBytes } from "node:crypto";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { InferenceClient, InputKind, type SentRequest } from "../../scripts/lib/InferenceClient.js";
import { encodeText, InputFileError, readImageFile, readValuesFile, type EncodedInputFile } from "../../scripts/lib/RequestInputFiles.js";
import type { ContentStore } from "../../worker/src/ipfs/ContentStore.js";
import { encodeImage } from "../../worker/src/ml/InferenceCodec.js";
import { MNIST_PIXELS, loadMnist } from "../../worker/src/ml/MnistDataset.js";
import { readManifest } from "../../worker/src/ml/ModelArtifacts.js";
import { codecsOf } from "../../worker/src/ml/ModelManifest.js";
import { loadTokenizer, type WordTokenizer } from "../../worker/src/ml/Tokenizer.js";
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
  input: string;
  image: string;
  text: string;
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
  /** What was sent: the file read, or the held-out digit. */
  input: string;
  /** The held-out digit's label (without --input or --image). */
  label?: number;
}

/** Without --cid the input goes inline and no IPFS store is opened. */
const noStore: ContentStore = {
  kind: "embedded",
  add: () => Promise.reject(new Error("no content store for an inline input")),
  get: () => Promise.reject(new Error("no content store for an inline input")),
  cat: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error("no content store for an inline input")) }) }),
  size: () => Promise.reject(new Error("no content store for an inline input")),
  has: () => Promise.resolve(false),
  pin: () => Promise.resolve(),
  close: () => Promise.resolve(),
};

/** Reads --input, --image or --text as the version's codec (and tokenizer) want it, from its manifest on IPFS, before anything is sent. */
async function readInputFile(args: RequestArgs, store: ContentStore, manifestCidBytes: string): Promise<EncodedInputFile> {
  const manifestCid = cidToString(manifestCidBytes);
  let codec;
  let tokenizer: WordTokenizer | undefined;
  try {
    const manifest = await readManifest(store, manifestCid);
    codec = codecsOf(manifest).input;
    if (args.text !== "" && manifest.tokenizer !== undefined) tokenizer = await loadTokenizer(store, manifest.tokenizer);
  } catch (err) {
    throw taskError(`cannot read the model's manifest ${manifestCid} (its input codec says how to encode the input): ${(err as Error).message}`, err);
  }
  try {
    if (args.text !== "") return encodeText(args.text, codec, tokenizer);
    return args.image !== "" ? readImageFile(args.image, codec) : readValuesFile(args.input, codec);
  } catch (err) {
    if (err instanceof InputFileError) throw taskError(err.message, err);
    throw err;
  }
}

/**
 * Sends a paid inference request, in ETH or in TSR by ERC-2612 permit: on a file a person has
 * (--input values.json, --image picture.png|jpg, encoded by the version's input codec), or on a
 * held-out MNIST digit (--digit-index).
 */
export default async function request(args: RequestArgs, hre: HardhatRuntimeEnvironment): Promise<RequestResult> {
  const currency = parseCurrency(args.pay, "--pay");
  const given = [args.input !== "" && "--input", args.image !== "" && "--image", args.text !== "" && "--text"].filter((g) => g !== false);
  if (given.length > 1) throw taskError(`give one of --input, --image and --text, not ${given.join(" and ")}`);
  const fromFile = given.length === 1;
  if (fromFile && args.digitIndex !== 0) throw taskError(`--digit-index picks a held-out MNIST digit: leave it out with ${given[0]}`);
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

  const store = args.cid || fromFile ? await openContentStore(args.dataDir) : noStore;
  let sent: SentRequest;
  let input: string;
  let label: number | undefined;
  let bytes: Uint8Array;
  try {
    if (fromFile) {
      const file = await readInputFile(args, store, (await modelRegistry.getVersion(versionId)).manifestCid);
      bytes = file.bytes;
      input = file.description;
    } else {
      const test = (await loadMnist(MNIST_SPLIT)).test;
      const i = args.digitIndex;
      bytes = encodeImage(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS));
      label = test.labels[i];
      input = `held-out digit #${i} (label ${label})`;
    }
    const deadline = (await session.now()) + args.deadlineSeconds;
    const salt = randomBytes(8).readBigUInt64BE();
    const client = new InferenceClient(market, token, store);
    const options = { versionId: versionId, pixels: bytes, inputKind: args.cid ? InputKind.Cid : InputKind.Inline, fee, deadline, salt };
    try {
      sent = currency === "eth" ? await client.requestWithEth(requester, options) : await client.requestWithTokenPermit(requester, options);
    } catch (err) {
      throw transactionFailure(currency === "eth" ? "requestInference" : "requestInferenceWithToken", err);
    }
    const log = sent.receipt.logs.map((l) => market.interface.parseLog(l)).find((e) => e?.name === "InferenceRequested");
    const inputCid = args.cid ? cidToString(log!.args.input as string) : undefined;

    printFields(`Requested inference on model version ${versionId}`, [
      ["request id", sent.requestId],
      ["transaction", sent.receipt.hash],
      ["requester", requester.address],
      ["fee", `${formatAmount(fee, currency)}${currency === "tsr" ? " (by permit, no approve)" : ""}`],
      ["input", inputCid === undefined ? `${input}, ${bytes.length} bytes inline` : `${input}, CID ${inputCid}`],
      ["deadline", `${new Date(deadline * 1000).toISOString()} (in ${args.deadlineSeconds} s)`],
      ["next", `npx hardhat${session.networkFlag} infer status --id ${sent.requestId} --wait 60`],
    ]);
    return { requestId: sent.requestId, txHash: sent.receipt.hash, requester: requester.address, fee, currency, deadline, inputCid, input, label };
  } finally {
    await store.close();
  }
}
