/**
 * Starts and stops the real interop peers the tests talk to — ffmpeg (publisher, player,
 * one-shot server), ffprobe, nginx with the RTMP module, node-media-server — and makes the test
 * media they exchange. Everything goes through `node:child_process`, `node:net`, `node:http` and
 * `node:fs`, so the same helpers run under Deno, Bun and Node.
 *
 * Every spawned process is tracked and SIGKILLed when the test process exits, every temp dir made
 * here is removed at exit, and every wait has a deadline. Peer output is kept as a bounded tail
 * (last 64 KiB) so failures can quote it.
 *
 * @example Publish a generated clip to nginx-rtmp and record it back
 * ```ts
 * import { countPackets, ffmpegPublish, ffmpegPull, makeTestFlv, startNginxRtmp, tempDir }
 *   from "./peers.ts";
 *
 * const source = await makeTestFlv({ seconds: 2 });
 * const nginx = await startNginxRtmp();
 * const out = (await tempDir("pull-")) + "/out.flv";
 * const player = ffmpegPull(nginx.url("live", "key"), out);
 * await nginx.waitForPlay("key");
 * await ffmpegPublish(source, nginx.url("live", "key"), { realtime: true });
 * await player.done;
 * console.log(await countPackets(out));
 * await nginx.stop();
 * ```
 *
 * @module
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** How much of a peer's output (and of a log file) is kept for error messages. */
const TAIL_LIMIT = 64 * 1024;

/** Default deadline for a whole peer run (publish, pull, one-shot server). */
const DEFAULT_RUN_TIMEOUT_MS = 60_000;

/** Default deadline for a peer to start listening. */
const STARTUP_TIMEOUT_MS = 15_000;

/** Time a peer gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 3_000;

/** Attempts with a fresh port when a peer loses the race for the one `freePort()` returned. */
const PORT_ATTEMPTS = 4;

/** Exit status of a finished peer and the tail of what it wrote to stderr. */
export interface ProcessResult {
  /** Exit code; `null` when the process ended by a signal (kill, timeout). */
  code: number | null;
  /** Last 64 KiB of stderr, plus a `[peers] …` line when the helper killed it. */
  stderr: string;
}

/** A running ffmpeg (player or one-shot server). */
export interface FfmpegRun {
  /** Resolves once the process has exited and its pipes are closed; never rejects. */
  done: Promise<ProcessResult>;
  /** Ends the process: SIGTERM, then SIGKILL after 3 s. `done` still resolves. */
  kill(): void;
}

/** Options of {@linkcode makeTestFlv}. */
export interface TestFlvOptions {
  /** Clip length in seconds (default 2). */
  seconds?: number;
  /** Frame width (default 320). */
  width?: number;
  /** Frame height (default 240). */
  height?: number;
  /** Frame rate (default 25); the GOP is two seconds (`-g fps*2`). */
  fps?: number;
  /** Encode with B-frames (`-bf 3`), so packets carry composition offsets (default false). */
  bFrames?: boolean;
}

/** Packet counts of a media file as ffprobe demuxes them. */
export interface PacketCounts {
  /** Video packets (sequence headers are extradata, not packets). */
  video: number;
  /** Audio packets. */
  audio: number;
  /** Container duration in seconds (0 when ffprobe reports none). */
  duration: number;
}

/** Options of {@linkcode ffmpegPublish}. */
export interface PublishOptions {
  /** Read the input at its native rate (`-re`), like a live encoder (default false). */
  realtime?: boolean;
  /** Extra output options, placed after `-c copy` and before `-f flv URL`. */
  extraArgs?: string[];
  /** Kill ffmpeg after this long (default 60 000 ms); the result then has `code: null`. */
  timeoutMs?: number;
}

/** Options of {@linkcode ffmpegPull}. */
export interface PullOptions {
  /** Kill ffmpeg after this long (default 60 000 ms). */
  timeoutMs?: number;
  /** Stop after this much media time (`-t`). */
  durationSec?: number;
  /**
   * End the input when the server sends nothing for this long (`-rw_timeout`). Also applies
   * while waiting for a publisher, so keep the publisher close behind.
   */
  idleTimeoutSec?: number;
}

/** Options of {@linkcode startFfmpegListen}. */
export interface ListenOptions {
  /** Kill ffmpeg after this long (default 60 000 ms). */
  timeoutMs?: number;
}

/** Options of {@linkcode startNginxRtmp}. */
export interface NginxRtmpOptions {
  /** HTTP URL nginx calls (POST, form body with `name=KEY`) before accepting a publish. */
  onPublish?: string;
  /** HTTP URL nginx calls (POST, form body with `name=KEY`) before accepting a play. */
  onPlay?: string;
  /**
   * An application serving the FLV files of a directory on demand (`play DIR;`): players ask
   * for `rtmp://…/APP/NAME.flv`. nginx paces them by the buffer length they announce.
   */
  vod?: { app: string; dir: string };
  /** `chunk_size` nginx sends with (default: nginx's own, 4096). */
  chunkSize?: number;
  /** Applications to configure with `live on` (default `["live"]`). */
  apps?: string[];
  /**
   * Send `NetStream.Play.PublishNotify` / `UnpublishNotify` to players (default true). ffmpeg
   * treats UnpublishNotify as end of stream, so a player exits once the publisher leaves.
   */
  publishNotify?: boolean;
}

