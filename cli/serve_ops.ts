/**
 * The operations flags of `rtmp serve`: PROXY protocol behind a load balancer, graceful drain on
 * SIGTERM/SIGINT, the stats/metrics HTTP API, and JSON-lines logs.
 *
 * @module
 */

import process from "node:process";
import type { RtmpServer } from "../server.ts";
import type { ProxyProtocolOptions } from "../socket/types.ts";
import { parseTrustedList, trustedSources } from "../socket/trusted.ts";
import { parseHostPort, UsageError } from "./usage.ts";

/** Help lines of these flags, for `SERVE_USAGE`. */
export const OPS_USAGE: string =
  `  --proxy-protocol        read a PROXY protocol v1/v2 header (HAProxy send-proxy, AWS NLB) on
                          every RTMP listener; hooks, logs, limits and stats see the real client;
                          only loopback may send one unless --trusted-proxies says otherwise
  --trusted-proxies LIST  comma-separated addresses/CIDRs of the load balancers (with
                          --proxy-protocol), e.g. 10.0.0.0/8,fd00::/8
  --drain-timeout MS      on SIGTERM/SIGINT, how long publishers get to leave after the E-RTMP
                          ReconnectRequest before they are closed (default 30000; a second
                          signal stops at once)
  --reconnect-url URL     tcUrl sent in the ReconnectRequest (another node), e.g.
                          rtmp://node-2.example.com/live (default: the client's own tcUrl)
  --api-listen HOST:PORT  serve GET /api/streams, /api/stats (JSON) and /metrics (Prometheus)
                          (off by default; HOST defaults to 127.0.0.1; stream keys are visible)
  --http-api              also serve the API on --http-listen
  --log-format FORMAT     text (default) or json: one JSON object per line, plus every server
                          event as {"time", "event", ...}`;

/** The `parseArgs` options of these flags. */
export const OPS_OPTIONS = {
  "proxy-protocol": { type: "boolean" },
  "trusted-proxies": { type: "string" },
  "drain-timeout": { type: "string" },
  "reconnect-url": { type: "string" },
  "api-listen": { type: "string" },
  "http-api": { type: "boolean" },
  "log-format": { type: "string" },
} as const;

/** The parsed operations flags. */
export interface OpsSettings {
  /** For `RtmpServerOptions.proxyProtocol`. */
  proxyProtocol: ProxyProtocolOptions | undefined;
  /** Drain deadline (ms). */
  drainTimeout: number;
  /** tcUrl for ReconnectRequests, or `undefined`. */
  reconnectUrl: string | undefined;
  /** Where the API-only listener binds, or `null`. */
  apiListen: { hostname: string; port: number } | null;
  /** Serve the API on the HTTP-FLV listener too. */
  httpApi: boolean;
  /** Log format. */
  logFormat: "text" | "json";
}

/**
 * Reads the flags.
 *
 * @example
 * ```ts
 * import { parseOpsFlags } from "./serve_ops.ts";
 * console.log(parseOpsFlags({ "proxy-protocol": true }).proxyProtocol !== undefined); // true
 * ```
 *
 * @param values Parsed command-line values.
 * @returns The settings.
 * @throws {UsageError} For bad values.
 */
