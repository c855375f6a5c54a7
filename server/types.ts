/**
 * The public vocabulary of the server: what hooks are given and answer, limits and their
 * defaults, why sessions end, and the counters they report. Drivers and {@linkcode RtmpServer}
 * import these; nothing here does IO.
 *
 * @module
 */

import type { ConnectRequest, PlayRequest } from "../session/server_session.ts";
import type { NetAddress } from "../socket/types.ts";
import type { StatusCode } from "../protocol/status.ts";

export type { ConnectRequest, PlayRequest, StatusCode };

/**
 * A hook's answer: `true`/`false`, or an object. `reason` is for the log and the server's
 * events only and never reaches the peer; `description` is the text the peer is sent (keep
 * internal details out of it); `code` is the status code (a default per stage when omitted).
 *
 * @example
 * ```ts
 * import type { HookDecision } from "./types.ts";
 * const no: HookDecision = {
 *   accept: false,
 *   reason: "key 42 revoked by admin",
 *   description: "unknown stream key",
 *   code: "NetStream.Publish.Unauthorized",
 * };
 * ```
 */
export type HookDecision =
  | boolean
  | {
    accept: true;
    /**
     * Restream destinations for this publish (`rtmp://` / `rtmps://` URLs; `{app}` and
     * `{name}` are replaced). Ignored for connect and play decisions.
     */
    push?: string[];
  }
  | { accept: false; reason?: string; description?: string; code?: StatusCode };

/**
 * What the connect-stage hook is given.
 *
 * @example
 * ```ts
 * import type { ConnectInfo } from "./types.ts";
 * function allowed(c: ConnectInfo): boolean { return c.app === "live"; }
 * ```
 */
export interface ConnectInfo {
  /** Application name. */
  app: string;
  /** `tcUrl`, or `""`. */
  tcUrl: string;
  /** The parsed connect command. */
  connect: ConnectRequest;
  /** Client address. */
  remoteAddr: NetAddress;
  /** Whether the connection is RTMPS. */
  tls: boolean;
  /** The user name the client authenticated as with `auth` (authmod), or `null`. */
  user: string | null;
}

/**
 * Everything the server knows about a publisher, as given to the key hook and kept on the
 * session.
 *
 * @example
 * ```ts
 * import type { PublishInfo } from "./types.ts";
 * function key(p: PublishInfo): string { return `${p.app}/${p.name}`; }
 * ```
 */
export interface PublishInfo {
  /** Application from `connect` (e.g. `live`). */
  app: string;
  /** Stream name without its query string (the key). */
  name: string;
  /** Stream name exactly as sent, with query string. */
  streamName: string;
  /** Query parameters parsed from the stream name (`key?token=…`). */
  query: URLSearchParams;
  /** `live`, `record` or `append`, as sent. */
  publishType: string;
  /** `tcUrl` from `connect`, or `""`. */
  tcUrl: string;
  /** The whole connect request (flashVer, fourCcList, capability maps, raw object). */
  connect: ConnectRequest;
  /** The publisher's address. */
  remoteAddr: NetAddress;
  /** Whether the connection is RTMPS. */
  tls: boolean;
  /**
   * The user name the publisher authenticated as with `auth` (authmod), or `null` without
   * `auth`. Tie stream keys to users with it.
   */
  user: string | null;
}

/**
 * What the play hook is given.
 *
 * @example
 * ```ts
 * import type { PlayInfo } from "./types.ts";
 * function allowed(p: PlayInfo): boolean { return p.query.get("token") === "t"; }
 * ```
 */
export interface PlayInfo {
  /** Application from `connect`. */
  app: string;
  /** Stream name without its query string. */
  name: string;
  /** Stream name exactly as sent. */
  streamName: string;
  /** Query parameters of the stream name (tokens). */
  query: URLSearchParams;
  /** `tcUrl` from `connect`, or `""`. */
  tcUrl: string;
  /** How the viewer plays: an RTMP player, or an HTTP-FLV / WebSocket-FLV viewer. */
  protocol: "rtmp" | "http-flv" | "ws-flv";
  /** The connect request (RTMP players only). */
  connect: ConnectRequest | null;
  /** The `play` arguments (RTMP players only). */
  request: PlayRequest | null;
  /** The viewer's address. */
  remoteAddr: NetAddress;
  /** Whether the connection is encrypted. */
  tls: boolean;
  /**
   * The user name an RTMP player authenticated as with `auth` (authmod), or `null`
   * (anonymous players, HTTP-FLV and WebSocket-FLV viewers).
   */
  user: string | null;
}

