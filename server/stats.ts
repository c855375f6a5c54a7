/**
 * What `server.stats()` reports: counters since start (fed by the server's events, so a counter
 * and its event never disagree), bytes in and out (counted at the socket), and a snapshot of
 * every live stream and every connection.
 *
 * @module
 */

import { metadataOf } from "../protocol/data.ts";
import type { LiveStream } from "../hub/live_stream.ts";
import type { HubMessage } from "../hub/hub_message.ts";
import type { SubscriberStats } from "../hub/subscriber.ts";
import { proxyHeaderOf } from "../socket/proxy_conn.ts";
import type { Conn, NetAddress } from "../socket/types.ts";
import type { PlayProtocol, RefusalCause, ServerEvent } from "./events.ts";
import type { EndReason } from "./types.ts";
import { sendPieces } from "../socket/gather.ts";

/**
 * Counters since the server started. Keyed counters list only what happened (a missing key is
 * zero); `/metrics` lists the known keys with zeros.
 *
 * @example
 * ```ts
 * import type { ServerCounters } from "./stats.ts";
 * function refused(c: ServerCounters): number {
 *   return Object.values(c.publishesRefused).reduce((a, b) => a + (b ?? 0), 0);
 * }
 * ```
 */
export interface ServerCounters {
  /** Sockets accepted. */
  connectionsAccepted: number;
  /** Sockets closed at once, by cause (limits, PROXY protocol). */
  connectionsRefused: Partial<Record<RefusalCause, number>>;
  /** `connect` commands accepted. */
  connectsAccepted: number;
  /** `connect` commands refused, by cause. */
  connectsRefused: Partial<Record<RefusalCause, number>>;
  /** Publishes accepted. */
  publishesAccepted: number;
  /** Publishes refused, by cause. */
  publishesRefused: Partial<Record<RefusalCause, number>>;
  /** Publishes ended, by reason. */
  unpublishes: Partial<Record<EndReason, number>>;
  /** Plays started, by protocol. */
  playsAccepted: Partial<Record<PlayProtocol, number>>;
  /** Plays refused, by cause. */
  playsRefused: Partial<Record<RefusalCause, number>>;
  /** Hooks that timed out, by stage. */
  hookTimeouts: Partial<Record<"connect" | "publish" | "play", number>>;
  /** Hooks that threw or answered nonsense, by stage. */
  hookFailures: Partial<Record<"connect" | "publish" | "play", number>>;
  /** Connections closed for malformed input. */
  protocolErrors: number;
  /** ReconnectRequests sent. */
  reconnectRequests: number;
  /** Bytes read from RTMP sockets (handshake and chunk headers included). */
  bytesIn: number;
  /** Bytes written to RTMP sockets. */
  bytesOut: number;
}

/**
 * A live stream in {@linkcode ServerStats}.
 *
 * @example
 * ```ts
 * import type { StreamStats } from "./stats.ts";
 * function kbps(s: StreamStats): number { return Math.round(s.bitrate / 1000); }
 * ```
 */
export interface StreamStats {
  /** `app/name`. */
  key: string;
  /** Application. */
  app: string;
  /** Stream name. */
  name: string;
  /** Who publishes it, or `null` while viewers wait for a publisher. */
  publisher: {
    sessionId: number;
    connectionId: number;
    remoteAddr: NetAddress;
    tls: boolean;
    publishType: string;
  } | null;
  /**
   * Codecs of the sequence headers (or metadata) as FourCCs: `avc1`, `hvc1`, `av01`, `mp4a`,
   * `Opus`, `.mp3`…; several for multitrack, `[]` when unknown.
   */
  codecs: { video: string[]; audio: string[] };
  /** When the publish started (ms since the epoch), or 0. */
  startedAt: number;
  /** Milliseconds since it started, or 0. */
  uptime: number;
  /** Payload bytes published since it started. */
  bytes: number;
  /** Messages published since it started. */
  messages: number;
  /** Average payload bitrate since it started (bits per second). */
  bitrate: number;
  /** Timestamp of the newest message (ms of media). */
  lastTimestamp: number;
  /** Viewers (RTMP players, HTTP-FLV and WebSocket-FLV viewers). */
  players: number;
  /** Every subscriber: viewers, recorders, the session's own queue, restream destinations. */
  subscribers: SubscriberStats[];
}

/**
 * A connection in {@linkcode ServerStats}.
 *
 * @example
 * ```ts
 * import type { ConnectionStats } from "./stats.ts";
 * function busy(c: ConnectionStats): boolean { return c.publishing.length > 0; }
 * ```
 */
