/**
 * Publish → browser-frame latency (issue 16): how long after the publisher sends a video frame
 * a viewer sees it in Chromium with mpegts.js, for our `rtmp serve --http-listen` on Deno, Bun
 * and Node 24 and for node-media-server 4.4.3's HTTP-FLV, measured the same way in one run
 * (about 4 minutes).
 *
 * ```sh
 * npm run bench:latency      # or: node_modules/.bin/node bench/browser_latency_bench.ts
 *     [--joins 3] [--seconds 5] [--warmup 1] [--targets deno,bun,node,nodemerged,nms]
 *     [--transports http,ws] [--delay-check 500] [--json results.json] [--snapshot DIR]
 * ```
 *
 * How:
 * - The clip (generated once with ffmpeg into the bench cache, see `load/media.ts`) is 60 s of
 *   640x360 25 fps H.264 at 536 kbit/s plus AAC, whose top band is a barcode of the frame number
 *   (`load/barcode.ts`). Before measuring, the bench decodes every frame of the file with
 *   ffmpeg and checks that frame k's barcode reads k and that its FLV timestamp is
 *   first + k·40 ms.
 * - One publisher for every server: the project's RtmpClient in this process (Node 24) sends the
 *   clip's tags, looped, at real-time pace, and records the wall time (`performance.timeOrigin
 *   + performance.now()`) at which it hands each video frame to the client.
 * - One page for every server (served by this process): mpegts.js with the same config
 *   ({@linkcode MPEGTS_CONFIG}: live, no stash buffer, latency chasing on). On every displayed
 *   frame (`video.requestVideoFrameCallback`) it draws the picture to a canvas, averages the
 *   middle of each barcode cell, and records the frame's display time (`timeOrigin +
 *   metadata.expectedDisplayTime`). This process decodes the barcode and subtracts the frame's
 *   send time. The browser's clock is mapped to this process's by round-trip probes before and
 *   after each join (offset = browser clock − probe midpoint; half the round trip bounds the
 *   error).
 * - A row (server × transport) is `--joins` viewers one after the other, each a new page that
 *   starts playing 100 ms after the publisher sent a keyframe, so every viewer joins in the same
 *   phase of the 2 s GOP (both servers send a joining viewer the current GOP; where in it the
 *   viewer joins sets its start-up buffer). Of each join, the first `--warmup` seconds of
 *   playback are not counted, the next `--seconds` are. The row's figures are over the frames of
 *   all its joins; the per-join medians show how much the start-up buffer varies.
 * - Transports: HTTP-FLV and WebSocket-FLV (`ws://…/live/NAME.flv`, the same path on both
 *   servers).
 * - Cross-check (`--delay-check MS`, 0 = off): the first of our servers is measured once more
 *   over HTTP-FLV with a TCP proxy between publisher and server that holds every publisher byte
 *   MS ms (joins then start MS ms later too); latency and rest should grow by about MS.
 * - `--snapshot DIR` saves the barcode band of one displayed frame per row, as the page read it,
 *   named with the frame number the bench decoded, to check by eye.
 *
 * The latency splits in two per frame: "buffered ahead", the media the player holds beyond the
 * shown frame (`video.buffered.end − metadata.mediaTime`, set by the player's start-up and
 * chasing), and the rest, latency − buffered ahead. As buffered.end is the end of the newest
 * buffered frame, the rest is that frame's age at display (from its send time) minus one frame
 * duration: the delay of publisher, server and transport, mpegts.js's remuxing (it holds a
 * frame back until the next one gives its duration), the time since the last append, and the
 * wait for the display (≈ one 60 Hz refresh). The rest is the part a server can change.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { createReadStream, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { connect as netConnect, createServer as createNetServer, type Server } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { benchArgs, positiveFlag } from "./load/args.ts";
import { RtmpClient } from "../client.ts";
import type { FlvTag } from "../protocol/flv.ts";
import { BARCODE_LAYOUT, barcodeFilter, cellSamples, decodeBarcode } from "./load/barcode.ts";
import { type Clip, clipFile, type ClipSpec, isVideoKeyframe, loadClip } from "./load/media.ts";
import { type RunningServer, TARGETS } from "./load/targets.ts";
import { type BrowserPage, launchChromium } from "../tests/support/browser.ts";
import { freePort, isPortListening } from "../tests/support/peers.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const BIN = join(ROOT, "node_modules", ".bin");
const CLI = join(ROOT, "cli.ts");
const MPEGTS_JS = join(ROOT, "node_modules", "mpegts.js", "dist", "mpegts.js");
const MPEGTS_VERSION: string = JSON.parse(
  readFileSync(join(ROOT, "node_modules", "mpegts.js", "package.json"), "utf8"),
).version;

const opts = benchArgs(
  {
    options: {
      joins: { type: "string", default: "3" },
      seconds: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      targets: { type: "string", default: "deno,bun,node,nodemerged,nms" },
      transports: { type: "string", default: "http,ws" },
      "delay-check": { type: "string", default: "500" },
      json: { type: "string" },
      snapshot: { type: "string" },
    },
  },
  `usage: node_modules/.bin/node bench/browser_latency_bench.ts [--joins 3] [--seconds 5]
       [--warmup 1] [--targets deno,bun,node,nodemerged,nms] [--transports http,ws]
       [--delay-check 500] [--json results.json] [--snapshot DIR]`,
);

const JOINS = positiveFlag("joins", opts.joins!);
const SECONDS = positiveFlag("seconds", opts.seconds!);
const WARMUP = positiveFlag("warmup", opts.warmup!, { allowZero: true });
const DELAY_CHECK_MS = positiveFlag("delay-check", opts["delay-check"]!, { allowZero: true });
const TRANSPORTS = opts.transports!.split(",") as Transport[];
for (const t of TRANSPORTS) {
  if (t !== "http" && t !== "ws") throw new Error(`--transports: expected http,ws, got ${t}`);
}
/** Start playing this long after the publisher sent a keyframe (same GOP phase everywhere). */
const JOIN_AFTER_KEYFRAME_MS = 100;
const STREAM = "lat";