/**
 * An authentication scheme of {@linkcode ServerAuthOptions}: Adobe's `authmod=adobe` (OBS
 * "Use authentication", FFmpeg, librtmp) or Limelight's `authmod=llnw` (FFmpeg, librtmp).
 *
 * @example
 * ```ts
 * import type { AuthMethod } from "./types.ts";
 * const methods: AuthMethod[] = ["adobe", "llnw"];
 * ```
 */
export type AuthMethod = "adobe" | "llnw";

/**
 * What the password lookup of {@linkcode ServerAuthOptions} is given besides the user name
 * and the application.
 *
 * @example
 * ```ts
 * import type { AuthLookupInfo } from "./types.ts";
 * function fromLan(i: AuthLookupInfo): boolean { return i.remoteAddr.hostname.startsWith("10."); }
 * ```
 */
export interface AuthLookupInfo {
  /** The scheme the client answers with. */
  method: AuthMethod;
  /** `tcUrl` from `connect` without the authentication parameters, or `""`. */
  tcUrl: string;
  /** The connect request (`app` and `tcUrl` without the authentication parameters). */
  connect: ConnectRequest;
  /** Client address. */
  remoteAddr: NetAddress;
  /** Whether the connection is RTMPS. */
  tls: boolean;
  /** Aborts when the lookup times out (`limits.hookTimeout`) or the client goes away. */
  signal: AbortSignal;
}

/**
 * User name and password authentication of RTMP clients with the `authmod` challenge–response
 * that encoders speak (OBS "Use authentication", FFmpeg `rtmp://user:pass@host/app/key`).
 * The password never travels: the client proves it knows it by hashing it with a single-use
 * challenge, and the server compares in constant time.
 *
 * Each step is its own TCP connection: a connect without credentials is refused with the
 * description that makes the encoder reconnect with its user name
 * (`… code=403 need auth; authmod=adobe …`), that one is refused with a salt and challenge,
 * and the third connect carries the response. Wrong credentials refuse the connect with
 * `?reason=authfailed` (FFmpeg prints "Incorrect username/password"), so no media is taken.
 * Every failure is logged (user name, scheme, address; never the password or the response).
 * `maxFailures` failures from one address within `window` make further connects from it be
 * refused at once, before any lookup, until the window has passed.
 *
 * @example
 * ```ts
 * import type { ServerAuthOptions } from "./types.ts";
 * const users = new Map([["studio", "correct horse battery staple"]]);
 * const auth: ServerAuthOptions = {
 *   lookup: (user) => users.get(user) ?? null,
 *   methods: ["adobe"],
 *   anonymousPlayers: true,
 * };
 * ```
 */
export interface ServerAuthOptions {
  /**
   * Returns the password of `user` for application `app` (without authentication
   * parameters), or `null` for an unknown user; may be async (a database). It runs under
   * `limits.hookTimeout`; a throw or a timeout refuses the connect as a server failure, not
   * counted as a failed attempt.
   */
  lookup: (
    user: string,
    app: string,
    info: AuthLookupInfo,
  ) => string | null | Promise<string | null>;
  /**
   * The schemes accepted; the first is the one offered to a client that sent none (encoders
   * answer with the scheme they are offered). Default `["adobe", "llnw"]`.
   */
  methods?: readonly AuthMethod[];
  /**
   * Let clients that do not look like publishers connect without credentials (their `user`
   * is `null`). A connect is treated as a publisher's when it carries `type: "nonprivate"`,
   * as FFmpeg, OBS (librtmp) and this library's `RtmpClient` send when publishing; a `publish`
   * from a connection that did not authenticate is refused anyway (`NetStream.Publish.Denied`),
   * so a publisher the rule misses cannot slip in. A client that sends credentials is
   * always checked. Default `false`: every RTMP connect must authenticate.
   */
  anonymousPlayers?: boolean;
  /** Failed attempts from one address within `window` before it is refused outright. Default 10. */
  maxFailures?: number;
  /**
   * Challenges issued to one address within `window` before it is refused outright (each
   * login needs one; the bound keeps one address from flooding the server's bounded store of
   * open challenges). Default 60.
   */
  maxChallenges?: number;
  /** The window of `maxFailures` and `maxChallenges`, in milliseconds. Default 60 000. */
  window?: number;
  /** How long a challenge can be answered, in milliseconds. Default 60 000. */
  challengeTtl?: number;
}

