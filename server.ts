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
import { StreamHub } from "./hub/stream_hub.ts";
import type { LiveStream } from "./hub/live_stream.ts";
import { BoundedQueue } from "./util/bounded_queue.ts";
import type { PublishSession } from "./server/publish_session.ts";
import { ServerConnection, type ServerContext } from "./server/connection.ts";
import { DeadlineClock } from "./server/deadlines.ts";
import { BlockPool } from "./protocol/block_pool.ts";
import { ByteBudget } from "./protocol/byte_budget.ts";
import { ConnectAuth } from "./server/auth.ts";
import {
  type ConnectInfo,
  DEFAULT_LIMITS,
  type HookDecision,
  type PlayInfo,
  type PublishInfo,
  type ServerAuthOptions,
  type ServerLimits,
} from "./server/types.ts";
import { defaultAdapter } from "./socket/mod.ts";
import { type HttpFlvServer, startHttpFlvServer } from "./http/server.ts";
import type { TestPageOptions } from "./http/types.ts";
import { openHttpViewer } from "./server/http_viewers.ts";
import { type DestinationOptions, RestreamDestination } from "./relay/destination.ts";
import { PullRelay, type PullRelayOptions } from "./relay/pull_relay.ts";
import type {
  Conn,
  Listener,
  NetAddress,
  ProxyProtocolOptions,
  SocketAdapter,
  TlsListenOptions,
} from "./socket/types.ts";
import { type ServerEvent, ServerEvents } from "./server/events.ts";
import { type CountedConn, type ServerStats, StatsRecorder } from "./server/stats.ts";
import { type DrainOptions, type DrainResult, runDrain } from "./server/drain.ts";
import { apiRoutes } from "./server/api_routes.ts";

export type {
  PlayProtocol,
  RefusalCause,
  ServerEvent,
  ServerEventType,
  SubscribeOptions,
} from "./server/events.ts";
export { ServerEventMessage, ServerEvents } from "./server/events.ts";
export type { ConnectionStats, ServerCounters, ServerStats, StreamStats } from "./server/stats.ts";
export type {
  DrainedPublisher,
  DrainOptions,
  DrainResult,
  ReconnectTarget,
} from "./server/drain.ts";

export { isRtmpError, RtmpError } from "./errors.ts";
export type { RtmpErrorCode, RtmpErrorOptions } from "./errors.ts";
export type {
  Credentials,
  PlayEndReason,
  PlayerEvent,
  ReconnectOptions,
  RtmpClientOptions,
  RtmpPlayOptions,
} from "./client.ts";
export type * from "./protocol/vocabulary.ts";
export type {
  Conn,
  ConnectOptions,
  Listener,
  ListenOptions,
  NetAddress,
  ProxyProtocolOptions,
  SocketAdapter,
  TlsConnectOptions,
  TlsListenOptions,
} from "./socket/types.ts";
export type { TestPageOptions } from "./http/types.ts";
export type {
  AuthLookupInfo,
  AuthMethod,
  ConnectInfo,
  ConnectRequest,
  EndReason,
  HookDecision,
  PlayInfo,
  PlayRequest,
  PublishInfo,
  ServerAuthOptions,
  ServerLimits,
  SessionStats,
  StatusCode,
} from "./server/types.ts";
export { DEFAULT_LIMITS };
export { PublishSession } from "./server/publish_session.ts";
export { StreamHub } from "./hub/stream_hub.ts";
export { LiveStream } from "./hub/live_stream.ts";
export { Subscriber } from "./hub/subscriber.ts";
export type {
  StreamSignal,
  SubscriberEntry,
  SubscriberOptions,
  SubscriberPolicy,
  SubscriberStats,
} from "./hub/subscriber.ts";
export { HubMessage } from "./hub/hub_message.ts";
export { maskKey, RestreamDestination } from "./relay/destination.ts";
export { PullRelay } from "./relay/pull_relay.ts";
export type { PullRelayOptions, PullRelayStats } from "./relay/pull_relay.ts";
export type {
  DestinationEvent,
  DestinationOptions,
  DestinationState,
  DestinationStats,
} from "./relay/destination.ts";
export type { AudioPacket, DataPacket, MediaPacket, VideoPacket } from "./protocol/packet.ts";

/**
 * The memory of the server's partial-message pools (see `limits.maxPartialBytes`): what they
 * hold from the system now, and what they ever allocated. A flood after an earlier one that
 * reuses its blocks leaves `allocatedBytes` where it was.
 *
 * @example
 * ```ts
 * import type { PartialPoolStats } from "./server.ts";
 * const s: PartialPoolStats = { heldBytes: 1 << 20, allocatedBytes: 2 << 20 };
 * console.log(s.allocatedBytes >= s.heldBytes); // true
 * ```
 */