/** Options of the `waitForPlay` methods of the server handles. */
export interface WaitForPlayOptions {
  /** Wait until this many plays of the key have been seen in total (default 1). */
  count?: number;
  /** Give up after this long (default 15 000 ms). */
  timeoutMs?: number;
}

/** A running nginx with the RTMP module. */
export interface NginxRtmp {
  /** Loopback port of the RTMP listener. */
  port: number;
  /** `rtmp://127.0.0.1:PORT/APP/KEY`. */
  url(app: string, key: string): string;
  /**
   * Resolves once nginx has attached a player to `key`. nginx attaches it in the same event-loop
   * turn as it logs the `play:` line, so a publisher started afterwards is seen from its first
   * packet.
   */
  waitForPlay(key: string, options?: WaitForPlayOptions): Promise<void>;
  /** nginx's error log (info level) and stderr, last 64 KiB of each. */
  logs(): Promise<string>;
  /** Stops nginx (SIGTERM, then SIGKILL) and removes its prefix directory. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startNodeMediaServer}. */
export interface NodeMediaServerOptions {
  /** Also listen for RTMPS with these PEM files. */
  rtmps?: { cert: string; key: string };
  /**
   * When a publisher disconnects, close its players' sockets after their queued data (default
   * false). node-media-server v4 keeps players attached waiting for a new publisher, so without
   * this an ffmpeg player never ends on its own.
   */
  endPlayersOnUnpublish?: boolean;
}

/** A running node-media-server (a Node 24 child process). */
export interface NodeMediaServerPeer {
  /** Loopback port of the RTMP listener. */
  port: number;
  /** Loopback port of the RTMPS listener, when configured. */
  rtmpsPort?: number;
  /** `rtmp://127.0.0.1:PORT/APP/KEY`. */
  url(app: string, key: string): string;
  /** `rtmps://127.0.0.1:RTMPS_PORT/APP/KEY`; throws when RTMPS was not configured. */
  rtmpsUrl(app: string, key: string): string;
  /**
   * Resolves once the server accepted a player for `key` (its `postPlay` event, emitted in the
   * same turn the player is added to the stream's subscribers).
   */
  waitForPlay(key: string, options?: WaitForPlayOptions): Promise<void>;
  /** The server's stdout/stderr, last 64 KiB. */
  logs(): string;
  /** Kills the server, waits for it to exit and removes its data directory. */
  stop(): Promise<void>;
}

/** One request an {@linkcode HttpStatusServer} received. */
export interface RecordedRequest {
  /** Request target, e.g. `/on_publish`. */
  url: string;
  /** Request body as UTF-8 (first 64 KiB). */
  body: string;
}

/** A tiny HTTP server answering everything with one status. */
export interface HttpStatusServer {
  /** `http://127.0.0.1:PORT/`. */
  url: string;
  /** Every request received so far, in arrival order. */
  requests: RecordedRequest[];
  /** Closes the server and any open connection. */
  stop(): Promise<void>;
}

/** Options of {@linkcode waitFor}. */
export interface WaitForOptions {
  /** Give up after this long (default 15 000 ms). */
  timeoutMs?: number;
  /** Poll period (default 25 ms). */
  intervalMs?: number;
  /** What is awaited, for the timeout message. */
  what?: string;
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping

const liveChildren = new Set<ChildProcess>();
const exitDirs = new Set<string>();
let exitHookInstalled = false;

/** Kills whatever is still running and removes temp dirs; safe to run more than once. */
function cleanUpAtExit(): void {
  for (const child of liveChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
  liveChildren.clear();
  for (const dir of exitDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort at exit.
    }
  }
  exitDirs.clear();
}

/**
 * Runs {@linkcode cleanUpAtExit} when the test process ends. `deno test` does not emit the
 * `process` "exit" event, only the global "unload" event, so both are hooked.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", cleanUpAtExit);
  const global = globalThis as {
    addEventListener?: (type: string, listener: () => void) => void;
  };
  if (typeof global.addEventListener === "function") {
    global.addEventListener("unload", cleanUpAtExit);
  }
}

/** Keeps the last {@linkcode TAIL_LIMIT} characters appended to it. */
class Tail {
  #text = "";

