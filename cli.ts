/**
 * The `rtmp` command-line tool: `serve` (an ingest server with key checks and recording) and
 * `push` (publish an FLV file or stdin to a server). Runs the same on Deno, Bun and Node:
 *
 * ```sh
 * deno run -A cli.ts serve --listen 127.0.0.1:1935 --key secret --record ./recordings
 * node cli.ts push input.flv rtmp://127.0.0.1/live/secret
 * ffmpeg -re -i in.mp4 -c copy -f flv - | bun cli.ts push - rtmps://host/app/key
 * ```
 *
 * Exit codes: 0 success, 1 failure (refused connection, rejected key, missing file, port in
 * use), 2 bad arguments.
 *
 * @module
 */

import process from "node:process";
import { runCli } from "./cli/main.ts";

export { runCli };

if (import.meta.main ?? isNodeMain()) {
  const code = await runCli(process.argv.slice(2));
  process.exitCode = code;
  // Servers and sockets are closed by then; exit promptly even if a runtime keeps a handle.
  setTimeout(() => process.exit(code), 50).unref?.();
}

function isNodeMain(): boolean {
  const argv1 = process.argv[1] ?? "";
  return argv1.endsWith("cli.ts") || argv1.endsWith("cli.js");
}