export interface ConnectionStats {
  /** The server's number for it (as in events). */
  id: number;
  /** The client (as a PROXY header names it, behind a balancer). */
  remoteAddr: NetAddress;
  /** The balancer, when a PROXY header named the client; else `null`. */
  proxyAddr: NetAddress | null;
  /** RTMPS. */
  tls: boolean;
  /** `pending` (not published or played yet), `live`, or `closing`. */
  state: "pending" | "live" | "closing";
  /** When it was accepted (ms since the epoch). */
  acceptedAt: number;
  /** Application from `connect`, or `null` before it. */
  app: string | null;
  /** `flashVer` from `connect`, or `null`. */
  flashVer: string | null;
  /** Whether `connect` announced E-RTMP ReconnectRequest support. */
  reconnect: boolean;
  /** Keys it publishes. */
  publishing: string[];
  /** Keys it plays. */
  playing: string[];
  /** Bytes read from it. */
  bytesIn: number;
  /** Bytes written to it. */
  bytesOut: number;
}

/**
 * What `server.stats()` returns.
 *
 * @example
 * ```ts
 * import { RtmpServer } from "../server.ts";
 * await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, log: null });
 * const s = server.stats();
 * console.log(s.counters.connectionsAccepted, s.streams.length); // 0 0
 * ```
 */
export interface ServerStats {
  /** When the snapshot was taken (ms since the epoch). */
  time: number;
  /** When the server was created. */
  startedAt: number;
  /** Whether the server is draining (or closing). */
  draining: boolean;
  /** Counters since start. */
  counters: ServerCounters;
  /** Streams with a publisher or waiting viewers. */
  streams: StreamStats[];
  /** Open RTMP connections. */
  connections: ConnectionStats[];
}

/**
 * What a connection tells the snapshot about itself.
 *
 * @example
 * ```ts
 * import type { ConnectionView } from "./stats.ts";
 * const v: ConnectionView = { app: "live", flashVer: "FMLE/3.0", reconnect: false,
 *   publishing: ["live/k"], playing: [], closing: false };
 * ```
 */
export interface ConnectionView {
  /** Application, or `null` before connect. */
  app: string | null;
  /** `flashVer`, or `null`. */
  flashVer: string | null;
  /** ReconnectRequest support announced. */
  reconnect: boolean;
  /** Keys published. */
  publishing: string[];
  /** Keys played. */
  playing: string[];
  /** Shutting down or lingering. */
  closing: boolean;
}

/** The server-side things {@linkcode StatsRecorder.snapshot} reads. */
export interface StatsSource {
  /** The hub's streams. */
  streams: readonly LiveStream[];
  /** Live publishes by key. */
  publishers: ReadonlyMap<string, {
    session: { id: number; remoteAddr: NetAddress; tls: boolean; publishType: string };
    connectionId: number;
  }>;
  /** Open connections. */
  connections: Iterable<
    { id: number; pending: boolean; conn: CountedConn; view: ConnectionView }
  >;
  /** Whether draining or closing. */
  draining: boolean;
  /** Viewers of a key (RTMP players, HTTP-FLV and WebSocket-FLV viewers; not restreams). */
  viewersOf(key: string): number;
}

function bump<K extends string>(map: Partial<Record<K, number>>, key: K): void {
  map[key] = (map[key] ?? 0) + 1;
}

/**
 * A connection that counts the bytes through it, into its own totals and the server's.
 *
 * @example
 * ```ts
 * import { CountedConn } from "./stats.ts";
 * import type { Conn } from "../socket/types.ts";
 * function count(conn: Conn): CountedConn {
 *   return new CountedConn(conn, { bytesIn: 0, bytesOut: 0 });
 * }
 * ```
 */
export class CountedConn implements Conn {
  /** Bytes read. */
  bytesIn = 0;
  /** Bytes written. */
  bytesOut = 0;
  /** When it was wrapped (accepted). */
  readonly acceptedAt: number = Date.now();
  /** The balancer, when a PROXY header named the client. */
  readonly proxyAddr: NetAddress | null;
  readonly #inner: Conn;
  readonly #totals: { bytesIn: number; bytesOut: number };

  /**
   * @param inner The accepted connection.
   * @param totals Server-wide totals to add to.
   */
  constructor(inner: Conn, totals: { bytesIn: number; bytesOut: number }) {
    this.#inner = inner;
    this.#totals = totals;
    const header = proxyHeaderOf(inner);
    this.proxyAddr = header?.command === "PROXY" && header.source !== null
      ? (inner as Conn & { proxyAddr?: NetAddress }).proxyAddr ?? null
      : null;
  }