  append(chunk: string): void {
    this.#text += chunk;
    if (this.#text.length > 2 * TAIL_LIMIT) this.#text = this.#text.slice(-TAIL_LIMIT);
  }

  toString(): string {
    return this.#text.length > TAIL_LIMIT ? this.#text.slice(-TAIL_LIMIT) : this.#text;
  }
}

/** A tracked child process with bounded output capture. */
interface Tracked {
  child: ChildProcess;
  stdout: Tail;
  stderr: Tail;
  /** Resolves when the process exited and its pipes closed. */
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** Whether `exited` has resolved. */
  isExited(): boolean;
  /** Called with each complete stdout line, when set. */
  onLine?: (line: string) => void;
}

function spawnTracked(command: string, args: string[], cwd?: string): Tracked {
  installExitHook();
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], cwd });
  liveChildren.add(child);
  // A peer a test forgot to stop must not keep Node's event loop (and so `node --test`) alive
  // forever: unreferenced, the process can exit and the exit hook kills the peer. Every wait on a
  // peer in this file holds a timer, which keeps the loop alive while someone is waiting.
  child.unref();
  for (const pipe of [child.stdout, child.stderr]) {
    (pipe as { unref?: () => void } | null)?.unref?.();
  }
  const stdout = new Tail();
  const stderr = new Tail();
  let finished = false;
  let partialLine = "";
  const tracked: Tracked = {
    child,
    stdout,
    stderr,
    exited: new Promise((resolve) => {
      child.once("error", (error: Error) => {
        stderr.append(`[peers] cannot start ${command}: ${error.message}\n`);
        finished = true;
        liveChildren.delete(child);
        resolve({ code: null, signal: null });
      });
      child.once("close", (code: number | null, signal: string | null) => {
        finished = true;
        liveChildren.delete(child);
        resolve({ code, signal });
      });
    }),
    isExited: () => finished,
  };
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    stdout.append(chunk);
    if (tracked.onLine === undefined) return;
    partialLine += chunk;
    let newline = partialLine.indexOf("\n");
    while (newline !== -1) {
      tracked.onLine(partialLine.slice(0, newline));
      partialLine = partialLine.slice(newline + 1);
      newline = partialLine.indexOf("\n");
    }
    // A peer that never ends a line must not grow this without bound.
    if (partialLine.length > TAIL_LIMIT) partialLine = "";
  });
  child.stderr?.on("data", (chunk: string) => stderr.append(chunk));
  return tracked;
}

/** Resolves after `ms`, or at once if `until` settles first; never leaves a timer behind. */
function sleep(ms: number, until?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    until?.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
async function terminate(tracked: Tracked, graceMs: number = KILL_GRACE_MS): Promise<void> {
  if (tracked.isExited()) return;
  tracked.child.kill("SIGTERM");
  await sleep(graceMs, tracked.exited);
  if (!tracked.isExited()) tracked.child.kill("SIGKILL");
  // The timer keeps the event loop alive until the exit is reported (the child is unref'd).
  await sleep(60_000, tracked.exited);
}

/**
 * Runs a process to completion with a deadline; on timeout it is killed and the result says so.
 */
function runWithDeadline(
  tracked: Tracked,
  timeoutMs: number,
  label: string,
): Promise<ProcessResult> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void terminate(tracked);
  }, timeoutMs);
  return tracked.exited.then(({ code }) => {
    clearTimeout(timer);
    if (timedOut) tracked.stderr.append(`\n[peers] ${label} killed after ${timeoutMs} ms\n`);
    return { code, stderr: tracked.stderr.toString() };
  });
}

/**
 * Polls `check` until it returns true.
 *
 * @example
 * ```ts
 * import { startHttpStatus, waitFor } from "./peers.ts";
 *
 * const http = await startHttpStatus(200);
 * await fetch(http.url);
 * await waitFor(() => http.requests.length === 1, { what: "one request" });
 * await http.stop();
 * ```
 *
 * @param check Condition to wait for; may be async.
 * @param options Deadline, poll period and a description for the timeout error.
 * @returns Resolves when `check` returned true; rejects with an `Error` at the deadline.
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  options: WaitForOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? STARTUP_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? "condition"}`);
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// Environment

/**
 * Whether `name` is an executable on PATH.
 *
 * @example
 * ```ts
 * import { hasCommand } from "./peers.ts";
 * // Tests gate on requirePeer() (require_peer.ts), which fails under CI instead of skipping.
 * console.log(hasCommand("ffmpeg"));
 * ```
 *
 * @param name Command name (letters, digits, `._+-` only).
 * @returns `true` when `command -v name` finds it.
 */
export function hasCommand(name: string): boolean {
  if (!/^[A-Za-z0-9._+-]+$/.test(name)) return false;
  const result = spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
  return result.status === 0;
}

let moduleLookup: string | null | undefined;

/**
 * Path of nginx's RTMP module (`ngx_rtmp_module.so` from Debian's libnginx-mod-rtmp), or
 * `undefined` when it is not installed.
 *
 * @example
 * ```ts
 * import { hasCommand, nginxRtmpModulePath } from "./peers.ts";
 * const canRunNginx = hasCommand("nginx") && nginxRtmpModulePath() !== undefined;
 * console.log(canRunNginx);
 * ```
 *
 * @returns Absolute path of the module, or `undefined`.
 */
