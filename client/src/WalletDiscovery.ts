/** An EIP-1193 provider: what every browser wallet injects. */
export interface Eip1193Provider {
  request(args: { method: string; params?: readonly unknown[] | object }): Promise<unknown>;
  on?(event: string, listener: (...args: unknown[]) => void): void;
  removeListener?(event: string, listener: (...args: unknown[]) => void): void;
}

/** What an EIP-6963 wallet announces about itself. */
export interface WalletInfo {
  readonly uuid: string;
  readonly name: string;
  /** A data URI (RFC 2397) of the wallet's icon. */
  readonly icon: string;
  /** Reverse-DNS id, e.g. `io.metamask`. */
  readonly rdns: string;
}

export interface DiscoveredWallet {
  readonly info: WalletInfo;
  readonly provider: Eip1193Provider;
}

interface AnnounceEvent extends Event {
  readonly detail?: { readonly info?: Partial<WalletInfo>; readonly provider?: Eip1193Provider };
}

/**
 * The wallets in this page (EIP-6963: each answers `eip6963:requestProvider` with an `eip6963:announceProvider`
 * event), one per uuid, in the order they answered. A lone legacy `window.ethereum` that announces nothing is
 * returned as "Browser wallet". Wallets answer synchronously or soon after; `waitMs` bounds the wait.
 */
export async function discoverWallets(target: EventTarget & { ethereum?: Eip1193Provider }, waitMs = 200): Promise<DiscoveredWallet[]> {
  const found = new Map<string, DiscoveredWallet>();
  const onAnnounce = (event: Event) => {
    const detail = (event as AnnounceEvent).detail;
    const info = detail?.info;
    if (detail?.provider === undefined || typeof info?.uuid !== "string" || typeof info.name !== "string") return;
    if (found.has(info.uuid)) return;
    found.set(info.uuid, { info: { uuid: info.uuid, name: info.name, icon: info.icon ?? "", rdns: info.rdns ?? "" }, provider: detail.provider });
  };
  target.addEventListener("eip6963:announceProvider", onAnnounce);
  try {
    target.dispatchEvent(new Event("eip6963:requestProvider"));
    await new Promise((r) => setTimeout(r, waitMs));
  } finally {
    target.removeEventListener("eip6963:announceProvider", onAnnounce);
  }
  const wallets = [...found.values()];
  const legacy = target.ethereum;
  if (legacy !== undefined && !wallets.some((w) => w.provider === legacy)) {
    wallets.push({ info: { uuid: "legacy-window-ethereum", name: "Browser wallet", icon: "", rdns: "" }, provider: legacy });
  }
  return wallets;
}
