/**
 * A restream destination: a reconnecting publisher that pushes one live stream of the hub to an
 * `rtmp://` or `rtmps://` URL. It has its own bounded queue (a `drop` subscriber that never
 * closes), so a slow or dead destination never slows the ingest or the other destinations. It
 * starts with metadata + sequence headers + a keyframe, and after any failure reconnects with
 * exponential backoff and jitter, resending metadata and headers and resuming at the next
 * keyframe — never with a stale backlog. What it could not send is counted as dropped. A
 * destination that refuses the key (an error status, or hanging up after our `connect` the way
 * nginx-rtmp's `on_publish` refuses) is reported as `refused` (never as live) and retried at a
 * much slower rate, or given up. E-RTMP v2 `NetConnection.Connect.ReconnectRequest` makes it
 * move to the named server (or the same one) at once.
 *
 * @module
 */

import { RtmpClient, type RtmpClientOptions } from "../client.ts";
import { isRtmpError, RtmpError } from "../errors.ts";
import { parseRtmpUrl } from "../protocol/url.ts";
import type { LiveStream } from "../hub/live_stream.ts";
import type { Subscriber, SubscriberEntry } from "../hub/subscriber.ts";
import { defaultAdapter } from "../socket/mod.ts";
import type { Conn, NetAddress, SocketAdapter } from "../socket/types.ts";
import { BoundedQueue } from "../util/bounded_queue.ts";
import { sendPieces } from "../socket/gather.ts";

/**
 * Where a destination is.
 *
 * - `waiting`: the source is not live; nothing to push.
 * - `connecting`: opening the connection and publishing.
 * - `live`: publishing.
 * - `backing-off`: the last attempt failed; the next one is scheduled.
 * - `refused`: the destination refused the key; retried slowly (or given up: `stopped`).
 * - `stopped`: stopped by the caller, by the source ending, or given up.
 *
 * @example
 * ```ts
 * import type { DestinationState } from "./destination.ts";
 * const s: DestinationState = "backing-off";
 * ```
 */
export type DestinationState =
  | "waiting"
  | "connecting"
  | "live"
  | "backing-off"
  | "refused"
  | "stopped";

/**
 * Options of a destination.
 *
 * @example
 * ```ts
 * import type { DestinationOptions } from "./destination.ts";
 * const o: DestinationOptions = { backoff: { initial: 500, max: 10_000 }, refusedRetry: 60_000 };
 * ```
 */
export interface DestinationOptions {
  /** Options for each connection (TLS CA, timeout, adapter, chunk size). */
  client?: Omit<RtmpClientOptions, "signal" | "enhanced">;
  /** Reconnect delays in ms: `initial` (1 000), doubling (`factor` 2) up to `max` (30 000), ± `jitter` (0.3). */
  backoff?: { initial?: number; max?: number; factor?: number; jitter?: number };
  /** Delay before trying again after the destination refused the key. Default 60 000 ms. */
  refusedRetry?: number;
  /** Refusals in a row before giving up (`stopped`). Default 5; 0 = never give up. */
  maxRefusals?: number;
  /** Soft bound of the queue in bytes (past it video is skipped to a keyframe). Default 8 MiB. */
  queueBytes?: number;
  /** Oldest backlog still sent after a (re)connect, in ms of media; older goes. Default 2 000. */
  maxBacklog?: number;
  /** Stop when the source's publisher goes away (a destination of one publish). Default `false`: wait for the next publisher. */
  endOnUnpublish?: boolean;
  /** Receives one line per state change. */
  log?: (line: string) => void;
  /** Stops the destination. */
  signal?: AbortSignal;
}

/**
 * Counters of a destination.
 *
 * @example
 * ```ts
 * import type { DestinationStats } from "./destination.ts";
 * function lossy(s: DestinationStats): boolean { return s.packetsDropped > 0; }
 * ```
 */
export interface DestinationStats {
  /** The URL with the stream key masked. */
  url: string;
  /** Current state. */
  state: DestinationState;
  /** Payload bytes sent. */
  bytes: number;
  /** Packets of the source sent (accepted by the OS); headers re-sent on a reconnect are not. */
  packetsSent: number;
  /** Packets of the source that were never sent (queue overflow, stale backlog, failures). */
  packetsDropped: number;
  /** Successful connections after the first. */
  reconnects: number;
  /** Refusals in a row (reset by a successful publish). */
  refusals: number;
  /** The last failure, without secrets, or `null`. */
  lastError: string | null;
  /** Milliseconds spent live in total. */
  liveMs: number;
}

