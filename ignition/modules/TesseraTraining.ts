import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import TesseraDataModule from "./TesseraData.js";

/** Deploys TrainingJobs on top of TesseraData; lets it slash lapsing workers and pay dataset royalties. */
export default buildModule("TesseraTraining", (m) => {
  const { token, workerRegistry, modelRegistry, inferenceMarket, dataRegistry } = m.useModule(TesseraDataModule);
  const admin = m.getAccount(0);

  const lapseSlash = m.getParameter("lapseSlash", 10n * 10n ** 18n);

  const trainingJobs = m.contract("TrainingJobs", [
    admin,
    token,
    workerRegistry,
    dataRegistry,
    modelRegistry,
    lapseSlash,
  ]);

  const slasherRole = m.staticCall(workerRegistry, "SLASHER_ROLE", [], 0, { id: "TrainingSlasherRole" });
  m.call(workerRegistry, "grantRole", [slasherRole, trainingJobs], { id: "GrantTrainingJobsSlasher" });
  const royaltyPayerRole = m.staticCall(dataRegistry, "ROYALTY_PAYER_ROLE", [], 0, { id: "RoyaltyPayerRole" });
  m.call(dataRegistry, "grantRole", [royaltyPayerRole, trainingJobs], { id: "GrantTrainingJobsRoyaltyPayer" });

  return { token, workerRegistry, modelRegistry, inferenceMarket, dataRegistry, trainingJobs };
});
