/**
 * The server's read-only HTTP API, for an HTTP listener of the server (`listenHttp({ api: true
 * })`): `GET /api/streams` (JSON: every live stream), `GET /api/stats` (JSON: the whole
 * `server.stats()` snapshot: counters, streams, connections) and `GET /metrics` (Prometheus text
 * format 0.0.4). Stream keys appear in all three: serve them only where operators reach them
 * (the default bind is 127.0.0.1).
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { PROMETHEUS_CONTENT_TYPE } from "../ops/prometheus.ts";
import { formatServerMetrics } from "./metrics.ts";
import type { ServerStats } from "./stats.ts";

/**
 * A request handler that answers the API paths and returns `false` for every other path.
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { RtmpServer } from "../server.ts";
 * import { apiRoutes } from "./api_routes.ts";
 * await using rtmp = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
 * const api = apiRoutes(() => rtmp.stats());
 * const http = createServer((req, res) => {
 *   if (!api(req, res)) res.writeHead(404).end();
 * });
 * http.close();
 * ```
 */
export type ApiRoutes = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * Makes the API handler.
 *
 * @example
 * ```ts
 * import { apiRoutes } from "./api_routes.ts";
 * import type { ServerStats } from "./stats.ts";
 * declare const snapshot: () => ServerStats;
 * const routes = apiRoutes(snapshot);
 * console.log(typeof routes); // function
 * ```
 *
 * @param stats Takes a snapshot (called once per request).
 * @returns The handler.
 */
export function apiRoutes(stats: () => ServerStats): ApiRoutes {
  return (req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path !== "/api/streams" && path !== "/api/stats" && path !== "/metrics") return false;
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD") {
      const body = `method ${method} is not allowed on ${path}\n`;
      res.writeHead(405, {
        Allow: "GET, HEAD",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": String(utf8Length(body)),
      });
      res.end(body);
      return true;
    }
    const snapshot = stats();
    let body: string;
    let type: string;
    if (path === "/metrics") {
      body = formatServerMetrics(snapshot);
      type = PROMETHEUS_CONTENT_TYPE;
    } else {
      const value = path === "/api/streams"
        ? { time: snapshot.time, streams: snapshot.streams }
        : snapshot;
      body = JSON.stringify(value, null, 2) + "\n";
      type = "application/json; charset=utf-8";
    }
    res.writeHead(200, {
      "Content-Type": type,
      "Content-Length": String(utf8Length(body)),
      "Cache-Control": "no-store",
    });
    res.end(method === "HEAD" ? undefined : body);
    return true;
  };
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}
