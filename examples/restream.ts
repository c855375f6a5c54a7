/**
 * Accept one publisher and push it to several destinations at once. The `onPublish` decision
 * names the destinations of each stream (here: the same list for the one accepted key; a real
 * server would look them up). Each destination has its own bounded queue and reconnects by
 * itself with backoff; one that is down or slow never holds up the others or the publisher.
 *
 * ```sh
 * deno run -A examples/restream.ts --port 1935 --key in \
 *   rtmp://127.0.0.1:1936/live/a rtmps://a.rtmps.youtube.com/live2/KEY
 * ffmpeg -re -i in.mp4 -c copy -f flv rtmp://127.0.0.1/live/in
 * ```
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { RtmpServer } from "../mod.ts";

const { values, positionals: destinations } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    port: { type: "string", default: "1935" },
    host: { type: "string", default: "0.0.0.0" },
    key: { type: "string", default: "in" },
  },
});
if (destinations.length === 0) {
  console.error("usage: restream.ts [--port P] [--key K] URL [URL…]");
  process.exit(2);
}

const server = await RtmpServer.listen({
  hostname: values.host,
  port: Number(values.port),
  onPublish: ({ name }) => name === values.key && { accept: true, push: destinations },
  // Retry a destination that failed after 0.5 s, 1 s, 2 s, … at most every 10 s.
  restream: { backoff: { initial: 500, max: 10_000 } },
  // Streams are read only by their destinations: no per-session queue to drain.
  sessionQueue: "lazy",
  onSession: async (session) => {
    console.log(`ingest ${session.key} from ${session.remoteAddr.hostname}`);
    // State changes are logged as they happen ("restream live/in → …: live").
    const outs = server.destinations(session.key);
    await session.ended;
    await Promise.all(outs.map((d) => d.done));
    for (const d of outs) {
      const s = d.stats();
      console.log(
        `→ ${s.url}: ${s.packetsSent} packets sent, ${s.packetsDropped} dropped, ` +
          `${s.reconnects} reconnects${s.lastError ? ` (last error: ${s.lastError})` : ""}`,
      );
    }
    console.log(`ingest ended (${await session.ended})`);
  },
});
console.log(
  `restream: rtmp://${values.host}:${server.addr.port}/<app>/${values.key} → ${
    destinations.join(", ")
  }`,
);
process.once("SIGINT", () => void server.close());
process.once("SIGTERM", () => void server.close());
await server.closed;
