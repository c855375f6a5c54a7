/**
 * An ingest server whose stream keys live in a file (one per line, `#` comments), checked by an
 * async hook before each stream starts; prints per-stream statistics every few seconds and when
 * a stream ends.
 *
 * ```sh
 * echo "my-secret-key" > keys.txt
 * deno run -A examples/ingest.ts --keys keys.txt --port 1935
 * ffmpeg -re -i in.mp4 -c copy -f flv rtmp://127.0.0.1/live/my-secret-key
 * ```
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import process from "node:process";
import { parseArgs } from "node:util";
import { type PublishSession, RtmpServer } from "../mod.ts";
import { isKeyframe } from "../protocol/mod.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    keys: { type: "string", default: "keys.txt" },
    port: { type: "string", default: "1935" },
    host: { type: "string", default: "0.0.0.0" },
  },
});

async function keyIsValid(key: string): Promise<boolean> {
  // Re-read on every publish so keys can be added or revoked while the server runs.
  const text = await readFile(values.keys!, "utf8");
  return text.split("\n").map((l) => l.replace(/#.*/, "").trim()).includes(key);
}

async function watch(session: PublishSession): Promise<void> {
  const label = `${session.app}/${session.name} from ${session.remoteAddr.hostname}`;
  const timer = setInterval(() => {
    const s = session.stats();
    console.log(
      `${label}: ${s.videoPackets} video, ${s.audioPackets} audio, ${
        Math.round(s.bitrate / 1000)
      } kbit/s`,
    );
  }, 5000);
  // Key frames are coded pictures a player can start at; sequence headers are not counted.
  let keyframes = 0;
  for await (const packet of session) if (isKeyframe(packet)) keyframes++;
  clearInterval(timer);
  const s = session.stats();
  console.log(
    `${label} ended (${await session.ended}): ${s.videoPackets} video (${keyframes} keyframes), ` +
      `${s.audioPackets} audio, ${s.bytes} bytes in ${(s.duration / 1000).toFixed(1)} s`,
  );
}

const server = await RtmpServer.listen({
  hostname: values.host,
  port: Number(values.port),
  onPublish: async ({ name }) =>
    (await keyIsValid(name))
      ? true
      : { accept: false, reason: "unknown key", code: "NetStream.Publish.Unauthorized" },
  onSession: watch,
});
console.log(
  `ingest listening on rtmp://${values.host}:${server.addr.port}, keys from ${values.keys}`,
);
const stop = (): void => void server.close();
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
await server.closed;
