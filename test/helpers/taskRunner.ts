import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { TaskArguments } from "hardhat/types/tasks";

export interface TaskRun<T> {
  readonly result: T;
  /** What the task printed with console.log, one entry per line. */
  readonly output: string;
}

/** Runs a task as the CLI would (options resolved against their definitions) and captures its output. */
export async function runTask<T = unknown>(hre: HardhatRuntimeEnvironment, id: string[], args: TaskArguments = {}): Promise<TaskRun<T>> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...parts: unknown[]) => void lines.push(parts.map(String).join(" "));
  try {
    const result = (await hre.tasks.getTask(id).run(args)) as T;
    return { result, output: lines.join("\n") };
  } finally {
    console.log = original;
  }
}

/** Runs a task that must fail; returns the error's message. */
export async function taskFailure(hre: HardhatRuntimeEnvironment, id: string[], args: TaskArguments = {}): Promise<Error> {
  try {
    await runTask(hre, id, args);
  } catch (err) {
    return err as Error;
  }
  throw new Error(`task ${id.join(" ")} did not fail`);
}
