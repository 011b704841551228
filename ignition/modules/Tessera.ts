import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/** Deploys the token, both registries and the inference market, and lets the market slash. */
export default buildModule("Tessera", (m) => {
  const admin = m.getAccount(0);

  const tokenCap = m.getParameter("tokenCap", 1_000_000_000n * 10n ** 18n);
  const minStake = m.getParameter("minStake", 1_000n * 10n ** 18n);
  const unbondingDelay = m.getParameter("unbondingDelay", 7 * 24 * 3600);
  const treasury = m.getParameter("treasury", admin);
  const marketParams = m.getParameter("marketParams", {
    protocolFeeBps: 250,
    claimWindow: 60,
    maxRequestLifetime: 24 * 3600,
    refundGracePeriod: 6 * 3600,
    maxInlineInputBytes: 4096,
    callbackGasPriceWei: 2_000_000_000n,
    callbackGasPriceToken: 0n,
    lapseSlash: 10n * 10n ** 18n,
  });

  const token = m.contract("TesseraToken", [admin, tokenCap]);
  const workerRegistry = m.contract("WorkerRegistry", [admin, token, minStake, unbondingDelay]);
  const modelRegistry = m.contract("ModelRegistry", []);
  const inferenceMarket = m.contract("InferenceMarket", [
    admin,
    token,
    workerRegistry,
    modelRegistry,
    treasury,
    marketParams,
  ]);

  const slasherRole = m.staticCall(workerRegistry, "SLASHER_ROLE", []);
  m.call(workerRegistry, "grantRole", [slasherRole, inferenceMarket], { id: "GrantMarketSlasher" });

  return { token, workerRegistry, modelRegistry, inferenceMarket };
});
