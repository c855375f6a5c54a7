/**
 * The two FLV files the server bench publishes, generated once with ffmpeg into a cache folder
 * and reused by later runs: a 720p ~3 Mbit/s clip (ingest, relay, stalled player) and a
 * 640x360 600 kbit/s clip (realtime players, late joiners). Both have a keyframe every 2 s.
 *
 * The folder is `$RTMP_BENCH_CACHE`, else `$XDG_CACHE_HOME/x-rtmp-bench`, else
 * `~/.cache/x-rtmp-bench`.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { FlvDemuxer, type FlvTag } from "../../protocol/flv.ts";

/** One clip to generate. */
export interface ClipSpec {
  /** File name in the cache folder (encodes the parameters, so a change makes a new file). */
  name: string;
  /** Seconds of media. */
  seconds: number;
  width: number;
  height: number;
  fps: number;
  /** Video bitrate, kbit/s (CBR-ish: maxrate = bitrate). */
  videoKbps: number;
  /** Audio bitrate, kbit/s. */
  audioKbps: number;
  /**
   * A lavfi `-filter_complex` graph whose output pad `[v]` is the video, instead of `testsrc2`
   * (e.g. the frame-number barcode of `barcode.ts`); it must make `width` × `height` at `fps`.
   */
  videoGraph?: string;
}

/** The 720p ~3 Mbit/s clip of the ingest and relay figures. */
export const CLIP_720P: ClipSpec = {
  name: "testsrc2-1280x720-30fps-2900k-aac128k-60s.flv",
  seconds: 60,
  width: 1280,
  height: 720,
  fps: 30,
  videoKbps: 2900,
  audioKbps: 128,
};

/** The 600 kbit/s clip of the realtime and late-joiner figures. */
export const CLIP_600K: ClipSpec = {
  name: "testsrc2-640x360-25fps-536k-aac64k-60s.flv",
  seconds: 60,
  width: 640,
  height: 360,
  fps: 25,
  videoKbps: 536,
  audioKbps: 64,
};

/** The cache folder. @returns Its path. */
export function cacheDir(): string {
  const env = process.env.RTMP_BENCH_CACHE;
  if (env) return env;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg !== "" ? xdg : join(homedir(), ".cache"), "x-rtmp-bench");
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = "";
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.on("data", (d) => stderr += d);
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} exited with ${code}: ${stderr.slice(-4000)}`));
    });
  });
}

/**
 * Path of a clip, generating it with ffmpeg when it is not cached yet.
 *
 * @param spec The clip.
 * @returns The file's path.
 */
export async function clipFile(spec: ClipSpec): Promise<string> {
  const dir = cacheDir();
  const file = join(dir, spec.name);
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  const partial = `${file}.${process.pid}.part`;
  const kbps = `${spec.videoKbps}k`;
  await run("ffmpeg", [
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
    ...(spec.videoGraph === undefined
      ? [
        ...["-f", "lavfi", "-i", `testsrc2=size=${spec.width}x${spec.height}:rate=${spec.fps}`],
        ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
      ]
      : [
        ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
        ...["-filter_complex", spec.videoGraph, "-map", "[v]", "-map", "0:a"],
      ]),
    ...["-t", String(spec.seconds)],
    ...["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"],
    ...["-b:v", kbps, "-maxrate", kbps, "-bufsize", kbps],
    ...["-g", String(spec.fps * 2), "-keyint_min", String(spec.fps * 2), "-bf", "0"],
    ...["-sc_threshold", "0"],
    ...["-c:a", "aac", "-b:a", `${spec.audioKbps}k`, "-ar", "48000"],
    ...["-f", "flv", partial],
  ]);
  await rename(partial, file);
  return file;
}

/** A clip's tags split into what is sent once and what is looped. */
export interface Clip {
  /** File size in bytes. */
  fileBytes: number;
  /** Metadata and sequence headers (sent once, first). */
  headers: FlvTag[];
  /** Every other tag, in file order. */
  media: FlvTag[];
  /** Sum of the media tags' data bytes (one loop). */
  mediaBytes: number;
  /** Media duration of one loop, ms (last timestamp + one frame). */
  durationMs: number;
}

/** Whether a tag is metadata or an AVC/AAC sequence header. */
function isHeader(tag: FlvTag): boolean {
  if (tag.type === 18) return true;
  if (tag.type === 9) return (tag.data[0] & 0x0f) === 7 && tag.data[1] === 0;
  if (tag.type === 8) return (tag.data[0] >> 4) === 10 && tag.data[1] === 0;
  return false;
}

/**
 * Reads a clip into memory.
 *
 * @param spec The clip (generated when missing).
 * @returns Its tags.
 */
export async function loadClip(spec: ClipSpec): Promise<Clip> {
  const bytes = await readFile(await clipFile(spec));
  const tags = new FlvDemuxer().push(bytes);
  const headers = tags.filter(isHeader);
  const media = tags.filter((t) => !isHeader(t));
  const last = media.reduce((m, t) => Math.max(m, t.timestamp), 0);
  return {
    fileBytes: bytes.length,
    headers,
    media,
    mediaBytes: media.reduce((n, t) => n + t.data.length, 0),
    durationMs: last + Math.round(1000 / spec.fps),
  };
}

/** Whether a video tag is a keyframe carrying picture data (not a sequence header). */
export function isVideoKeyframe(data: Uint8Array): boolean {
  return (data[0] >> 4) === 1 && (data[0] & 0x0f) === 7 && data[1] === 1;
}