export function nginxRtmpModulePath(): string | undefined {
  if (moduleLookup === undefined) {
    moduleLookup = null;
    const listed = spawnSync("dpkg", ["-L", "libnginx-mod-rtmp"], { encoding: "utf8" });
    const fromDpkg = listed.status === 0
      ? listed.stdout.split("\n").find((line) => line.endsWith("/ngx_rtmp_module.so"))
      : undefined;
    const candidates = [
      fromDpkg,
      "/usr/lib/nginx/modules/ngx_rtmp_module.so",
      "/usr/lib64/nginx/modules/ngx_rtmp_module.so",
    ];
    for (const candidate of candidates) {
      if (candidate !== undefined && existsSync(candidate)) {
        moduleLookup = candidate;
        break;
      }
    }
  }
  return moduleLookup ?? undefined;
}

const NODE_MODULES = fileURLToPath(new URL("../../node_modules/", import.meta.url));
const NMS_DIR = join(NODE_MODULES, "node-media-server");
const NODE_BIN = join(NODE_MODULES, ".bin", "node");

/**
 * Whether node-media-server and the project's Node 24 are installed in `node_modules`.
 *
 * @example
 * ```ts
 * import { hasNodeMediaServer } from "./peers.ts";
 * console.log(hasNodeMediaServer());
 * ```
 *
 * @returns `true` when {@linkcode startNodeMediaServer} can run.
 */