/**
 * Why a publish session ended.
 *
 * - `publisher-closed`: the encoder unpublished (`FCUnpublish`, `closeStream`, `deleteStream`).
 * - `connection-lost`: the socket ended or reset without an unpublish.
 * - `timeout`: no data within the idle timeout.
 * - `protocol-error`: the publisher sent something malformed.
 * - `server-closed`: the server shut down.
 * - `replaced`: another publisher took the key.
 * - `kicked`: the application closed the session.
 *
 * @example
 * ```ts
 * import type { EndReason } from "./types.ts";
 * const r: EndReason = "publisher-closed";
 * ```
 */
export type EndReason =
  | "publisher-closed"
  | "connection-lost"
  | "timeout"
  | "protocol-error"
  | "server-closed"
  | "replaced"
  | "kicked";

/**
 * Counters of a publish session.
 *
 * @example
 * ```ts
 * import type { SessionStats } from "./types.ts";
 * function kbps(s: SessionStats): number { return s.bitrate / 1000; }
 * ```
 */
export interface SessionStats {
  /** Payload bytes of all packets (the media, without RTMP chunk headers). */
  payloadBytes: number;
  /** @deprecated Use `payloadBytes` (same value); kept for 0.1 callers. */
  bytes: number;
  /** Audio packet count. */
  audioPackets: number;
  /** Video packet count. */
  videoPackets: number;
  /** Data packet count. */
  dataPackets: number;
  /** When the publish was accepted (ms since epoch). */
  startedAt: number;
  /** Milliseconds since start (until end, once ended). */
  duration: number;
  /** Average payload bitrate in bits per second over `duration`. */
  bitrate: number;
}

/**
 * Limits and timeouts of the server. All times in milliseconds, sizes in bytes.
 *
 * @example
 * ```ts
 * import type { ServerLimits } from "./types.ts";
 * const strict: Partial<ServerLimits> = { hookTimeout: 2000, maxConnectionsPerIp: 5 };
 * ```
 */