  /** Reads and counts. @returns The next chunk, or `null` at the end. */
  read(): Promise<Uint8Array | null> {
    return this.#inner.read().then((chunk) => {
      if (chunk !== null) {
        this.bytesIn += chunk.length;
        this.#totals.bytesIn += chunk.length;
      }
      return chunk;
    });
  }

  /** Writes and counts. @param bytes The bytes. @returns Resolves when written. */
  write(bytes: Uint8Array): Promise<void> {
    const n = bytes.length;
    return this.#inner.write(bytes).then(() => {
      this.bytesOut += n;
      this.#totals.bytesOut += n;
    });
  }

  /** Queues and counts. @param bytes The bytes. @returns `false` under backpressure. */
  send(bytes: Uint8Array): boolean {
    this.bytesOut += bytes.length;
    this.#totals.bytesOut += bytes.length;
    return this.#inner.send(bytes);
  }

  /** @returns Resolves once queued output is under the high-water mark. */
  writable(): Promise<void> {
    return this.#inner.writable();
  }

  /** Sends and counts. @param pieces The bytes, in order. @returns `false` under backpressure. */
  sendAll(pieces: readonly Uint8Array[]): boolean {
    let n = 0;
    for (const p of pieces) n += p.length;
    this.bytesOut += n;
    this.#totals.bytesOut += n;
    return sendPieces(this.#inner, pieces);
  }

  /** @returns Resolves once the FIN is sent. */
  closeWrite(): Promise<void> {
    return this.#inner.closeWrite();
  }

  /** Closes both directions. */
  close(): void {
    this.#inner.close();
  }

  /** Settles once closed. */
  get closed(): Promise<void> {
    return this.#inner.closed;
  }

  /** The local address. */
  get localAddr(): NetAddress {
    return this.#inner.localAddr;
  }

  /** The client's address. */
  get remoteAddr(): NetAddress {
    return this.#inner.remoteAddr;
  }

  /** Whether it runs TLS. */
  get tls(): boolean {
    return this.#inner.tls;
  }

  /** Closes it (`await using`). @returns Resolves at once. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * Keeps the counters (from events) and builds snapshots.
 *
 * @example
 * ```ts
 * import { StatsRecorder } from "./stats.ts";
 * const stats = new StatsRecorder();
 * stats.record({ type: "protocol-error", time: 0, connectionId: 1,
 *   remoteAddr: { hostname: "127.0.0.1", port: 1 }, message: "bad" });
 * console.log(stats.counters.protocolErrors); // 1
 * ```
 */
export class StatsRecorder {
  /** The counters, live (copy them with {@linkcode StatsRecorder.snapshot}). */
  readonly counters: ServerCounters = {
    connectionsAccepted: 0,
    connectionsRefused: {},
    connectsAccepted: 0,
    connectsRefused: {},
    publishesAccepted: 0,
    publishesRefused: {},
    unpublishes: {},
    playsAccepted: {},
    playsRefused: {},
    hookTimeouts: {},
    hookFailures: {},
    protocolErrors: 0,
    reconnectRequests: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  /** When the recorder (the server) was created. */
  readonly startedAt: number = Date.now();

  /**
   * Counts an event.
   * @param e The event.
   */
  record(e: ServerEvent): void {
    const c = this.counters;
    switch (e.type) {
      case "connection":
        c.connectionsAccepted++;
        break;
      case "connection-refused":
        bump(c.connectionsRefused, e.cause);
        break;
      case "connect":
        c.connectsAccepted++;
        break;
      case "connect-refused":
        bump(c.connectsRefused, e.cause);
        break;
      case "publish":
        c.publishesAccepted++;
        break;
      case "publish-refused":
        bump(c.publishesRefused, e.cause);
        break;
      case "unpublish":
        bump(c.unpublishes, e.reason);
        break;
      case "play":
        bump(c.playsAccepted, e.protocol);
        break;
      case "play-refused":
        bump(c.playsRefused, e.cause);
        break;
      case "hook-timeout":
        bump(c.hookTimeouts, e.stage);
        break;
      case "hook-failure":
        bump(c.hookFailures, e.stage);
        break;
      case "protocol-error":
        c.protocolErrors++;
        break;
      case "reconnect-request":
        c.reconnectRequests++;
        break;
    }
  }

  /**
   * Wraps an accepted connection so its bytes are counted.
   * @param conn The connection.
   * @returns The counting connection.
   */
  count(conn: Conn): CountedConn {
    return new CountedConn(conn, this.counters);
  }

  /**
   * A snapshot of everything.
   * @param source The server's streams, publishers and connections.
   * @param now Current time (ms).
   * @returns Plain data (safe to `JSON.stringify`).
   */
  snapshot(source: StatsSource, now: number = Date.now()): ServerStats {
    const c = this.counters;
    const counters: ServerCounters = {
      ...c,
      connectionsRefused: { ...c.connectionsRefused },
      connectsRefused: { ...c.connectsRefused },
      publishesRefused: { ...c.publishesRefused },
      unpublishes: { ...c.unpublishes },
      playsAccepted: { ...c.playsAccepted },
      playsRefused: { ...c.playsRefused },
      hookTimeouts: { ...c.hookTimeouts },
      hookFailures: { ...c.hookFailures },
    };
    const streams = source.streams.map((s) => streamStats(s, source, now));
    streams.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const connections: ConnectionStats[] = [];
    for (const { id, pending, conn, view } of source.connections) {
      connections.push({
        id,
        remoteAddr: { ...conn.remoteAddr },
        proxyAddr: conn.proxyAddr ? { ...conn.proxyAddr } : null,
        tls: conn.tls,
        state: view.closing ? "closing" : pending ? "pending" : "live",
        acceptedAt: conn.acceptedAt,
        app: view.app,
        flashVer: view.flashVer,
        reconnect: view.reconnect,
        publishing: view.publishing,
        playing: view.playing,
        bytesIn: conn.bytesIn,
        bytesOut: conn.bytesOut,
      });
    }
    connections.sort((a, b) => a.id - b.id);
    return {
      time: now,
      startedAt: this.startedAt,
      draining: source.draining,
      counters,
      streams,
      connections,
    };
  }
}

function streamStats(s: LiveStream, source: StatsSource, now: number): StreamStats {
  const slash = s.key.indexOf("/");
  const entry = source.publishers.get(s.key);
  const subscribers = s.subscribers().map((sub) => sub.stats());
  const startedAt = s.publishedAt;
  const uptime = startedAt ? Math.max(0, now - startedAt) : 0;
  const { bytes, messages } = s.live ? s.counters : { bytes: 0, messages: 0 };
  return {
    key: s.key,
    app: slash < 0 ? "" : s.key.slice(0, slash),
    name: slash < 0 ? s.key : s.key.slice(slash + 1),
    publisher: s.live && entry
      ? {
        sessionId: entry.session.id,
        connectionId: entry.connectionId,
        remoteAddr: { ...entry.session.remoteAddr },
        tls: entry.session.tls,
        publishType: entry.session.publishType,
      }
      : null,
    codecs: codecsOf(s),
    startedAt,
    uptime,
    bytes,
    messages,
    bitrate: uptime > 0 ? Math.round(bytes * 8000 / uptime) : 0,
    lastTimestamp: s.lastTimestamp,
    players: source.viewersOf(s.key),
    subscribers,
  };
}

/** Legacy FLV video codec ids (FLV 10.1 E.4.3.1) as FourCC-style names. */
const LEGACY_VIDEO: Record<number, string> = {
  2: "h263",
  3: "screen",
  4: "vp6f",
  5: "vp6a",
  6: "screen2",
  7: "avc1",
  12: "hvc1",
};

/** Legacy FLV sound formats (FLV 10.1 E.4.2.1) as FourCC-style names. */
const LEGACY_AUDIO: Record<number, string> = {
  0: "pcm",
  1: "adpcm",
  2: ".mp3",
  3: "pcm",
  4: "nellymoser",
  5: "nellymoser",
  6: "nellymoser",
  7: "alaw",
  8: "ulaw",
  10: "mp4a",
  11: "speex",
  14: ".mp3",
};

function codecsOf(s: LiveStream): { video: string[]; audio: string[] } {
  const video = new Set<string>();
  const audio = new Set<string>();
  for (const m of s.sequenceHeaders()) codecsOfMessage(m, m.type === 9 ? video : audio);
  // Codecs without sequence headers (VP6, MP3, Speex…): the metadata's ids.
  const meta = s.metadata?.packet;
  const props = meta?.type === "data" && meta.data ? metadataOf(meta.data) : null;
  if (video.size === 0 && props && typeof props.videocodecid === "number") {
    const name = LEGACY_VIDEO[props.videocodecid];
    if (name) video.add(name);
  }
  if (audio.size === 0 && props && typeof props.audiocodecid === "number") {
    const name = LEGACY_AUDIO[props.audiocodecid];
    if (name) audio.add(name);
  }
  return { video: [...video], audio: [...audio] };
}

function codecsOfMessage(m: HubMessage, into: Set<string>): void {
  const p = m.packet;
  if (p.type === "data" || p.tag === null) return;
  const tag = p.tag;
  if (!tag.enhanced) {
    const name = p.type === "video"
      ? LEGACY_VIDEO[(tag as { codecId: number }).codecId]
      : LEGACY_AUDIO[(tag as { soundFormat: number }).soundFormat];
    if (name) into.add(name);
    return;
  }
  if (tag.fourCc) into.add(tag.fourCc);
  const multitrack = tag.multitrack;
  if (multitrack) {
    if (multitrack.fourCc) into.add(multitrack.fourCc);
    for (const t of multitrack.tracks) if (t.fourCc) into.add(t.fourCc);
  }
}
