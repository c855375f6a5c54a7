/**
 * `rtmp pull URL OUT`: plays an RTMP/RTMPS stream into an FLV file, or to stdout as FLV.
 *
 * The file is written tag by tag with at most a quarter second buffered, so it is readable
 * (`ffprobe`, a player) while it grows and ends at a tag boundary whatever happens to the
 * remote; on exit (end of stream, `--duration`, Ctrl-C) the metadata gets the real duration and
 * file size.
 *
 * @module
 */

import { readFile, stat } from "node:fs/promises";
import process from "node:process";
import { Writable } from "node:stream";
import { RtmpPlayer } from "../client/player.ts";
import { RtmpError } from "../errors.ts";
import { FlvFileWriter } from "../flv/file.ts";
import { FlvMuxStream } from "../flv/streams.ts";
import { flvHeaderFromMetadata, packetToFlvTag } from "../flv/tags.ts";
import type { FlvHeader } from "../protocol/flv.ts";
import type { MediaPacket } from "../protocol/packet.ts";
import { parseRtmpUrl } from "../protocol/url.ts";
import { parseCommandLine, UsageError } from "./usage.ts";

/** Help text of `rtmp pull`. */
export const PULL_USAGE: string = `Usage: rtmp pull [options] URL OUTPUT

Play a stream from an RTMP or RTMPS server into an FLV file, or to stdout with - (e.g.
rtmp pull rtmp://host/live/key - | ffplay -). Credentials go in the URL
(rtmp://user:password@host/app/key) for servers that use Adobe or Limelight authmod.

Options:
  --duration SEC     stop after SEC seconds of media
  --start SEC        play start: -2 live or recorded (default), -1 live only, >= 0 into a recording
  --ca FILE          trust this CA certificate (PEM) for rtmps://
  --timeout MS       connect + play timeout (default 15000)
  --idle-timeout MS  fail when no media arrives for MS milliseconds (default: wait)
  --reconnect        reconnect when the connection is lost or the server asks to
  --keep-playing     do not stop when the publisher leaves (wait for the next one)
  --legacy           do not announce Enhanced RTMP codecs (HEVC, AV1, VP9, Opus…)
  -q, --quiet        no progress line
  -h, --help         show this help

Exit status: 0 when the stream ended or --duration was reached, 1 when the server refused
(its status text is printed), could not be reached, timed out or failed mid-stream, 2 for
bad arguments.`;

const OPTIONS = {
  duration: { type: "string" },
  start: { type: "string" },
  ca: { type: "string" },
  timeout: { type: "string" },
  "idle-timeout": { type: "string" },
  reconnect: { type: "boolean" },
  "keep-playing": { type: "boolean" },
  legacy: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

/** Where the FLV goes: a file, or stdout. */
interface Sink {
  /** Resolves `false` once the output is gone (stdout's reader went away). */
  write(packet: MediaPacket): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Runs `rtmp pull`.
 *
 * @example
 * ```ts
 * import { runPull } from "./pull.ts";
 * // await runPull(["--duration", "10", "rtmp://127.0.0.1/live/key", "out.flv"]);
 * console.log(typeof runPull); // function
 * ```
 *
 * @param args Arguments after `pull`.
 * @returns The exit code.
 */
export async function runPull(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, OPTIONS);
  if (positionals.length !== 2) {
    throw new UsageError(
      positionals.length < 2
        ? "expected URL and OUTPUT"
        : `unexpected argument "${positionals[2]}"`,
    );
  }
  const [url, output] = positionals;
  try {
    if (parseRtmpUrl(url).streamName === "") {
      throw new UsageError("the URL names no stream: expected rtmp://host/app/stream");
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message);
  }
  const duration = number(values.duration, "--duration", { min: 0, exclusive: true });
  const start = number(values.start, "--start", { min: -2 });
  const timeout = number(values.timeout, "--timeout", { min: 0, exclusive: true, integer: true }) ??
    15_000;
  const idle = number(values["idle-timeout"], "--idle-timeout", {
    min: 0,
    exclusive: true,
    integer: true,
  });
  if (output !== "-") {
    const info = await stat(output).catch(() => null);
    if (info?.isDirectory()) throw new RtmpError("IO", `"${output}" is a directory`);
  }
  const ca = values.ca === undefined
    ? undefined
    : await readFile(values.ca as string, "utf8").catch((e) => {
      throw new RtmpError("IO", `--ca: cannot read "${values.ca}": ${e.message}`);
    });

  const progress = new Progress(values.quiet !== true && process.stderr.isTTY === true);
  const player = await RtmpPlayer.open(url, {
    timeout,
    start,
    tls: ca ? { ca } : undefined,
    enhanced: values.legacy !== true,
    reconnect: values.reconnect === true,
    endOnUnpublish: values["keep-playing"] !== true,
    onEvent: (e) => {
      if (values.quiet === true) return;
      if (e.type === "reconnecting") {
        progress.note(`reconnecting (attempt ${e.attempt}): ${e.reason}`);
      } else if (e.type === "reconnected") progress.note(`reconnected to ${e.url}`);
    },
  });
  let stopReason = "";
  const stop = (why: string): void => {
    stopReason ||= why;
    void player.close();
  };
  const onSignal = (): void => stop("interrupted");
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let idleError: RtmpError | null = null;
  const armIdle = (): void => {
    if (idle === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      idleError = new RtmpError("TIMEOUT", `no media from the server for ${idle} ms`);
      stop("idle");
    }, idle);
  };
  armIdle();

  let sink: Sink | null = null;
  let failure: unknown = null;
  let firstTs = -1;
  try {
    for await (const packet of player) {
      armIdle();
      if (packet.type !== "data") {
        if (firstTs < 0) firstTs = packet.timestamp;
        if (duration !== undefined && packet.timestamp - firstTs >= duration * 1000) {
          stop("duration");
          break;
        }
      }
      sink ??= await openSink(output, flvHeaderFromMetadata(packet));
      if (!(await sink.write(packet))) {
        stop("output closed");
        break;
      }
      progress.update(packet);
    }
  } catch (e) {
    failure = e;
  } finally {
    clearTimeout(idleTimer);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    progress.done();
    await player.close();
    try {
      // Even an empty pull leaves a valid (header-only) FLV behind.
      sink ??= await openSink(output, null);
      await sink.close();
    } catch (e) {
      failure ??= e;
    }
  }
  const s = progress.summary();
  const why = stopReason || player.endReason || "";
  process.stderr.write(
    `pulled ${s.tags} tags (${s.video} video, ${s.audio} audio), ${s.bytes} bytes, ` +
      `${(s.mediaMs / 1000).toFixed(1)} s of media in ${(s.elapsedMs / 1000).toFixed(1)} s ` +
      `(${Math.round(s.bytes * 8 / Math.max(s.elapsedMs, 1))} kbit/s)` +
      `${player.reconnects > 0 ? `, ${player.reconnects} reconnect(s)` : ""}${
        why ? `; ${describeEnd(why)}` : ""
      }\n`,
  );
  if (idleError) throw idleError;
  if (failure) throw failure;
  return 0;
}

