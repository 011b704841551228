import { ZeroAddress, type Provider } from "ethers";
import { InferenceMarket__factory, ModelRegistry__factory, WorkerRegistry__factory } from "../../../typechain-types/index.js";
import { CAP_INFER, CAP_TRAIN, CAP_VALIDATE } from "../chain/Capabilities.js";
import type { Deployment } from "../Deployment.js";
import type { Service } from "../lifecycle/Service.js";
import { silentLogger, type Logger } from "../logger.js";

export type ChainRole = "processor" | "validator" | "trainer" | "evaluator";

export interface RoleReadiness {
  readonly role: ChainRole;
  /** True when the chain lets this key do the role's work. */
  readonly ok: boolean;
  readonly problems: readonly string[];
}

/** What the chain says about this worker's key, refreshed every `refreshMs`. */
export interface ReadinessReport {
  readonly checkedAt: string;
  readonly worker: string;
  readonly registered: boolean;
  readonly stake: string;
  readonly minStake: string;
  readonly unstaking: boolean;
  readonly capabilities: number;
  /** Model versions this key serves and is eligible for (the processor role). */
  readonly servedVersions: readonly string[];
  readonly roles: readonly RoleReadiness[];
  /** Every role this process runs can be served. */
  readonly ok: boolean;
  /** Credits not yet withdrawn from the market, in wei: ETH and TSR. */
  readonly earnings: { readonly eth: string; readonly token: string };
  /** Times this key's claim lapsed (it was slashed and replaced), since the deployment. */
  readonly lapses: number;
}

export interface WorkerReadinessOptions {
  readonly provider: Provider;
  readonly deployment: Deployment;
  readonly worker: string;
  /** The roles of this process that need the chain's consent. */
  readonly roles: readonly ChainRole[];
  /** Most blocks per `eth_getLogs` when following served versions and lapses. */
  readonly blockRange: number;
  /** Default 30 s; 0 checks only at start. */
  readonly refreshMs?: number;
  readonly logger?: Logger;
}

/** Most versions asked about directly (the newest) when the events since startBlock name none this key serves. */
export const SERVED_PROBE_VERSIONS = 256;

const CAPABILITY: Record<ChainRole, { bit: number; name: string }> = {
  processor: { bit: CAP_INFER, name: "CAP_INFER" },
  validator: { bit: CAP_VALIDATE, name: "CAP_VALIDATE" },
  evaluator: { bit: CAP_VALIDATE, name: "CAP_VALIDATE" },
  trainer: { bit: CAP_TRAIN, name: "CAP_TRAIN" },
};

/**
 * Checks at start — and then every `refreshMs` — that this key can do what its roles need:
 * registered, staked at least the minimum, not unstaking, the capability of each role, and for the
 * processor at least one served model version it is eligible for. Each role that cannot be served
 * is logged as a warning once per change (a worker that cannot serve would otherwise skip every
 * request as `not-served`, visible only in Redis); the report feeds /healthz and /metrics.
 */
export class WorkerReadiness implements Service {
  readonly name = "readiness";
  readonly #o: WorkerReadinessOptions;
  readonly #logger: Logger;
  readonly #served = new Set<bigint>();
  #lapses = 0;
  #scannedTo: number;
  #report: ReadinessReport | undefined;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #lastLogged = "";
  /** The registry was asked about the served versions (once, at the first refresh). */
  #probed = false;

  constructor(options: WorkerReadinessOptions) {
    this.#o = options;
    this.#logger = (options.logger ?? silentLogger).child({ service: "readiness" });
    this.#scannedTo = options.deployment.startBlock - 1;
  }

  get report(): ReadinessReport | undefined {
    return this.#report;
  }

