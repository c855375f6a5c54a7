/**
 * Our server as the server bench runs it: what `rtmp serve` does with no key, no recording and
 * playback on (`sessionQueue: "lazy"`, duplicate publishes refused), but with the connection
 * limits raised past what the bench opens (10,000 idle connections from one address) and the
 * publish timeout raised so idle connections that never publish stay open. The `serve` CLI has
 * no flags for those limits. Logging is off, as the peers run with error-level logs only. On
 * Node the bench starts it with the runtime flags of `package.json`'s `serve` script (what
 * `npm run serve` runs), read by `bench/load/targets.ts`.
 *
 * ```sh
 * deno run -A bench/serve_for_bench.ts [PORT]
 * bun bench/serve_for_bench.ts [PORT]
 * node bench/serve_for_bench.ts [PORT]
 * ```
 *
 * Prints `listening PORT` on stdout once bound (PORT 0, the default, picks a free port) and
 * runs until SIGTERM/SIGINT. With env `RTMP_BENCH_HTTP=1` it also serves HTTP-FLV
 * (`RtmpServer.listenHttp`) on a free port and prints `listening PORT http HTTPPORT`. With env
 * `RTMP_BENCH_ADAPTER=node` it listens through the `node:net` adapter instead of the runtime's
 * default one (to compare the adapters on Deno and Bun).
 *
 * @module
 */

import process from "node:process";
import { RtmpServer } from "../server.ts";
import { nodeAdapter } from "../socket/node.ts";

const MANY = 1_000_000;
const LONG_MS = 3_600_000;

const server = await RtmpServer.listen({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  ...(process.env.RTMP_BENCH_ADAPTER === "node" ? { adapter: nodeAdapter } : {}),
  log: null,
  duplicatePublish: "reject",
  playback: true,
  sessionQueue: "lazy",
  onSession: () => {},
  limits: {
    maxConnections: MANY,
    maxConnectionsPerIp: MANY,
    maxPendingConnections: MANY,
    maxPendingConnectionsPerIp: MANY,
    maxPlayers: MANY,
    maxPlayersPerStream: MANY,
    maxPlayersPerIp: MANY,
    publishTimeout: LONG_MS,
    handshakeTimeout: LONG_MS,
    playWaitTimeout: LONG_MS,
  },
});
// Env RTMP_BENCH_HTTP=1: also serve HTTP-FLV on a free port (the httpflv figure).
const http = process.env.RTMP_BENCH_HTTP === "1"
  ? await server.listenHttp({ hostname: "127.0.0.1", port: 0 })
  : null;
process.stdout.write(`listening ${server.addr.port}${http ? ` http ${http.port}` : ""}\n`);
await new Promise<void>((resolve) => {
  process.on("SIGINT", () => resolve());
  process.on("SIGTERM", () => resolve());
});
await server.close();
process.exit(0);
