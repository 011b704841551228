/** "0x1234…abcd": an address short enough for a table cell or a header, the whole of it in a title beside it. */
export const shortAddress = (address: string): string => `${address.slice(0, 6)}…${address.slice(-4)}`;
