/**
 * Blocks to stay behind the head (and to wait for on the worker's own transactions) when
 * CONFIRMATIONS is not set, by chain id. docs/operating.md explains each figure. 0 only for the
 * embedded chain (31337: EDR in-process, which never reorganises; a reorging local node such as
 * Anvil under fault tests needs CONFIRMATIONS set).
 */
const BY_CHAIN: Readonly<Record<number, number>> = {
  31337: 0, // embedded EDR / local dev node
  1: 12, // Ethereum mainnet: reorgs deeper than 2 blocks have not happened since the merge; 12 is the usual margin below finality (~64)
  11155111: 6, // Sepolia
  17000: 6, // Holesky
  560048: 6, // Hoodi
  10: 10, // OP Mainnet: the sequencer's unsafe head can be reorged if its batch fails to post
  8453: 10, // Base (OP Stack)
  11155420: 10, // OP Sepolia
  84532: 10, // Base Sepolia
  42161: 10, // Arbitrum One
  421614: 10, // Arbitrum Sepolia
  137: 32, // Polygon PoS: historically reorgs of tens of blocks
};

/** For chains not listed: as for Ethereum mainnet. */
export const UNKNOWN_CHAIN_CONFIRMATIONS = 12;

export function defaultConfirmations(chainId: number): number {
  return BY_CHAIN[chainId] ?? UNKNOWN_CHAIN_CONFIRMATIONS;
}
