import { parseEther } from "ethers";
import type { Currency } from "../../client/src/Amounts.js";
import { taskError } from "./TaskError.js";

export { formatAmount, formatEth, formatTsr, type Currency } from "../../client/src/Amounts.js";

/** "1000" or "0.5" (whole units) to 18-decimal base units. */
export function parseUnits18(value: string, what: string): bigint {
  try {
    const amount = parseEther(value.trim());
    if (amount < 0n) throw new RangeError("negative");
    return amount;
  } catch (err) {
    throw taskError(`${what}: ${JSON.stringify(value)} is not a non-negative amount (e.g. 1000 or 0.5)`, err);
  }
}

export function parseCurrency(value: string, what: string): Currency {
  const v = value.toLowerCase();
  if (v === "eth") return "eth";
  if (v === "tsr" || v === "token") return "tsr";
  throw taskError(`${what}: ${JSON.stringify(value)} is neither eth nor tsr`);
}

const UINT96_MAX = (1n << 96n) - 1n;

export function checkUint96(value: bigint, what: string): bigint {
  if (value < 0n || value > UINT96_MAX) throw taskError(`${what}: ${value} is outside 0..2^96-1`);
  return value;
}
