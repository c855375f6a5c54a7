/**
 * The servers the bench measures, each started as its own child process so its CPU and RSS can
 * be read from `/proc`: our server on Deno, Bun and Node 24 (`bench/serve_for_bench.ts`),
 * node-media-server 4.4.3 on Node 24, and nginx-rtmp as one process (`master_process off`,
 * `worker_processes 1`). Every server logs errors only.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { freePort, isPortListening } from "../../tests/support/peers.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "node_modules", ".bin");
const NMS_DIR = join(ROOT, "node_modules", "node-media-server");
const NGINX_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";
const SERVE = join(ROOT, "bench", "serve_for_bench.ts");

/** A started server. */
export interface RunningServer {
  /** PID of the server process (CPU and RSS are read from it and its children). */
  pid: number;
  /** RTMP port on 127.0.0.1. */
  port: number;
  /** HTTP-FLV port on 127.0.0.1, when started with `{ http: true }`. */
  httpPort?: number;
  /** Application name to use (`live`). */
  app: string;
  /** Whether the process is still running. */
  alive(): boolean;
  /** What it wrote to stderr (last 16 KiB). */
  stderr(): string;
  /** Stops it (SIGTERM, SIGKILL after 3 s). */
  stop(): Promise<void>;
}

/** A server the bench can start. */
export interface Target {
  /** Column label. */
  label: string;
  /** Whether it can run here (the runtime or peer is installed). */
  available(): boolean;
  /** Starts it; `http` also serves HTTP-FLV (`/APP/NAME.flv`) on `httpPort`. */
  start(options?: StartOptions): Promise<RunningServer>;
}

/** How to start a target. */
export interface StartOptions {
  /** Also serve HTTP-FLV. */
  http?: boolean;
}

function tracked(
  cmd: string,
  args: string[],
  cwd: string,
  env?: Record<string, string>,
): { child: ChildProcess; stderr: () => string; exited: () => boolean } {
  const child = spawn(cmd, args, {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: env ? { ...process.env, ...env } : process.env,
  });
  let err = "";
  let exited = false;
  child.stderr!.on("data", (d) => {
    err += d;
    if (err.length > 16384) err = err.slice(-16384);
  });
  child.on("exit", () => exited = true);
  return { child, stderr: () => err, exited: () => exited };
}

async function stopChild(child: ChildProcess, exited: () => boolean): Promise<void> {
  if (exited()) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await gone;
  clearTimeout(timer);
}

