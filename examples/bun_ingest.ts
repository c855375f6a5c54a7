/**
 * A Bun ingest script: the server runs on Bun's own sockets (`Bun.listen`) through the Bun
 * adapter, accepts keys starting with `bun-`, and writes every stream to an FLV file.
 *
 * ```sh
 * bun examples/bun_ingest.ts 1935 ./recordings
 * ffmpeg -re -i in.mp4 -c copy -f flv rtmp://127.0.0.1/live/bun-demo
 * ```
 *
 * @module
 */

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { recordPackets, RtmpServer } from "../mod.ts";
import { bunAdapter } from "../socket/bun.ts";

const port = Number(process.argv[2] ?? 1935);
const dir = process.argv[3] ?? "recordings";
await mkdir(dir, { recursive: true });

const server = await RtmpServer.listen({
  adapter: bunAdapter,
  hostname: "127.0.0.1",
  port,
  onPublish: ({ name }) => name.startsWith("bun-"),
  onSession: async (session) => {
    const file = join(dir, `${session.name}-${session.id}.flv`);
    const result = await recordPackets(session, file);
    console.log(`${session.name}: ${result.tags} tags written to ${file}`);
  },
});
console.log(`bun ingest on rtmp://127.0.0.1:${server.addr.port}/live/bun-…`);
process.once("SIGINT", () => void server.close());
process.once("SIGTERM", () => void server.close());
await server.closed;
