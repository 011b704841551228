import { getBytes } from "ethers";
import { CID } from "multiformats/cid";

/** The string form of CID bytes as the contracts store them; throws on bytes that are not a CID. */
export function cidOfBytes(bytes: string): string {
  return CID.decode(getBytes(bytes)).toString();
}

/** The string form of CID bytes as the contracts store them (or the hex when they are not a CID): for display. */
export function cidToString(bytes: string): string {
  try {
    return cidOfBytes(bytes);
  } catch {
    return `${bytes} (not a CID)`;
  }
}
