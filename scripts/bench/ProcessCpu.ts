import { readFileSync } from "node:fs";

const CLOCK_TICKS_PER_S = 100; // Linux's USER_HZ

/** utime + stime of a live process from /proc (Linux); 0 when it cannot be read. */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // The command name (2nd field) may hold spaces: the fields after its closing parenthesis are fixed.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return 0;
  }
}