type Transport = "http" | "ws";
const TRANSPORT_NAME: Record<Transport, string> = { http: "HTTP-FLV", ws: "WS-FLV" };

const FPS = 25;
const FRAME_MS = 1000 / FPS;
const CLIP_SECONDS = 60;
/** Frames in one loop of the clip (its barcodes count 0 … CLIP_FRAMES − 1, then again). */
const CLIP_FRAMES = CLIP_SECONDS * FPS;
/** The bench clip: a frame-number barcode over testsrc2, like the 600k clip of the server bench. */
const CLIP_BARCODE: ClipSpec = {
  name: "barcode-640x360-25fps-536k-aac64k-60s.flv",
  seconds: CLIP_SECONDS,
  width: BARCODE_LAYOUT.width,
  height: BARCODE_LAYOUT.height,
  fps: FPS,
  videoKbps: 536,
  audioKbps: 64,
  videoGraph: barcodeFilter({ fps: FPS }),
};

/**
 * The one mpegts.js config every row uses: a live low-latency page. Chasing: when more than
 * `liveBufferLatencyMaxLatency` s is buffered ahead of the playhead, mpegts.js seeks to
 * `buffered.end − liveBufferLatencyMinRemain` (its defaults, 1.5 s and 0.5 s). No worker, no
 * lazy loading (live), old media cleaned up.
 */
const MPEGTS_CONFIG = {
  isLive: true,
  enableStashBuffer: false,
  liveBufferLatencyChasing: true,
  liveBufferLatencyMaxLatency: 1.5,
  liveBufferLatencyMinRemain: 0.5,
  lazyLoad: false,
  autoCleanupSourceBuffer: true,
};

/** This process's wall clock in ms, sub-millisecond (the same clock as the browser's). */
const wall = (): number => performance.timeOrigin + performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The clip, checked

/** Decodes every frame's barcode in the file with ffmpeg (the band scaled to one pixel per cell). */
function ffmpegBarcodes(file: string): Promise<Array<number | null>> {
  const { cols, rows, width, bandHeight } = BARCODE_LAYOUT;
  return new Promise((resolve, reject) => {
    const child = spawn("ffmpeg", [
      ...["-hide_banner", "-loglevel", "error", "-nostdin", "-i", file, "-an"],
      ...["-vf", `crop=${width}:${bandHeight}:0:0,scale=${cols}:${rows}:flags=area,format=gray`],
      // Every decoded frame once, none duplicated to fill a constant rate.
      ...["-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1"],
    ], { stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Uint8Array[] = [];
    let err = "";
    child.stdout.on("data", (d: Uint8Array) => chunks.push(d));
    child.stderr.on("data", (d) => err += d);
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`ffmpeg exited with ${code}: ${err}`));
      const all = Buffer.concat(chunks);
      const cells = cols * rows;
      const out: Array<number | null> = [];
      for (let at = 0; at + cells <= all.length; at += cells) {
        out.push(decodeBarcode(all.subarray(at, at + cells)));
      }
      resolve(out);
    });
  });
}

