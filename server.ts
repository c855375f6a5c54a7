/**
 * The ingest server: accepts publishers over RTMP and RTMPS, decides each stream key through
 * an async hook *before* the stream starts, and hands every accepted publish to the caller as
 * a {@linkcode PublishSession} of typed packets.
 *
 * @example Accept one key and print packet counts
 * ```ts
 * import { RtmpServer } from "./server.ts";
 *
 * const server = await RtmpServer.listen({
 *   hostname: "127.0.0.1",
 *   port: 1935,
 *   onPublish: async ({ name }) => name === "secret-key",
 * });
 * for await (const session of server) {
 *   (async () => {
 *     let n = 0;
 *     for await (const _packet of session) n++;
 *     console.log(`${session.name}: ${n} packets, ended: ${await session.ended}`);
 *   })();
 * }
 * ```
 *
 * @module
 */

import { RtmpError } from "./errors.ts";
import { BoundedQueue } from "./session/bounded_queue.ts";
import type { PublishInfo, PublishSession } from "./session/publish_session.ts";
import {
  type ConnectInfo,
  DEFAULT_LIMITS,
  type HookDecision,
  ServerConnection,
  type ServerContext,
  type ServerLimits,
} from "./session/server_connection.ts";
import { defaultAdapter } from "./socket/mod.ts";
import type {
  Conn,
  Listener,
  NetAddress,
  SocketAdapter,
  TlsListenOptions,
} from "./socket/types.ts";

export type { ConnectInfo, HookDecision, ServerLimits };
export type { ConnectRequest } from "./session/server_session.ts";
export { DEFAULT_LIMITS };
export type { EndReason, PublishInfo, SessionStats } from "./session/publish_session.ts";
export { PublishSession } from "./session/publish_session.ts";
export type { AudioPacket, DataPacket, MediaPacket, VideoPacket } from "./protocol/packet.ts";

/**
 * Options for {@linkcode RtmpServer}.
 *
 * @example
 * ```ts
 * import type { RtmpServerOptions } from "./server.ts";
 * const options: RtmpServerOptions = {
 *   onPublish: async ({ name, query }) =>
 *     name === "live-key" && query.get("token") === "t0k3n"
 *       ? true
 *       : { accept: false, reason: "bad key", code: "NetStream.Publish.Unauthorized" },
 *   duplicatePublish: "replace",
 *   limits: { hookTimeout: 3000 },
 * };
 * ```
 */