/**
 * A state change of a destination.
 *
 * @example
 * ```ts
 * import type { DestinationEvent } from "./destination.ts";
 * function line(e: DestinationEvent): string { return `${e.previous} → ${e.state}`; }
 * ```
 */
export interface DestinationEvent {
  /** New state. */
  state: DestinationState;
  /** Previous state. */
  previous: DestinationState;
  /** Why (the error for `backing-off` / `refused`), or `null`. */
  reason: string | null;
}

/**
 * A restream destination fed from a live stream.
 *
 * @example Push a live stream to two services
 * ```ts ignore
 * import { RestreamDestination } from "./destination.ts";
 * const yt = new RestreamDestination(session.stream, "rtmps://a.rtmps.youtube.com/live2/KEY");
 * const tw = new RestreamDestination(session.stream, "rtmp://live.twitch.tv/app/KEY");
 * console.log(yt.stats().state, tw.stats().state);
 * await session.ended;
 * ```
 */
export class RestreamDestination implements AsyncDisposable {
  /** Where it pushes (the key is masked in {@linkcode RestreamDestination.label}). */
  readonly url: string;
  /** The URL with the stream key masked, for logs. */
  readonly label: string;
  /** Resolves when the destination has stopped for good. */
  readonly done: Promise<void>;
  readonly #stream: LiveStream;
  readonly #options: DestinationOptions;
  readonly #sub: Subscriber;
  readonly #stop = new AbortController();
  readonly #events = new BoundedQueue<DestinationEvent>({ limit: 256 });
  #state: DestinationState = "waiting";
  #client: RtmpClient | null = null;
  #conn: WatchedConn | null = null;
  #target: string;
  /** Wakes whatever the run loop is waiting on (new entries, a closed connection, stop). */
  #wake: (() => void) | null = null;
  /**
   * Whether the queue starts where a remote can start: at the subscription (primed with
   * metadata, headers and the GOP from its keyframe) or at a publisher's first packet. After a
   * failure it starts anywhere, so the next connection starts over from the headers.
   */
  #clean = true;
  readonly #stats = {
    bytes: 0,
    packetsSent: 0,
    /** Taken from the queue but never sent (the connection failed under them). */
    discarded: 0,
    reconnects: 0,
    refusals: 0,
    lastError: null as string | null,
    liveMs: 0,
  };
  #liveSince = 0;

  /**
   * Starts pushing at once (it waits while the source is not live).
   *
   * @param stream The hub stream to push.
   * @param url `rtmp://` or `rtmps://` URL with the destination's key.
   * @param options Reconnect policy, queue bound, client options.
   */
  constructor(stream: LiveStream, url: string, options: DestinationOptions = {}) {
    parseRtmpUrl(url); // a bad URL is the caller's error, now
    this.url = url;
    this.#target = url;
    this.label = maskKey(url);
    this.#stream = stream;
    this.#options = options;
    const soft = options.queueBytes ?? 8 << 20;
    this.#sub = stream.subscribe({
      policy: "drop",
      maxBytes: soft,
      hardMaxBytes: soft * 2,
      overflow: "drop",
      endOnUnpublish: options.endOnUnpublish ?? false,
      label: `restream ${this.label}`,
    });
    options.signal?.addEventListener("abort", () => void this.stop(), { once: true });
    this.done = this.#run().catch((e) => {
      this.#stats.lastError = describe(e);
      this.#setState("stopped", this.#stats.lastError);
    });
  }

  /** The current state. */
  get state(): DestinationState {
    return this.#state;
  }

  /** A snapshot of the counters. @returns Stats. */
  stats(): DestinationStats {
    const s = this.#stats;
    const sub = this.#sub.stats();
    return {
      url: this.label,
      state: this.#state,
      bytes: s.bytes,
      packetsSent: s.packetsSent,
      packetsDropped: sub.droppedMessages + s.discarded,
      reconnects: s.reconnects,
      refusals: s.refusals,
      lastError: s.lastError,
      liveMs: s.liveMs + (this.#liveSince ? Date.now() - this.#liveSince : 0),
    };
  }

  /** State changes, oldest first (the newest 256 are kept). @returns An async iterable. */
  events(): AsyncIterable<DestinationEvent> {
    return this.#events;
  }

  /**
   * Stops pushing: unpublishes and closes the connection (at once if the remote stopped
   * reading: after a short grace the socket is closed hard).
   * @returns Resolves when stopped.
   */
  stop(): Promise<void> {
    this.#stop.abort();
    this.#sub.end();
    if (this.#client) void this.#close(this.#client, this.#conn, STOP_GRACE_MS);
    this.#poke();
    return this.done;
  }

  /** Same as {@linkcode RestreamDestination.stop}. @returns Resolves when stopped. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #setState(state: DestinationState, reason: string | null = null): void {
    const previous = this.#state;
    if (previous === state) return;
    if (previous === "live" && this.#liveSince) {
      this.#stats.liveMs += Date.now() - this.#liveSince;
      this.#liveSince = 0;
    }
    if (state === "live") this.#liveSince = Date.now();
    this.#state = state;
    this.#events.pushDropOldest({ state, previous, reason });
    // The last line of a destination says what it delivered and what it could not.
    const totals = state === "stopped"
      ? `: ${this.#stats.packetsSent} packets sent, ${this.stats().packetsDropped} dropped, ` +
        `${this.#stats.reconnects} reconnects`
      : "";
    this.#options.log?.(
      `restream ${this.#stream.key} → ${this.label}: ${state}${
        reason ? ` (${reason})` : ""
      }${totals}`,
    );
    if (state === "stopped") this.#events.end();
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  /**
   * Waits for the next queue entry, a poke (connection closed, ReconnectRequest, stop) or
   * the end of the queue. One resolver per wait, no reaction left on long-lived promises: a
   * stream that runs for days does not accumulate handlers.
   */
  #nap(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      void this.#sub.wait().then(resolve);
    });
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async #run(): Promise<void> {
    const backoff = this.#options.backoff ?? {};
    const max = backoff.max ?? 30_000;
    const initial = Math.min(backoff.initial ?? 1000, max);
    const jitter = backoff.jitter ?? 0.3;
    let delay = initial;
    let connected = false;
    let gaveUp: string | null = null;
    const backOff = async (reason: string): Promise<void> => {
      this.#stats.lastError = reason;
      this.#setState("backing-off", reason);
      await this.#sleep(jittered(delay, jitter, max));
      delay = Math.min(delay * (backoff.factor ?? 2), max);
    };
    try {
      while (!this.#stopped) {
        if (!(await this.#waitLive())) break;
        this.#setState("connecting");
        let conn: WatchedConn | null = null;
        let client: RtmpClient;
        try {
          const base = this.#options.client?.adapter ?? await defaultAdapter();
          client = await RtmpClient.connect(this.#target, {
            ...this.#options.client,
            adapter: watching(base, (c) => conn = c),
            signal: this.#stop.signal,
            enhanced: codecsOf(this.#stream),
          });
        } catch (e) {
          if (this.#stopped) break;
          this.#target = this.url;
          this.#clean = false;
          if (isRefusal(e, conn)) {
            this.#stats.lastError = describe(e, true);
            this.#stats.refusals++;
            const most = this.#options.maxRefusals ?? 5;
            if (most > 0 && this.#stats.refusals >= most) {
              gaveUp = `gave up after ${this.#stats.refusals} refusals`;
              break;
            }
            this.#setState("refused", this.#stats.lastError);
            await this.#sleep(this.#options.refusedRetry ?? 60_000);
          } else {
            await backOff(describe(e));
          }
          continue;
        }
        this.#client = client;
        this.#conn = conn;
        if (connected) this.#stats.reconnects++;
        connected = true;
        this.#stats.refusals = 0;
        delay = initial;
        this.#setState("live");
        const outcome = await this.#push(client);
        this.#client = null;
        this.#conn = null;
        if (outcome.kind === "failed") {
          this.#clean = false;
          void this.#close(client, conn, 0);
          if (this.#stopped) break;
          await backOff(outcome.error);
          continue;
        }
        await this.#close(client, conn, CLOSE_GRACE_MS);
        if (outcome.kind === "ended") break;
        if (outcome.kind === "moved") {
          // ReconnectRequest: go to the named server now, without a backoff.
          this.#clean = false;
          this.#target = outcome.url;
        }
        // "unpublished": the key's publisher left; wait for the next one (a new connection,
        // so the remote sees a new stream rather than a timestamp jump).
      }
    } finally {
      // Whatever is still queued is never sent: counted, then the subscription goes.
      this.#sub.discardQueued();
      this.#sub.close("restream stopped");
      this.#setState(
        "stopped",
        this.#stopped ? "stopped by request" : gaveUp ?? "the source ended",
      );
    }
  }

  /** Closes a client gracefully, or hard after `graceMs` (a remote that stopped reading). */
  async #close(client: RtmpClient, conn: WatchedConn | null, graceMs: number): Promise<void> {
    if (graceMs <= 0) conn?.close();
    const timer = graceMs > 0 ? setTimeout(() => conn?.close(), graceMs) : undefined;
    await client.close().catch(() => {});
    clearTimeout(timer);
  }

  /** Waits until the source is live; `false` when stopped or the source went away for good. */
  async #waitLive(): Promise<boolean> {
    while (!this.#stream.live) {
      // No publisher, so whatever is queued is the last one's tail, which has nowhere to go
      // now. The next publisher's stream starts clean with its own headers and keyframe.
      this.#sub.discardQueued();
      this.#clean = true;
      if (this.#stopped || this.#sub.done) return false;
      this.#setState("waiting");
      await this.#nap();
    }
    return !this.#stopped;
  }

  /**
   * Pushes until the connection fails, the source ends, the key's publisher leaves, or a
   * ReconnectRequest arrives.
   */
  async #push(client: RtmpClient): Promise<Outcome> {
    const sub = this.#sub;
    let closed = false;
    let moved: string | null = null;
    void client.closed.then(() => {
      closed = true;
      this.#poke();
    });
    const watchEvents = async (): Promise<void> => {
      for await (const ev of client.events()) {
        if (ev.type === "reconnect-request") {
          moved = ev.tcUrl ? joinTcUrl(ev.tcUrl, this.url) : this.url;
          this.#poke();
          return;
        }
      }
    };
    void watchEvents();
    let batch: SubscriberEntry[] = [];
    let at = 0;
    try {
      const maxBacklog = this.#options.maxBacklog ?? 2000;
      const oldest = sub.oldestTimestamp();
      const fresh = this.#clean &&
        (oldest === null || ((this.#stream.lastTimestamp - oldest) >>> 0) <= maxBacklog);
      if (!fresh) {
        // The new session starts from the cached metadata and headers, then the newest queued
        // keyframe (one that came while connecting) or else the next one; what came before
        // goes, counted as dropped: never a stale burst.
        sub.skipToKeyframe(maxBacklog);
        for (const m of this.#stream.configuration()) await client.sendPacket(m.packet);
      }
      // From here on the remote has seen the start of what it gets.
      this.#clean = false;
      while (true) {
        if (moved) return { kind: "moved", url: moved };
        if (this.#stopped) return { kind: "ended" };
        if (closed) return { kind: "failed", error: "the destination closed the connection" };
        batch = sub.take(256 << 10);
        at = 0;
        if (batch.length === 0) {
          if (sub.done) return { kind: "ended" };
          await this.#nap();
          continue;
        }
        for (; at < batch.length; at++) {
          const e = batch[at];
          if ("signal" in e) {
            if (e.signal !== "unpublish") continue;
            at++;
            return { kind: "unpublished" };
          }
          await client.sendPacket(e.packet);
          this.#stats.packetsSent++;
          this.#stats.bytes += e.payload.length;
        }
      }
    } catch (e) {
      if (this.#stopped) return { kind: "ended" };
      return { kind: "failed", error: describe(e) };
    } finally {
      // Taken from the queue but not sent: the rest of the batch when the connection failed
      // (or the source's publisher left in the middle of it).
      for (; at < batch.length; at++) if (!("signal" in batch[at])) this.#stats.discarded++;
      this.#wake = null;
    }
  }

  /**
   * Waits between attempts. What arrives meanwhile is dropped as it comes (counted): the next
   * connection starts over from the headers and a keyframe that comes after the wait, so none
   * of it would be sent, and memory and counters say so at once. Ends early when stopped or
   * when the source ended for good.
   */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#stop.signal;
      let over = false;
      const finish = (): void => {
        if (over) return;
        over = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", finish);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      signal.addEventListener("abort", finish, { once: true });
      const watch = (): void => {
        if (over) return;
        this.#sub.discardQueued();
        if (this.#sub.done) return finish();
        void this.#sub.wait().then(watch);
      };
      watch();
    });
  }
}

type Outcome =
  | { kind: "failed"; error: string }
  | { kind: "ended" }
  | { kind: "unpublished" }
  | { kind: "moved"; url: string };

/** Time a stopped destination gets to unpublish before its socket is closed hard. */
const STOP_GRACE_MS = 2000;
/** Time a finished destination gets to deliver its tail and unpublish. */
const CLOSE_GRACE_MS = 5000;
/** C0 + C1 + C2 of the RTMP handshake: a client that wrote more has sent `connect`. */
const HANDSHAKE_BYTES = 1 + 1536 + 1536;

/**
 * A connection of a destination, seen from outside the client: how much was written (to tell a
 * refusal from a network failure) and a way to close it hard (a remote that stopped reading
 * never lets a graceful close finish).
 */
class WatchedConn implements Conn {
  written = 0;
  readonly #inner: Conn;
  constructor(inner: Conn) {
    this.#inner = inner;
  }
  get closed(): Promise<void> {
    return this.#inner.closed;
  }
  get localAddr(): NetAddress {
    return this.#inner.localAddr;
  }
  get remoteAddr(): NetAddress {
    return this.#inner.remoteAddr;
  }
  get tls(): boolean {
    return this.#inner.tls;
  }
  read(): Promise<Uint8Array | null> {
    return this.#inner.read();
  }
  write(bytes: Uint8Array): Promise<void> {
    this.written += bytes.length;
    return this.#inner.write(bytes);
  }
  send(bytes: Uint8Array): boolean {
    this.written += bytes.length;
    return this.#inner.send(bytes);
  }
  writable(): Promise<void> {
    return this.#inner.writable();
  }
  sendAll(pieces: readonly Uint8Array[]): boolean {
    for (const p of pieces) this.written += p.length;
    return sendPieces(this.#inner, pieces);
  }
  closeWrite(): Promise<void> {
    return this.#inner.closeWrite();
  }
  close(): void {
    this.#inner.close();
  }
  [Symbol.asyncDispose](): Promise<void> {
    this.#inner.close();
    return this.#inner.closed;
  }
}

/** An adapter whose outgoing connections are watched. */
function watching(base: SocketAdapter, onConn: (c: WatchedConn) => void): SocketAdapter {
  return {
    name: base.name,
    connect: async (options) => {
      const conn = new WatchedConn(await base.connect(options));
      onConn(conn);
      return conn;
    },
    listen: (options) => base.listen(options),
  };
}

/**
 * Whether a failed connect is the destination refusing us: an error status, or the server
 * hanging up without a word after it got our `connect` — how nginx-rtmp refuses when its
 * `on_connect` / `on_publish` callback answers non-2xx (it sends no status at all). A close
 * during the handshake or a timeout is a network or server problem, not a refusal.
 */
function isRefusal(e: unknown, conn: WatchedConn | null): boolean {
  if (isRtmpError(e, "REJECTED")) return true;
  const hungUp = isRtmpError(e, "CONNECTION_CLOSED") || isRtmpError(e, "CONNECTION_RESET");
  return hungUp && conn !== null && conn.written > HANDSHAKE_BYTES;
}

/** `ms` ± `jitter` (a fraction), never above `max`: retries of many destinations spread out. */
function jittered(ms: number, jitter: number, max: number): number {
  return Math.min(max, Math.max(0, Math.round(ms * (1 + (Math.random() * 2 - 1) * jitter))));
}

/** The E-RTMP FourCCs of a stream's sequence headers, to announce in `connect`. */
function codecsOf(stream: LiveStream): { video?: string[]; audio?: string[] } | undefined {
  const { video, audio } = stream.enhancedCodecs();
  return video.length === 0 && audio.length === 0 ? undefined : { video, audio };
}

/** A ReconnectRequest names a tcUrl (`rtmp://host/app`); the stream name stays ours. */
function joinTcUrl(tcUrl: string, original: string): string {
  const name = parseRtmpUrl(original).streamName;
  return `${tcUrl.replace(/\/+$/, "")}/${name}`;
}

/**
 * The URL with its stream key (and any credentials) masked, for logs and stats.
 *
 * @example
 * ```ts
 * import { maskKey } from "./destination.ts";
 * console.log(maskKey("rtmp://live.example.com/app/abcdef123")); // rtmp://live.example.com:1935/app/ab…23
 * ```
 *
 * @param url An RTMP URL.
 * @returns The masked URL.
 */
export function maskKey(url: string): string {
  try {
    const u = parseRtmpUrl(url);
    const scheme = u.secure ? "rtmps" : "rtmp";
    const key = u.streamName;
    const shown = key.length <= 4 ? "****" : `${key.slice(0, 2)}…${key.slice(-2)}`;
    return `${scheme}://${u.hostname}:${u.port}/${u.app}/${shown}`;
  } catch {
    return "(invalid url)";
  }
}

function describe(e: unknown, refused = false): string {
  if (isRtmpError(e, "REJECTED")) {
    return `refused: ${e.status ?? "error"}${e.description ? ` (${e.description})` : ""}`;
  }
  if (refused) {
    return `refused: the server closed the connection without an answer (${
      e instanceof Error ? e.message : String(e)
    })`;
  }
  if (e instanceof RtmpError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
