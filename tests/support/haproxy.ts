/**
 * A real HAProxy (Debian's `haproxy` package) as a test peer: TCP-mode front ends on free
 * loopback ports, each relaying to a backend port with `send-proxy` (v1) or `send-proxy-v2`,
 * optionally terminating TLS itself (`bind … ssl crt`) or passing it through untouched.
 *
 * HAProxy runs in the foreground (`haproxy -f CFG -db`) as a tracked child: stopped with
 * SIGTERM (immediate stop in HAProxy), SIGKILLed if still running when the test process exits.
 * Every wait has a deadline. Under `CI=true` a missing `haproxy` is a failure, not a skip.
 *
 * @example
 * ```ts
 * import { haproxySkip, startHaproxy } from "./haproxy.ts";
 * if (!haproxySkip()) {
 *   const haproxy = await startHaproxy([{ backendPort: 1935, sendProxy: "v2" }]);
 *   console.log(`clients connect to 127.0.0.1:${haproxy.ports[0]}`);
 *   await haproxy.stop();
 * }
 * ```
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { freePort, hasCommand, isPortListening, removeTempDir, tempDir } from "./peers.ts";

/** How long HAProxy may take to listen on every front end. */
const STARTUP_TIMEOUT_MS = 15_000;

/** Attempts with fresh ports when another process takes one of ours first. */
const PORT_ATTEMPTS = 4;

/** Kept output of HAProxy, for failure messages. */
const TAIL_LIMIT = 32 * 1024;

/** One front end and the backend it relays to. */
export interface HaproxyRoute {
  /** Port on 127.0.0.1 that HAProxy relays to (the server under test). */
  backendPort: number;
  /** `v1`: `send-proxy`; `v2`: `send-proxy-v2`. */
  sendProxy: "v1" | "v2";
  /**
   * Extra words for the `server` line, e.g. `proxy-v2-options ssl,authority,crc32c`
   * (HAProxy 2.6 configuration manual, section 5.2).
   */
  serverOptions?: string;
  /**
   * Terminate TLS at the front end with this certificate and key (PEM). Without it the front end
   * is plain TCP, which also passes a client's TLS through to the backend untouched.
   */
  frontendTls?: {
    cert: string;
    key: string;
    /** CA (PEM) for client certificates: adds `ca-file … verify optional`. */
    clientCa?: string;
  };
  /** Extra lines for the `frontend` section, e.g. a `unique-id-format`. */
  frontendLines?: string[];
}

/** A running HAProxy. */
export interface Haproxy {
  /** Front-end ports on 127.0.0.1, in the order of the routes. */
  ports: number[];
  /** The configuration it runs. */
  config: string;
  /** What HAProxy printed so far (bounded). */
  output(): string;
  /** SIGTERM, then SIGKILL after 3 s; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Why HAProxy tests cannot run here: a reason to skip, or `false` when they can. Under `CI=true`
 * always `false`, so that a missing HAProxy fails the run instead of skipping it.
 *
 * @example
 * ```ts
 * import { describe } from "node:test";
 * import { haproxySkip } from "./haproxy.ts";
 * describe("behind HAProxy", { skip: haproxySkip() }, () => {});
 * ```
 *
 * @returns A skip reason, or `false`.
 */
export function haproxySkip(): string | false {
  if (hasCommand("haproxy") || process.env.CI === "true") return false;
  return "haproxy not installed (apt-get install haproxy)";
}

const live = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
  live.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAll);
  // `deno test` emits the global "unload" event rather than the process "exit" event.
  const global = globalThis as { addEventListener?: (type: string, fn: () => void) => void };
  global.addEventListener?.("unload", killAll);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function checkLine(text: string, what: string): void {
  if (/[\r\n]/.test(text)) throw new Error(`startHaproxy: ${what} must be one line, got ${text}`);
}