export interface PartialPoolStats {
  /** Bytes allocated and not yet freed: blocks in use plus free blocks kept in reserve. */
  heldBytes: number;
  /** Bytes ever allocated since the server started (freed slabs included). */
  allocatedBytes: number;
}

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
  /**
   * Decides each `play` (RTMP players, and HTTP-FLV / WebSocket-FLV viewers) before anything
   * is sent. A refusal answers an error `onStatus` (`NetStream.Play.Failed` unless the
   * decision names another code) and closes gracefully. Without a hook, playing is allowed.
   */
  onPlay?: (info: PlayInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision>;
  /**
   * Restream every accepted publish to these destinations (`{app}` and `{name}` are replaced,
   * e.g. `rtmps://a.rtmps.youtube.com/live2/{name}`), or a function choosing them per publish
   * (from a database, re-read each time). The `onPublish` decision can add more (`push`).
   */
  push?: string[] | ((info: PublishInfo) => string[] | Promise<string[]>);
  /**
   * Pull relays on demand: when a viewer asks for a key that is not live here and a pattern
   * matches (`app/name`, `*` within a segment; `{app}` and `{name}` are replaced in the URL),
   * the stream is pulled from that URL, and stopped once nobody has watched it for
   * `pullIdleStop` ms. Use {@linkcode RtmpServer.relay} for relays kept up for good.
   */
  pull?: Record<string, string>;
  /** Idle time before an on-demand pull relay stops. Default 30 000 ms. */
  pullIdleStop?: number;
  /** Reconnect policy, queue bound and client options of restream destinations. */
  restream?: Omit<DestinationOptions, "signal" | "endOnUnpublish" | "log">;
  /** Serve `play` requests from the stream hub. Default `true`. */
  playback?: boolean;
  /**
   * When each session's own packet queue (what `for await (const p of session)` reads) is
   * attached: `eager` (default) from the start, so nothing is missed, and an unread session
   * slows its publisher once `limits.maxQueuedBytes` are queued; `lazy` only when the session
   * is first iterated or {@linkcode PublishSession.attach} is called, starting at the stream's
   * current GOP — for servers whose streams are read through the hub (players, restreams).
   */
  sessionQueue?: "eager" | "lazy";
  /**
   * User name and password login with `authmod=adobe` / `authmod=llnw` (OBS "Use
   * authentication", FFmpeg `rtmp://user:pass@host/app/key`), checked on every RTMP connect
   * before `onConnect`; the hooks then see the app without the authentication parameters and
   * the user name as `info.user`. See {@linkcode ServerAuthOptions}.
   */
  auth?: ServerAuthOptions;
  /** Decides each `connect`; a refusal answers `_error` `NetConnection.Connect.Rejected`. */
  onConnect?: (info: ConnectInfo, signal: AbortSignal) => HookDecision | Promise<HookDecision>;
  /**
   * Receives every accepted publish. Without it, iterate the server (or
   * {@linkcode RtmpServer.sessions}) to get them. Iterate each session's packets: a session
   * nobody reads slows its publisher to a stop once `limits.maxQueuedBytes` are queued.
   */
  onSession?: (session: PublishSession) => void | Promise<void>;
  /**
   * A second publisher on a key (`app/name`) that is live: `replace-stale` (default: it
   * replaces a publisher that has sent nothing for `limits.stalePublisherTimeout` — an
   * encoder whose path died without a FIN and that reconnects at once. The request is held
   * until the live publisher sends again, and then refused with `NetStream.Publish.BadName`,
   * or has been silent that long, and then accepted, so an encoder's first reconnect after a
   * freeze succeeds), `reject` (always refused) or `replace` (always replaces the old
   * publisher). The same key twice on one connection is always refused.
   */
  duplicatePublish?: "replace-stale" | "reject" | "replace";
  /** Chunk size announced to clients. Default 4096. */
  chunkSize?: number;
  /** Limits and timeouts; unspecified ones keep {@linkcode DEFAULT_LIMITS}. */
  limits?: Partial<ServerLimits>;
  /** Receives one line per connect, publish decision, unpublish and error. Default: stderr. `null` silences. */
  log?: ((line: string) => void) | null;
  /** Socket adapter; default: the current runtime's. */
  adapter?: SocketAdapter;
  /**
   * Behind an L4 load balancer (HAProxy `send-proxy`/`send-proxy-v2`, AWS NLB): every listener
   * reads a PROXY protocol v1/v2 header first, so hooks, logs, per-IP limits, stats and events
   * see the real client. `true` trusts loopback only; an object names the trusted balancers
   * (`trusted`), the header deadline, whether a header is `required`. A connection refused by
   * these rules is logged with the reason. {@linkcode ListenAddress.proxyProtocol} overrides it
   * per listener.
   */
  proxyProtocol?: ProxyProtocolOptions | boolean;
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
  /** PROXY protocol on this listener (`false` turns off the server-wide option). */
  proxyProtocol?: ProxyProtocolOptions | boolean;
}

/**
 * The ingest server.
 *
 * @example Listen on plain RTMP and RTMPS with one key check
 * ```ts
 * import { RtmpServer } from "./server.ts";
 * const server = new RtmpServer({ onPublish: ({ name }) => name === "k" });
 * await server.listenOn({ port: 1935 });
 * // await server.listenOn({ port: 1936, tls: { cert, key } });
 * await server.close();
 * ```
 */
