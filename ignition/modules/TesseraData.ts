import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import TesseraModule from "./Tessera.js";

/** Deploys the DataRegistry on top of the Tessera core and lets it slash dissenting validators (into its reward pool). */
export default buildModule("TesseraData", (m) => {
  const { token, workerRegistry, modelRegistry, inferenceMarket, shardRegistry } = m.useModule(TesseraModule);
  const admin = m.getAccount(0);

  const dataParams = m.getParameter("dataParams", {
    bond: 10n * 10n ** 18n,
    acceptReward: 50n * 10n ** 18n,
    validatorReward: 5n * 10n ** 18n,
    dissentSlash: 10n * 10n ** 18n,
    votingPeriod: 24 * 3600,
    // Committee seats that must vote: a majority of the expected committee.
    quorum: 8,
    // Expected committee seats of the sortition. With at most 15 equally staked validators every one is drawn
    // (stake * 15 >= total stake), so the demo's 3 validators always form the whole committee.
    committeeSize: 15,
    // 20 % of the acceptance reward at acceptance, the rest when a training job first pays royalties for the data.
    upfrontRewardBps: 2_000,
  });

  const dataRegistry = m.contract("DataRegistry", [admin, token, workerRegistry, dataParams]);

  const slasherRole = m.staticCall(workerRegistry, "SLASHER_ROLE", [], 0, { id: "DataSlasherRole" });
  m.call(workerRegistry, "grantRole", [slasherRole, dataRegistry], { id: "GrantDataRegistrySlasher" });

  return { token, workerRegistry, modelRegistry, inferenceMarket, shardRegistry, dataRegistry };
});
