import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { TaskDefinitionType, type TaskArguments, type TaskDefinition } from "hardhat/types/tasks";
import { withBuildLock } from "../../scripts/lib/BuildLock.js";

type ActionModule = { default: (args: TaskArguments, hre: HardhatRuntimeEnvironment) => unknown };

/** One build per process (tests and scripts run many tasks in one). */
const builds = new WeakMap<HardhatRuntimeEnvironment, Promise<unknown>>();

function buildOnce(hre: HardhatRuntimeEnvironment): Promise<unknown> {
  let build = builds.get(hre);
  if (build === undefined) {
    // Under the project's build lock: a worker or another task building at the same time would race on the cache.
    build = withBuildLock(hre.config.paths.cache, () => hre.tasks.getTask("build").run({ quiet: true, noTests: true }));
    builds.set(hre, build);
  }
  return build;
}

/**
 * The task with its action module loaded only after `hardhat build`: the actions import the typechain
 * output, which exists only once the contracts are compiled, so on a fresh clone every task would
 * otherwise fail with HHE411 ("Unable to import the action"). The build is incremental: after the
 * first one it only checks the cache, once per process.
 */
export function buildingFirst(definition: TaskDefinition): TaskDefinition {
  if (definition.type !== TaskDefinitionType.NEW_TASK || definition.action === undefined) return definition;
  const load = definition.action as () => Promise<ActionModule>;
  return {
    ...definition,
    action: async () => ({
      default: async (args: TaskArguments, hre: HardhatRuntimeEnvironment) => {
        await buildOnce(hre);
        const action = await load();
        return action.default(args, hre);
      },
    }),
  };
}
