/**
 * HTTP-FLV and WebSocket-FLV output for `node:http` (the same code on Deno, Bun and Node):
 * `GET /APP/NAME.flv` streams the live stream as FLV (chunked on HTTP/1.1, close-delimited on
 * HTTP/1.0), and the same path with `Upgrade: websocket` sends the FLV bytes as binary messages,
 * as flv.js and mpegts.js expect. Each viewer is one {@linkcode LiveSource}; the bytes come
 * from {@linkcode FlvMuxStream}, encoded once per packet for all viewers of a stream.
 *
 * Backpressure: the handler asks the source for the next packet only after the socket took the
 * last one (it waits for `drain` when a write reports a full buffer), so it holds at most a
 * packet or two per viewer; a slow viewer's backlog lives in the source's bounded queue, where
 * the hub drops frames by its policy.
 *
 * @module
 */

import { createReadStream } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { unrefTimer } from "../socket/unref_timer.ts";
import { RtmpError } from "../errors.ts";
import { FlvMuxStream } from "../flv/streams.ts";
import { flvHeaderFromMetadata } from "../flv/tags.ts";
import type { MediaPacket } from "../protocol/packet.ts";
import { testPageHtml } from "./test_page.ts";
import type { HttpFlvOptions, LiveRequest, LiveSource } from "./types.ts";
import { ReadyQueue, readyQueue } from "../util/ready_queue.ts";
import { pumpBatches, type ViewerSink } from "./viewer_pump.ts";

/** See {@linkcode HttpFlvOptions.mergeWriteMs}. */
const DEFAULT_MERGE_WRITE_MS = 100;
/** See {@linkcode HttpFlvOptions.mergeFromViewers}. */
const DEFAULT_MERGE_FROM_VIEWERS = 100;
import { checkWebSocketUpgrade, ServerWebSocket, WebSocketCloseCode } from "./websocket.ts";

/**
 * Handles the requests and upgrades of a `node:http` server (see {@linkcode createHttpFlvHandler}).
 *
 * @example
 * ```ts ignore
 * import { createServer } from "node:http";
 * import { createHttpFlvHandler } from "./flv_handler.ts";
 * const handler = createHttpFlvHandler({ open: () => Promise.resolve(null) });
 * createServer(handler.handleRequest).on("upgrade", handler.handleUpgrade).listen(8000);
 * ```
 */
export interface HttpFlvHandler {
  /** The `request` listener: FLV streams, CORS preflight, the test page. */
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  /** The `upgrade` listener: WebSocket-FLV at the same paths. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Uint8Array): void;
  /** Viewers currently attached (HTTP and WebSocket). */
  readonly viewers: number;
  /**
   * Ends every viewer (their sources are closed; WebSocket viewers get status 1001). New
   * requests are still served: stop the server from accepting them first.
   */
  close(): void;
}

/**
 * A stream path: `/APP/NAME.flv`, where APP may have several segments (`/live/sub/key.flv`).
 *
 * @example
 * ```ts
 * import { parseFlvPath } from "./flv_handler.ts";
 * console.log(parseFlvPath("/live/my%20key.flv")); // { app: "live", name: "my key" }
 * console.log(parseFlvPath("/key.flv")); // null
 * ```
 *
 * @param pathname The URL path, still percent-encoded.
 * @returns App and name, decoded; `null` when the path is not of that form.
 */
export function parseFlvPath(pathname: string): { app: string; name: string } | null {
  if (!pathname.startsWith("/") || !pathname.endsWith(".flv")) return null;
  const raw = pathname.slice(1, -4).split("/");
  if (raw.length < 2) return null;
  const segments: string[] = [];
  for (const s of raw) {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      return null;
    }
    // An encoded "/" would make two keys look alike; control characters have no place in a key.
    // deno-lint-ignore no-control-regex
    if (d === "" || d.includes("/") || /[\x00-\x1f\x7f]/.test(d)) return null;
    segments.push(d);
  }
  const name = segments.pop() as string;
  return { app: segments.join("/"), name };
}

