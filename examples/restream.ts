/**
 * Accept one publisher and push it to several destinations at once. Each destination is
 * independent: it has its own connection and its own bounded backlog; a destination that
 * fails reconnects on its own with back-off, and one that falls behind skips ahead to the next
 * keyframe instead of slowing the others or the publisher.
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
import { type MediaPacket, RtmpClient, RtmpServer } from "../mod.ts";
import { isKeyframe, isSequenceHeader, metadataOf } from "../protocol/mod.ts";

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

const MAX_BACKLOG_BYTES = 8 << 20;

/** Metadata and decoder configuration: what a destination needs before its first keyframe. */
function isHeader(p: MediaPacket): boolean {
  if (p.type === "data") return p.data !== null && metadataOf(p.data) !== null;
  return isSequenceHeader(p);
}

/** One destination: a queue, a connection that comes back by itself, and a sender loop. */
class Destination {
  readonly url: string;
  #queue: MediaPacket[] = [];
  #bytes = 0;
  #waitingForKeyframe = true;
  #wake: (() => void) | null = null;
  #ended = false;
  readonly #headers = new Map<string, MediaPacket>();
  sent = 0;
  dropped = 0;
  readonly done: Promise<void>;

  constructor(url: string) {
    this.url = url;
    this.done = this.#run();
  }

  push(packet: MediaPacket): void {
    if (isHeader(packet)) {
      this.#headers.set(packet.type, packet);
    } else if (this.#waitingForKeyframe && packet.type === "video") {
      // Video before a keyframe cannot be decoded; headers and audio can go.
      if (!isKeyframe(packet)) {
        this.dropped++;
        return;
      }
      this.#waitingForKeyframe = false;
    }
    if (this.#bytes + packet.payload.length > MAX_BACKLOG_BYTES) {
      // Too far behind: forget the backlog and resume at the next keyframe.
      this.dropped += this.#queue.length + 1;
      this.#resync();
      return;
    }
    this.#enqueue(packet);
  }

  /** Starts over at the next keyframe: the backlog goes, the latest headers go first. */
  #resync(): void {
    this.#queue = [];
    this.#bytes = 0;
    this.#waitingForKeyframe = true;
    for (const header of this.#headers.values()) this.#enqueue(header);
  }

  #enqueue(packet: MediaPacket): void {
    this.#queue.push(packet);
    this.#bytes += packet.payload.length;
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async #next(): Promise<MediaPacket | null> {
    while (this.#queue.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#wake = r);
      this.#wake = null;
    }
    const p = this.#queue.shift()!;
    this.#bytes -= p.payload.length;
    return p;
  }

  async #run(): Promise<void> {
    let delay = 500;
    while (!this.#ended) {
      let client: RtmpClient | null = null;
      try {
        client = await RtmpClient.connect(this.url, { timeout: 10_000 });
        console.log(`→ ${this.url}: publishing`);
        delay = 500;
        for (let p = await this.#next(); p; p = await this.#next()) {
          await client.sendPacket(p);
          this.sent++;
        }
        await client.close();
        return;
      } catch (e) {
        client?.close().catch(() => {});
        if (this.#ended) return;
        console.error(`→ ${this.url}: ${(e as Error).message}; retrying in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15_000);
        // After a gap the destination must restart at a keyframe with the headers first.
        this.#resync();
      }
    }
  }
}

const server = await RtmpServer.listen({
  hostname: values.host,
  port: Number(values.port),
  onPublish: ({ name }) => name === values.key,
  onSession: async (session) => {
    console.log(`ingest ${session.app}/${session.name} from ${session.remoteAddr.hostname}`);
    const outs = destinations.map((url) => new Destination(url));
    for await (const packet of session) for (const out of outs) out.push(packet);
    for (const out of outs) out.end();
    await Promise.all(outs.map((o) => o.done));
    for (const o of outs) console.log(`→ ${o.url}: ${o.sent} packets sent, ${o.dropped} dropped`);
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
