/**
 * nginx as a configurable test peer, for what {@linkcode startNginxRtmp} (peers.ts) does not
 * offer: a caller-written configuration (`record all`, `push`, a `stream { … ssl … }` TLS
 * terminator), a fixed port so a killed nginx can be restarted where its clients expect it,
 * signals (SIGKILL mid-stream, SIGSTOP/SIGCONT), and the process id for CPU accounting from
 * `/proc/PID/stat`.
 *
 * nginx runs with `daemon off; master_process off;`: one process, so its pid is the one that
 * does the work and killing it leaves nothing behind. Every nginx started here is SIGKILLed when
 * the test process exits.
 *
 * @example Record a stream with `record all`
 * ```ts ignore
 * import { startNginx } from "./nginx.ts";
 * const nginx = await startNginx({
 *   rtmp: ({ port, dir }) => `application live { live on; record all; record_path ${dir}/rec; }`,
 * });
 * console.log(nginx.url("live", "key"), nginx.pid);
 * await nginx.stop();
 * ```
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import process from "node:process";
import { join } from "node:path";
import { freePort, isPortListening, nginxRtmpModulePath, tempDir, waitFor } from "./peers.ts";

const STREAM_MODULES = [
  "/usr/lib/nginx/modules/ngx_stream_module.so",
  "/usr/lib64/nginx/modules/ngx_stream_module.so",
];

/** What the configuration callbacks are given. */
export interface NginxContext {
  /** The RTMP listener's port (`listen 127.0.0.1:PORT` is written for you). */
  port: number;
  /** Extra ports asked for with `extraPorts`, in order. */
  extra: number[];
  /** This nginx's private prefix directory (logs, pid; record into a subfolder of it). */
  dir: string;
}

/** Options of {@linkcode startNginx}. */
export interface NginxOptions {
  /** Body of `rtmp { server { listen …; BODY } }` (applications, chunk_size, …). */
  rtmp: (ctx: NginxContext) => string;
  /** A top-level `stream { … }` block (loads the stream module), or nothing. */
  stream?: (ctx: NginxContext) => string;
  /** Use this RTMP port (a restart where clients expect it); default a free one. */
  port?: number;
  /** Use these extra ports; default `extraPortCount` free ones. */
  extra?: number[];
  /** How many extra free ports to pick for `stream` listeners. Default 0. */
  extraPortCount?: number;
  /** Use this prefix directory (a restart keeping its recordings); default a new temp dir. */
  dir?: string;
  /** Subfolders of the prefix directory to create first (nginx's `record_path` must exist). */
  folders?: string[];
  /** Poll period while waiting for the ports to listen (ms). Default 10. */
  pollMs?: number;
}

