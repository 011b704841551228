import type { DataStageResult } from "./DataStage.js";
import { runDataStage } from "./DataStage.js";
import type { EmbeddedStack } from "./EmbeddedStack.js";
import type { Report } from "./Report.js";
import type { SeedTask } from "./seedTasks/SeedTask.js";
import { runTrainingStage, type TrainingStageResult } from "./TrainingStage.js";

/**
 * A seed task's data and training stages on one stack: its contributions validated, then a federated job of three
 * worker processes (users 6-8) over the accepted ones, requested by the model owner, nobody killed. Throws with the
 * report's lines when a stage fails or one of its checks does not hold.
 */
export async function runSeedTaskStages(stack: EmbeddedStack, rpcUrl: string, task: SeedTask, report: Report, timeoutMs = 300_000): Promise<{ data: DataStageResult; fed: TrainingStageResult }> {
  const fail = (err: unknown): never => {
    throw new Error(`${task.name}: ${(err as Error).message}\n${report.lines.join("\n")}`);
  };
  const data = await runDataStage(stack, report, { task }).catch(fail);
  const fed = await runTrainingStage(stack, {
    rpcUrl,
    accepted: data.accepted,
    validators: data.validators,
    trainers: stack.signers.users.slice(6, 9),
    requester: stack.signers.modelOwner,
    task,
    killRound: 0,
    timeoutMs,
    report,
  }).catch(fail);
  const failed = report.checks.filter((c) => !c.ok).map((c) => c.what);
  if (failed.length > 0) fail(new Error(`checks failed: ${failed.join("; ")}`));
  return { data, fed };
}