export function hasNodeMediaServer(): boolean {
  return existsSync(join(NMS_DIR, "package.json")) && existsSync(NODE_BIN);
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close).
 *
 * @example
 * ```ts
 * import { freePort } from "./peers.ts";
 * const port = await freePort();
 * console.log(`rtmp://127.0.0.1:${port}/live/key`);
 * ```
 *
 * @returns The port number.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => {
        if (port > 0) resolve(port);
        else reject(new Error(`freePort: expected a bound TCP address, got ${String(address)}`));
      });
    });
  });
}

/**
 * Whether some socket on this host is in LISTEN state on TCP `port` (IPv4 or IPv6). Reads
 * `/proc/net/tcp*` instead of connecting, because a probe connection would be taken as the one
 * client of a one-shot server such as `ffmpeg -listen 1`.
 *
 * @example
 * ```ts
 * import { freePort, isPortListening } from "./peers.ts";
 * console.log(await isPortListening(await freePort())); // false
 * ```
 *
 * @param port TCP port.
 * @returns `true` when a listener exists.
 */
export async function isPortListening(port: number): Promise<boolean> {
  let sawTable = false;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = await readFile(table, "utf8");
    } catch {
      continue;
    }
    sawTable = true;
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // Fields: sl, local_address (hex ip:port), rem_address, st (0A = TCP_LISTEN).
      if (fields.length < 4 || fields[3] !== "0A") continue;
      const colon = fields[1].lastIndexOf(":");
      if (parseInt(fields[1].slice(colon + 1), 16) === port) return true;
    }
  }
  if (sawTable) return false;
  const ss = spawnSync("ss", ["-Hltn", `sport = :${port}`], { encoding: "utf8" });
  return ss.status === 0 && ss.stdout.trim() !== "";
}

/** Waits until `ports` all listen; rejects early if the process exits first. */
async function waitForListening(tracked: Tracked, ports: number[], label: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (tracked.isExited()) {
      throw new Error(
        `${label} exited before listening on ${ports.join(", ")}:\n${tracked.stderr}`,
      );
    }
    let all = true;
    for (const port of ports) {
      if (!(await isPortListening(port))) {
        all = false;
        break;
      }
    }
    if (all) return;
    if (Date.now() >= deadline) {
      await terminate(tracked);
      throw new Error(
        `${label} did not listen on ${ports.join(", ")} within ${STARTUP_TIMEOUT_MS} ms:\n` +
          `${tracked.stderr}${tracked.stdout}`,
      );
    }
    await sleep(25, tracked.exited);
  }
}

// ---------------------------------------------------------------------------------------------
// Temp dirs

/**
 * Creates a fresh directory under `os.tmpdir()`; it is also removed when the process exits.
 *
 * @example
 * ```ts
 * import { removeTempDir, tempDir } from "./peers.ts";
 * const dir = await tempDir("rtmp-test-");
 * await removeTempDir(dir);
 * ```
 *
 * @param prefix Name prefix, e.g. `"rtmp-pull-"`.
 * @returns Absolute path of the new directory.
 */
export async function tempDir(prefix: string): Promise<string> {
  installExitHook();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  exitDirs.add(dir);
  return dir;
}

/**
 * Removes a directory made by {@linkcode tempDir} (or any directory) recursively.
 *
 * @example
 * ```ts
 * import { removeTempDir, tempDir } from "./peers.ts";
 * await removeTempDir(await tempDir("x-"));
 * ```
 *
 * @param dir Directory to remove; missing is fine.
 * @returns Resolves once it is gone.
 */
export async function removeTempDir(dir: string): Promise<void> {
  exitDirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// Media

let mediaCacheDir: string | undefined;
const mediaCache = new Map<string, Promise<string>>();

/**
 * An H.264 (libx264) + AAC (48 kHz sine) FLV made by ffmpeg from lavfi `testsrc2` and `sine`.
 * Files are cached per option set for the life of the process, so calling it often is cheap.
 *
 * @example
 * ```ts
 * import { countPackets, makeTestFlv } from "./peers.ts";
 * const file = await makeTestFlv({ seconds: 2, bFrames: true });
 * console.log(await countPackets(file));
 * ```
 *
 * @param options Length, size, rate and B-frames.
 * @returns Path of the FLV file; do not modify or delete it.
 */
export function makeTestFlv(options: TestFlvOptions = {}): Promise<string> {
  const seconds = options.seconds ?? 2;
  const width = options.width ?? 320;
  const height = options.height ?? 240;
  const fps = options.fps ?? 25;
  const bFrames = options.bFrames ?? false;
  const key = `${seconds}s-${width}x${height}-${fps}fps-${bFrames ? "bf" : "nobf"}`;
  const cached = mediaCache.get(key);
  if (cached !== undefined) return cached;
  const made = (async () => {
    if (mediaCacheDir === undefined) {
      installExitHook();
      mediaCacheDir = mkdtempSync(join(tmpdir(), "rtmp-media-"));
      exitDirs.add(mediaCacheDir);
    }
    const file = join(mediaCacheDir, `${key}.flv`);
    const args = [
      ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
      ...["-f", "lavfi", "-i", `testsrc2=size=${width}x${height}:rate=${fps}`],
      ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
      ...["-t", String(seconds)],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
      ...["-g", String(fps * 2), "-bf", bFrames ? "3" : "0"],
      ...["-c:a", "aac", "-b:a", "64k", "-ar", "48000"],
      ...["-f", "flv", file],
    ];
    const result = await runWithDeadline(spawnTracked("ffmpeg", args), 60_000, "ffmpeg (media)");
    if (result.code !== 0) {
      throw new Error(`makeTestFlv: ffmpeg exited with ${result.code}:\n${result.stderr}`);
    }
    return file;
  })();
  mediaCache.set(key, made);
  made.catch(() => mediaCache.delete(key));
  return made;
}

/**
 * Counts the video and audio packets of a media file with
 * `ffprobe -v error -count_packets -show_streams -show_format -of json`.
 *
 * @example
 * ```ts
 * import { countPackets, makeTestFlv } from "./peers.ts";
 * const { video, audio, duration } = await countPackets(await makeTestFlv());
 * console.log(video, audio, duration);
 * ```
 *
 * @param file Path of the file.
 * @returns Packet counts per kind and the duration in seconds.
 */
export async function countPackets(file: string): Promise<PacketCounts> {
  const tracked = spawnTracked("ffprobe", [
    ...["-v", "error", "-count_packets", "-show_streams", "-show_format", "-of", "json", file],
  ]);
  const result = await runWithDeadline(tracked, 30_000, "ffprobe");
  if (result.code !== 0) {
    throw new Error(
      `countPackets: ffprobe exited with ${result.code} on ${file}:\n${result.stderr}`,
    );
  }
  let parsed: {
    streams?: Array<{ codec_type?: string; nb_read_packets?: string }>;
    format?: { duration?: string };
  };
  try {
    parsed = JSON.parse(tracked.stdout.toString());
  } catch (error) {
    throw new Error(`countPackets: expected JSON from ffprobe, got:\n${tracked.stdout}`, {
      cause: error,
    });
  }
  const counts: PacketCounts = { video: 0, audio: 0, duration: 0 };
  for (const stream of parsed.streams ?? []) {
    const n = Number(stream.nb_read_packets ?? 0);
    if (stream.codec_type === "video") counts.video += n;
    else if (stream.codec_type === "audio") counts.audio += n;
  }
  const duration = Number(parsed.format?.duration ?? 0);
  counts.duration = Number.isFinite(duration) ? duration : 0;
  return counts;
}

// ---------------------------------------------------------------------------------------------
// ffmpeg as publisher, player and one-shot server

/**
 * Publishes a file with `ffmpeg -hide_banner -loglevel error [-re] -i INPUT -c copy -f flv URL`
 * and waits for ffmpeg to exit.
 *
 * @example
 * ```ts
 * import { ffmpegPublish, makeTestFlv } from "./peers.ts";
 * const { code, stderr } = await ffmpegPublish(await makeTestFlv(), "rtmp://127.0.0.1:1935/live/k");
 * if (code !== 0) console.log(stderr);
 * ```
 *
 * @param input Media file to send.
 * @param url `rtmp://` or `rtmps://` URL.
 * @param options `-re`, extra output args, deadline.
 * @returns ffmpeg's exit code and stderr tail.
 */