  async start(): Promise<void> {
    await this.refresh();
    const every = this.#o.refreshMs ?? 30_000;
    if (every > 0) {
      const tick = () => {
        this.#timer = setTimeout(() => {
          this.refresh()
            .catch((err: unknown) => this.#logger.warn({ err }, "readiness check failed; retrying"))
            .finally(() => {
              if (this.#timer !== undefined) tick();
            });
        }, every);
        this.#timer.unref();
      };
      tick();
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#refreshing?.catch(() => undefined);
  }

  /** Reads the chain again (one refresh at a time). */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const { provider, deployment, worker, roles } = this.#o;
    const registry = WorkerRegistry__factory.connect(deployment.contracts.WorkerRegistry, provider);
    const market = InferenceMarket__factory.connect(deployment.contracts.InferenceMarket, provider);
    await this.#followEvents(registry, market);
    // Declared before startBlock (a deployment file that starts later than the key's registration): ask the registry.
    if (!this.#probed && this.#served.size === 0 && roles.includes("processor")) await this.#probeServed(registry);
    this.#probed = true; // once: later changes come as events
    const [info, minStake, ethCredit, tokenCredit] = await Promise.all([
      registry.workerOf(worker),
      registry.minStake(),
      market.creditOf(worker, ZeroAddress),
      market.creditOf(worker, deployment.contracts.TesseraToken),
    ]);
    const served = [...this.#served].sort((a, b) => (a < b ? -1 : 1));
    const eligibleVersions = (await Promise.all(served.map((v) => registry.isEligibleInferrer(worker, v)))).map((ok, i) => (ok ? served[i] : undefined));
    const servedVersions = eligibleVersions.filter((v): v is bigint => v !== undefined).map(String);
    const unstaking = info.unstakeRequestedAt !== 0n;

    const roleReports = roles.map((role): RoleReadiness => {
      const problems: string[] = [];
      if (!info.registered) problems.push("not registered in the WorkerRegistry (`npx hardhat worker register`)");
      else {
        if (info.stake < minStake) problems.push(`stake ${info.stake} is below the minimum ${minStake}`);
        if (unstaking) problems.push("unstaking: no longer eligible");
        const cap = CAPABILITY[role];
        if ((Number(info.capabilities) & cap.bit) === 0) problems.push(`missing capability ${cap.name}`);
        if (role === "processor" && servedVersions.length === 0) {
          problems.push(
            served.length === 0
              ? "serves no model version (`worker register --serve <ids>`)"
              : `not eligible for any served version (${served.join(", ")})`,
          );
        }
      }
      return { role, ok: problems.length === 0, problems };
    });

    this.#report = {
      checkedAt: new Date().toISOString(),
      worker,
      registered: info.registered,
      stake: info.stake.toString(),
      minStake: minStake.toString(),
      unstaking,
      capabilities: Number(info.capabilities),
      servedVersions,
      roles: roleReports,
      ok: roleReports.every((r) => r.ok),
      earnings: { eth: ethCredit.toString(), token: tokenCredit.toString() },
      lapses: this.#lapses,
    };
    this.#logChanges(roleReports);
  }

  /** Asks the WorkerRegistry whether this key serves each of the newest SERVED_PROBE_VERSIONS versions. */
  async #probeServed(registry: ReturnType<typeof WorkerRegistry__factory.connect>): Promise<void> {
    const models = ModelRegistry__factory.connect(this.#o.deployment.contracts.ModelRegistry, this.#o.provider);
    const count = await models.versionCount();
    const ids: bigint[] = [];
    for (let v = count; v >= 1n && ids.length < SERVED_PROBE_VERSIONS; v--) ids.push(v);
    const serves = await Promise.all(ids.map((v) => registry.serves(this.#o.worker, v)));
    ids.forEach((v, i) => {
      if (serves[i]) this.#served.add(v);
    });
  }

  /** Folds ServedModelsUpdated of this key and counts its ClaimLapsed, from where the last refresh stopped. */
  async #followEvents(registry: ReturnType<typeof WorkerRegistry__factory.connect>, market: ReturnType<typeof InferenceMarket__factory.connect>): Promise<void> {
    const head = await this.#o.provider.getBlockNumber();
    const worker = this.#o.worker;
    while (this.#scannedTo < head) {
      const from = this.#scannedTo + 1;
      const to = Math.min(head, from + this.#o.blockRange - 1);
      const [served, lapsed] = await Promise.all([
        registry.queryFilter(registry.filters.ServedModelsUpdated(worker), from, to),
        market.queryFilter(market.filters.ClaimLapsed(undefined, worker), from, to),
      ]);
      for (const e of served) {
        for (const id of e.args.versionIds) {
          if (e.args.serving) this.#served.add(id);
          else this.#served.delete(id);
        }
      }
      this.#lapses += lapsed.length;
      this.#scannedTo = to;
    }
  }

  #logChanges(roles: readonly RoleReadiness[]): void {
    const key = JSON.stringify(roles);
    if (key === this.#lastLogged) return;
    this.#lastLogged = key;
    for (const r of roles) {
      if (r.ok) this.#logger.info({ role: r.role, worker: this.#o.worker }, "role can be served");
      else this.#logger.warn({ role: r.role, worker: this.#o.worker, problems: r.problems }, `this key cannot serve the ${r.role} role: ${r.problems.join("; ")}`);
    }
  }
}