export interface RtmpServerOptions {
  /**
   * Decides each publish before anything about the stream is announced. Throwing, timing
   * out (`limits.hookTimeout`) or answering `false` rejects with an error `onStatus`
   * (`NetStream.Publish.BadName` unless the decision names another code). The signal aborts
   * when the hook times out or the connection goes away. Without a hook every key is accepted.
   */
  onPublish?: (info: PublishInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision>;
  /** Decides each `connect`; a refusal answers `_error` `NetConnection.Connect.Rejected`. */
  onConnect?: (info: ConnectInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision>;
  /**
   * Receives every accepted publish. Without it, iterate the server (or
   * {@linkcode RtmpServer.sessions}) to get them. Iterate each session's packets: a session
   * nobody reads slows its publisher to a stop once `limits.maxQueuedBytes` are queued.
   */
  onSession?: (session: PublishSession) => void | Promise<void>;
  /**
   * A second publisher on a key (`app/name`) that is live: `reject` (default, with
   * `NetStream.Publish.BadName`) or `replace` (the old publisher is ended).
   */
  duplicatePublish?: "reject" | "replace";
  /** Chunk size announced to clients. Default 4096. */
  chunkSize?: number;
  /** Limits and timeouts; unspecified ones keep {@linkcode DEFAULT_LIMITS}. */
  limits?: Partial<ServerLimits>;
  /** Receives one line per connect, publish decision, unpublish and error. Default: stderr. `null` silences. */
  log?: ((line: string) => void) | null;
  /** Socket adapter; default: the current runtime's. */
  adapter?: SocketAdapter;
  /** Aborting closes the server. */
  signal?: AbortSignal;
}

/**
 * Where to listen.
 *
 * @example
 * ```ts
 * import type { ListenAddress } from "./server.ts";
 * const plain: ListenAddress = { hostname: "0.0.0.0", port: 1935 };
 * ```
 */
export interface ListenAddress {
  /** Address to bind. Default `0.0.0.0`. */
  hostname?: string;
  /** Port; `0` picks a free one. Default 1935 (1936 with TLS). */
  port?: number;
  /** Serve RTMPS with this certificate and key (PEM). */
  tls?: TlsListenOptions;
}

/**
 * The ingest server.
 *
 * @example Listen on plain RTMP and RTMPS with one key check
 * ```ts
 * import { RtmpServer } from "./server.ts";
 * const server = new RtmpServer({ onPublish: ({ name }) => name === "k" });
 * await server.listen({ port: 1935 });
 * // await server.listen({ port: 1936, tls: { cert, key } });
 * await server.close();
 * ```
 */
export class RtmpServer implements AsyncIterable<PublishSession>, AsyncDisposable {
  readonly #options: RtmpServerOptions;
  readonly #limits: ServerLimits;
  readonly #listeners: Listener[] = [];
  readonly #connections = new Set<ServerConnection>();
  readonly #perIp = new Map<string, number>();
  readonly #live = new Map<string, { session: PublishSession; conn: ServerConnection }>();
  readonly #sessions = new BoundedQueue<PublishSession>({ limit: 1024 });
  readonly #tasks = new Set<Promise<void>>();
  readonly #ctx: ServerContext;
  #sessionId = 0;
  #closing: Promise<void> | null = null;
  #resolveClosed!: () => void;
  /** Resolves once the server is closed and every connection has ended. */
  readonly closed: Promise<void>;

  /**
   * Creates a server; call {@linkcode RtmpServer.listen} or {@linkcode RtmpServer.serve} next.
   *
   * @param options Hooks, policy, limits, logging.
   */
  constructor(options: RtmpServerOptions = {}) {
    this.#options = options;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    for (const [k, v] of Object.entries(this.#limits)) {
      if (typeof v !== "number" || !(v > 0)) {
        throw new RtmpError("INVALID_ARGUMENT", `limits.${k} must be a positive number, got ${v}`);
      }
    }
    const chunkSize = options.chunkSize ?? 4096;
    if (!Number.isInteger(chunkSize) || chunkSize < 128 || chunkSize > 0xffffff) {
      throw new RtmpError("INVALID_ARGUMENT", `chunkSize must be 128..16777215, got ${chunkSize}`);
    }
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    const log = options.log === undefined
      ? (line: string) => console.error(`[rtmp] ${line}`)
      : options.log;
    this.#ctx = {
      limits: this.#limits,
      chunkSize,
      onConnect: options.onConnect,
      onPublish: options.onPublish,
      log: log ?? (() => {}),
      nextSessionId: () => ++this.#sessionId,
      claim: (session, connection) => this.#claim(session, connection),
      release: (session) => {
        const key = keyOf(session);
        if (this.#live.get(key)?.session === session) this.#live.delete(key);
      },
      started: (session) => this.#started(session),
    };
    options.signal?.addEventListener("abort", () => void this.close(), { once: true });
  }

  /**
   * Creates a server and starts listening.
   *
   * @example
   * ```ts
   * import { RtmpServer } from "./server.ts";
   * await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0 });
   * console.log(server.addr.port > 0); // true
   * ```
   *
   * @param options Server options plus where to listen.
   * @returns The listening server.
   */
  static async listen(options: RtmpServerOptions & ListenAddress = {}): Promise<RtmpServer> {
    const server = new RtmpServer(options);
    try {
      await server.listen(options);
    } catch (e) {
      await server.close();
      throw e;
    }
    return server;
  }

  /**
   * Binds a listener (call again to add RTMPS next to RTMP) and starts accepting.
   *
   * @param address Where to listen.
   * @returns The bound address.
   */
  async listen(address: ListenAddress = {}): Promise<NetAddress> {
    if (this.#closing) throw new RtmpError("CLOSED", "the server is closed");
    const adapter = this.#options.adapter ?? await defaultAdapter();
    const listener = await adapter.listen({
      hostname: address.hostname ?? "0.0.0.0",
      port: address.port ?? (address.tls ? 1936 : 1935),
      tls: address.tls,
    });
    this.serve(listener);
    return listener.addr;
  }

  /**
   * Accepts connections from a listener the caller made.
   * @param listener An open listener; the server closes it when it closes.
   */
  serve(listener: Listener): void {
    if (this.#closing) {
      listener.close();
      throw new RtmpError("CLOSED", "the server is closed");
    }
    this.#listeners.push(listener);
    this.#track(this.#acceptLoop(listener));
  }

  /** The first listener's address. */
  get addr(): NetAddress {
    if (this.#listeners.length === 0) throw new RtmpError("CLOSED", "the server is not listening");
    return this.#listeners[0].addr;
  }

  /** Addresses of every listener. */
  get addrs(): NetAddress[] {
    return this.#listeners.map((l) => l.addr);
  }

  /** Live connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Streams currently published. */
  get streamCount(): number {
    return this.#live.size;
  }

  /** The publish sessions that are live now. @returns A snapshot. */
  liveSessions(): PublishSession[] {
    return [...this.#live.values()].map((e) => e.session);
  }

  /**
   * Accepted publish sessions as they start (when no `onSession` option is given).
   * @returns An async iterable that ends when the server closes.
   */
  sessions(): AsyncIterable<PublishSession> {
    return this.#sessions;
  }

  /** Same as {@linkcode RtmpServer.sessions}. @returns An async iterator. */
  [Symbol.asyncIterator](): AsyncIterator<PublishSession> {
    return this.#sessions[Symbol.asyncIterator]();
  }

  async #acceptLoop(listener: Listener): Promise<void> {
    while (true) {
      let conn: Conn | null;
      try {
        conn = await listener.accept();
      } catch (e) {
        this.#ctx.log(`accept failed: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      if (!conn) return;
      this.#admit(conn);
    }
  }

  #admit(conn: Conn): void {
    const ip = conn.remoteAddr.hostname;
    const fromIp = this.#perIp.get(ip) ?? 0;
    if (this.#closing) {
      conn.close();
      return;
    }
    if (this.#connections.size >= this.#limits.maxConnections) {
      this.#ctx.log(`refusing ${ip}: ${this.#limits.maxConnections} connections already`);
      conn.close();
      return;
    }
    if (fromIp >= this.#limits.maxConnectionsPerIp) {
      this.#ctx.log(`refusing ${ip}: ${fromIp} connections from this address already`);
      conn.close();
      return;
    }
    this.#perIp.set(ip, fromIp + 1);
    const connection = new ServerConnection(conn, this.#ctx);
    this.#connections.add(connection);
    this.#track(
      connection.run().finally(() => {
        this.#connections.delete(connection);
        const n = (this.#perIp.get(ip) ?? 1) - 1;
        if (n <= 0) this.#perIp.delete(ip);
        else this.#perIp.set(ip, n);
      }),
    );
  }

  #claim(session: PublishSession, connection: ServerConnection): string | null {
    if (this.#closing) return "server is shutting down";
    const key = keyOf(session);
    const existing = this.#live.get(key);
    if (existing && !existing.session.endReason) {
      if ((this.#options.duplicatePublish ?? "reject") === "reject") {
        return `stream "${key}" is already being published`;
      }
      this.#ctx.log(`stream "${key}" taken over by a new publisher`);
      existing.conn.shutdown("replaced");
      existing.session.finish("replaced");
    }
    this.#live.set(key, { session, conn: connection });
    return null;
  }

  #started(session: PublishSession): void {
    const handler = this.#options.onSession;
    if (!handler) {
      this.#sessions.pushDropOldest(session);
      return;
    }
    this.#track(
      Promise.resolve().then(() => handler(session)).catch((e) => {
        this.#ctx.log(
          `onSession handler failed for "${keyOf(session)}": ${
            e instanceof Error ? e.message : String(e)
          }`,
        );
      }),
    );
  }

  #track(task: Promise<void>): void {
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  /**
   * Stops listening, ends every session (`server-closed`) and closes every connection
   * gracefully. Resolves when all connections and handlers have finished.
   *
   * @returns Resolves when closed.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = (async () => {
        for (const l of this.#listeners) l.close();
        for (const c of this.#connections) c.shutdown("server-closed");
        this.#sessions.end();
        while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
        this.#resolveClosed();
      })();
    }
    return this.#closing;
  }

  /** Closes the server (`await using`). @returns Resolves when closed. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function keyOf(session: { app: string; name: string }): string {
  return `${session.app}/${session.name}`;
}