async function waitListening(
  port: number,
  exited: () => boolean,
  stderr: () => string,
  what: string,
): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await isPortListening(port))) {
    if (exited()) throw new Error(`${what} exited before listening:\n${stderr()}`);
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${port}:\n${stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The runtime flags `npm run serve` gives Node (`package.json` `scripts.serve`, the README's
 * main command): the bench measures our server as that command runs it.
 */
function serveScriptNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const words = String(pkg.scripts.serve).split(/\s+/);
  const end = words.indexOf("cli.ts");
  if (words[0] !== "node" || end < 0) {
    throw new Error(`package.json scripts.serve: expected "node [FLAGS] cli.ts serve ..."`);
  }
  return words.slice(1, end);
}

/** Our server on one runtime. */
function ours(runtime: "deno" | "bun" | "node"): Target {
  const cmd = join(BIN, runtime);
  // Runtime flags for profiling (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` on Node).
  const extra = (process.env.RTMP_BENCH_SERVER_FLAGS ?? "").split(" ").filter((f) => f !== "");
  const flags = runtime === "node" ? [...serveScriptNodeFlags(), ...extra] : extra;
  const args = runtime === "deno" ? ["run", "-A", ...flags, SERVE] : [...flags, SERVE];
  return {
    label: `ours ${runtime}`,
    available: () => existsSync(cmd),
    start: async (options = {}) => {
      const t = tracked(cmd, args, ROOT, options.http ? { RTMP_BENCH_HTTP: "1" } : undefined);
      const [port, httpPort] = await new Promise<[number, number?]>((resolve, reject) => {
        let out: string | null = "";
        t.child.stdout!.on("data", (d) => {
          const log = process.env.RTMP_BENCH_SERVER_LOG;
          if (log) appendFileSync(log, d);
          if (out === null) return;
          out += d;
          const m = /listening (\d+)(?: http (\d+))?\n/.exec(out);
          if (m) {
            out = null;
            resolve([Number(m[1]), m[2] === undefined ? undefined : Number(m[2])]);
          }
        });
        t.child.on(
          "exit",
          (code) => reject(new Error(`${runtime} exited (${code}):\n${t.stderr()}`)),
        );
      });
      // Keep the whole stderr (e.g. `--trace-gc`) when asked to.
      const log = process.env.RTMP_BENCH_SERVER_LOG;
      if (log) t.child.stderr!.on("data", (d) => appendFileSync(log, d));
      return {
        pid: t.child.pid!,
        port,
        httpPort,
        app: "live",
        alive: () => !t.exited(),
        stderr: t.stderr,
        stop: () => stopChild(t.child, t.exited),
      };
    },
  };
}

function nmsScript(port: number, dir: string, httpPort?: number): string {
  const config = {
    bind: "127.0.0.1",
    rtmp: { port },
    ...(httpPort === undefined ? {} : { http: { port: httpPort } }),
    store: { path: join(dir, "data") },
    webadmin: { enable: false },
  };
  return `import { createRequire } from "node:module";
const require = createRequire(${JSON.stringify(join(NMS_DIR, "package.json"))});
const NodeMediaServer = require(${JSON.stringify(NMS_DIR)});
const logger = require(${JSON.stringify(join(NMS_DIR, "src", "core", "logger.js"))});
const nms = new NodeMediaServer(${JSON.stringify(config)}, ${
    JSON.stringify(join(dir, "nms.json"))
  });
// The constructor forces debug level; the bench runs every server with error logs only.
logger.level = "error";
process.on("SIGTERM", () => process.exit(0));
nms.run();
`;
}

/** node-media-server 4.x on Node 24. */
const nodeMediaServer: Target = {
  label: "node-media-server",
  available: () => existsSync(join(NMS_DIR, "package.json")),
  start: async (options = {}) => {
    const dir = await mkdtemp(join(tmpdir(), "rtmp-bench-nms-"));
    for (let attempt = 0;; attempt++) {
      const port = await freePort();
      const httpPort = options.http ? await freePort() : undefined;
      const script = join(dir, "nms.mjs");
      await writeFile(script, nmsScript(port, dir, httpPort));
      const t = tracked(join(BIN, "node"), [script], dir);
      t.child.stdout!.resume();
      try {
        await waitListening(port, t.exited, t.stderr, "node-media-server");
        if (httpPort !== undefined) {
          await waitListening(httpPort, t.exited, t.stderr, "node-media-server (http)");
        }
      } catch (e) {
        await stopChild(t.child, t.exited);
        if (attempt < 3) continue;
        throw e;
      }
      return {
        pid: t.child.pid!,
        port,
        httpPort,
        app: "live",
        alive: () => !t.exited(),
        stderr: t.stderr,
        stop: async () => {
          await stopChild(t.child, t.exited);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
  },
};

/** nginx with the RTMP module, one process (no HTTP-FLV: `http` is refused). */
const nginxRtmp: Target = {
  label: "nginx-rtmp",
  available: () => existsSync(NGINX_MODULE),
  start: async (options = {}) => {
    if (options.http) throw new Error("nginx-rtmp serves no HTTP-FLV");
    const dir = await mkdtemp(join(tmpdir(), "rtmp-bench-nginx-"));
    const errorLog = join(dir, "error.log");
    for (let attempt = 0;; attempt++) {
      const port = await freePort();
      const conf = join(dir, "nginx.conf");
      await writeFile(
        conf,
        [
          `load_module ${NGINX_MODULE};`,
          "daemon off;",
          "master_process off;",
          "worker_processes 1;",
          "worker_rlimit_nofile 20000;",
          `pid ${join(dir, "nginx.pid")};`,
          `error_log ${errorLog} error;`,
          "events { worker_connections 19000; }",
          "rtmp {",
          "  server {",
          `    listen 127.0.0.1:${port};`,
          "    application live {",
          "      live on;",
          "      record off;",
          "    }",
          "  }",
          "}",
          "",
        ].join("\n"),
      );
      const t = tracked("nginx", ["-p", dir + "/", "-c", conf, "-e", errorLog], dir);
      t.child.stdout!.resume();
      try {
        await waitListening(port, t.exited, t.stderr, "nginx");
      } catch (e) {
        await stopChild(t.child, t.exited);
        if (attempt < 3) continue;
        throw e;
      }
      return {
        pid: t.child.pid!,
        port,
        app: "live",
        alive: () => !t.exited(),
        stderr: t.stderr,
        stop: async () => {
          await stopChild(t.child, t.exited);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
  },
};

/** Every target, in table order. */
export const TARGETS: Target[] = [
  ours("deno"),
  ours("bun"),
  ours("node"),
  nodeMediaServer,
  nginxRtmp,
];
