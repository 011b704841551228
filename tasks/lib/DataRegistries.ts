import { DataRegistry__factory, type DataRegistry } from "../../typechain-types/index.js";
import type { Session } from "./Session.js";
import { taskError } from "./TaskError.js";

/** The session's DataRegistry (read-only), or a task error when the deployment has none. */
export async function dataRegistryOf(session: Session): Promise<DataRegistry> {
  const address = session.deployment.contracts.DataRegistry;
  if (address === undefined) {
    throw taskError(`the deployment file ${session.deploymentPath} has no DataRegistry; deploy the data module with \`npx hardhat tessera deploy\``);
  }
  if ((await session.ethers.provider.getCode(address)) === "0x") {
    throw taskError(`no contract at DataRegistry ${address} on network "${session.connection.networkName}"`);
  }
  return DataRegistry__factory.connect(address, session.ethers.provider);
}