export function parseOpsFlags(values: Record<string, unknown>): OpsSettings {
  const trustedText = values["trusted-proxies"] as string | undefined;
  if (trustedText !== undefined && !values["proxy-protocol"]) {
    throw new UsageError("--trusted-proxies needs --proxy-protocol");
  }
  let proxyProtocol: ProxyProtocolOptions | undefined;
  if (values["proxy-protocol"]) {
    const trusted = trustedText === undefined ? undefined : parseTrustedList(trustedText);
    if (trusted !== undefined) {
      if (trusted.length === 0) throw new UsageError("--trusted-proxies: the list is empty");
      try {
        trustedSources(trusted);
      } catch (e) {
        throw new UsageError(`--trusted-proxies: ${(e as Error).message}`);
      }
    }
    proxyProtocol = trusted === undefined ? {} : { trusted };
  }
  const drainText = values["drain-timeout"];
  let drainTimeout = 30_000;
  if (drainText !== undefined) {
    if (typeof drainText !== "string" || !/^\d+$/.test(drainText)) {
      throw new UsageError(
        `--drain-timeout expects milliseconds (0 or more), got "${String(drainText)}"`,
      );
    }
    drainTimeout = Number(drainText);
  }
  const reconnectUrl = values["reconnect-url"] as string | undefined;
  if (reconnectUrl !== undefined && !/^rtmps?:\/\/[^/]+/.test(reconnectUrl)) {
    throw new UsageError(
      `--reconnect-url expects rtmp://HOST[:PORT]/APP or rtmps://…, got "${reconnectUrl}"`,
    );
  }
  const apiText = values["api-listen"] as string | undefined;
  const apiListen = apiText === undefined ? null : parseHostPort(
    apiText.startsWith(":") ? `127.0.0.1${apiText}` : apiText,
    "--api-listen",
  );
  const format = (values["log-format"] as string | undefined) ?? "text";
  if (format !== "text" && format !== "json") {
    throw new UsageError(`--log-format expects text or json, got "${format}"`);
  }
  return {
    proxyProtocol,
    drainTimeout,
    reconnectUrl,
    apiListen,
    httpApi: values["http-api"] === true,
    logFormat: format,
  };
}

/**
 * The log writer of a format: `TIME line` (text) or `{"time","msg"}` (json), to stderr.
 *
 * @example
 * ```ts
 * import { makeLog } from "./serve_ops.ts";
 * const log = makeLog("json");
 * log("listening"); // {"time":"2025-…","msg":"listening"}
 * ```
 *
 * @param format The format.
 * @returns The writer.
 */
export function makeLog(format: "text" | "json"): (line: string) => void {
  return format === "json"
    ? (line) =>
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), msg: line })}\n`)
    : (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

/**
 * Writes every server event as a JSON line (`--log-format json`) until the server closes.
 *
 * @example
 * ```ts ignore
 * import { writeEvents } from "./serve_ops.ts";
 * void writeEvents(server);
 * ```
 *
 * @param server The server.
 * @returns Resolves when the server has closed.
 */
export async function writeEvents(server: RtmpServer): Promise<void> {
  for await (const e of server.events.subscribe({ limit: 10_000 })) {
    const { type, time, ...rest } = e;
    process.stderr.write(
      `${JSON.stringify({ time: new Date(time).toISOString(), event: type, ...rest })}\n`,
    );
  }
}

/**
 * Watches SIGINT/SIGTERM (and `signal`) from now on: the first one resolves `requested` (the
 * caller then drains), a second one closes the server at once. Install it before listening, so
 * a signal that comes early is not the runtime's default (death by signal).
 *
 * @example
 * ```ts ignore
 * import { watchStopSignals } from "./serve_ops.ts";
 * const stop = watchStopSignals(server, log);
 * await stop.requested;
 * await server.drain({ timeout: 30_000 });
 * ```
 *
 * @param server The server.
 * @param drainTimeout The drain deadline, for the log line.
 * @param log Log writer.
 * @param signal Aborting acts as the first signal (tests).
 * @returns `requested`: resolves at the first signal.
 */
export function watchStopSignals(
  server: RtmpServer,
  drainTimeout: number,
  log: (line: string) => void,
  signal?: AbortSignal,
): { requested: Promise<void> } {
  let count = 0;
  let resolve!: () => void;
  const requested = new Promise<void>((r) => resolve = r);
  const on = (name: string): void => {
    count++;
    if (count === 1) {
      log(`${name}: draining (up to ${drainTimeout} ms; send the signal again to stop at once)`);
      resolve();
    } else if (count === 2) {
      log(`${name} again: closing every connection now`);
      void server.close();
    }
  };
  // Listeners stay registered until exit: removing one on Deno restores the default action,
  // which can kill the process with the signal before the recordings are finished.
  process.on("SIGINT", () => on("SIGINT"));
  process.on("SIGTERM", () => on("SIGTERM"));
  signal?.addEventListener("abort", () => on("stop requested"), { once: true });
  if (signal?.aborted) on("stop requested");
  return { requested };
}
