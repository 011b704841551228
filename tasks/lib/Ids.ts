import { taskError } from "./TaskError.js";

/** A required positive integer id option (decimal, or 0x hex for request ids). */
export function parseId(value: string | undefined, option: string, options: { hex?: boolean } = {}): bigint {
  if (value === undefined || value.trim() === "") throw taskError(`${option} is required`);
  const v = value.trim();
  const pattern = options.hex ? /^(\d+|0x[0-9a-fA-F]{1,64})$/ : /^\d+$/;
  if (!pattern.test(v) || BigInt(v) === 0n) {
    throw taskError(`${option}: ${JSON.stringify(value)} is not an id (a positive ${options.hex ? "decimal or 0x hex " : ""}integer)`);
  }
  return BigInt(v);
}
