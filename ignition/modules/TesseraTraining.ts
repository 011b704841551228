import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import TesseraDataModule from "./TesseraData.js";

/**
 * Deploys TrainingJobs (linked to its round-protocol library TrainingRounds) on top of TesseraData; lets it slash
 * lapsing and dissenting workers (to the treasury), bond their stakes while they train, and pay dataset royalties.
 */
export default buildModule("TesseraTraining", (m) => {
  const { token, workerRegistry, modelRegistry, inferenceMarket, shardRegistry, dataRegistry } = m.useModule(TesseraDataModule);
  const admin = m.getAccount(0);

  // One treasury for the protocol: the market's (TesseraData's `treasury` parameter) receives the training slashes too.
  const treasury = m.staticCall(inferenceMarket, "treasury", [], 0, { id: "ProtocolTreasury" });
  const lapseSlash = m.getParameter("lapseSlash", 10n * 10n ** 18n);
  // Least pay per worker per round a job must offer: 1 TSR, a tenth of the lapse slash a worker risks for it.
  const minUpdatePay = m.getParameter("minUpdatePay", 10n ** 18n);

  const trainingRounds = m.library("TrainingRounds");
  const trainingJobs = m.contract(
    "TrainingJobs",
    [admin, token, workerRegistry, dataRegistry, modelRegistry, { treasury, lapseSlash, minUpdatePay }],
    { libraries: { TrainingRounds: trainingRounds } }
  );

  const slasherRole = m.staticCall(workerRegistry, "SLASHER_ROLE", [], 0, { id: "TrainingSlasherRole" });
  m.call(workerRegistry, "grantRole", [slasherRole, trainingJobs], { id: "GrantTrainingJobsSlasher" });
  const lockerRole = m.staticCall(workerRegistry, "STAKE_LOCKER_ROLE", [], 0, { id: "TrainingStakeLockerRole" });
  m.call(workerRegistry, "grantRole", [lockerRole, trainingJobs], { id: "GrantTrainingJobsStakeLocker" });
  const royaltyPayerRole = m.staticCall(dataRegistry, "ROYALTY_PAYER_ROLE", [], 0, { id: "RoyaltyPayerRole" });
  m.call(dataRegistry, "grantRole", [royaltyPayerRole, trainingJobs], { id: "GrantTrainingJobsRoyaltyPayer" });

  return { token, workerRegistry, modelRegistry, inferenceMarket, shardRegistry, dataRegistry, trainingJobs, trainingRounds };
});