export class RtmpServer implements AsyncIterable<PublishSession>, AsyncDisposable {
  readonly #options: RtmpServerOptions;
  readonly #limits: ServerLimits;
  readonly #listeners: Listener[] = [];
  readonly #http: HttpFlvServer[] = [];
  readonly #destinations = new Map<string, Set<RestreamDestination>>();
  readonly #relays = new Map<string, PullRelay>();
  readonly #connections = new Set<ServerConnection>();
  readonly #pending = new Set<ServerConnection>();
  readonly #pendingPerIp = new Map<string, Set<ServerConnection>>();
  readonly #livePerIp = new Map<string, number>();
  #liveCount = 0;
  readonly #live = new Map<string, { session: PublishSession; conn: ServerConnection }>();
  readonly #sessions = new BoundedQueue<PublishSession>({ limit: 1024 });
  readonly #hub: StreamHub;
  readonly #clock = new DeadlineClock();
  readonly #budget: ByteBudget;
  readonly #playersPerIp = new Map<string, number>();
  readonly #playersPerStream = new Map<string, number>();
  #players = 0;
  readonly #tasks = new Set<Promise<void>>();
  readonly #ctx: ServerContext;
  #sessionId = 0;
  #connectionId = 0;
  readonly #events = new ServerEvents();
  readonly #stats = new StatsRecorder();
  readonly #counted = new Map<ServerConnection, CountedConn>();
  #draining: Promise<DrainResult> | null = null;
  #closing: Promise<void> | null = null;
  #resolveClosed!: () => void;
  /** Resolves once the server is closed and every connection has ended. */
  readonly closed: Promise<void>;

