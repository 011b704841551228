import type { AggregationRule, ClientUpdate } from "./FedAvgAggregator.js";
import { screenUpdates } from "./UpdateScreening.js";

/**
 * Model-poisoning adversaries for the federated simulation (FederatedSimulation.ts) and the
 * poisoning benchmark: what a coalition of workers in a job could send instead of honest updates.
 * Nothing here runs in a worker daemon.
 */

/** What a coalition sees in a round: full knowledge (Fang et al. 2020), the strongest adversary. */
export interface AttackContext {
  round: number;
  /** The global model every client started the round from. */
  global: Float32Array;
  /** The honest clients' updates of this round, in key order. */
  honest: readonly ClientUpdate[];
  /** The keys and sample counts the coalition's clients report, in key order. */
  attackers: ReadonlyArray<{ key: string; samples: number }>;
  /** The rule the job aggregates with. */
  rule: AggregationRule;
}

/** Crafts one update per attacker (same order as `context.attackers`). */
export type Attack = (context: AttackContext) => Float32Array[];

/**
 * The sign-flipped, scaled update: global − scale · (mean honest delta). It undoes the honest
 * clients' progress `scale` times over; with scale ≥ K it turns FedAvg's step around.
 */
export function signFlipAttack(scale: number): Attack {
  return ({ global, honest, attackers }) => {
    const mean = meanDelta(global, honest);
    const crafted = new Float32Array(global.length);
    for (let i = 0; i < crafted.length; i++) crafted[i] = global[i] - scale * mean[i];
    return attackers.map(() => crafted);
  };
}

/**
 * An adversary that knows the screen and its thresholds and stays just inside them: every
 * attacker sends global + (1 − λ) · (mean honest delta), with the largest λ in [0, maxLambda]
 * (found by bisection, running the job's own screen on the honest updates plus the coalition's)
 * that none of the coalition's updates is excluded. λ = 1 is a free-rider (the global model sent
 * back), λ = 2 the unscaled sign flip. Against a rule without a screen it sends λ = maxLambda.
 */
export function stealthyAttack(maxLambda = 11, steps = 12): Attack {
  return ({ global, honest, attackers, rule }) => {
    const mean = meanDelta(global, honest);
    const craft = (lambda: number) => {
      const crafted = new Float32Array(global.length);
      for (let i = 0; i < crafted.length; i++) crafted[i] = global[i] + (1 - lambda) * mean[i];
      return crafted;
    };
    if (rule.kind !== "screened-fedavg") return attackers.map(() => craft(maxLambda));
    const passes = (lambda: number) => {
      const crafted = craft(lambda);
      const all = [
        ...honest,
        ...attackers.map(({ key, samples }) => ({
          key,
          samples,
          weights: crafted,
        })),
      ].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      const excluded = new Set(screenUpdates(all, global, rule.screening).excluded.map((u) => u.key));
      return attackers.every(({ key }) => !excluded.has(key));
    };
    if (passes(maxLambda)) return attackers.map(() => craft(maxLambda));
    let low = 0;
    let high = maxLambda;
    for (let step = 0; step < steps; step++) {
      const middle = (low + high) / 2;
      if (passes(middle)) low = middle;
      else high = middle;
    }
    const crafted = craft(low);
    return attackers.map(() => crafted);
  };
}

/** The mean of the honest deltas (unweighted: the coalition only needs a direction and a size). */
function meanDelta(global: Float32Array, honest: readonly ClientUpdate[]): Float64Array {
  const mean = new Float64Array(global.length);
  for (const { weights } of honest) for (let i = 0; i < mean.length; i++) mean[i] += weights[i] - global[i];
  for (let i = 0; i < mean.length; i++) mean[i] /= Math.max(honest.length, 1);
  return mean;
}