/** A running nginx. */
export interface Nginx {
  /** Process id (the one process doing the work: `master_process off`). */
  pid: number;
  /** RTMP port. */
  port: number;
  /** Extra ports. */
  extra: number[];
  /** Prefix directory. */
  dir: string;
  /** `Date.now()` when every port was seen listening. */
  listeningAt: number;
  /** `rtmp://127.0.0.1:PORT/APP/KEY`. */
  url(app: string, key: string): string;
  /** Sends a signal (`SIGKILL`, `SIGSTOP`, `SIGCONT`, …). */
  signal(signal: NodeJS.Signals): void;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** The error log (info level) and stderr. */
  logs(): Promise<string>;
  /** Resolves once `needle` occurs `count` times in the error log. */
  waitForLog(needle: string, count?: number, timeoutMs?: number): Promise<void>;
  /** SIGCONT (in case it is stopped), SIGTERM, then SIGKILL after 3 s; waits for the exit. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let hooked = false;

function killAllAtExit(): void {
  for (const child of running) {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone already
    }
  }
  running.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAllAtExit);
  const g = globalThis as { addEventListener?: (t: string, l: () => void) => void };
  g.addEventListener?.("unload", killAllAtExit);
}

/**
 * Whether nginx with the RTMP module (and, when asked, the stream module) can run here.
 *
 * @example
 * ```ts
 * import { nginxAvailable } from "./nginx.ts";
 * console.log(nginxAvailable({ stream: true }));
 * ```
 *
 * @param options `stream`: also needs the stream module.
 * @returns Whether it can.
 */
export function nginxAvailable(options: { stream?: boolean } = {}): boolean {
  if (nginxRtmpModulePath() === undefined) return false;
  return !options.stream || STREAM_MODULES.some((p) => existsSync(p));
}

/**
 * Starts nginx with a configuration written by the caller; resolves once every port listens.
 *
 * @example
 * ```ts ignore
 * import { startNginx } from "./nginx.ts";
 * const a = await startNginx({ rtmp: () => "application live { live on; }" });
 * a.signal("SIGKILL");
 * await a.exited;
 * const b = await startNginx({ port: a.port, dir: a.dir, rtmp: () => "application live { live on; }" });
 * await b.stop();
 * ```
 *
 * @param options Configuration, ports, prefix directory.
 * @returns The running nginx.
 */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  hookExit();
  const rtmpModule = nginxRtmpModulePath();
  if (rtmpModule === undefined) throw new Error("startNginx: ngx_rtmp_module.so not found");
  const dir = options.dir ?? await tempDir("rtmp-nginx-");
  for (const sub of ["logs", ...(options.folders ?? [])]) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  const port = options.port ?? await freePort();
  const extra = options.extra ?? [];
  while (extra.length < (options.extraPortCount ?? 0)) {
    const p = await freePort();
    if (p !== port && !extra.includes(p)) extra.push(p);
  }
  const ctx: NginxContext = { port, extra, dir };
  const errorLog = join(dir, "logs", "error.log");
  const stream = options.stream?.(ctx);
  const modules = [rtmpModule];
  if (stream !== undefined) {
    const m = STREAM_MODULES.find((p) => existsSync(p));
    if (m === undefined) throw new Error("startNginx: ngx_stream_module.so not found");
    modules.push(m);
  }
  const conf = join(dir, "nginx.conf");
  await writeFile(
    conf,
    [
      ...modules.map((m) => `load_module ${m};`),
      "daemon off;",
      "master_process off;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${errorLog} info;`,
      "events { worker_connections 1024; }",
      "rtmp {",
      "  server {",
      `    listen 127.0.0.1:${port};`,
      options.rtmp(ctx),
      "  }",
      "}",
      stream ?? "",
      "",
    ].join("\n"),
  );
  const child = spawn("nginx", ["-p", dir + "/", "-c", conf, "-e", errorLog], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  running.add(child);
  child.unref();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    if (stderr.length < 65536) stderr += d;
  });
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    child.once("error", (e) => {
      stderr += `cannot start nginx: ${e.message}\n`;
      gone = true;
      running.delete(child);
      resolve();
    });
    child.once("close", () => {
      gone = true;
      running.delete(child);
      resolve();
    });
  });
  const logs = async (): Promise<string> => {
    let text = "";
    try {
      text = await readFile(errorLog, "utf8");
    } catch {
      // not written yet
    }
    return text + stderr;
  };
  const ports = [port, ...extra];
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (gone) throw new Error(`nginx exited before listening:\n${await logs()}`);
    let all = true;
    for (const p of ports) {
      if (!(await isPortListening(p))) {
        all = false;
        break;
      }
    }
    if (all) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`nginx did not listen on ${ports.join(", ")}:\n${await logs()}`);
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 10));
  }
  const listeningAt = Date.now();
  // By pid: Deno's ChildProcess.kill() sends only the first signal it is given (it then counts
  // the child as killed), and a stopped nginx needs SIGSTOP, SIGCONT and SIGTERM.
  const send = (signal: NodeJS.Signals): void => {
    if (gone) return;
    try {
      process.kill(child.pid!, signal);
    } catch {
      // exited meanwhile
    }
  };
  const count = (text: string, needle: string): number => text.split(needle).length - 1;
  return {
    pid: child.pid!,
    port,
    extra,
    dir,
    listeningAt,
    url: (app, key) => `rtmp://127.0.0.1:${port}/${app}/${key}`,
    signal: send,
    exited,
    logs,
    waitForLog: (needle, n = 1, timeoutMs = 15_000) =>
      waitFor(async () => count(await logs(), needle) >= n, {
        timeoutMs,
        what: `nginx log "${needle}" x${n}`,
      }),
    stop: async () => {
      if (gone) return;
      send("SIGCONT");
      send("SIGTERM");
      const timer = setTimeout(() => send("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The `.flv` files in a folder, oldest name first (nginx's `record_unique` names sort by time).
 *
 * @example
 * ```ts ignore
 * import { recordings } from "./nginx.ts";
 * console.log(await recordings("/tmp/rec"));
 * ```
 *
 * @param folder Folder.
 * @returns Absolute paths.
 */
export async function recordings(folder: string): Promise<string[]> {
  let names: string[] = [];
  try {
    names = await readdir(folder);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith(".flv")).sort().map((n) => join(folder, n));
}

/** One reading of a process's CPU time. */
export interface CpuSample {
  /** User + system seconds of the whole process (all threads, also exited ones), 10 ms ticks. */
  ticks: number;
  /** Nanoseconds on CPU of each live thread (`/proc/PID/task/TID/schedstat`), by thread id. */
  threads: Map<string, number>;
}

/**
 * Reads a process's CPU time: `/proc/PID/stat` (utime + stime in `USER_HZ` = 1/100 s ticks,
 * every thread ever) and each live thread's `schedstat` (nanoseconds).
 *
 * @example
 * ```ts ignore
 * import { cpuBetween, cpuSample } from "./nginx.ts";
 * const before = await cpuSample(pid);
 * // … work …
 * console.log(cpuBetween(before, await cpuSample(pid)));
 * ```
 *
 * @param pid Process id.
 * @returns The sample.
 */
export async function cpuSample(pid: number): Promise<CpuSample> {
  const text = await readFile(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may contain spaces: fields are counted after its ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // After ")": state is field 3 → index 0; utime is field 14 → index 11, stime 15 → 12.
  const ticks = (Number(fields[11]) + Number(fields[12])) / 100;
  const threads = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    try {
      const line = await readFile(`/proc/${pid}/task/${tid}/schedstat`, "utf8");
      threads.set(tid, Number(line.split(" ")[0]));
    } catch {
      // the thread exited meanwhile
    }
  }
  return { ticks, threads };
}

/**
 * CPU seconds used between two samples: from the threads' nanosecond counters when no thread
 * of the first sample has gone (a thread started meanwhile counts whole), else from the ticks.
 * Ticks alone cannot measure nginx-rtmp, whose relay of one stream takes a few ticks a minute.
 *
 * @example
 * ```ts ignore
 * import { cpuBetween, cpuSample } from "./nginx.ts";
 * const a = await cpuSample(pid);
 * const b = await cpuSample(pid);
 * console.log(cpuBetween(a, b) >= 0);
 * ```
 *
 * @param before Earlier sample.
 * @param after Later sample.
 * @returns Seconds.
 */
export function cpuBetween(before: CpuSample, after: CpuSample): number {
  let ns = 0;
  for (const [tid, t] of before.threads) {
    const now = after.threads.get(tid);
    if (now === undefined) return after.ticks - before.ticks;
    ns += now - t;
  }
  for (const [tid, t] of after.threads) if (!before.threads.has(tid)) ns += t;
  return ns / 1e9;
}