  /**
   * Creates a server; call {@linkcode RtmpServer.listenOn} or {@linkcode RtmpServer.serve} next
   * (or use the static {@linkcode RtmpServer.listen}, which does both).
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
    this.#hub = new StreamHub({
      maxBytes: this.#limits.gopCacheBytes,
      maxDuration: this.#limits.gopCacheDuration,
    });
    const log = options.log === undefined
      ? (line: string) => console.error(`[rtmp] ${line}`)
      : options.log;
    const auth = options.auth
      ? new ConnectAuth(options.auth, { log: log ?? (() => {}) })
      : undefined;
    this.#budget = new ByteBudget({
      limit: this.#limits.maxPartialBytes,
      onExhausted: (needed, budget) => this.#reclaim(needed, budget),
    });
    this.#ctx = {
      limits: this.#limits,
      budget: this.#budget,
      // One pool for the whole server: the blocks of a connection closed half-way through a
      // message serve the next connection instead of becoming garbage (issue 13 §1).
      pool: new BlockPool({ budget: this.#budget }),
      // And for the first 4 KiB of each message (1 MiB slabs, as above).
      headPool: new BlockPool({ blockSize: 4096, slabBlocks: 256, budget: this.#budget }),
      chunkSize,
      hub: this.#hub,
      clock: this.#clock,
      playback: options.playback ?? true,
      onConnect: options.onConnect,
      onPublish: auth ? auth.guardPublish(options.onPublish) : options.onPublish,
      auth,
      onPlay: options.onPlay,
      log: log ?? (() => {}),
      nextSessionId: () => ++this.#sessionId,
      claim: (session, connection, askedAt) => this.#claim(session, connection, askedAt),
      goLive: (connection) => this.#goLive(connection),
      release: (session) => {
        const key = keyOf(session);
        if (this.#live.get(key)?.session === session) this.#live.delete(key);
      },
      started: (session, push) => this.#started(session, push),
      admitPlayer: (ip, stream) => this.#admitPlayer(ip, stream),
      ensureRelay: (key) => this.#ensureRelay(key),
      playerLeft: (ip, key) => {
        this.#players--;
        const k = (this.#playersPerStream.get(key) ?? 1) - 1;
        if (k <= 0) this.#playersPerStream.delete(key);
        else this.#playersPerStream.set(key, k);
        const n = (this.#playersPerIp.get(ip) ?? 1) - 1;
        if (n <= 0) this.#playersPerIp.delete(ip);
        else this.#playersPerIp.set(ip, n);
      },
      emit: (event) => this.#emit(event),
      nextConnectionId: () => ++this.#connectionId,
      ended: (connection) => this.#ended(connection),
      stopping: () => this.#draining !== null || this.#closing !== null,
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
      await server.listenOn(options);
    } catch (e) {
      await server.close();
      throw e;
    }
    return server;
  }

  /**
   * Binds a listener (call again to add RTMPS next to RTMP) and starts accepting. (Named
   * `listenOn` so it does not share a name with the static {@linkcode RtmpServer.listen}.)
   *
   * @example
   * ```ts ignore
   * const server = new RtmpServer({ onPublish: ({ name }) => name === "k" });
   * await server.listenOn({ port: 1935 });
   * await server.listenOn({ port: 1936, tls: { cert, key } });
   * ```
   *
   * @param address Where to listen.
   * @returns The bound address.
   */
  async listenOn(address: ListenAddress = {}): Promise<NetAddress> {
    if (this.#closing) throw new RtmpError("CLOSED", "the server is closed");
    if (this.#draining) throw new RtmpError("CLOSED", "the server is draining");
    const adapter = this.#options.adapter ?? await defaultAdapter();
    const listener = await adapter.listen({
      hostname: address.hostname ?? "0.0.0.0",
      port: address.port ?? (address.tls ? 1936 : 1935),
      // A client that never finishes its TLS handshake is dropped with the RTMP handshake's time.
      tls: address.tls
        ? { handshakeTimeout: this.#limits.handshakeTimeout, ...address.tls }
        : undefined,
      proxyProtocol: this.#proxyOptions(address.proxyProtocol ?? this.#options.proxyProtocol),
    });
    this.serve(listener);
    return listener.addr;
  }

  /** The adapter's `proxyProtocol` for a listener: rejections are logged and counted. */
  #proxyOptions(
    option: ProxyProtocolOptions | boolean | undefined,
  ): ProxyProtocolOptions | undefined {
    if (option === undefined || option === false) return undefined;
    const given = option === true ? {} : option;
    return {
      ...given,
      onReject: (error, peer) => {
        this.#ctx.log(`refusing ${peer.hostname}:${peer.port}: ${error.message}`);
        this.#emit({
          type: "connection-refused",
          time: Date.now(),
          remoteAddr: { ...peer },
          cause: "proxy-protocol",
          reason: error.message,
        });
        given.onReject?.(error, peer);
      },
    };
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

  /**
   * Serves every live stream over HTTP-FLV and WebSocket-FLV at `/APP/NAME.flv` (the same
   * `onPlay` hook, limits and drop policy as RTMP players), with a test page at `/`.
   *
   * @example
   * ```ts
   * import { RtmpServer } from "./server.ts";
   * await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0 });
   * const http = await server.listenHttp({ hostname: "127.0.0.1", port: 0 });
   * console.log(`http://127.0.0.1:${http.port}/live/KEY.flv`);
   * ```
   *
   * @param options Where to listen (default 127.0.0.1:8000), CORS origins and the test page.
   * @returns The bound address.
   */
  async listenHttp(
    options: {
      hostname?: string;
      port?: number;
      cors?: { origins: string[] | "*" };
      testPage?: TestPageOptions;
      /** Also serve `GET /api/streams`, `/api/stats` (JSON) and `/metrics` (Prometheus). */
      api?: boolean;
      /** Serve the FLV output (default `true`; `false` with `api` for a stats-only port). */
      flv?: boolean;
      /** Merged writes to viewers, in ms (see `HttpFlvOptions.mergeWriteMs`; default 100). */
      mergeWriteMs?: number;
      /** Viewers from which writes are merged (`HttpFlvOptions.mergeFromViewers`; default 100). */
      mergeFromViewers?: number;
    } = {},
  ): Promise<NetAddress> {
    if (this.#closing) throw new RtmpError("CLOSED", "the server is closed");
    const http = await startHttpFlvServer({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 8000,
      cors: options.cors,
      testPage: options.testPage,
      routes: options.api ? apiRoutes(() => this.stats()) : undefined,
      flv: options.flv,
      mergeWriteMs: options.mergeWriteMs,
      mergeFromViewers: options.mergeFromViewers,
      log: this.#ctx.log,
      open: (req, signal) => openHttpViewer(this.#ctx, req, signal),
    });
    this.#http.push(http);
    return http.addr;
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

  /**
   * Bytes all connections hold now for messages still arriving or held while a decision is
   * pending: what counts against `limits.maxPartialBytes`.
   */
  get partialBytes(): number {
    return this.#budget.used;
  }

  /**
   * What the partial-message pools hold from the system and ever allocated.
   *
   * @example
   * ```ts
   * import { RtmpServer } from "./server.ts";
   * await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
   * console.log(server.partialPools.allocatedBytes); // 0: nothing received yet
   * ```
   */
  get partialPools(): PartialPoolStats {
    let held = 0;
    let allocated = 0;
    for (const pool of [this.#ctx.pool, this.#ctx.headPool]) {
      held += (pool.inUse + pool.free) * pool.blockSize;
      allocated += pool.allocated * pool.blockSize;
    }
    return { heldBytes: held, allocatedBytes: allocated };
  }

  /** Streams currently published. */
  get streamCount(): number {
    return this.#live.size;
  }

  /** The stream hub: every live stream, to subscribe to from code. */
  get hub(): StreamHub {
    return this.#hub;
  }

  /** Players connected now. */
  get playerCount(): number {
    return this.#players;
  }

  /**
   * Server events (connections, decisions with reasons, ends with stats, hook failures,
   * protocol errors, drains): an `EventTarget` and an async iterable. See `server/events.ts`.
   */
  get events(): ServerEvents {
    return this.#events;
  }

  /**
   * A snapshot of every live stream (publisher, codecs, bitrate, uptime, bytes, subscribers
   * with lag and drops), every connection, and the counters since start.
   *
   * @example
   * ```ts
   * import { RtmpServer } from "./server.ts";
   * await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
   * console.log(JSON.stringify(server.stats().counters.publishesRefused)); // {}
   * ```
   *
   * @returns Plain data (safe to `JSON.stringify`).
   */
  stats(): ServerStats {
    const publishers = new Map<string, {
      session: PublishSession;
      connectionId: number;
    }>();
    for (const [key, e] of this.#live) {
      publishers.set(key, { session: e.session, connectionId: e.conn.id });
    }
    const connections = [...this.#counted].map(([c, conn]) => ({
      id: c.id,
      pending: this.#pending.has(c),
      conn,
      view: c.view(),
    }));
    return this.#stats.snapshot({
      streams: this.#hub.streams(),
      publishers,
      connections,
      draining: this.#draining !== null || this.#closing !== null,
      viewersOf: (key) => this.#playersPerStream.get(key) ?? 0,
    });
  }

  /**
   * Drains the server for a deploy or scale-in: closes the RTMP listeners (new publishes and
   * plays on open connections are refused as retryable), sends every client that announced
   * support (`capsEx` Reconnect) an E-RTMP v2 `NetConnection.Connect.ReconnectRequest`
   * (with `tcUrl` when given), waits up to `timeout` for the publishers to leave — their
   * streams end cleanly: recordings finalized, players told `UnpublishNotify` — then closes
   * the server. Logs what happened to each publisher. Calling it again returns the same drain;
   * `close()` during a drain ends it at once.
   *
   * @example
   * ```ts
   * import { RtmpServer } from "./server.ts";
   * const server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
   * const result = await server.drain({ timeout: 10_000, tcUrl: "rtmp://node-2.example.com/live" });
   * console.log(result.left, result.closed); // 0 0
   * ```
   *
   * @param options Deadline (default 30 s), where to reconnect, the request's text.
   * @returns What happened, once the server is closed.
   */
  drain(options: DrainOptions = {}): Promise<DrainResult> {
    if (!this.#draining) {
      this.#draining = runDrain({
        stopAccepting: () => {
          for (const l of this.#listeners) l.close();
        },
        connections: () =>
          [...this.#connections].map((c) => {
            const view = c.view();
            return {
              id: c.id,
              label: c.label,
              remoteAddr: this.#counted.get(c)?.remoteAddr ?? { hostname: c.ip, port: 0 },
              connect: view.app === null
                ? null
                : { app: view.app, tcUrl: view.tcUrl, capsEx: view.capsEx },
              sessions: [...this.#live.values()].filter((e) => e.conn === c).map((e) => ({
                key: e.session.key,
                ended: e.session.ended,
              })),
              playing: view.playing,
              requestReconnect: (tcUrl, description) => c.requestReconnect(tcUrl, description),
            };
          }),
        log: (line) => this.#ctx.log(line),
        emit: (event) => this.#emit(event),
        viewers: (keys) => keys.reduce((n, k) => n + (this.#playersPerStream.get(k) ?? 0), 0),
        close: () => this.close(),
      }, options);
    }
    return this.#draining;
  }

  #emit(event: ServerEvent): void {
    this.#stats.record(event);
    this.#events.emit(event);
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
    return this;
  }

  /** Same as {@linkcode RtmpServer.sessions}. @returns An async iterator. */
  [Symbol.asyncIterator](): AsyncIterator<PublishSession> {
    return this.#sessions[Symbol.asyncIterator]();
  }

  async #acceptLoop(listener: Listener): Promise<void> {
    let backoff = 0;
    while (true) {
      let conn: Conn | null;
      try {
        conn = await listener.accept();
        backoff = 0;
      } catch (e) {
        // A listener that keeps failing (EMFILE, ENFILE) must not spin the CPU: back off
        // 10 ms, doubling up to 1 s, until an accept succeeds again.
        backoff = Math.min(backoff ? backoff * 2 : 10, 1000);
        this.#ctx.log(
          `accept failed: ${e instanceof Error ? e.message : String(e)}; retrying in ${backoff} ms`,
        );
        await new Promise((resolve) => setTimeout(resolve, backoff));
        if (this.#closing) return;
        continue;
      }
      if (!conn) return;
      this.#admit(conn);
    }
  }

  #admit(raw: Conn): void {
    if (this.#closing || this.#draining) {
      raw.close();
      return;
    }
    const conn = this.#stats.count(raw);
    const ip = conn.remoteAddr.hostname;
    const limits = this.#limits;
    // Connections that have not published or played yet are a pool of their own: when it is
    // full, the oldest idle one makes room, so silent connections cannot lock encoders out
    // (issue 13 §2). The per-address share of that pool is enforced first.
    const mine = this.#pendingPerIp.get(ip);
    if (mine && mine.size >= limits.maxPendingConnectionsPerIp) {
      this.#evictOldest(mine, `${mine.size} connections from ${ip} have not published yet`);
    }
    if (this.#pending.size >= limits.maxPendingConnections) {
      // From the address holding the most of the pool: a flood from a few addresses makes room
      // out of its own share, and an encoder's connection that is still in its handshake while
      // hundreds arrive is not the one to go.
      let heaviest = this.#pending;
      for (const set of this.#pendingPerIp.values()) {
        if (heaviest === this.#pending || set.size > heaviest.size) heaviest = set;
      }
      this.#evictOldest(heaviest, `${this.#pending.size} connections have not published yet`);
    }
    if (this.#connections.size >= limits.maxConnections + limits.maxPendingConnections) {
      this.#ctx.log(`refusing ${ip}: ${this.#connections.size} connections already`);
      conn.close();
      this.#emit({
        type: "connection-refused",
        time: Date.now(),
        remoteAddr: conn.remoteAddr,
        cause: "limit",
        reason: `${this.#connections.size} connections already`,
      });
      return;
    }
    const connection = new ServerConnection(conn, this.#ctx);
    this.#connections.add(connection);
    this.#counted.set(connection, conn);
    this.#emit({
      type: "connection",
      time: Date.now(),
      connectionId: connection.id,
      remoteAddr: conn.remoteAddr,
      proxyAddr: conn.proxyAddr,
      tls: conn.tls,
    });
    this.#pending.add(connection);
    let set = this.#pendingPerIp.get(ip);
    if (!set) this.#pendingPerIp.set(ip, set = new Set());
    set.add(connection);
    // run() calls #ended last (ServerContext.ended): no closure per connection for it.
    this.#track(connection.run());
  }

  /** A connection's run() is ending: it leaves the server's books. */
  #ended(connection: ServerConnection): void {
    const conn = this.#counted.get(connection)!;
    const ip = connection.ip;
    this.#connections.delete(connection);
    this.#counted.delete(connection);
    this.#emit({
      type: "disconnect",
      time: Date.now(),
      connectionId: connection.id,
      remoteAddr: conn.remoteAddr,
      duration: Date.now() - conn.acceptedAt,
      bytesIn: conn.bytesIn,
      bytesOut: conn.bytesOut,
    });
    if (!this.#leavePending(connection, ip)) {
      this.#liveCount--;
      const n = (this.#livePerIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.#livePerIp.delete(ip);
      else this.#livePerIp.set(ip, n);
    }
  }

  /** Removes a connection from the pending pool; returns whether it was there. */
  #leavePending(connection: ServerConnection, ip: string): boolean {
    if (!this.#pending.delete(connection)) return false;
    const set = this.#pendingPerIp.get(ip);
    set?.delete(connection);
    if (set && set.size === 0) this.#pendingPerIp.delete(ip);
    return true;
  }

  #evictOldest(pool: Set<ServerConnection>, why: string): void {
    // The victim is the connection quiet the longest among those that completed `connect` and
    // then asked for nothing — the shape of a slot holder; an encoder asks for its stream within
    // a round trip of the connect answer. Only when there is none, the one quiet the longest of
    // the rest: a connection still in its handshake may only be waiting for a server busy with a
    // flood to read it, so it is not evicted just for being older (issue 13 §2).
    let victim: ServerConnection | undefined;
    let rest: ServerConnection | undefined;
    for (const c of pool) {
      if (c.deciding) continue;
      if (c.connected) {
        if (!victim || c.lastReadAt < victim.lastReadAt) victim = c;
      } else if (!rest || c.lastReadAt < rest.lastReadAt) {
        rest = c;
      }
    }
    victim ??= rest ?? pool.values().next().value;
    if (!victim) return;
    this.#ctx.log(`${victim.label}: closed to make room (${why})`);
    this.#leavePending(victim, victim.ip);
    this.#liveCount++; // counted out again when its run() ends
    this.#livePerIp.set(victim.ip, (this.#livePerIp.get(victim.ip) ?? 0) + 1);
    victim.evict();
  }

  /** A connection is about to publish or play for the first time: move it to the live pool. */
  #goLive(connection: ServerConnection): string | null {
    const ip = connection.ip;
    const limits = this.#limits;
    if (!this.#pending.has(connection)) return null;
    if (this.#liveCount >= limits.maxConnections) {
      return `${limits.maxConnections} live connections already`;
    }
    const fromIp = this.#livePerIp.get(ip) ?? 0;
    if (fromIp >= limits.maxConnectionsPerIp) {
      return `${fromIp} live connections from ${ip} already`;
    }
    this.#leavePending(connection, ip);
    this.#liveCount++;
    this.#livePerIp.set(ip, fromIp + 1);
    return null;
  }

  #claim(
    session: PublishSession,
    connection: ServerConnection,
    askedAt: number,
  ): string | null | { retryIn: number } {
    if (this.#closing || this.#draining) return "server is shutting down";
    const key = keyOf(session);
    const existing = this.#live.get(key);
    if (existing && !existing.session.endReason) {
      const policy = this.#options.duplicatePublish ?? "replace-stale";
      if (existing.conn === connection) {
        // The same key twice on one connection is no reconnect, whatever the policy; and this
        // connection's reads were paused while it was decided, so its silence means nothing.
        return `stream "${key}" is already published on this connection`;
      }
      const now = Date.now();
      const silent = existing.conn.silentFor(now);
      const stale = silent >= this.#limits.stalePublisherTimeout;
      if (policy === "replace-stale" && !stale && existing.conn.lastReadAt <= askedAt) {
        // Nothing from the live publisher since this one asked: it may be an encoder whose path
        // died, reconnecting at once (issue 13 §3). Hold the request until the old one either
        // speaks (refused below) or has been silent long enough to be replaced, so the first
        // reconnect succeeds instead of depending on how soon the encoder retries.
        return { retryIn: Math.min(50, this.#limits.stalePublisherTimeout - silent) };
      }
      if (policy === "reject" || (policy === "replace-stale" && !stale)) {
        this.#ctx.log(
          `${connection.label}: stream "${key}" is live from ${existing.conn.label} ` +
            `(last data ${silent} ms ago); refusing the new publisher` +
            (policy === "reject" ? "" : " (it replaces a publisher silent for " +
              `${this.#limits.stalePublisherTimeout} ms; --replace always replaces)`),
        );
        return `stream "${key}" is already live from another connection`;
      }
      this.#ctx.log(
        `stream "${key}" taken over by ${connection.label}` +
          (stale ? ` (the old publisher was silent for ${silent} ms)` : ""),
      );
      existing.conn.shutdown("replaced");
      existing.session.finish("replaced");
    }
    this.#live.set(key, { session, conn: connection });
    return null;
  }

  /**
   * The server-wide budget ran out: close the connections holding the most until `needed`
   * bytes are free (issue 13 §1), so a few hostile peers cannot starve everyone else.
   */
  #reclaim(needed: number, budget: ByteBudget): void {
    // One pass per eviction and no arrays: under a flood this runs for nearly every block a
    // new attacker asks for, and one eviction is nearly always enough. Closing a connection
    // gives its blocks back at once (its session disposes its decoder), so it is not found
    // again; one that did not let go ends the loop rather than being closed twice.
    while (budget.available < needed) {
      let biggest: ServerConnection | null = null;
      let most = 0;
      for (const c of this.#connections) {
        const held = c.partialBytes;
        if (held > most) {
          most = held;
          biggest = c;
        }
      }
      if (biggest === null) return;
      biggest.evictForMemory(
        `it holds ${most} of ${budget.used} bytes; the server-wide budget is ${budget.limit}`,
      );
      if (biggest.partialBytes > 0) return;
    }
  }

  #admitPlayer(ip: string, stream: LiveStream): string | null {
    const limits = this.#limits;
    if (this.#closing || this.#draining) return "server is shutting down";
    if (this.#players >= limits.maxPlayers) return `${limits.maxPlayers} players already`;
    const fromIp = this.#playersPerIp.get(ip) ?? 0;
    if (fromIp >= limits.maxPlayersPerIp) return `${fromIp} players from this address already`;
    // Players only: the session's own queue, recorders and restreams are not viewers.
    const ofStream = this.#playersPerStream.get(stream.key) ?? 0;
    if (ofStream >= limits.maxPlayersPerStream) {
      return `${limits.maxPlayersPerStream} players of "${stream.key}" already`;
    }
    this.#playersPerStream.set(stream.key, ofStream + 1);
    this.#players++;
    this.#playersPerIp.set(ip, fromIp + 1);
    return null;
  }

  #started(session: PublishSession, push: string[]): void {
    if (this.#options.sessionQueue !== "lazy") session.attach();
    this.#track(this.#startPushes(session, push));
    const handler = this.#options.onSession;
    if (!handler) {
      this.#sessions.pushDropOldest(session);
      return;
    }
    const failed = (e: unknown): void => {
      this.#ctx.log(
        `onSession handler failed for "${session.key}": ${
          e instanceof Error ? e.message : String(e)
        }`,
      );
    };
    // Called synchronously, so a handler that iterates (or attaches) at once misses nothing.
    try {
      const result = handler(session);
      if (result instanceof Promise) this.#track(result.catch(failed));
    } catch (e) {
      failed(e);
    }
  }

  async #startPushes(session: PublishSession, fromHook: string[]): Promise<void> {
    // The decision's destinations start at once (they see the publish from its first packet);
    // the configured ones may need a lookup first.
    const started = new Set<string>();
    const start = (templates: string[]): void => {
      for (const template of templates) {
        const url = template.replaceAll("{app}", session.app).replaceAll("{name}", session.name);
        if (started.has(url) || session.endReason) continue;
        started.add(url);
        try {
          this.restream(session, url);
        } catch (e) {
          this.#ctx.log(`restream of "${session.key}" not started: ${(e as Error).message}`);
        }
      }
    };
    start(fromHook);
    const configured = this.#options.push;
    try {
      if (typeof configured === "function") start(await configured(session));
      else if (configured) start(configured);
    } catch (e) {
      this.#ctx.log(
        `push list for "${session.key}" failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  /**
   * Restreams a live stream to a destination. Given a session, the destination belongs to that
   * publish and stops when it ends; given a key (`app/name`), it stays and follows every
   * publisher of the key until {@linkcode RtmpServer.stopRestream}.
   *
   * @example
   * ```ts ignore
   * const dest = server.restream(session, "rtmps://a.rtmps.youtube.com/live2/KEY");
   * for await (const e of dest.events()) console.log(e.state, e.reason);
   * ```
   *
   * @param target A publish session or a key.
   * @param url `rtmp://` or `rtmps://` URL with the destination's key.
   * @param options Overrides of the server's `restream` options.
   * @returns The destination (already starting).
   */
  restream(
    target: PublishSession | string,
    url: string,
    options: Omit<DestinationOptions, "signal" | "endOnUnpublish" | "log"> = {},
  ): RestreamDestination {
    if (this.#closing) throw new RtmpError("CLOSED", "the server is closed");
    const bound = typeof target !== "string";
    const key = bound ? target.key : target;
    if (bound && target.endReason) {
      throw new RtmpError("CLOSED", `the publish of "${key}" has ended`);
    }
    const stream = bound ? target.stream : this.#hub.open(key);
    const dest = new RestreamDestination(stream, url, {
      ...this.#options.restream,
      ...options,
      endOnUnpublish: bound,
      log: this.#ctx.log,
    });
    let set = this.#destinations.get(key);
    if (!set) this.#destinations.set(key, set = new Set());
    set.add(dest);
    this.#track(dest.done.finally(() => {
      const s = this.#destinations.get(key);
      s?.delete(dest);
      if (s && s.size === 0) this.#destinations.delete(key);
    }));
    return dest;
  }

  /**
   * Feeds a local stream from a remote URL for good (reconnecting), so it can be played,
   * recorded and restreamed here as if it were published here.
   *
   * @example
   * ```ts ignore
   * server.relay("live/cam", "rtmp://origin.example.com/live/cam");
   * ```
   *
   * @param key The local `app/name`.
   * @param url The remote `rtmp://` / `rtmps://` stream.
   * @param options Retry policy and client options.
   * @returns The relay.
   */
  relay(
    key: string,
    url: string,
    options: Omit<PullRelayOptions, "signal" | "log"> = {},
  ): PullRelay {
    if (this.#closing) throw new RtmpError("CLOSED", "the server is closed");
    if (this.#relays.has(key)) {
      throw new RtmpError("INVALID_ARGUMENT", `"${key}" is already relayed`);
    }
    const relay = new PullRelay(this.#hub.open(key), url, { ...options, log: this.#ctx.log });
    this.#relays.set(key, relay);
    this.#track(relay.done.finally(() => {
      if (this.#relays.get(key) === relay) this.#relays.delete(key);
    }));
    return relay;
  }

  /** Pull relays running now. @returns A snapshot. */
  relays(): PullRelay[] {
    return [...this.#relays.values()];
  }

  /** Starts an on-demand pull relay for a key that is not live, when a `pull` pattern matches. */
  #ensureRelay(key: string): void {
    const rules = this.#options.pull;
    if (!rules || this.#relays.has(key) || this.#hub.get(key)?.live) return;
    const slash = key.indexOf("/");
    const app = key.slice(0, slash);
    const name = key.slice(slash + 1);
    for (const [pattern, template] of Object.entries(rules)) {
      if (!globMatch(pattern, key)) continue;
      const url = template.replaceAll("{app}", app).replaceAll("{name}", name);
      try {
        this.relay(key, url, { idleStop: this.#options.pullIdleStop ?? 30_000 });
      } catch (e) {
        this.#ctx.log(`relay of "${key}" not started: ${(e as Error).message}`);
      }
      return;
    }
  }

  /**
   * Restream destinations, of one key or all.
   * @param key `app/name`; all when omitted.
   * @returns A snapshot.
   */
  destinations(key?: string): RestreamDestination[] {
    if (key !== undefined) return [...this.#destinations.get(key) ?? []];
    return [...this.#destinations.values()].flatMap((s) => [...s]);
  }

  /**
   * Stops the destinations of a key that push to `url` (all of them when `url` is omitted).
   * @param key `app/name`.
   * @param url The destination URL as given.
   * @returns Resolves when they have stopped.
   */
  async stopRestream(key: string, url?: string): Promise<void> {
    const stops = this.destinations(key).filter((d) => url === undefined || d.url === url)
      .map((d) => d.stop());
    await Promise.all(stops);
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
        const http = Promise.allSettled(this.#http.map((h) => h.close()));
        for (const d of this.destinations()) void d.stop();
        for (const r of this.#relays.values()) void r.stop();
        for (const c of this.#connections) c.shutdown("server-closed");
        this.#sessions.end();
        // Connections end within the linger time; onSession handlers get a bounded grace
        // period, so one that never returns cannot hold close() forever.
        const grace = this.#limits.lingerTimeout + this.#limits.closeTimeout;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const expired = new Promise<"expired">((resolve) => {
          timer = setTimeout(() => resolve("expired"), grace);
        });
        while (this.#tasks.size > 0) {
          const done = await Promise.race([Promise.allSettled([...this.#tasks]), expired]);
          if (done === "expired") {
            this.#ctx.log(`close: ${this.#tasks.size} handler(s) still running after ${grace} ms`);
            for (const c of this.#connections) c.evict();
            break;
          }
        }
        clearTimeout(timer);
        await http;
        this.#clock.close();
        this.#events.end();
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

/** `app/name` patterns: `*` matches any run of characters within one segment. */
function globMatch(pattern: string, key: string): boolean {
  const re = new RegExp(
    "^" + pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^/]*") +
      "$",
  );
  return re.test(key);
}
