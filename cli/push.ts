/**
 * `rtmp push INPUT URL`: publishes an FLV file or stdin to an RTMP/RTMPS server, paced like a
 * live source unless `--fast`.
 *
 * @module
 */

import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import process from "node:process";
import { RtmpClient } from "../client.ts";
import { RtmpError } from "../errors.ts";
import { parseAudioTag } from "../protocol/audio_tag.ts";
import { FlvDemuxer, type FlvTag } from "../protocol/flv.ts";
import { parseRtmpUrl } from "../protocol/url.ts";
import { parseVideoTag } from "../protocol/video_tag.ts";
import { parseCommandLine, UsageError } from "./usage.ts";

/** Help text of `rtmp push`. */
export const PUSH_USAGE: string = `Usage: rtmp push [options] INPUT URL

Publish an FLV to an RTMP or RTMPS server. INPUT is a file, or - for stdin
(e.g. ffmpeg -re -i in.mp4 -c copy -f flv - | rtmp push - rtmp://host/live/key).
Credentials go in the URL (rtmp://user:password@host/app/key) for servers that use
Adobe or Limelight authmod.

Options:
  --fast             send as fast as the connection allows (default: paced by timestamps)
  --loop             repeat the file with continuous timestamps (not with stdin)
  --type TYPE        publish type: live (default), record or append
  --ca FILE          trust this CA certificate (PEM) for rtmps://
  --timeout MS       connect + publish timeout (default 15000)
  --reconnect        reconnect when the connection is lost or the server asks to
  -q, --quiet        no progress line
  -h, --help         show this help`;

const OPTIONS = {
  fast: { type: "boolean" },
  loop: { type: "boolean" },
  type: { type: "string" },
  ca: { type: "string" },
  timeout: { type: "string" },
  reconnect: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

const PEEK_TAGS = 64;

/**
 * Runs `rtmp push`.
 *
 * @example
 * ```ts
 * import { runPush } from "./push.ts";
 * // await runPush(["--fast", "in.flv", "rtmp://127.0.0.1/live/key"]);
 * console.log(typeof runPush); // function
 * ```
 *
 * @param args Arguments after `push`.
 * @returns The exit code.
 */
export async function runPush(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length !== 2) {
    throw new UsageError(
      positionals.length < 2 ? "expected INPUT and URL" : `unexpected argument "${positionals[2]}"`,
    );
  }
  const [input, url] = positionals;
  try {
    parseRtmpUrl(url);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const publishType = (values.type as string | undefined) ?? "live";
  if (publishType !== "live" && publishType !== "record" && publishType !== "append") {
    throw new UsageError(`--type expects live, record or append, got "${publishType}"`);
  }
  const loop = values.loop === true;
  if (loop && input === "-") throw new UsageError("--loop needs a file, not stdin");
  let timeout = 15_000;
  if (values.timeout !== undefined) {
    timeout = Number(values.timeout);
    if (!/^\d+$/.test(String(values.timeout)) || timeout <= 0) {
      throw new UsageError(
        `--timeout expects a positive number of milliseconds, got "${values.timeout}"`,
      );
    }
  }
  if (input !== "-") {
    const info = await stat(input).catch((e) => {
      throw new RtmpError(
        "IO",
        `cannot open "${input}": ${e.code === "ENOENT" ? "no such file" : e.message}`,
      );
    });
    if (!info.isFile()) throw new RtmpError("IO", `"${input}" is not a file`);
  }
  const ca = values.ca === undefined
    ? undefined
    : await readFile(values.ca as string, "utf8").catch((e) => {
      throw new RtmpError("IO", `--ca: cannot read "${values.ca}": ${e.message}`);
    });

  const source = tagSource(input);
  // Peek at the first tags: Enhanced RTMP codecs must be announced in connect (design §3).
  const peeked: FlvTag[] = [];
  for (let r = await source.next(); !r.done; r = await source.next()) {
    peeked.push(r.value);
    if (peeked.length >= PEEK_TAGS) break;
  }
  if (peeked.length === 0) throw new RtmpError("MALFORMED", `"${input}" holds no FLV tags`);
  const enhanced = enhancedCodecs(peeked);

  const client = await RtmpClient.connect(url, {
    publishType,
    timeout,
    tls: ca ? { ca } : undefined,
    enhanced,
    reconnect: values.reconnect === true,
  });
  const progress = new Progress(values.quiet !== true && process.stderr.isTTY === true);
  let clockStart = 0;
  let offset = 0;
  let firstTs = -1;
  let lastTs = 0;
  let lastDelta = 40;
  const send = async (tag: FlvTag): Promise<void> => {
    if (firstTs < 0) firstTs = tag.timestamp;
    const ts = tag.timestamp - firstTs + offset;
    if (ts > lastTs) lastDelta = Math.min(ts - lastTs, 1000);
    lastTs = Math.max(lastTs, ts);
    if (values.fast !== true) {
      if (clockStart === 0) clockStart = performance.now() - ts;
      const wait = clockStart + ts - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    await client.sendFlvTag({ ...tag, timestamp: ts });
    progress.update(ts, tag.data.length);
  };
  try {
    for (const tag of peeked) await send(tag);
    for (let r = await source.next(); !r.done; r = await source.next()) await send(r.value);
    while (loop) {
      offset = lastTs + lastDelta;
      firstTs = -1;
      for await (const tag of tagSource(input)) await send(tag);
    }
  } catch (e) {
    progress.done();
    await client.close().catch(() => {});
    throw e;
  }
  progress.done();
  await client.close();
  const s = progress.summary();
  process.stderr.write(
    `pushed ${s.tags} tags, ${s.bytes} bytes, ${(s.mediaMs / 1000).toFixed(1)} s of media in ` +
      `${(s.elapsedMs / 1000).toFixed(1)} s (${
        Math.round(s.bytes * 8 / Math.max(s.elapsedMs, 1))
      } kbit/s)\n`,
  );
  return 0;
}

async function* tagSource(input: string): AsyncGenerator<FlvTag> {
  const demuxer = new FlvDemuxer();
  const stream = input === "-" ? process.stdin : createReadStream(input);
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      for (const tag of demuxer.push(chunk)) {
        if (tag.type === 8 || tag.type === 9 || tag.type === 18) yield tag;
      }
    }
  } catch (e) {
    if (e instanceof RtmpError) throw e;
    throw new RtmpError("IO", `reading "${input}" failed: ${(e as Error).message}`, { cause: e });
  }
  const { truncatedBytes } = demuxer.end();
  if (truncatedBytes > 0) {
    process.stderr.write(
      `warning: "${input}" ends with ${truncatedBytes} bytes of an incomplete tag (ignored)\n`,
    );
  }
}

