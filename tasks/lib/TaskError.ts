import { HardhatPluginError } from "hardhat/plugins";

export const PLUGIN_ID = "tessera";

/**
 * The error every Tessera task throws for bad input or a refused transaction. Hardhat's CLI prints
 * a HardhatPluginError as one line (`Error in community plugin tessera: …`) without a stack trace;
 * `--show-stack-traces` shows the cause.
 */
export function taskError(message: string, cause?: unknown): HardhatPluginError {
  return new HardhatPluginError(PLUGIN_ID, message, cause instanceof Error ? cause : undefined);
}
