import type { Provider } from "ethers";
import type { Deployment } from "../Deployment.js";
import { TesseraError } from "../errors.js";

/**
 * Refuses to start against a chain where the deployment's contracts are not: every address must
 * hold code. A node restarted without its state, or the wrong TESSERA_DEPLOYMENT, would otherwise
 * leave the worker polling empty addresses forever.
 */
export async function checkDeploymentCode(provider: Provider, deployment: Deployment): Promise<void> {
  const entries = Object.entries(deployment.contracts).filter((e): e is [string, string] => e[1] !== undefined);
  const codes = await Promise.all(entries.map(([, address]) => provider.getCode(address)));
  const missing = entries.filter((_, i) => codes[i] === "0x");
  if (missing.length === 0) return;
  throw new TesseraError(
    `no contract code on chain ${deployment.chainId} at ${missing.map(([name, address]) => `${name} ${address}`).join(", ")}: ` +
      "TESSERA_DEPLOYMENT names another chain's deployment, or the node was restarted without its state " +
      "(redeploy with `npx hardhat tessera deploy --reset` and point TESSERA_DEPLOYMENT at the new file)",
    { code: "DEPLOYMENT_NO_CODE" },
  );
}