function enhancedCodecs(tags: FlvTag[]): { video?: string[]; audio?: string[] } | undefined {
  const video = new Set<string>();
  const audio = new Set<string>();
  for (const tag of tags) {
    if (tag.data.length === 0) continue;
    try {
      if (tag.type === 9) {
        const v = parseVideoTag(tag.data);
        if (v.enhanced) {
          if (v.fourCc) video.add(v.fourCc);
          for (const t of v.multitrack?.tracks ?? []) video.add(t.fourCc);
        }
      } else if (tag.type === 8) {
        const a = parseAudioTag(tag.data);
        if (a.enhanced) {
          if (a.fourCc) audio.add(a.fourCc);
          for (const t of a.multitrack?.tracks ?? []) audio.add(t.fourCc);
        }
      }
    } catch {
      // Not parsable: it is sent as-is and announces nothing.
    }
  }
  if (video.size + audio.size === 0) return undefined;
  return { video: [...video], audio: [...audio] };
}

class Progress {
  readonly #tty: boolean;
  readonly #start = performance.now();
  #tags = 0;
  #bytes = 0;
  #mediaMs = 0;
  #lastDraw = 0;

  constructor(tty: boolean) {
    this.#tty = tty;
  }

  update(ts: number, bytes: number): void {
    this.#tags++;
    this.#bytes += bytes;
    this.#mediaMs = Math.max(this.#mediaMs, ts);
    const now = performance.now();
    if (this.#tty && now - this.#lastDraw > 500) {
      this.#lastDraw = now;
      const elapsed = (now - this.#start) / 1000;
      process.stderr.write(
        `\r${fmtTime(this.#mediaMs / 1000)} media, ${(this.#bytes / 1e6).toFixed(1)} MB, ` +
          `${Math.round(this.#bytes * 8 / 1000 / Math.max(elapsed, 0.001))} kbit/s   `,
      );
    }
  }

  done(): void {
    if (this.#tty && this.#lastDraw > 0) process.stderr.write("\n");
  }

  summary(): { tags: number; bytes: number; mediaMs: number; elapsedMs: number } {
    return {
      tags: this.#tags,
      bytes: this.#bytes,
      mediaMs: this.#mediaMs,
      elapsedMs: performance.now() - this.#start,
    };
  }
}

function fmtTime(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor(seconds / 60) % 60;
  const s = Math.floor(seconds) % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}
