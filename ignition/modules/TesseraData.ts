import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import TesseraModule from "./Tessera.js";

/** Deploys the DataRegistry on top of the Tessera core and lets it slash dissenting validators. */
export default buildModule("TesseraData", (m) => {
  const { token, workerRegistry, modelRegistry, inferenceMarket } = m.useModule(TesseraModule);
  const admin = m.getAccount(0);

  const dataParams = m.getParameter("dataParams", {
    bond: 10n * 10n ** 18n,
    acceptReward: 50n * 10n ** 18n,
    validatorReward: 5n * 10n ** 18n,
    dissentSlash: 10n * 10n ** 18n,
    votingPeriod: 24 * 3600,
    quorum: 2,
    validatorsPerDataset: 3,
  });

  const dataRegistry = m.contract("DataRegistry", [admin, token, workerRegistry, dataParams]);

  const slasherRole = m.staticCall(workerRegistry, "SLASHER_ROLE", [], 0, { id: "DataSlasherRole" });
  m.call(workerRegistry, "grantRole", [slasherRole, dataRegistry], { id: "GrantDataRegistrySlasher" });

  return { token, workerRegistry, modelRegistry, inferenceMarket, dataRegistry };
});