export function ffmpegPublish(
  input: string,
  url: string,
  options: PublishOptions = {},
): Promise<ProcessResult> {
  const args = [
    ...["-hide_banner", "-loglevel", "error", "-nostdin"],
    ...(options.realtime ? ["-re"] : []),
    ...["-i", input, "-c", "copy"],
    ...(options.extraArgs ?? []),
    ...["-f", "flv", url],
  ];
  const tracked = spawnTracked("ffmpeg", args);
  return runWithDeadline(tracked, options.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS, "ffmpeg publish");
}

/**
 * Plays a stream and records it with `ffmpeg -i URL -c copy -f flv OUT`. ffmpeg ends on its own
 * when the server sends `NetStream.Play.Stop` / `UnpublishNotify` or closes the connection; a
 * `kill()` instead may lose the last audio packets still held by ffmpeg's interleaver.
 *
 * @example
 * ```ts
 * import { ffmpegPull } from "./peers.ts";
 * const player = ffmpegPull("rtmp://127.0.0.1:1935/live/k", "/tmp/out.flv", { timeoutMs: 10_000 });
 * const { code } = await player.done;
 * console.log(code);
 * ```
 *
 * @param url Stream to play.
 * @param outFile FLV file to write (overwritten).
 * @param options Deadline, media duration, idle timeout.
 * @returns The running player.
 */
export function ffmpegPull(url: string, outFile: string, options: PullOptions = {}): FfmpegRun {
  const args = [
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
    ...(options.idleTimeoutSec !== undefined
      ? ["-rw_timeout", String(Math.round(options.idleTimeoutSec * 1e6))]
      : []),
    ...["-i", url],
    ...(options.durationSec !== undefined ? ["-t", String(options.durationSec)] : []),
    ...["-c", "copy", "-f", "flv", outFile],
  ];
  const tracked = spawnTracked("ffmpeg", args);
  return {
    done: runWithDeadline(tracked, options.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS, "ffmpeg pull"),
    kill: () => void terminate(tracked),
  };
}

/**
 * Starts ffmpeg as a one-shot RTMP server (`ffmpeg -listen 1 -i URL -c copy -f flv OUT`) and
 * resolves once its socket is in LISTEN state. Readiness is read from `/proc/net/tcp`, never by
 * connecting: ffmpeg accepts exactly one client and would take the probe for it.
 *
 * @example
 * ```ts
 * import { ffmpegPublish, freePort, makeTestFlv, startFfmpegListen } from "./peers.ts";
 * const url = `rtmp://127.0.0.1:${await freePort()}/live/key`;
 * const server = await startFfmpegListen(url, "/tmp/received.flv");
 * await ffmpegPublish(await makeTestFlv(), url);
 * console.log((await server.done).code);
 * ```
 *
 * @param url `rtmp://127.0.0.1:PORT/APP/KEY` to listen on.
 * @param outFile FLV file to write (overwritten).
 * @param options Deadline for the whole run.
 * @returns The running server; `done` resolves after the publisher disconnected.
 */
export async function startFfmpegListen(
  url: string,
  outFile: string,
  options: ListenOptions = {},
): Promise<FfmpegRun> {
  const parsed = new URL(url);
  const port = parsed.port === "" ? 1935 : Number(parsed.port);
  const args = [
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
    ...["-listen", "1", "-i", url, "-c", "copy", "-f", "flv", outFile],
  ];
  const tracked = spawnTracked("ffmpeg", args);
  const done = runWithDeadline(
    tracked,
    options.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS,
    "ffmpeg listen",
  );
  await waitForListening(tracked, [port], "ffmpeg -listen 1");
  return { done, kill: () => void terminate(tracked) };
}

// ---------------------------------------------------------------------------------------------
// nginx-rtmp

/** Counts `needle` in `haystack`. */
function occurrences(haystack: string, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) {
    count++;
  }
  return count;
}

async function readTail(file: string): Promise<string> {
  try {
    const text = await readFile(file, "utf8");
    return text.length > TAIL_LIMIT ? text.slice(-TAIL_LIMIT) : text;
  } catch {
    return "";
  }
}

/**
 * Starts nginx with Debian's RTMP module in a private prefix under a temp dir: `daemon off`,
 * `master_process off` (one process, so stopping it leaves nothing behind), info-level error
 * log, and `application <app> { live on; record off; publish_notify on; }` on 127.0.0.1 at a
 * free port. Resolves once the port listens.
 *
 * @example
 * ```ts
 * import { startHttpStatus, startNginxRtmp } from "./peers.ts";
 * const hook = await startHttpStatus(403);
 * const nginx = await startNginxRtmp({ onPublish: hook.url + "on_publish" });
 * console.log(nginx.url("live", "key"));
 * await nginx.stop();
 * await hook.stop();
 * ```
 *
 * @param options `on_publish` URL, chunk size, applications, publish notifications.
 * @returns The running server.
 */
