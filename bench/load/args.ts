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
 * A flag's value as a positive integer, or exits 2 naming the flag.
 *
 * @param name The flag, for the message.
 * @param text Its value.
 * @returns The number.
 */
export function positiveFlag(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`--${name}: expected a positive integer, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}