export interface ServerLimits {
  /** Time for the handshake to complete. Default 10 000. */
  handshakeTimeout: number;
  /**
   * Time from accepting the socket until it publishes or plays (handshake included; time
   * spent in hooks does not count); a connection that does neither in time is closed.
   * Encoders need a few hundred ms. Default 5 000.
   */
  publishTimeout: number;
  /** Time without any byte from a publisher. Default 30 000. */
  idleTimeout: number;
  /** Time a hook may take before the request is refused. Default 10 000. */
  hookTimeout: number;
  /** Largest RTMP message of a publisher (media). Default 16 MiB. */
  maxMessageSize: number;
  /**
   * Largest message of a connection that has not asked to publish: commands are small, and a
   * peer that announces a large message before publishing is refused at once. Default 64 KiB.
   */
  maxCommandSize: number;
  /**
   * Bytes all connections together may hold for messages still arriving or held while a
   * decision is pending. Memory grows with bytes that arrived, never with announced lengths;
   * when the budget runs out, the connections holding the most are closed first. Default 96 MiB:
   * room for about 400 publishers each with a 256 KiB message in flight (nginx-rtmp caps a single
   * message at 1 MB by default), and small enough that 1,000 hostile connections stay under
   * 200 MiB above the server's idle size on every runtime (issue 13 §1;
   * `bench/hostile_rss_bench.ts` measures it).
   *
   * Partial messages live in 64 KiB blocks of 1 MiB slabs shared by every connection, counted
   * here whole; a flood reuses them instead of allocating (issue 13 §1). Wholly free slabs are
   * freed at once, but on glibc (Node, Deno on Linux) they stay resident unless its mmap
   * threshold is pinned: set `MALLOC_MMAP_THRESHOLD_=131072` in the server's environment for
   * memory to go back to the system after an attack (otherwise it is reused by the next one).
   * Peak memory under attack is about this budget plus the connections' own memory.
   */
  maxPartialBytes: number;
  /** The share of one connection in `maxPartialBytes`. Default 32 MiB. */
  maxPartialBytesPerConnection: number;
  /** Chunk streams per connection. Default 64. */
  maxChunkStreams: number;
  /** Streams one connection may create. Default 8. */
  maxStreamsPerConnection: number;
  /** Connections that publish or play. Default 1000. */
  maxConnections: number;
  /** Connections that publish or play from one IP address. Default 64. */
  maxConnectionsPerIp: number;
  /**
   * Connections that have not published or played yet. When full, a new connection closes
   * the oldest idle one instead of being refused. Default 256.
   */
  maxPendingConnections: number;
  /** The share of one IP address in the pending pool (its oldest makes room). Default 16. */
  maxPendingConnectionsPerIp: number;
  /**
   * With `duplicatePublish: "replace-stale"`: a live publisher silent for this long is
   * replaced by a new publisher of its key. Live encoders send tens of messages a second.
   * Default 2 500.
   */
  stalePublisherTimeout: number;
  /** Payload bytes queued per `block` subscriber before the publisher is slowed. Default 8 MiB. */
  maxQueuedBytes: number;
  /** Time to wait for the peer's FIN after we closed our side. Default 3 000. */
  lingerTimeout: number;
  /** How long `close()` waits for `onSession` handlers after the connections ended. Default 10 000. */
  closeTimeout: number;
  /** Players in total. Default 4000. */
  maxPlayers: number;
  /** Players of one stream. Default 2000. */
  maxPlayersPerStream: number;
  /** Players from one IP address. Default 64. */
  maxPlayersPerIp: number;
  /** Soft bound of a player's queue: past it video is skipped to the next keyframe. Default 8 MiB. */
  playerQueueBytes: number;
  /** Hard bound of a player's queue: past it the player is disconnected. Default 24 MiB. */
  playerQueueHardBytes: number;
  /** How long a `play` of a key that is not live waits for a publisher. Default 10 000. */
  playWaitTimeout: number;
  /** How long a player stays connected after its publisher left. Default 30 000. */
  unpublishedPlayerTimeout: number;
  /** GOP cache bound in bytes per stream. Default 32 MiB. */
  gopCacheBytes: number;
  /** GOP cache bound in milliseconds of media. Default 12 000. */
  gopCacheDuration: number;
}

/** The defaults of {@linkcode ServerLimits}. */
export const DEFAULT_LIMITS: ServerLimits = {
  handshakeTimeout: 10_000,
  publishTimeout: 5_000,
  idleTimeout: 30_000,
  hookTimeout: 10_000,
  maxMessageSize: 16 << 20,
  maxCommandSize: 64 << 10,
  maxPartialBytes: 96 << 20,
  maxPartialBytesPerConnection: 32 << 20,
  maxChunkStreams: 64,
  maxStreamsPerConnection: 8,
  maxConnections: 1000,
  maxConnectionsPerIp: 64,
  maxPendingConnections: 256,
  maxPendingConnectionsPerIp: 16,
  stalePublisherTimeout: 2_500,
  maxQueuedBytes: 8 << 20,
  lingerTimeout: 3_000,
  closeTimeout: 10_000,
  maxPlayers: 4000,
  maxPlayersPerStream: 2000,
  maxPlayersPerIp: 64,
  playerQueueBytes: 8 << 20,
  playerQueueHardBytes: 24 << 20,
  playWaitTimeout: 10_000,
  unpublishedPlayerTimeout: 30_000,
  gopCacheBytes: 32 << 20,
  gopCacheDuration: 12_000,
};