export async function startNginxRtmp(options: NginxRtmpOptions = {}): Promise<NginxRtmp> {
  const modulePath = nginxRtmpModulePath();
  if (modulePath === undefined) {
    throw new Error("startNginxRtmp: expected libnginx-mod-rtmp (ngx_rtmp_module.so), not found");
  }
  for (
    const value of [
      options.onPublish ?? "",
      options.onPlay ?? "",
      options.vod?.app ?? "",
      options.vod?.dir ?? "",
      ...(options.apps ?? []),
    ]
  ) {
    if (/[\s;{}'"]/.test(value)) {
      throw new Error(
        `startNginxRtmp: expected a value without spaces, quotes or ;{}, got ${value}`,
      );
    }
  }
  const apps = options.apps ?? ["live"];
  const dir = await tempDir("rtmp-nginx-");
  const errorLog = join(dir, "error.log");
  const conf = join(dir, "nginx.conf");
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    const application = (app: string): string =>
      [
        `    application ${app} {`,
        "      live on;",
        "      record off;",
        `      publish_notify ${options.publishNotify === false ? "off" : "on"};`,
        ...(options.onPublish !== undefined ? [`      on_publish ${options.onPublish};`] : []),
        ...(options.onPlay !== undefined ? [`      on_play ${options.onPlay};`] : []),
        "    }",
      ].join("\n");
    const text = [
      `load_module ${modulePath};`,
      "daemon off;",
      "master_process off;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${errorLog} info;`,
      "events { worker_connections 256; }",
      "rtmp {",
      "  server {",
      `    listen 127.0.0.1:${port};`,
      ...(options.chunkSize !== undefined ? [`    chunk_size ${options.chunkSize};`] : []),
      ...apps.map(application),
      ...(options.vod ? [`    application ${options.vod.app} { play ${options.vod.dir}; }`] : []),
      "  }",
      "}",
      "",
    ].join("\n");
    await writeFile(conf, text);
    // -p keeps every relative path in the temp prefix; -e replaces the compiled-in startup log.
    const tracked = spawnTracked("nginx", ["-p", dir + "/", "-c", conf, "-e", errorLog]);
    try {
      await waitForListening(tracked, [port], "nginx");
    } catch (error) {
      lastError = error as Error;
      await terminate(tracked);
      continue;
    }
    let finalLogs: string | undefined;
    const logs = async (): Promise<string> => {
      if (finalLogs !== undefined) return finalLogs;
      return `${await readTail(errorLog)}${tracked.stderr}`;
    };
    return {
      port,
      url: (app: string, key: string): string => `rtmp://127.0.0.1:${port}/${app}/${key}`,
      waitForPlay: async (key: string, waitOptions: WaitForPlayOptions = {}): Promise<void> => {
        // Logged at info level by nginx-rtmp's command module just before the play chain runs.
        const needle = ` play: name='${key}'`;
        const count = waitOptions.count ?? 1;
        await waitFor(async () => {
          if (tracked.isExited()) throw new Error(`nginx exited:\n${await logs()}`);
          return occurrences(await readTail(errorLog), needle) >= count;
        }, { timeoutMs: waitOptions.timeoutMs, what: `nginx play of '${key}' (x${count})` });
      },
      logs,
      stop: async (): Promise<void> => {
        if (finalLogs !== undefined) return;
        await terminate(tracked);
        finalLogs = `${await readTail(errorLog)}${tracked.stderr}`;
        await removeTempDir(dir);
      },
    };
  }
  await removeTempDir(dir);
  throw new Error(`startNginxRtmp: failed after ${PORT_ATTEMPTS} attempts: ${lastError?.message}`);
}

// ---------------------------------------------------------------------------------------------
// node-media-server

const EVENT_PREFIX = "@@peer ";

function nodeMediaServerScript(config: unknown, endPlayers: boolean, configPath: string): string {
  return `// Generated by tests/support/peers.ts: node-media-server as a test peer.
import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(join(NMS_DIR, "package.json"))});
const NodeMediaServer = require(${JSON.stringify(NMS_DIR)});
const logger = require(${JSON.stringify(join(NMS_DIR, "src", "core", "logger.js"))});
const config = ${JSON.stringify(config)};
const endPlayers = ${JSON.stringify(endPlayers)};
const nms = new NodeMediaServer(config, ${JSON.stringify(configPath)});
// The constructor forces debug level; info keeps one line per session event.
logger.level = "info";
const emit = (event, session) => {
  const line = JSON.stringify({ event, app: session.streamApp, name: session.streamName });
  process.stdout.write(${JSON.stringify(EVENT_PREFIX)} + line + "\\n");
};
nms.on("postPlay", (session) => emit("postPlay", session));
nms.on("postPublish", (session) => {
  emit("postPublish", session);
  if (!endPlayers || !session.socket) return;
  session.socket.once("close", () => {
    const broadcast = session.broadcast;
    if (!broadcast || broadcast.publisher !== session) return;
    for (const player of broadcast.subscribers.values()) {
      if (player.socket && typeof player.socket.end === "function") player.socket.end();
    }
  });
});
process.on("SIGTERM", () => process.exit(0));
nms.run();
`;
}

