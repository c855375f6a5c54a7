/**
 * Argument parsing shared by the subcommands: `node:util` `parseArgs` with errors turned into
 * a one-line {@linkcode UsageError} (exit code 2), and `HOST:PORT` parsing.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/**
 * A mistake in the command line: printed as one line plus the usage, exit code 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "./usage.ts";
 * const e = new UsageError("missing URL");
 * console.log(e.message); // missing URL
 * ```
 */
export class UsageError extends Error {
  /** @param message What is wrong with the arguments. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * `parseArgs` in strict mode, its errors rephrased as {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./usage.ts";
 * const { values } = parseCommandLine(["--fast"], { fast: { type: "boolean" } });
 * console.log(values.fast); // true
 * ```
 *
 * @param args Arguments after the subcommand.
 * @param options The option table.
 * @returns Parsed values and positionals.
 */
export function parseCommandLine<O extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: O,
): {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
} {
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: true,
    });
    return {
      values: values as Record<string, string | boolean | string[] | undefined>,
      positionals,
    };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    // Node's messages carry advice like "To specify a positional argument starting with a '-'…";
    // keep the first sentence.
    throw new UsageError(message.split(/\.\s/)[0].replace(/\.$/, ""));
  }
}

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT` or `PORT`.
 *
 * @example
 * ```ts
 * import { parseHostPort } from "./usage.ts";
 * console.log(parseHostPort("127.0.0.1:1935", "--listen")); // { hostname: "127.0.0.1", port: 1935 }
 * ```
 *
 * @param text The flag value.
 * @param flag Flag name, for the message.
 * @param defaultHost Host when only a port is given.
 * @returns Host and port.
 */
export function parseHostPort(
  text: string,
  flag: string,
  defaultHost = "0.0.0.0",
): { hostname: string; port: number } {
  let host = defaultHost;
  let portText = text;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]*):(\d+)$/.exec(text);
  if (m) {
    host = m[1] || defaultHost;
    portText = m[2];
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 0 || port > 65535) {
    throw new UsageError(`${flag} expects HOST:PORT (port 0..65535), got "${text}"`);
  }
  return { hostname: host, port };
}
