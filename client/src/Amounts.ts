import { formatEther } from "ethers";

export type Currency = "eth" | "tsr";

export const formatEth = (wei: bigint): string => `${formatEther(wei)} ETH`;
/** TesseraToken has 18 decimals. */
export const formatTsr = (amount: bigint): string => `${formatEther(amount)} TSR`;
export const formatAmount = (amount: bigint, currency: Currency): string => (currency === "eth" ? formatEth(amount) : formatTsr(amount));
