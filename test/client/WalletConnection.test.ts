import { expect } from "chai";
import { parseAppConfig } from "../../client/src/AppConfig.js";
import { discoverWallets, type Eip1193Provider } from "../../client/src/WalletDiscovery.js";
import { switchWalletChain } from "../../client/src/WalletNetwork.js";

const DEPLOYMENT = {
  chainId: 31337,
  startBlock: 0,
  contracts: {
    TesseraToken: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512",
    WorkerRegistry: "0xcf7ed3acca5a467e9e704c703e8d87f634fb0fc9",
    ModelRegistry: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
    InferenceMarket: "0xdc64a140aa3e981100a9beca4e685f962f0cf6c9",
  },
};

/** A wallet that records what it was asked and answers from a script. */
function scriptedWallet(answer: (method: string, params: unknown) => unknown): Eip1193Provider & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async request({ method, params }) {
      calls.push(method);
      return answer(method, params);
    },
  };
}

describe("client: finding, connecting and switching wallets", () => {
  it("EIP-6963: every wallet that announces itself once, in order; a lone window.ethereum too; malformed announcements ignored", async () => {
    const page = new EventTarget() as EventTarget & { ethereum?: Eip1193Provider };
    const a = scriptedWallet(() => null);
    const b = scriptedWallet(() => null);
    const announce = (uuid: string, name: string, provider: Eip1193Provider) =>
      page.dispatchEvent(Object.assign(new Event("eip6963:announceProvider"), { detail: { info: { uuid, name, icon: "", rdns: `org.${name}` }, provider } }));
    page.addEventListener("eip6963:requestProvider", () => {
      announce("1", "Alpha", a);
      announce("1", "Alpha again", a);
      page.dispatchEvent(Object.assign(new Event("eip6963:announceProvider"), { detail: { info: { name: "no uuid" }, provider: b } }));
      setTimeout(() => announce("2", "Beta", b), 10);
    });
    page.ethereum = a;
    expect((await discoverWallets(page, 50)).map((w) => w.info.name)).to.deep.equal(["Alpha", "Beta"]);
    const legacyOnly = new EventTarget() as EventTarget & { ethereum?: Eip1193Provider };
    legacyOnly.ethereum = b;
    expect((await discoverWallets(legacyOnly, 10)).map((w) => w.info.name)).to.deep.equal(["Browser wallet"]);
    expect(await discoverWallets(new EventTarget(), 10)).to.deep.equal([]);
  });

  it("switching: a known chain is switched to; an unknown one (4902) is added first; a refusal is the caller's to show", async () => {
    let chain = 1;
    const known = scriptedWallet((method, params) => {
      if (method === "wallet_switchEthereumChain") chain = Number(BigInt((params as [{ chainId: string }])[0].chainId));
      return method === "eth_chainId" ? `0x${chain.toString(16)}` : null;
    });
    expect(await switchWalletChain(known, { chainId: 31337, name: "Local", rpcUrls: ["http://127.0.0.1:5173/rpc"] })).to.equal(31337);
    expect(known.calls).to.deep.equal(["wallet_switchEthereumChain", "eth_chainId"]);

    chain = 1;
    const added: unknown[] = [];
    const unknown = scriptedWallet((method, params) => {
      if (method === "wallet_switchEthereumChain") throw Object.assign(new Error("Unrecognized chain ID"), { code: 4902 });
      if (method === "wallet_addEthereumChain") {
        added.push(params);
        chain = 31337;
      }
      return method === "eth_chainId" ? `0x${chain.toString(16)}` : null;
    });
    expect(await switchWalletChain(unknown, { chainId: 31337, name: "Local", rpcUrls: ["http://127.0.0.1:5173/rpc"] })).to.equal(31337);
    expect(added).to.deep.equal([[{ chainId: "0x7a69", chainName: "Local", rpcUrls: ["http://127.0.0.1:5173/rpc"], nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 } }]]);

    const refusing = scriptedWallet(() => {
      throw Object.assign(new Error("User rejected the request."), { code: 4001 });
    });
    let thrown: unknown;
    await switchWalletChain(refusing, { chainId: 31337, name: "Local", rpcUrls: [] }).catch((err: unknown) => (thrown = err));
    expect((thrown as { code: number }).code).to.equal(4001);
    expect(refusing.calls).to.deep.equal(["wallet_switchEthereumChain"]);
  });

  it("the app config: the deployment checked, relative URLs resolved against the page; a bad one named", () => {
    const config = parseAppConfig({ deployment: DEPLOYMENT, chainName: "Local", rpcUrl: "/rpc", gateway: "/" }, "http://127.0.0.1:5173/#/models");
    expect(config.rpcUrl).to.equal("http://127.0.0.1:5173/rpc");
    expect(config.gateway).to.equal("http://127.0.0.1:5173");
    expect(config.deployment.contracts.InferenceMarket).to.equal("0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9");
    expect(() => parseAppConfig({ deployment: DEPLOYMENT, chainName: "", rpcUrl: "/rpc", gateway: "/" }, "http://x/")).to.throw(/invalid app config.*chainName/s);
    expect(() => parseAppConfig({ deployment: { ...DEPLOYMENT, chainId: -1 }, chainName: "L", rpcUrl: "/rpc", gateway: "/" }, "http://x/")).to.throw(/app config's deployment/);
  });
});
