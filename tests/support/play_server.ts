// An RtmpServer in its own process, for tests that measure the server's memory (VmRSS / VmHWM of
// this process) without the test runner's own allocations mixed in. Usage:
//
//   node tests/support/play_server.ts '{"playerQueueBytes":262144}'
//
// The argument is a JSON object of limits. Prints `listening PORT` on stdout once bound, every
// server log line on stderr, and exits 0 on SIGTERM after closing the server. A line
// `count ID KEY` on stdin is answered `count ID N` on stdout: the subscribers of KEY now.
import process from "node:process";
import { RtmpServer } from "../../server.ts";

const limits = JSON.parse(process.argv[2] ?? "{}");
const server = await RtmpServer.listen({
  hostname: "127.0.0.1",
  port: 0,
  limits,
  sessionQueue: "lazy",
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`listening ${server.addr.port}\n`);
let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  pending += chunk;
  for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
    const [cmd, id, key] = pending.slice(0, nl).trim().split(/\s+/);
    pending = pending.slice(nl + 1);
    if (cmd === "count") {
      process.stdout.write(`count ${id} ${server.hub.get(key)?.subscriberCount ?? 0}\n`);
    }
  }
});
await new Promise<void>((resolve) => {
  process.on("SIGTERM", () => resolve());
  process.on("SIGINT", () => resolve());
});
await server.close();
process.exit(0);
