// An RtmpServer in its own process for the hostile-client tests (tests/hostile_server_test.ts):
// the test measures this process's memory (VmRSS / VmHWM) while it floods the server, so the
// flood's own allocations in the test process are not counted. Usage:
//
//   node tests/support/hostile_server.ts '{"limits":{"maxPartialBytes":67108864},"record":"/tmp/r"}'
//
// The argument is a JSON object: `limits` (partial ServerLimits), `record` (a folder: every
// accepted publish is recorded to FOLDER/<id>.flv; `recorded KEY PATH TAGS` is printed on stdout
// once its file is complete), `recordKeys` (record only these keys, e.g. `["live/legit"]`, so
// that 1,000 hostile publishers do not each get a recorder) and `duplicatePublish`. Prints `listening PORT` on stdout once
// bound, every server log line on stderr, and exits 0 on SIGTERM after closing the server. On
// stdin, a line `stats ID` is answered `stats ID CONNECTIONS STREAMS PARTIAL_BYTES POOL_HELD_BYTES` on stdout,
// and `mem ID` with `mem ID rss=… heapUsed=… external=… arrayBuffers=…` (process.memoryUsage()).
// With RTMP_MEM_TRACE=MS in the environment, a `TRACE …` line of process.memoryUsage(), partial
// bytes and connections goes to stderr every MS milliseconds (diagnostics).
import { join } from "node:path";
import process from "node:process";
import { recordPackets } from "../../flv/recorder.ts";
import { RtmpServer, type RtmpServerOptions } from "../../server.ts";

const config = JSON.parse(process.argv[2] ?? "{}") as {
  limits?: RtmpServerOptions["limits"];
  record?: string;
  recordKeys?: string[];
  duplicatePublish?: RtmpServerOptions["duplicatePublish"];
};
const server = await RtmpServer.listen({
  hostname: "127.0.0.1",
  port: 0,
  limits: config.limits,
  duplicatePublish: config.duplicatePublish,
  sessionQueue: "lazy",
  log: (line) => process.stderr.write(`${line}\n`),
  onSession: config.record === undefined ? undefined : async (session) => {
    if (config.recordKeys !== undefined && !config.recordKeys.includes(session.key)) return;
    const path = join(config.record!, `${session.id}.flv`);
    session.attach(); // before any await: from the first packet on
    const result = await recordPackets(session, path);
    process.stdout.write(`recorded ${session.key} ${path} ${result.tags}\n`);
  },
});
process.stdout.write(`listening ${server.addr.port}\n`);
const traceMs = Number(process.env.RTMP_MEM_TRACE ?? 0);
if (traceMs > 0) {
  const t0 = Date.now();
  const M = (n: number) => (n / 1048576).toFixed(0);
  setInterval(() => {
    const m = process.memoryUsage();
    process.stderr.write(
      `TRACE t=${Date.now() - t0} rss=${M(m.rss)} heap=${M(m.heapUsed)}/${M(m.heapTotal)} ext=${
        M(m.external)
      } ab=${M(m.arrayBuffers)} held=${M(server.partialBytes)} conns=${server.connectionCount}\n`,
    );
  }, traceMs).unref?.();
}
let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk: string) => {
  pending += chunk;
  for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
    const [cmd, id] = pending.slice(0, nl).trim().split(/\s+/);
    pending = pending.slice(nl + 1);
    if (cmd === "stats") {
      process.stdout.write(
        `stats ${id} ${server.connectionCount} ${server.streamCount} ${server.partialBytes} ${server.partialPools.heldBytes}\n`,
      );
    } else if (cmd === "mem") {
      // Diagnostics: where the memory is (JS heap, ArrayBuffers) as the runtime sees it.
      const m = process.memoryUsage();
      process.stdout.write(
        `mem ${id} rss=${m.rss} heapUsed=${m.heapUsed} external=${m.external} ` +
          `arrayBuffers=${m.arrayBuffers}\n`,
      );
    }
  }
});
await new Promise<void>((resolve) => {
  process.on("SIGTERM", () => resolve());
  process.on("SIGINT", () => resolve());
});
await server.close();
process.exit(0);