function configText(routes: HaproxyRoute[], ports: number[], dir: string): string {
  const lines = [
    "global",
    "  maxconn 256",
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 60s",
    "  timeout server 60s",
  ];
  routes.forEach((route, i) => {
    let bind = `  bind 127.0.0.1:${ports[i]}`;
    if (route.frontendTls !== undefined) {
      bind += ` ssl crt ${join(dir, `front${i}.pem`)}`;
      if (route.frontendTls.clientCa !== undefined) {
        bind += ` ca-file ${join(dir, `client-ca${i}.pem`)} verify optional`;
      }
    }
    const send = route.sendProxy === "v1" ? "send-proxy" : "send-proxy-v2";
    const extra = route.serverOptions ?? "";
    checkLine(extra, "serverOptions");
    for (const line of route.frontendLines ?? []) checkLine(line, "frontendLines");
    lines.push(
      `frontend f${i}`,
      bind,
      ...(route.frontendLines ?? []).map((line) => `  ${line}`),
      `  default_backend b${i}`,
      `backend b${i}`,
      `  server s${i} 127.0.0.1:${route.backendPort} ${send} ${extra}`.trimEnd(),
    );
  });
  return lines.join("\n") + "\n";
}

/**
 * Starts HAProxy with one TCP front end per route. Resolves once every front end listens.
 *
 * @example
 * ```ts
 * import { startHaproxy } from "./haproxy.ts";
 * const haproxy = await startHaproxy([
 *   { backendPort: 1935, sendProxy: "v1" },
 *   { backendPort: 1935, sendProxy: "v2", serverOptions: "proxy-v2-options crc32c" },
 * ]);
 * await haproxy.stop();
 * ```
 *
 * @param routes Front ends to create.
 * @returns The running HAProxy.
 */
export async function startHaproxy(routes: HaproxyRoute[]): Promise<Haproxy> {
  if (!hasCommand("haproxy")) {
    throw new Error("startHaproxy: expected the haproxy command (Debian package haproxy)");
  }
  hookExit();
  const dir = await tempDir("rtmp-haproxy-");
  const configPath = join(dir, "haproxy.cfg");
  for (const [i, route] of routes.entries()) {
    const tls = route.frontendTls;
    if (tls === undefined) continue;
    await writeFile(join(dir, `front${i}.pem`), `${tls.cert.trim()}\n${tls.key.trim()}\n`);
    if (tls.clientCa !== undefined) await writeFile(join(dir, `client-ca${i}.pem`), tls.clientCa);
  }
  let lastOutput = "";
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const ports: number[] = [];
    while (ports.length < routes.length) {
      const port = await freePort();
      if (!ports.includes(port) && !routes.some((r) => r.backendPort === port)) ports.push(port);
    }
    const config = configText(routes, ports, dir);
    await writeFile(configPath, config);
    const child = spawn("haproxy", ["-f", configPath, "-db"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    live.add(child);
    // Unreferenced so that a forgotten HAProxy cannot keep `node --test` alive; the exit hook
    // kills it. Waits below hold timers, which keep the loop alive while a test needs it.
    child.unref();
    let output = "";
    const append = (chunk: Buffer): void => {
      output = (output + chunk.toString("utf8")).slice(-TAIL_LIMIT);
    };
    for (const pipe of [child.stdout, child.stderr]) {
      pipe?.on("data", append);
      (pipe as { unref?: () => void } | null)?.unref?.();
    }
    let exited = false;
    const exit = new Promise<void>((resolve) => {
      child.once("error", (error) => {
        output += `\n[haproxy] cannot start: ${error.message}\n`;
        exited = true;
        live.delete(child);
        resolve();
      });
      child.once("close", () => {
        exited = true;
        live.delete(child);
        resolve();
      });
    });
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    let ready = false;
    while (!exited && Date.now() < deadline) {
      const states = await Promise.all(ports.map((port) => isPortListening(port)));
      if (states.every(Boolean)) {
        ready = true;
        break;
      }
      await sleep(25);
    }
    const stop = async (): Promise<void> => {
      if (exited) return;
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exit;
      clearTimeout(killer);
    };
    if (ready && !exited) {
      let stopped = false;
      return {
        ports,
        config,
        output: () => output,
        stop: async (): Promise<void> => {
          if (stopped) return;
          stopped = true;
          await stop();
          await removeTempDir(dir);
        },
      };
    }
    await stop();
    lastOutput = output;
    // Retry only a lost port race; any other failure (bad config) would fail again.
    if (!/cannot bind|Address already in use/i.test(output)) break;
  }
  await removeTempDir(dir);
  throw new Error(`startHaproxy: haproxy did not start:\n${lastOutput}`);
}
