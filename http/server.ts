/**
 * A standalone HTTP server for the HTTP-FLV / WebSocket-FLV output, on `node:http` (the same
 * code on Deno, Bun and Node). To share a port with other routes, use
 * {@linkcode createHttpFlvHandler} on your own server instead.
 *
 * @module
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { toRtmpError } from "../socket/errors.ts";
import { createHttpFlvHandler } from "./flv_handler.ts";
import type { HttpFlvOptions } from "./types.ts";

/**
 * Options of {@linkcode startHttpFlvServer}: where to listen, and those of the output.
 *
 * @example
 * ```ts
 * import type { HttpFlvServerOptions } from "./server.ts";
 * const o: HttpFlvServerOptions = { hostname: "127.0.0.1", port: 8000, open: async () => null };
 * console.log(o.port); // 8000
 * ```
 */
export interface HttpFlvServerOptions extends HttpFlvOptions {
  /** Address to bind (default `0.0.0.0`). */
  hostname?: string;
  /** TCP port; `0` picks a free one (see {@linkcode HttpFlvServer.addr}). */
  port: number;
  /**
   * Extra routes, tried before the FLV output: answer the request and return `true`, or
   * return `false` to leave it to the FLV output (e.g. the server's `/api/*` and `/metrics`).
   */
  routes?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Serve the FLV output (default `true`); `false` answers 404 to what `routes` leaves. */
  flv?: boolean;
}

/**
 * A running HTTP-FLV server.
 *
 * @example
 * ```ts ignore
 * import { startHttpFlvServer } from "./server.ts";
 * await using server = await startHttpFlvServer({ port: 0, open: async () => null });
 * console.log(`http://127.0.0.1:${server.addr.port}/live/key.flv`);
 * ```
 */
export interface HttpFlvServer {
  /** The bound address. */
  readonly addr: { hostname: string; port: number };
  /** Viewers currently attached. */
  readonly viewers: number;
  /** Stops listening, ends every viewer and every connection. Idempotent. */
  close(): Promise<void>;
  /** Same as {@linkcode HttpFlvServer.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts an HTTP server that serves live streams as HTTP-FLV and WebSocket-FLV at
 * `/APP/NAME.flv` (see {@linkcode createHttpFlvHandler} for the routes).
 *
 * @example
 * ```ts ignore
 * import { startHttpFlvServer } from "./server.ts";
 * const server = await startHttpFlvServer({
 *   hostname: "127.0.0.1",
 *   port: 8000,
 *   open: ({ app, name }) => Promise.resolve(hub.subscribe(app, name)),
 *   testPage: { playerFile: "node_modules/mpegts.js/dist/mpegts.js" },
 * });
 * // open http://127.0.0.1:8000/?stream=key
 * await server.close();
 * ```
 *
 * @param options Address and output options.
 * @returns The server, once it listens.
 * @throws {RtmpError} `ADDRESS_IN_USE` when the port is taken, or another socket code.
 */
export async function startHttpFlvServer(options: HttpFlvServerOptions): Promise<HttpFlvServer> {
  const { hostname = "0.0.0.0", port, routes, flv: serveFlv = true, ...flv } = options;
  const handler = createHttpFlvHandler(flv);
  const server: Server = createServer((req, res) => {
    if (routes?.(req, res)) return;
    if (serveFlv) return handler.handleRequest(req, res);
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
    res.end("not found\n");
  });
  const sockets = new Set<Duplex>();
  server.on("connection", (socket: Duplex) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("upgrade", (req, socket, head) => {
    if (!serveFlv) return void socket.destroy();
    // Upgraded sockets leave the server's bookkeeping: track them to end them on close().
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    handler.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: unknown): void =>
      reject(toRtmpError(e, `listen on ${hostname}:${port}`, false));
    server.once("error", onError);
    server.listen(port, hostname, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address();
  const addr = typeof address === "object" && address !== null
    ? { hostname: address.address, port: address.port }
    : { hostname, port };
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      handler.close();
      // Viewers got their close (WebSocket 1001); whatever is still open is cut.
      setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, 100);
      (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
    });
    return closing;
  };
  return {
    addr,
    get viewers(): number {
      return handler.viewers;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
