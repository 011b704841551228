import type { WorkerRegistry } from "../../typechain-types/index.js";
import { CAP_INFER, CAP_TRAIN, CAP_VALIDATE } from "../../worker/src/chain/Capabilities.js";

/** A registered worker as the WorkerRegistry records it. */
export interface OperatorView {
  readonly address: string;
  readonly stake: bigint;
  /** "train", "infer", "validate", from the capability bits. */
  readonly capabilities: readonly string[];
  readonly endpoint: string;
  /** Unix seconds of the unstake request, or 0. */
  readonly unstakeRequestedAt: number;
  /** Open obligations (claims, enrolments) that keep the stake locked. */
  readonly obligations: bigint;
  /** Versions it declares it serves (ServedModelsUpdated, replayed). */
  readonly servedVersions: readonly bigint[];
  /** Staked at least the minimum, not unstaking, with a capability: what the contracts take as able to work. */
  readonly eligible: boolean;
}

export function capabilityNames(bits: number): string[] {
  return [
    ...(bits & CAP_TRAIN ? ["train"] : []),
    ...(bits & CAP_INFER ? ["infer"] : []),
    ...(bits & CAP_VALIDATE ? ["validate"] : []),
  ];
}

/**
 * Every worker that registered since `fromBlock` (the deployment's start block), with its stake, capabilities,
 * endpoint, obligations and served versions, the largest stake first.
 */
export async function listOperators(registry: WorkerRegistry, fromBlock: number): Promise<OperatorView[]> {
  const [registered, served] = await Promise.all([
    registry.queryFilter(registry.filters.WorkerRegistered(), fromBlock),
    registry.queryFilter(registry.filters.ServedModelsUpdated(), fromBlock),
  ]);
  const addresses = [...new Set(registered.map((e) => e.args.worker))];
  const serving = new Map<string, Set<bigint>>();
  for (const e of served) {
    const set = serving.get(e.args.worker) ?? new Set<bigint>();
    for (const v of e.args.versionIds) {
      if (e.args.serving) set.add(v);
      else set.delete(v);
    }
    serving.set(e.args.worker, set);
  }
  const views = await Promise.all(
    addresses.map(async (address): Promise<OperatorView> => {
      const [info, obligations] = await Promise.all([registry.workerOf(address), registry.obligationsOf(address)]);
      const capabilities = Number(info.capabilities);
      return {
        address,
        stake: info.stake,
        capabilities: capabilityNames(capabilities),
        endpoint: info.endpoint,
        unstakeRequestedAt: Number(info.unstakeRequestedAt),
        obligations,
        servedVersions: [...(serving.get(address) ?? [])].sort((a, b) => (a < b ? -1 : 1)),
        eligible: info.registered && capabilities !== 0 && (await registry.isEligible(address, capabilities)),
      };
    }),
  );
  return views.filter((v) => v.stake > 0n || v.obligations > 0n).sort((a, b) => (a.stake > b.stake ? -1 : a.stake < b.stake ? 1 : 0));
}