/**
 * The clip, with the timestamp of its first video frame (ffmpeg starts video after the AAC
 * priming delay): video tag k, frame k of the picture, has timestamp `videoStart + k·40`.
 */
async function checkedClip(): Promise<{ clip: Clip; frames: number; videoStart: number }> {
  const loaded = await loadClip(CLIP_BARCODE);
  // Pictures only: the end-of-sequence tag (AVCPacketType 2) would end each loop's stream.
  const media = loaded.media.filter((t) => t.type !== 9 || t.data[1] === 1);
  const video = media.filter((t) => t.type === 9);
  // Loops follow each other without a gap: one loop is exactly its frames' duration.
  const clip: Clip = { ...loaded, media, durationMs: video.length * FRAME_MS };
  const videoStart = video[0].timestamp;
  video.forEach((t, k) => {
    const expected = videoStart + Math.round(k * FRAME_MS);
    if (t.timestamp !== expected) {
      throw new Error(`clip: video tag ${k} has timestamp ${t.timestamp}, expected ${expected}`);
    }
  });
  if (video.length !== CLIP_FRAMES) {
    throw new Error(`clip: expected ${CLIP_FRAMES} video frames, the file has ${video.length}`);
  }
  const codes = await ffmpegBarcodes(await clipFile(CLIP_BARCODE));
  if (codes.length !== video.length) {
    throw new Error(`clip: ffmpeg decoded ${codes.length} frames, the file has ${video.length}`);
  }
  const wrong = codes.map((c, k) => c === k ? -1 : k).filter((k) => k >= 0);
  if (wrong.length > 0) {
    throw new Error(
      `clip: ${wrong.length} frames' barcodes do not read their index (${wrong[0]}…)`,
    );
  }
  console.error(
    `clip: ${video.length} frames; frame k has FLV timestamp ${videoStart} + k·${FRAME_MS} ms ` +
      `and its barcode reads k (ffmpeg decode of every frame)`,
  );
  return { clip, frames: video.length, videoStart };
}

// ---------------------------------------------------------------------------------------------
// Servers