/** Where bytes of one viewer go: an HTTP response or a WebSocket. */
type Sink = ViewerSink;

const ABORTED = Symbol("aborted");

/** Resolves with `promise`, or with {@linkcode ABORTED} once `signal` aborts. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * The source's packets as a stream pulled one at a time (high-water mark 0), with an already
 * read first packet in front.
 */
function packetStream(
  first: MediaPacket,
  iterator: AsyncIterator<MediaPacket>,
): ReadableStream<MediaPacket> {
  let pending: MediaPacket | null = first;
  return new ReadableStream<MediaPacket>({
    async pull(controller): Promise<void> {
      if (pending !== null) {
        controller.enqueue(pending);
        pending = null;
        return;
      }
      const r = await iterator.next();
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel(): void {
      void Promise.resolve(iterator.return?.()).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/**
 * Sends a source's packets to a sink as FLV until the source ends or the viewer leaves.
 * Resolves with the bytes sent; rejects when the muxer refuses a packet.
 */
async function pump(
  source: LiveSource,
  sink: Sink,
  cache: WeakMap<MediaPacket, Uint8Array>,
  writes: () => ReadyQueue,
): Promise<number> {
  if (source.batches !== undefined) return pumpBatches(source.batches, sink, cache, writes);
  const iterator = source.packets[Symbol.asyncIterator]();
  const first = await unlessAborted(iterator.next(), sink.signal);
  if (first === ABORTED || first.done) {
    void Promise.resolve(iterator.return?.()).catch(() => {});
    return 0;
  }
  // Header flags from the stream's metadata (which the hub sends first): browser players wait
  // for every track the header announces. Unknown: announce both, as FLV writers usually do.
  const header = flvHeaderFromMetadata(first.value) ?? { audio: true, video: true };
  const reader = packetStream(first.value, iterator)
    .pipeThrough(new FlvMuxStream({ audio: header.audio, video: header.video, cache }))
    .getReader();
  let sent = 0;
  try {
    for (;;) {
      const r = await unlessAborted(reader.read(), sink.signal);
      if (r === ABORTED || r.done) break;
      sent += r.value.length;
      if (!sink.write(r.value)) await sink.drained();
      if (sink.signal.aborted) break;
    }
  } finally {
    void reader.cancel().catch(() => {});
  }
  return sent;
}

/** The HTTP status for an error thrown by `open`, or `null` when the viewer is gone anyway. */
function statusOfOpenError(e: unknown): number | null {
  if (!(e instanceof RtmpError)) return 500;
  switch (e.code) {
    case "REJECTED":
      return 403;
    case "TIMEOUT":
      return 504;
    case "ABORTED":
      return null;
    default:
      return 500;
  }
}

/**
 * The body of a refusal. A rejection's own message is shown (it is the play hook's answer to
 * this viewer); other failures stay generic, since their messages are server internals.
 */
function refusal(status: number, path: { app: string; name: string }, error: unknown): string {
  const key = `${path.app}/${path.name}`;
  if (status === 404) return `stream ${key} is not live`;
  if (status === 403) return `stream ${key} refused: ${(error as Error)?.message ?? "rejected"}`;
  if (status === 504) return `stream ${key}: timed out`;
  return `stream ${key}: internal error`;
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  426: "Upgrade Required",
  500: "Internal Server Error",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
function refuseUpgrade(
  socket: Duplex,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  const body = message + "\n";
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? "Error"}\r\n` +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      `Content-Length: ${new TextEncoder().encode(body).length}\r\n` +
      `${extra}Connection: close\r\n\r\n${body}`,
  );
  // A client that never reads must not keep the socket.
  unrefTimer(setTimeout(() => socket.destroy(), 2000));
}

/**
 * Creates the request and upgrade listeners of the HTTP-FLV / WebSocket-FLV output.
 *
 * Routes: `GET|HEAD /APP/NAME.flv[?query]` (200 streaming FLV; 404 when not live; 403/504/500
 * from `open`), WebSocket upgrade at the same path, `OPTIONS *` (CORS preflight, 204), and with
 * `testPage`: `GET /` (the player page) and `GET /mpegts.js` (`testPage.playerFile`). Any other
 * path is 400, another method 405.
 *
 * @example
 * ```ts ignore
 * import { createServer } from "node:http";
 * import { createHttpFlvHandler } from "./flv_handler.ts";
 * const handler = createHttpFlvHandler({
 *   open: ({ app, name }) => Promise.resolve(hub.subscribe(app, name)),
 *   cors: { origins: ["https://example.com"] },
 * });
 * const server = createServer(handler.handleRequest);
 * server.on("upgrade", handler.handleUpgrade);
 * server.listen(8000);
 * ```
 *
 * @param options How to open a live stream, CORS origins, test page, log.
 * @returns The listeners and a `close()` that ends every viewer.
 */
export function createHttpFlvHandler(options: HttpFlvOptions): HttpFlvHandler {
  const origins = options.cors?.origins ?? "*";
  const log = options.log;
  const viewers = new Set<AbortController>();
  const cache = new WeakMap<MediaPacket, Uint8Array>();
  const merge = options.mergeWriteMs ?? DEFAULT_MERGE_WRITE_MS;
  if (!(merge >= 0 && merge <= 1000)) {
    throw new RtmpError("INVALID_ARGUMENT", `mergeWriteMs: expected 0 to 1000, got ${merge}`);
  }
  const mergeFrom = options.mergeFromViewers ?? DEFAULT_MERGE_FROM_VIEWERS;
  if (!(Number.isInteger(mergeFrom) && mergeFrom >= 1)) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `mergeFromViewers: expected 1 or more, got ${mergeFrom}`,
    );
  }
  const merged = merge > 0 ? new ReadyQueue({ delayMs: merge }) : null;
  // Asked at each wake-up of a viewer: merging starts and stops with the audience.
  const writes = (): ReadyQueue =>
    merged !== null && viewers.size >= mergeFrom ? merged : readyQueue;
  let closing = false;

  /** Access-Control-Allow-Origin for a request's Origin, per config. */
  function corsHeaders(req: IncomingMessage): Record<string, string> {
    if (origins === "*") return { "Access-Control-Allow-Origin": "*" };
    const origin = req.headers.origin;
    const h: Record<string, string> = { Vary: "Origin" };
    if (origin !== undefined && origins.includes(origin)) {
      h["Access-Control-Allow-Origin"] = origin;
    }
    return h;
  }

  function originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origins === "*" || origin === undefined || origins.includes(origin);
  }

  function remoteOf(req: IncomingMessage): { hostname: string; port: number } {
    return { hostname: req.socket.remoteAddress ?? "", port: req.socket.remotePort ?? 0 };
  }

  function logLine(
    req: IncomingMessage,
    protocol: string,
    status: number,
    bytes: number,
    started: number,
  ): void {
    if (log === undefined) return;
    const r = remoteOf(req);
    const path = (req.url ?? "/").split("?")[0];
    log(
      `${protocol} ${r.hostname}:${r.port} ${req.method} ${path} ${status} ${bytes} bytes ` +
        `${Date.now() - started} ms`,
    );
  }

  function plain(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    message: string,
    headers: Record<string, string> = {},
  ): void {
    const body = message + "\n";
    res.writeHead(status, {
      ...corsHeaders(req),
      ...headers,
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": String(new TextEncoder().encode(body).length),
    });
    res.end(req.method === "HEAD" ? undefined : body);
    logLine(req, "http", status, 0, Date.now());
  }

  /** Registers a viewer; its controller aborts when the viewer leaves or on close(). */
  function track(): AbortController {
    const ac = new AbortController();
    viewers.add(ac);
    ac.signal.addEventListener("abort", () => viewers.delete(ac), { once: true });
    return ac;
  }

  async function openSource(
    live: LiveRequest,
    signal: AbortSignal,
  ): Promise<{ source: LiveSource | null; status: number | null; error?: unknown }> {
    try {
      const source = await options.open(live, signal);
      if (signal.aborted) {
        source?.close();
        return { source: null, status: null };
      }
      return { source, status: source === null ? 404 : 200 };
    } catch (e) {
      const status = signal.aborted ? null : statusOfOpenError(e);
      if (status === 500) {
        log?.(`${live.protocol} open ${live.app}/${live.name} failed: ${(e as Error)?.message}`);
      }
      return { source: null, status, error: e };
    }
  }

  async function serveFlv(
    req: IncomingMessage,
    res: ServerResponse,
    path: { app: string; name: string },
    query: URLSearchParams,
  ): Promise<void> {
    const started = Date.now();
    const ac = track();
    const gone = (): void => ac.abort();
    res.on("close", gone);
    req.socket.on("close", gone);
    let source: LiveSource | null = null;
    let sent = 0;
    let status = 0;
    try {
      const live: LiveRequest = { ...path, query, protocol: "http-flv", remoteAddr: remoteOf(req) };
      const opened = await openSource(live, ac.signal);
      source = opened.source;
      if (opened.status === null) return;
      status = opened.status;
      if (source === null) {
        plain(req, res, status, refusal(status, path, opened.error));
        return;
      }
      res.writeHead(200, {
        ...corsHeaders(req),
        "Content-Type": "video/x-flv",
        "Cache-Control": "no-cache, no-store",
      });
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      res.flushHeaders();
      const sink: Sink = {
        write: (bytes) => res.write(bytes),
        drained: () => {
          if (ac.signal.aborted) return Promise.resolve();
          return new Promise((resolve) => {
            const done = (): void => {
              res.off("drain", done);
              ac.signal.removeEventListener("abort", done);
              resolve();
            };
            res.on("drain", done);
            ac.signal.addEventListener("abort", done, { once: true });
          });
        },
        signal: ac.signal,
      };
      sent = await pump(source, sink, cache, writes);
    } catch (e) {
      log?.(`http-flv ${path.app}/${path.name}: ${(e as Error).message}`);
    } finally {
      source?.close();
      res.off("close", gone);
      req.socket.off("close", gone);
      if (!res.writableEnded) res.end();
      ac.abort();
      if (status === 200) logLine(req, "http-flv", status, sent, started);
    }
  }

  function servePlayerFile(req: IncomingMessage, res: ServerResponse, file: string): void {
    const stream = createReadStream(file);
    stream.once("error", (e) => {
      if (!res.headersSent) plain(req, res, 404, `player file ${file}: ${e.message}`);
      else res.destroy();
    });
    stream.once("open", () => {
      res.writeHead(200, {
        ...corsHeaders(req),
        "Content-Type": "text/javascript; charset=utf-8",
        "Cache-Control": "no-cache",
      });
      if (req.method === "HEAD") {
        stream.destroy();
        res.end();
      } else {
        stream.pipe(res);
      }
    });
  }

  function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    if (method === "OPTIONS") {
      // CORS preflight (Fetch standard §3.2.2): allow what the player needs, cache a day.
      const requested = req.headers["access-control-request-headers"];
      res.writeHead(204, {
        ...corsHeaders(req),
        "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
        ...(requested ? { "Access-Control-Allow-Headers": requested } : {}),
        "Access-Control-Max-Age": "86400",
        Allow: "GET, HEAD, OPTIONS",
      });
      res.end();
      return;
    }
    const page = options.testPage;
    const isPage = page !== undefined && (url.pathname === "/" || url.pathname === "/index.html");
    const isPlayer = page?.playerFile !== undefined && url.pathname === "/mpegts.js";
    const path = isPage || isPlayer ? null : parseFlvPath(url.pathname);
    if (!isPage && !isPlayer && path === null) {
      plain(req, res, 400, `expected a path /APP/NAME.flv, got ${url.pathname}`);
      return;
    }
    if (method !== "GET" && method !== "HEAD") {
      plain(req, res, 405, `method ${method} is not allowed`, { Allow: "GET, HEAD, OPTIONS" });
      return;
    }
    if (isPage) {
      const html = testPageHtml({ playerUrl: page.playerUrl ?? "/mpegts.js" });
      res.writeHead(200, {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Length": String(new TextEncoder().encode(html).length),
        "Cache-Control": "no-cache",
      });
      res.end(method === "HEAD" ? undefined : html);
      return;
    }
    if (isPlayer) {
      servePlayerFile(req, res, page!.playerFile as string);
      return;
    }
    void serveFlv(req, res, path!, url.searchParams);
  }

  async function serveWebSocket(
    req: IncomingMessage,
    socket: Duplex,
    head: Uint8Array,
    key: string,
    path: { app: string; name: string },
    query: URLSearchParams,
  ): Promise<void> {
    const started = Date.now();
    const ac = track();
    const gone = (): void => ac.abort();
    socket.on("close", gone);
    socket.on("error", () => {});
    let source: LiveSource | null = null;
    let ws: ServerWebSocket | null = null;
    let sent = 0;
    let status = 0;
    try {
      const live: LiveRequest = { ...path, query, protocol: "ws-flv", remoteAddr: remoteOf(req) };
      const opened = await openSource(live, ac.signal);
      source = opened.source;
      if (opened.status === null) {
        socket.destroy();
        return;
      }
      status = opened.status;
      if (source === null) {
        refuseUpgrade(socket, status, refusal(status, path, opened.error));
        log?.(`ws-flv ${remoteOf(req).hostname} ${path.app}/${path.name} refused ${status}`);
        return;
      }
      ws = ServerWebSocket.accept(socket, head, key);
      status = 101;
      const conn = ws;
      const signal = AbortSignal.any([ac.signal, conn.signal]);
      sent = await pump(
        source,
        {
          write: (bytes) => conn.send(bytes),
          drained: () => conn.drained(),
          signal,
        },
        cache,
        writes,
      );
    } catch (e) {
      log?.(`ws-flv ${path.app}/${path.name}: ${(e as Error).message}`);
    } finally {
      source?.close();
      socket.off("close", gone);
      if (ws !== null) {
        // The source ended (publisher left) or the server is closing: say so in the status.
        if (closing) ws.close(WebSocketCloseCode.GoingAway, "server closing");
        else ws.close(WebSocketCloseCode.Normal, "stream ended");
      }
      ac.abort();
      if (status !== 0) logLine(req, "ws-flv", status, sent, started);
    }
  }

  function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Uint8Array): void {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = parseFlvPath(url.pathname);
    if (path === null) {
      refuseUpgrade(socket, 400, `expected a path /APP/NAME.flv, got ${url.pathname}`);
      return;
    }
    const check = checkWebSocketUpgrade(req.method, req.httpVersion, req.headers);
    if (!check.ok) {
      refuseUpgrade(socket, check.status, check.message, check.headers);
      return;
    }
    // RFC 6455 §10.2: browsers do not apply CORS to WebSocket, so the server checks Origin.
    if (!originAllowed(req)) {
      refuseUpgrade(socket, 403, `origin ${req.headers.origin} is not allowed`);
      return;
    }
    void serveWebSocket(req, socket, head, check.key, path, url.searchParams);
  }

  return {
    handleRequest,
    handleUpgrade,
    get viewers(): number {
      return viewers.size;
    },
    close(): void {
      closing = true;
      for (const ac of [...viewers]) ac.abort();
    },
  };
}
