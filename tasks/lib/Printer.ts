/** Prints a titled block of `name  value` lines: what every task reports to its user. */
export function printFields(title: string, fields: ReadonlyArray<readonly [string, unknown]>): void {
  console.log(title);
  const width = Math.max(0, ...fields.map(([name]) => name.length));
  for (const [name, value] of fields) console.log(`  ${name.padEnd(width)}  ${String(value)}`);
}