/** Our `rtmp serve --http-listen` on one runtime, as a user runs it. */
async function startServe(
  runtime: "deno" | "bun" | "node",
  extra: string[] = [],
): Promise<RunningServer> {
  const cmd = join(BIN, runtime);
  for (let attempt = 0;; attempt++) {
    const port = await freePort();
    const httpPort = await freePort();
    const args = [
      ...(runtime === "deno" ? ["run", "-A"] : []),
      CLI,
      "serve",
      ...["--listen", `127.0.0.1:${port}`, "--http-listen", `127.0.0.1:${httpPort}`],
      ...extra,
    ];
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const keep = (d: unknown): void => {
      out += String(d);
      if (out.length > 16384) out = out.slice(-16384);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    let exited = false;
    child.on("exit", () => exited = true);
    const stop = async (): Promise<void> => {
      if (exited) return;
      const gone = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await gone;
      clearTimeout(timer);
    };
    const deadline = Date.now() + 20_000;
    let up = false;
    while (!exited && Date.now() < deadline) {
      if (await isPortListening(port) && await isPortListening(httpPort)) {
        up = true;
        break;
      }
      await sleep(50);
    }
    if (!up) {
      await stop();
      if (attempt < 3) continue;
      throw new Error(`${runtime} serve did not listen on ${port} and ${httpPort}:\n${out}`);
    }
    return {
      pid: child.pid!,
      port,
      httpPort,
      app: "live",
      alive: () => !exited,
      stderr: () => out,
      stop,
    };
  }
}

interface Server_ {
  label: string;
  start(): Promise<RunningServer>;
}

const NMS = TARGETS.find((t) => t.label === "node-media-server")!;
const SERVERS: Record<string, Server_> = {
  deno: { label: "ours deno", start: () => startServe("deno") },
  bun: { label: "ours bun", start: () => startServe("bun") },
  node: { label: "ours node", start: () => startServe("node") },
  // Merged writes, which the default turns on from 100 viewers, with these few viewers too:
  // the latency a viewer of a large audience gets.
  nodemerged: {
    label: "ours node, merged writes (--http-merge-from 1)",
    start: () => startServe("node", ["--http-merge-from", "1"]),
  },
  nms: { label: "node-media-server", start: () => NMS.start({ http: true }) },
};

/**
 * A TCP proxy to `port` that holds every byte from the client `delayMs` before forwarding it
 * (the other direction is passed through): a known delay added to the publish.
 */
function delayProxy(port: number, delayMs: number): Promise<{ port: number; close(): void }> {
  return new Promise((resolve, reject) => {
    const server: Server = createNetServer((client) => {
      const upstream = netConnect(port, "127.0.0.1");
      client.on("data", (d) => {
        // Timers of one delay fire in the order they were set: bytes stay in order.
        setTimeout(() => upstream.destroyed || upstream.write(d), delayMs);
      });
      upstream.on("data", (d) => client.destroyed || client.write(d));
      client.on("close", () => setTimeout(() => upstream.destroy(), delayMs));
      upstream.on("close", () => client.destroy());
      client.on("error", () => {});
      upstream.on("error", () => {});
    });
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve({ port: typeof a === "object" && a ? a.port : 0, close: () => server.close() });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The publisher

/** Publishes the clip looped at real-time pace and remembers when each frame went out. */
class PacedPublisher {
  /** Frame number → wall times it was sent (ascending; once per loop). */
  readonly sends = new Map<number, number[]>();
  #client: RtmpClient;
  #stopped = false;
  #done: Promise<void>;
  #keyframeWaiters: Array<(at: number) => void> = [];
  error: Error | null = null;

  private constructor(client: RtmpClient, clip: Clip, videoStart: number) {
    this.#client = client;
    this.#done = this.#run(clip, videoStart).catch((e) => {
      this.error = e as Error;
    });
  }

  static async start(url: string, clip: Clip, videoStart: number): Promise<PacedPublisher> {
    const client = await RtmpClient.connect(url);
    for (const tag of clip.headers) await client.sendFlvTag(tag);
    return new PacedPublisher(client, clip, videoStart);
  }

  async #run(clip: Clip, videoStart: number): Promise<void> {
    const t0 = performance.now() + 50;
    for (let loop = 0; !this.#stopped; loop++) {
      for (const tag of clip.media) {
        if (this.#stopped) return;
        const ts = loop * clip.durationMs + tag.timestamp;
        const wait = t0 + ts - performance.now();
        if (wait > 0.5) await sleep(wait);
        const out: FlvTag = { ...tag, timestamp: ts };
        if (tag.type === 9) {
          const at = wall();
          const frame = Math.round((tag.timestamp - videoStart) / FRAME_MS);
          let list = this.sends.get(frame);
          if (!list) this.sends.set(frame, list = []);
          list.push(at);
          await this.#client.sendFlvTag(out);
          if (isVideoKeyframe(tag.data)) {
            for (const w of this.#keyframeWaiters.splice(0)) w(at);
          }
        } else {
          await this.#client.sendFlvTag(out);
        }
      }
    }
  }

  /** Resolves with the wall time of the next keyframe sent. */
  nextKeyframe(): Promise<number> {
    return new Promise((r) => this.#keyframeWaiters.push(r));
  }

  /** Wall time of the latest send of `frame` (mod 4096) at or before `before`, or `null`. */
  sentAt(frame: number, before: number): number | null {
    const list = this.sends.get(frame);
    if (!list) return null;
    for (let i = list.length - 1; i >= 0; i--) if (list[i] <= before) return list[i];
    return null;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
    await this.#client.close().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// The page

const PAGE_HTML = `<!doctype html>
<meta charset="utf-8">
<title>latency</title>
<body style="margin:0;background:#000">
<video id="video" muted autoplay playsinline width="${BARCODE_LAYOUT.width}" height="${BARCODE_LAYOUT.height}"></video>
<script src="/mpegts.js"></script>
<script>
"use strict";
const SAMPLES = ${JSON.stringify(cellSamples())};
const BAND_W = ${BARCODE_LAYOUT.width};
const BAND_H = ${BARCODE_LAYOUT.bandHeight};
window.shown = [];
window.errors = [];
window.clock = () => performance.timeOrigin + performance.now();
window.startPlay = (url, config) => {
  const video = document.getElementById("video");
  const canvas = document.createElement("canvas");
  canvas.width = BAND_W;
  canvas.height = BAND_H;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const onFrame = (now, md) => {
    ctx.drawImage(video, 0, 0, BAND_W, BAND_H, 0, 0, BAND_W, BAND_H);
    const px = ctx.getImageData(0, 0, BAND_W, BAND_H).data;
    const lumas = SAMPLES.map((s) => {
      let sum = 0;
      for (let y = s.y; y < s.y + s.size; y++) {
        for (let x = s.x; x < s.x + s.size; x++) {
          const i = (y * BAND_W + x) * 4;
          sum += 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
        }
      }
      return Math.round(sum / (s.size * s.size));
    });
    const b = video.buffered;
    window.shown.push({
      display: performance.timeOrigin + md.expectedDisplayTime,
      now: performance.timeOrigin + now,
      mediaTime: md.mediaTime,
      presented: md.presentedFrames,
      ahead: b.length > 0 ? b.end(b.length - 1) - md.mediaTime : -1,
      lumas,
    });
    if (window.snapNext) {
      window.snapNext = false;
      window.snap = { png: canvas.toDataURL("image/png"), lumas };
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  const player = mpegts.createPlayer({ type: "flv", isLive: true, url }, config);
  player.on(mpegts.Events.ERROR, (...a) => window.errors.push(JSON.stringify(a)));
  player.attachMediaElement(video);
  player.load();
  const p = video.play();
  if (p) p.catch((e) => window.errors.push("play: " + e));
  window.player = player;
};
</script>
`;

/** Serves the page and mpegts.js on a free loopback port. */
function servePage(): Promise<{ url: string; close(): void }> {
  return new Promise((resolve, reject) => {
    const server: HttpServer = createHttpServer((req, res) => {
      if (req.url === "/mpegts.js") {
        res.writeHead(200, { "content-type": "text/javascript" });
        createReadStream(MPEGTS_JS).pipe(res);
      } else if (req.url === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(PAGE_HTML);
      } else {
        res.writeHead(404).end();
      }
    });
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      const port = typeof a === "object" && a ? a.port : 0;
      resolve({ url: `http://127.0.0.1:${port}/`, close: () => server.close() });
    });
  });
}

/** What the page records per displayed frame. */
interface Shown {
  display: number;
  now: number;
  mediaTime: number;
  presented: number;
  ahead: number;
  lumas: number[];
}

/** Browser clock − this process's clock, from the probe with the shortest round trip. */
async function clockOffset(page: BrowserPage): Promise<{ offset: number; rtt: number }> {
  let best = { offset: 0, rtt: Infinity };
  for (let i = 0; i < 7; i++) {
    const t0 = wall();
    const b = await page.evaluate<number>("window.clock()");
    const t1 = wall();
    if (t1 - t0 < best.rtt) best = { offset: b - (t0 + t1) / 2, rtt: t1 - t0 };
  }
  return best;
}

/**
 * `--snapshot DIR`: saves the barcode band of one displayed frame as the page read it, named
 * with the number the bench decodes from it, to read by eye.
 */
async function snapshot(page: BrowserPage, name: string): Promise<void> {
  await page.evaluate("window.snap = null; window.snapNext = true");
  let snap: { png: string; lumas: number[] } | null = null;
  for (let i = 0; i < 50 && snap === null; i++) {
    await sleep(20);
    snap = await page.evaluate<{ png: string; lumas: number[] } | null>("window.snap");
  }
  if (snap === null) return;
  const frame = decodeBarcode(snap.lumas);
  const file = join(opts.snapshot!, `${name.replace(/\W+/g, "_")}-frame${frame}.png`);
  await mkdir(opts.snapshot!, { recursive: true });
  await writeFile(file, Buffer.from(snap.png.replace(/^data:image\/png;base64,/, ""), "base64"));
  console.error(`snapshot: ${file} (cell lumas ${snap.lumas.join(",")})`);
}

// ---------------------------------------------------------------------------------------------
// One row

interface Row {
  server: string;
  transport: Transport;
  /** Extra publish delay of the cross-check, ms (0 normally). */
  injectedMs: number;
  latencies: number[];
  /** Per frame: media buffered ahead of the shown frame, ms. */
  aheads: number[];
  /** Per frame: latency − buffered ahead, ms. */
  rests: number[];
  /** Frames shown in the window whose barcode did not read. */
  unreadable: number;
  /** Frames never shown between two shown ones (the frame number advanced by 2–12). */
  missed: number;
  /** Jumps of the shown frame number by more than 12 frames, or back: seeks (latency chasing). */
  seeks: number;
  /** Frames composited without a callback (`presentedFrames` gaps). */
  callbackGaps: number;
  clockRttMs: number;
  /** Median of expectedDisplayTime − callback time. */
  displayLeadMs: number;
  /** Median latency of each join (page opened and played). */
  joinMedians: number[];
  errors: string[];
}

function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
}

async function measure(
  page: BrowserPage,
  publisher: PacedPublisher,
  streamUrl: string,
  label: { server: string; transport: Transport; injectedMs: number },
  snap: boolean,
): Promise<Row> {
  const clock = await clockOffset(page);
  // The same GOP phase for every server: just after a keyframe reached the server.
  const key = await publisher.nextKeyframe();
  const wait = key + label.injectedMs + JOIN_AFTER_KEYFRAME_MS - wall();
  if (wait > 0) await sleep(wait);
  await page.evaluate(
    `window.startPlay(${JSON.stringify(streamUrl)}, ${JSON.stringify(MPEGTS_CONFIG)})`,
  );
  // Wait for the first readable frame, then for warm-up + window of playback.
  const firstDeadline = Date.now() + 20_000;
  let first: number | null = null;
  while (first === null) {
    const shown = await page.evaluate<Shown[]>("window.shown.slice(-5)");
    const ok = shown.find((s) => decodeBarcode(s.lumas) !== null);
    if (ok) first = ok.display - clock.offset;
    else if (Date.now() > firstDeadline) {
      const errs = await page.evaluate<string[]>("window.errors");
      throw new Error(`no readable frame within 20 s (${shown.length} shown; ${errs.join("; ")})`);
    }
    if (first === null) await sleep(100);
  }
  const from = first + WARMUP * 1000;
  const to = from + SECONDS * 1000;
  const endDeadline = to + 10_000;
  for (;;) {
    const last = await page.evaluate<number>(
      "window.shown.length ? window.shown[window.shown.length - 1].display : 0",
    );
    if (last - clock.offset >= to) break;
    if (wall() > endDeadline) break; // playback stalled: the row reports what it has
    await sleep(250);
  }
  if (opts.snapshot && snap) {
    await snapshot(page, `${label.server}-${label.transport}-plus${label.injectedMs}ms`);
  }
  const shown = await page.evaluate<Shown[]>("window.shown");
  const errors = await page.evaluate<string[]>("window.errors");
  const clockAfter = await clockOffset(page);
  const offset = (clock.offset + clockAfter.offset) / 2;

  const latencies: number[] = [];
  const aheads: number[] = [];
  const rests: number[] = [];
  const leads: number[] = [];
  let unreadable = 0;
  let callbackGaps = 0;
  let missed = 0;
  let seeks = 0;
  let prevFrame: number | null = null;
  let prevPresented: number | null = null;
  for (const s of shown) {
    const display = s.display - offset;
    if (display < from || display > to) continue;
    if (prevPresented !== null) callbackGaps += Math.max(0, s.presented - prevPresented - 1);
    prevPresented = s.presented;
    const frame = decodeBarcode(s.lumas);
    if (frame === null) {
      unreadable++;
      continue;
    }
    const sent = publisher.sentAt(frame, display);
    if (sent === null) {
      unreadable++;
      continue;
    }
    latencies.push(display - sent);
    leads.push(s.display - s.now);
    if (s.ahead >= 0) {
      aheads.push(s.ahead * 1000);
      rests.push(display - sent - s.ahead * 1000);
    }
    if (prevFrame !== null) {
      // Frame numbers restart with each loop of the clip.
      const step = (frame - prevFrame + CLIP_FRAMES) % CLIP_FRAMES;
      if (step >= 2 && step <= 12) missed += step - 1;
      else if (step !== 1) seeks++;
    }
    prevFrame = frame;
  }
  return {
    ...label,
    latencies,
    aheads,
    rests,
    unreadable,
    missed,
    seeks,
    callbackGaps,
    clockRttMs: Math.max(clock.rtt, clockAfter.rtt),
    displayLeadMs: quantile(leads, 0.5),
    joinMedians: [quantile(latencies, 0.5)],
    errors,
  };
}

/** The joins of one row as one row. */
function mergeJoins(joins: Row[]): Row {
  const all = <K extends keyof Row>(k: K): Row[K][] => joins.map((j) => j[k]);
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
  return {
    server: joins[0].server,
    transport: joins[0].transport,
    injectedMs: joins[0].injectedMs,
    latencies: all("latencies").flat(),
    aheads: all("aheads").flat(),
    rests: all("rests").flat(),
    unreadable: sum(all("unreadable")),
    missed: sum(all("missed")),
    seeks: sum(all("seeks")),
    callbackGaps: sum(all("callbackGaps")),
    clockRttMs: Math.max(...all("clockRttMs")),
    displayLeadMs: quantile(all("displayLeadMs"), 0.5),
    joinMedians: all("joinMedians").flat(),
    errors: all("errors").flat(),
  };
}

// ---------------------------------------------------------------------------------------------
// Main

const started = performance.now();
const { clip, frames, videoStart } = await checkedClip();
const browser = await launchChromium();
const pageServer = await servePage();
const rows: Row[] = [];
const failures: string[] = [];
const wanted = opts.targets!.split(",");
for (const w of wanted) if (!SERVERS[w]) throw new Error(`--targets: unknown ${w}`);
console.error(
  `latency bench: chromium ${browser.version()}, mpegts.js ${MPEGTS_VERSION} ${
    JSON.stringify(MPEGTS_CONFIG)
  }; ${clip.media.length} tags, ${frames} frames per loop; per row ${JOINS} joins of ` +
    `${WARMUP} s warm-up + ${SECONDS} s`,
);

async function runServer(key: string, injectedMs: number, transports: Transport[]): Promise<void> {
  const target = SERVERS[key];
  let server: RunningServer | null = null;
  let publisher: PacedPublisher | null = null;
  let proxy: { port: number; close(): void } | null = null;
  try {
    server = await target.start();
    let rtmpPort = server.port;
    if (injectedMs > 0) {
      proxy = await delayProxy(server.port, injectedMs);
      rtmpPort = proxy.port;
    }
    publisher = await PacedPublisher.start(
      `rtmp://127.0.0.1:${rtmpPort}/live/${STREAM}`,
      clip,
      videoStart,
    );
    for (const transport of transports) {
      const t0 = performance.now();
      const scheme = transport === "ws" ? "ws" : "http";
      const url = `${scheme}://127.0.0.1:${server.httpPort}/live/${STREAM}.flv`;
      try {
        const joins: Row[] = [];
        for (let j = 0; j < JOINS; j++) {
          // A new page per join: a viewer opening the stream.
          const page = await browser.newPage();
          try {
            await page.goto(pageServer.url);
            await page.evaluate("typeof mpegts !== 'undefined' || Promise.reject('no mpegts.js')");
            joins.push(
              await measure(page, publisher, url, {
                server: target.label,
                transport,
                injectedMs,
              }, j === 0),
            );
          } finally {
            await page.close();
          }
          if (publisher.error) throw publisher.error;
          if (!server.alive()) throw new Error(`server exited:\n${server.stderr()}`);
        }
        const row = mergeJoins(joins);
        rows.push(row);
        console.error(
          `[${target.label} ${TRANSPORT_NAME[transport]}${injectedMs ? ` +${injectedMs} ms` : ""} ${
            ((performance.now() - t0) / 1000).toFixed(1)
          } s] median ${quantile(row.latencies, 0.5).toFixed(0)} ms, p95 ${
            quantile(row.latencies, 0.95).toFixed(0)
          } ms (joins ${
            row.joinMedians.map((m) => m.toFixed(0)).join(", ")
          }), ${row.latencies.length} frames, ${row.missed} missed, ` +
            `${row.unreadable} unreadable, ${row.seeks} seeks, clock probe rtt ${
              row.clockRttMs.toFixed(1)
            } ms` +
            (row.errors.length ? `, player errors: ${row.errors.join("; ")}` : ""),
        );
      } catch (e) {
        const msg = `${target.label} ${TRANSPORT_NAME[transport]}: ${(e as Error).message}`;
        failures.push(msg);
        console.error(`[error] ${msg}`);
      }
    }
  } catch (e) {
    const msg = `${target.label}: ${(e as Error).message}`;
    failures.push(msg);
    console.error(`[error] ${msg}`);
  } finally {
    await publisher?.stop();
    proxy?.close();
    await server?.stop();
  }
}

for (const key of wanted) await runServer(key, 0, TRANSPORTS);
const checkKey = wanted.find((k) => k !== "nms");
if (DELAY_CHECK_MS > 0 && checkKey) await runServer(checkKey, DELAY_CHECK_MS, ["http"]);
await browser.close();
pageServer.close();

// ---------------------------------------------------------------------------------------------
// Report

const f0 = (v: number): string => Number.isFinite(v) ? v.toFixed(0) : "–";
const main = rows.filter((r) => r.injectedMs === 0);
const lines: string[] = [];
lines.push(
  "| server | transport | median ms | p95 ms | median per join, ms | buffered ahead, median ms | rest, median ms | frames measured | missed | unreadable | seeks |",
);
lines.push("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of main) {
  lines.push(
    `| ${r.server} | ${TRANSPORT_NAME[r.transport]} | ${f0(quantile(r.latencies, 0.5))} | ${
      f0(quantile(r.latencies, 0.95))
    } | ${r.joinMedians.map(f0).join(" / ")} | ${f0(quantile(r.aheads, 0.5))} | ${
      f0(quantile(r.rests, 0.5))
    } | ${r.latencies.length} | ${r.missed} | ${r.unreadable} | ${r.seeks} |`,
  );
}
const nmsRows = main.filter((r) => r.server === "node-media-server");
const ourRows = main.filter((r) => r.server.startsWith("ours"));
if (nmsRows.length > 0 && ourRows.length > 0) {
  lines.push("");
  lines.push("| ours / node-media-server | transport | median | p95 | rest |");
  lines.push("|---|---|---:|---:|---:|");
  for (const r of ourRows) {
    const peer = nmsRows.find((n) => n.transport === r.transport);
    if (!peer) continue;
    const ratio = (a: number[], b: number[], q: number): string => {
      const v = quantile(a, q) / quantile(b, q);
      return Number.isFinite(v) ? `${v.toFixed(2)}×` : "–";
    };
    lines.push(
      `| ${r.server} | ${TRANSPORT_NAME[r.transport]} | ${
        ratio(r.latencies, peer.latencies, 0.5)
      } | ${ratio(r.latencies, peer.latencies, 0.95)} | ${ratio(r.rests, peer.rests, 0.5)} |`,
    );
  }
}
const check = rows.find((r) => r.injectedMs > 0);
if (check) {
  const base = main.find((r) => r.server === check.server && r.transport === check.transport);
  const d = base ? quantile(check.latencies, 0.5) - quantile(base.latencies, 0.5) : NaN;
  const dr = base ? quantile(check.rests, 0.5) - quantile(base.rests, 0.5) : NaN;
  lines.push("");
  lines.push(
    `Cross-check: ${check.server} ${
      TRANSPORT_NAME[check.transport]
    } with every publisher byte held ` +
      `${check.injectedMs} ms by a proxy: median ${f0(quantile(check.latencies, 0.5))} ms ` +
      `(+${f0(d)} ms over the row above), rest +${f0(dr)} ms; expected +${check.injectedMs}.`,
  );
}
const rtt = Math.max(...rows.map((r) => r.clockRttMs));
const lead = quantile(rows.map((r) => r.displayLeadMs), 0.5);
console.log("");
console.log(
  `Publish → browser-frame latency, ${((performance.now() - started) / 60000).toFixed(1)} min: ` +
    `display time of each frame (requestVideoFrameCallback expectedDisplayTime, median ${
      lead.toFixed(1)
    } ms after the callback) − the wall time the publisher sent it; per row ${JOINS} joins (a new ` +
    `page each, play started ${JOIN_AFTER_KEYFRAME_MS} ms after a keyframe), each measured ` +
    `${SECONDS} s after ${WARMUP} s warm-up; clocks matched within ${
      (rtt / 2).toFixed(1)
    } ms. Chromium ${browser.version()} ` +
    `headless, mpegts.js ${MPEGTS_VERSION} ${JSON.stringify(MPEGTS_CONFIG)}; clip 640x360 25 fps ` +
    `536 kbit/s H.264 + AAC, publisher RtmpClient on Node ${process.versions.node}. ` +
    `rest = latency − buffered ahead (see the top of bench/browser_latency_bench.ts).`,
);
console.log(lines.join("\n"));
if (failures.length > 0) {
  console.log("\nErrors:");
  for (const f of failures) console.log(`- ${f}`);
}
if (opts.json) {
  await writeFile(
    opts.json,
    JSON.stringify({ joins: JOINS, seconds: SECONDS, warmup: WARMUP, rows }, null, 2),
  );
}
process.exit(failures.length > 0 ? 1 : 0);