function describeEnd(why: string): string {
  switch (why) {
    case "unpublished":
      return "the stream ended";
    case "server-closed":
      return "the server closed the connection";
    case "duration":
      return "duration reached";
    case "interrupted":
      return "interrupted";
    case "idle":
      return "no media";
    case "output closed":
      return "the output was closed";
    default:
      return why;
  }
}

function number(
  value: unknown,
  flag: string,
  rule: { min: number; exclusive?: boolean; integer?: boolean },
): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const n = Number(text);
  const ok = text.trim() !== "" && Number.isFinite(n) &&
    (rule.exclusive ? n > rule.min : n >= rule.min) && (!rule.integer || Number.isInteger(n));
  if (!ok) {
    throw new UsageError(
      `${flag} expects a${rule.integer ? "n integer" : " number"} ${
        rule.exclusive ? ">" : ">="
      } ${rule.min}, got "${text}"`,
    );
  }
  return n;
}

async function openSink(output: string, flags: FlvHeader | null): Promise<Sink> {
  const audio = flags?.audio ?? true;
  const video = flags?.video ?? true;
  if (output !== "-") {
    const writer = await FlvFileWriter.create(output, { audio, video });
    return {
      write: async (packet) => {
        const tag = packetToFlvTag(packet);
        if (tag) await writer.writeTag(tag);
        return true;
      },
      close: () => writer.close(),
    };
  }
  // stdout: the muxer's output is written with the pipe's backpressure; a reader that went
  // away (`| head`, a closed ffplay) ends the pull like the end of the stream.
  const mux = new FlvMuxStream({ audio, video });
  const writer = mux.writable.getWriter();
  let gone = false;
  const done = mux.readable.pipeTo(Writable.toWeb(process.stdout) as WritableStream<Uint8Array>)
    .catch(() => gone = true);
  return {
    write: async (packet) => {
      if (gone) return false;
      try {
        await writer.write(packet);
        return true;
      } catch {
        return false;
      }
    },
    close: async () => {
      await writer.close().catch(() => {});
      await done;
    },
  };
}

class Progress {
  readonly #tty: boolean;
  readonly #start = performance.now();
  #tags = 0;
  #video = 0;
  #audio = 0;
  #bytes = 0;
  #firstTs = -1;
  #mediaMs = 0;
  #lastDraw = 0;

  constructor(tty: boolean) {
    this.#tty = tty;
  }

  update(packet: MediaPacket): void {
    this.#tags++;
    this.#bytes += packet.payload.length;
    if (packet.type === "video") this.#video++;
    else if (packet.type === "audio") this.#audio++;
    if (packet.type !== "data") {
      if (this.#firstTs < 0) this.#firstTs = packet.timestamp;
      this.#mediaMs = Math.max(this.#mediaMs, packet.timestamp - this.#firstTs);
    }
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

  note(text: string): void {
    if (this.#tty && this.#lastDraw > 0) process.stderr.write("\n");
    this.#lastDraw = 0;
    process.stderr.write(`${text}\n`);
  }

  done(): void {
    if (this.#tty && this.#lastDraw > 0) process.stderr.write("\n");
  }

  summary(): {
    tags: number;
    video: number;
    audio: number;
    bytes: number;
    mediaMs: number;
    elapsedMs: number;
  } {
    return {
      tags: this.#tags,
      video: this.#video,
      audio: this.#audio,
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
