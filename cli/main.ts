/**
 * Subcommand dispatch, help text and exit codes of the `rtmp` tool.
 *
 * @module
 */

import process from "node:process";
import { isRtmpError } from "../errors.ts";
import { PULL_USAGE, runPull } from "./pull.ts";
import { PUSH_USAGE, runPush } from "./push.ts";
import { runServe, SERVE_USAGE } from "./serve.ts";
import { runSign, SIGN_USAGE } from "./sign.ts";
import { UsageError } from "./usage.ts";

const MAIN_USAGE = `rtmp — RTMP ingest server, push and pull client (@x/rtmp)

Usage:
  rtmp serve [options]          run an ingest server
  rtmp push [options] INPUT URL publish an FLV file (or - for stdin) to a server
  rtmp sign [options] URL       sign a stream URL for serve --url-secret
  rtmp pull [options] URL OUT   play a stream into an FLV file (or - for stdout)
  rtmp help [COMMAND]           show help

Run "rtmp COMMAND --help" for the options of a command.
Runs as: npm run rtmp -- … (in a checkout, after npm install) | deno run -A cli.ts … |
bun cli.ts … | node cli.ts … (Node 22.18 or later: it runs the .ts sources directly)`;

const COMMANDS: Record<string, { usage: string; run: (args: string[]) => Promise<number> }> = {
  serve: { usage: SERVE_USAGE, run: runServe },
  push: { usage: PUSH_USAGE, run: runPush },
  sign: { usage: SIGN_USAGE, run: runSign },
  pull: { usage: PULL_USAGE, run: runPull },
};

/**
 * Runs the tool with the given arguments and returns the exit code. Never throws: user
 * mistakes print one line (and the usage for bad arguments), never a stack trace.
 *
 * @example
 * ```ts
 * import { runCli } from "./main.ts";
 * const code = await runCli(["--help"]);
 * console.log(code); // 0
 * ```
 *
 * @param args Arguments after the program name.
 * @returns 0 success, 1 failure, 2 bad arguments.
 */
export async function runCli(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    const topic = command === "help" ? COMMANDS[rest[0] ?? ""] : undefined;
    if (command === undefined) {
      process.stderr.write(`${MAIN_USAGE}\n`);
      return 2;
    }
    process.stdout.write(`${topic ? topic.usage : MAIN_USAGE}\n`);
    return 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    process.stderr.write(`rtmp: unknown command "${command}"\n\n${MAIN_USAGE}\n`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(`${entry.usage}\n`);
    return 0;
  }
  try {
    return await entry.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`rtmp ${command}: ${e.message}\n\n${entry.usage}\n`);
      return 2;
    }
    const message = isRtmpError(e) ? `${e.message}` : e instanceof Error ? e.message : String(e);
    process.stderr.write(`rtmp ${command}: ${message}\n`);
    return 1;
  }
}