/**
 * Starts node-media-server 4.x from `node_modules` as a child process of the project's Node 24
 * (same peer whatever runtime runs the test), RTMP (and optionally RTMPS) on 127.0.0.1, HTTP and
 * the web admin off, its store in a temp dir. Resolves once the ports listen.
 *
 * @example
 * ```ts
 * import { startNodeMediaServer } from "./peers.ts";
 * const nms = await startNodeMediaServer({ endPlayersOnUnpublish: true });
 * console.log(nms.url("live", "key"));
 * await nms.stop();
 * ```
 *
 * @param options RTMPS PEM files; whether to end players when their publisher leaves.
 * @returns The running server.
 */
export async function startNodeMediaServer(
  options: NodeMediaServerOptions = {},
): Promise<NodeMediaServerPeer> {
  if (!hasNodeMediaServer()) {
    throw new Error(`startNodeMediaServer: expected node-media-server in ${NMS_DIR}, not found`);
  }
  const dir = await tempDir("rtmp-nms-");
  const script = join(dir, "nms.mjs");
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    let rtmpsPort: number | undefined;
    if (options.rtmps !== undefined) {
      do rtmpsPort = await freePort(); while (rtmpsPort === port);
    }
    const config = {
      bind: "127.0.0.1",
      rtmp: { port },
      ...(options.rtmps !== undefined
        ? { rtmps: { port: rtmpsPort, key: options.rtmps.key, cert: options.rtmps.cert } }
        : {}),
      store: { path: join(dir, "data") },
      webadmin: { enable: false },
    };
    await writeFile(
      script,
      nodeMediaServerScript(config, options.endPlayersOnUnpublish ?? false, join(dir, "nms.json")),
    );
    const tracked = spawnTracked(NODE_BIN, [script], dir);
    const events: Array<{ event: string; name: string }> = [];
    tracked.onLine = (line: string): void => {
      if (!line.startsWith(EVENT_PREFIX)) return;
      try {
        const parsed = JSON.parse(line.slice(EVENT_PREFIX.length));
        if (events.length < 10_000) events.push({ event: parsed.event, name: parsed.name });
      } catch {
        // A line that merely starts like ours: ignore.
      }
    };
    const ports = rtmpsPort !== undefined ? [port, rtmpsPort] : [port];
    try {
      await waitForListening(tracked, ports, "node-media-server");
    } catch (error) {
      lastError = error as Error;
      await terminate(tracked);
      continue;
    }
    const logs = (): string => `${tracked.stdout}${tracked.stderr}`;
    let stopped = false;
    return {
      port,
      rtmpsPort,
      url: (app: string, key: string): string => `rtmp://127.0.0.1:${port}/${app}/${key}`,
      rtmpsUrl: (app: string, key: string): string => {
        if (rtmpsPort === undefined) {
          throw new Error("rtmpsUrl: node-media-server was started without the rtmps option");
        }
        return `rtmps://127.0.0.1:${rtmpsPort}/${app}/${key}`;
      },
      waitForPlay: async (key: string, waitOptions: WaitForPlayOptions = {}): Promise<void> => {
        const count = waitOptions.count ?? 1;
        await waitFor(() => {
          if (tracked.isExited()) throw new Error(`node-media-server exited:\n${logs()}`);
          return events.filter((e) => e.event === "postPlay" && e.name === key).length >= count;
        }, { timeoutMs: waitOptions.timeoutMs, what: `node-media-server play of '${key}'` });
      },
      logs,
      stop: async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        await terminate(tracked);
        await removeTempDir(dir);
      },
    };
  }
  await removeTempDir(dir);
  throw new Error(
    `startNodeMediaServer: failed after ${PORT_ATTEMPTS} attempts: ${lastError?.message}`,
  );
}

// ---------------------------------------------------------------------------------------------
// HTTP callback target

/**
 * A node:http server on 127.0.0.1 answering every request with `status` and recording it; the
 * target for nginx's `on_publish` callbacks.
 *
 * @example
 * ```ts
 * import { startHttpStatus } from "./peers.ts";
 * const hook = await startHttpStatus(403);
 * const res = await fetch(hook.url + "on_publish", { method: "POST", body: "name=key" });
 * console.log(res.status, hook.requests[0]); // 403 { url: "/on_publish", body: "name=key" }
 * await hook.stop();
 * ```
 *
 * @param status HTTP status to answer with.
 * @returns The running server and its request log.
 */
export function startHttpStatus(status: number): Promise<HttpStatusServer> {
  const requests: RecordedRequest[] = [];
  const server = createHttpServer((req: IncomingMessage, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      if (body.length < TAIL_LIMIT) body += chunk.slice(0, TAIL_LIMIT - body.length);
    });
    req.on("end", () => {
      requests.push({ url: req.url ?? "", body });
      res.writeHead(status, { "content-type": "text/plain", connection: "close" });
      res.end(`${status}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}/`,
        requests,
        stop: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections?.();
          }),
      });
    });
  });
}
