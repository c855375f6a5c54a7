/**
 * Flags of the bench scripts: `--help` prints the script's usage and exits 0; an unknown flag
 * or a missing value prints what is wrong and the usage, and exits 2, without a stack trace.
 *
 * @module
 */

import process from "node:process";
import { parseArgs, type ParseArgsConfig } from "node:util";

/**
 * Parses `process.argv` with `config` (strict), adding `--help`.
 *
 * @param config The `parseArgs` options of the script.
 * @param usage What `--help` and errors print.
 * @returns The parsed values.
 */
export function benchArgs<T extends ParseArgsConfig>(
  config: T,
  usage: string,
): ReturnType<typeof parseArgs<T>>["values"] {
  if (process.argv.slice(2).some((a) => a === "--help" || a === "-h")) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  try {
    return parseArgs(config).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage.trim()}\n`);
    process.exit(2);
  }
}

/**
 * A flag's value as a positive number (or non-negative with `allowZero`, a whole one with
 * `integer`), or exits 2 naming the flag.
 *
 * @param name The flag, for the message.
 * @param text Its value.
 * @param options What else is accepted or required.
 * @returns The number.
 */
export function positiveFlag(
  name: string,
  text: string,
  options: { allowZero?: boolean; integer?: boolean } = {},
): number {
  const n = Number(text);
  const allowZero = options.allowZero ?? false;
  const integer = options.integer ?? false;
  if (
    !Number.isFinite(n) || n < 0 || (!allowZero && n === 0) || (integer && !Number.isInteger(n))
  ) {
    const kind = `${allowZero ? "non-negative" : "positive"} ${integer ? "integer" : "number"}`;
    process.stderr.write(`--${name}: expected a ${kind}, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}
