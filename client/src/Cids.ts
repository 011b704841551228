import { getBytes } from "ethers";
import { CID } from "multiformats/cid";

/** The string form of CID bytes as the contracts store them (or the hex when they are not a CID). */
export function cidToString(bytes: string): string {
  try {
    return CID.decode(getBytes(bytes)).toString();
  } catch {
    return `${bytes} (not a CID)`;
  }
}
