import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/**
 * Deploys the token, the worker and model registries, the inference market and the shard registry; lets the market
 * slash and receive version terms, and the shard registry bind hosts' stakes.
 */
export default buildModule("Tessera", (m) => {
  const admin = m.getAccount(0);

  const tokenCap = m.getParameter("tokenCap", 1_000_000_000n * 10n ** 18n);
  const minStake = m.getParameter("minStake", 1_000n * 10n ** 18n);
  const unbondingDelay = m.getParameter("unbondingDelay", 7 * 24 * 3600);
  const treasury = m.getParameter("treasury", admin);
  // How long a withdrawn shard host's signatures still count and its stake stays bound: the longest request lifetime
  // plus the refund grace period (the defaults below), so every request it took part in can still be fulfilled.
  const shardReleaseDelay = m.getParameter("shardReleaseDelay", 30 * 3600);
  const claimWindow = m.getParameter("claimWindow", 60);
  const marketParams = m.getParameter("marketParams", {
    protocolFeeBps: 250,
    maxRequestLifetime: 24 * 3600,
    refundGracePeriod: 6 * 3600,
    maxInlineInputBytes: 4096,
    callbackGasPriceWei: 2_000_000_000n,
    callbackGasPriceToken: 0n,
    lapseSlash: 10n * 10n ** 18n,
  });

  const token = m.contract("TesseraToken", [admin, tokenCap]);
  const workerRegistry = m.contract("WorkerRegistry", [admin, token, minStake, unbondingDelay]);
  const modelRegistry = m.contract("ModelRegistry", [admin]);
  const inferenceMarket = m.contract("InferenceMarket", [
    admin,
    token,
    workerRegistry,
    modelRegistry,
    treasury,
    claimWindow,
    marketParams,
  ]);
  // The registry pushes every version's terms to the market; it must know the market before the first version.
  m.call(modelRegistry, "setInferenceMarket", [inferenceMarket], { id: "SetInferenceMarket" });

  const slasherRole = m.staticCall(workerRegistry, "SLASHER_ROLE", []);
  m.call(workerRegistry, "grantRole", [slasherRole, inferenceMarket], { id: "GrantMarketSlasher" });

  const shardRegistry = m.contract("ShardRegistry", [workerRegistry, modelRegistry, shardReleaseDelay]);
  m.call(inferenceMarket, "setShardRegistry", [shardRegistry], { id: "SetShardRegistry" });
  const lockerRole = m.staticCall(workerRegistry, "STAKE_LOCKER_ROLE", [], 0, { id: "ShardStakeLockerRole" });
  m.call(workerRegistry, "grantRole", [lockerRole, shardRegistry], { id: "GrantShardRegistryStakeLocker" });

  return { token, workerRegistry, modelRegistry, inferenceMarket, shardRegistry };
});
