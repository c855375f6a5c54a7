/**
 * The playing client: pulls a live (or recorded) stream from an `rtmp://` or `rtmps://`
 * server as typed media packets, with backpressure, events, pause, `authmod` credentials and
 * automatic reconnection (also on an E-RTMP v2 `NetConnection.Connect.ReconnectRequest`).
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { AmfObject } from "../protocol/amf.ts";
import { playerCapabilities, withReconnect } from "../protocol/capabilities.ts";
import type { ConnectParams } from "../protocol/command.ts";
import { metadataOf } from "../protocol/data.ts";
import { isKeyframe, isSequenceHeader, type MediaPacket } from "../protocol/packet.ts";
import type { StatusObject } from "../protocol/status.ts";
import { parseRtmpUrl, reconnectUrl, redactRtmpUrl, type RtmpUrl } from "../protocol/url.ts";
import { ClientSession, type ClientSessionEvent } from "../session/client_session.ts";
import type { SocketAdapter, TlsConnectOptions } from "../socket/types.ts";
import { BoundedQueue } from "../util/bounded_queue.ts";
import { headerKeyOf } from "../hub/header_key.ts";
import {
  backoffDelay,
  type ClientLink,
  type Credentials,
  openLink,
  type ReconnectOptions,
  reconnectPolicy,
  sleep,
} from "./connection.ts";

/**
 * Options of {@linkcode RtmpPlayer.open} (and `RtmpClient.play`).
 *
 * @example
 * ```ts
 * import type { RtmpPlayOptions } from "./player.ts";
 * const o: RtmpPlayOptions = { timeout: 5000, enhanced: true, reconnect: { maxAttempts: 10 } };
 * ```
 */
export interface RtmpPlayOptions {
  /** Milliseconds for everything up to `NetStream.Play.Start`. Default 15 000. */
  timeout?: number;
  /** Aborts connecting, and closes the player once playing. */
  signal?: AbortSignal;
  /** TLS settings for `rtmps://` (custom CA, SNI name). Verification is on by default. */
  tls?: TlsConnectOptions;
  /** Socket adapter; default: the current runtime's. */
  adapter?: SocketAdapter;
  /** User and password for `authmod=adobe` / `llnw` servers; default: the URL's `user:pass@`. */
  credentials?: Credentials;
  /** `play` start: −2 live or recorded (default), −1 live only, ≥ 0 seconds into a recording. */
  start?: number;
  /** `play` duration in seconds (−1: to the end). Sent only when given. */
  duration?: number;
  /** `play` reset flag. Sent only when given. */
  reset?: boolean;
  /** Set Buffer Length announced to the server, in ms. Default 3000. */
  bufferLength?: number;
  /** Send `FCSubscribe` before `play` (some CDN edges require it). */
  fcSubscribe?: boolean;
  /**
   * Announce Enhanced RTMP support so servers send HEVC, AV1, VP9, Opus…: `true` for any codec
   * (`fourCcList: ["*"]`), or the FourCCs taken.
   */
  enhanced?: boolean | { video?: string[]; audio?: string[] };
  /**
   * Reconnect by itself when the connection is lost, and follow a server's
   * `NetConnection.Connect.ReconnectRequest` (also announced with `capsEx`). `true` for the
   * defaults. Off by default. With it on, a server that closes the connection without first
   * saying the stream ended (`UnpublishNotify`, `Play.Stop`) counts as lost; after the last
   * failed attempt the iteration throws. Across a reconnect the packets stay one stream: what
   * the reader already has is dropped, video resumes at a keyframe, and a new timeline (a
   * restarted publisher) is shifted to continue after the last timestamp delivered.
   */
  reconnect?: boolean | ReconnectOptions;
  /**
   * Packet bytes queued for a slow reader before the socket is no longer read (the server
   * then sees TCP backpressure). Default 4 MiB.
   */
  maxQueuedBytes?: number;
  /**
   * End the packets when the server says the stream ended (`NetStream.Play.UnpublishNotify`,
   * `Play.Stop`, `Play.Complete`). Default `true`; `false` keeps playing across republishes
   * (for instance while the publisher itself moves to another server).
   */
  endOnUnpublish?: boolean;
  /** Called with every event as it happens (in addition to {@linkcode RtmpPlayer.events}). */
  onEvent?: (event: PlayerEvent) => void;
  /** `flashVer` sent in connect. Default `LNX 9,0,124,2` (what FFmpeg sends to play). */
  flashVer?: string;
  /** Extra properties for the connect command object. */
  connectProperties?: AmfObject;
  /** Use the FP9 digest handshake like FFmpeg. Default `true`. */
  digestHandshake?: boolean;
}

/**
 * What a player reports besides media.
 *
 * - `status`: every `onStatus` not listed below (`NetStream.Play.Reset`, `Play.Start`,
 *   `Pause.Notify`, `NetStream.Data.Start`…).
 * - `publish-notify` / `unpublish-notify`: `NetStream.Play.PublishNotify` / `UnpublishNotify`.
 * - `stream-begin` / `stream-eof` / `stream-dry` / `stream-is-recorded`: User Control events.
 * - `metadata`: an `onMetaData` arrived (it is also a data packet in the media).
 * - `reconnect-request`: the server asked to reconnect (followed when `reconnect` is on).
 * - `reconnecting` / `reconnected`: one per attempt, one per success.
 * - `closed`: the last event.
 *
 * @example
 * ```ts
 * import type { PlayerEvent } from "./player.ts";
 * function line(e: PlayerEvent): string {
 *   return e.type === "status" ? e.status.code : e.type === "reconnected" ? `back on ${e.url}` : e.type;
 * }
 * ```
 */
export type PlayerEvent =
  | { type: "status"; status: StatusObject }
  | { type: "publish-notify"; status: StatusObject }
  | { type: "unpublish-notify"; status: StatusObject }
  | { type: "stream-begin" }
  | { type: "stream-eof" }
  | { type: "stream-dry" }
  | { type: "stream-is-recorded" }
  | { type: "metadata"; metadata: AmfObject; timestamp: number }
  | { type: "reconnect-request"; tcUrl: string | null; description: string }
  | { type: "reconnecting"; attempt: number; delayMs: number; reason: string }
  | { type: "reconnected"; attempt: number; url: string }
  | { type: "closed"; error: RtmpError | null };

/**
 * Why a player ended.
 *
 * @example
 * ```ts
 * import type { PlayEndReason } from "./player.ts";
 * const r: PlayEndReason = "unpublished";
 * ```
 */
export type PlayEndReason = "unpublished" | "server-closed" | "closed" | "error";

/** Switch over to a new connection at the next keyframe once this long passed without one. */
const SWITCH_DEADLINE_MS = 5000;

/**
 * A backward jump of the timeline on a new connection larger than this means a new timeline
 * (the publisher restarted), not the GOP a server replays to a late joiner.
 */
const NEW_TIMELINE_MS = 30_000;

/** How resumed media is filtered after a reconnect so the caller sees one continuous stream. */
interface Resume {
  /** Drop video until a keyframe after the last one delivered. */
  waitKey: boolean;
}

/**
 * A playing RTMP connection: iterate it for media packets.
 *
 * Backpressure: at most `maxQueuedBytes` of packets wait for the reader; then the socket is
 * not read until the reader catches up, so TCP slows the server down. Breaking out of the
 * iteration closes the player.
 *
 * @example Record the first 100 packets' sizes
 * ```ts
 * import { RtmpPlayer } from "./player.ts";
 * await using player = await RtmpPlayer.open("rtmp://127.0.0.1/live/cam", { enhanced: true });
 * let n = 0;
 * for await (const packet of player) {
 *   console.log(packet.type, packet.timestamp, packet.payload.length);
 *   if (++n === 100) break;
 * }
 * ```
 */
export class RtmpPlayer implements AsyncIterable<MediaPacket>, AsyncDisposable {
  readonly #options: RtmpPlayOptions;
  readonly #policy: ReturnType<typeof reconnectPolicy>;
  #url: RtmpUrl;
  #link: ClientLink;
  readonly #packets: BoundedQueue<MediaPacket>;
  readonly #maxQueued: number;
  readonly #events = new BoundedQueue<PlayerEvent>({ limit: 256 });
  #error: RtmpError | null = null;
  #errorReported = false;
  #endReason: PlayEndReason | null = null;
  #closing: Promise<void> | null = null;
  /** Aborted by close(): ends reconnect waits and attempts. */
  readonly #lifetime = new AbortController();
  #readLoop: Promise<void> = Promise.resolve();
  #resolveClosed!: () => void;
  #metadata: AmfObject | null = null;
  #paused = false;
  // Continuity across connections.
  #sawVideo = false;
  readonly #last = { audio: -1, video: -1, data: -1 };
  #offset = 0;
  #resume: Resume | null = null;
  readonly #headers = new Map<string, Uint8Array>();
  #lastMetadataPayload: Uint8Array | null = null;
  /** A ReconnectRequest waiting for the next keyframe. */
  #switchAt: { url: RtmpUrl; deadline: number } | null = null;
  #reconnects = 0;
  #bytesBefore = 0;
  #packetCount = 0;
  /** Resolves once the player has ended, for whatever reason. */
  readonly closed: Promise<void>;

  private constructor(url: RtmpUrl, link: ClientLink, options: RtmpPlayOptions) {
    this.#url = url;
    this.#link = link;
    this.#options = options;
    this.#policy = reconnectPolicy(options.reconnect);
    this.#maxQueued = options.maxQueuedBytes ?? 4 << 20;
    this.#packets = new BoundedQueue<MediaPacket>({
      limit: this.#maxQueued,
      sizeOf: (p) => p.payload.length + 64,
    });
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /**
   * Connects, handshakes and plays. Resolves once `NetStream.Play.Start` (or, for servers that
   * send only `Play.Reset`, the first media) arrived; a refusal (`Play.StreamNotFound`,
   * `Play.Failed`, an `_error`, `Connect.Rejected`) rejects with `RtmpError` `REJECTED` carrying
   * the server's `status` and `description`; `TIMEOUT`, `ABORTED` and the socket's errors
   * otherwise.
   *
   * @example
   * ```ts
   * import { RtmpPlayer } from "./player.ts";
   * import { isRtmpError } from "../errors.ts";
   * try {
   *   const player = await RtmpPlayer.open("rtmp://127.0.0.1/live/missing", { timeout: 5000 });
   *   await player.close();
   * } catch (e) {
   *   if (isRtmpError(e, "REJECTED")) console.log(e.status, e.description);
   * }
   * ```
   *
   * @param url `rtmp://[user:pass@]host[:port]/app[/instance]/stream[?query]` or `rtmps://…`.
   * @param options Timeouts, TLS, credentials, E-RTMP, reconnecting, queue bound.
   * @returns A player whose stream started.
   */
  static async open(url: string, options: RtmpPlayOptions = {}): Promise<RtmpPlayer> {
    const parsed = parseRtmpUrl(url);
    if (parsed.streamName === "") {
      throw new RtmpError(
        "INVALID_URL",
        `no stream name in "${redactRtmpUrl(url)}": expected rtmp://host/app/stream`,
      );
    }
    const policy = reconnectPolicy(options.reconnect);
    const maxQueued = options.maxQueuedBytes ?? 4 << 20;
    if (!Number.isFinite(maxQueued) || maxQueued < 1) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `maxQueuedBytes: expected a positive number, got ${maxQueued}`,
      );
    }
    const { link, events } = await RtmpPlayer.#dial(parsed, options, policy !== null);
    const player = new RtmpPlayer(parsed, link, options);
    // Media that came with Play.Start first, then the socket; never both at once (order).
    player.#readLoop = (async () => {
      await player.#dispatchAll(events);
      await player.#run();
    })();
    const outer = options.signal;
    if (outer) outer.addEventListener("abort", () => void player.close(), { once: true });
    return player;
  }

  static #dial(
    url: RtmpUrl,
    options: RtmpPlayOptions,
    reconnect: boolean,
    signal?: AbortSignal,
  ): ReturnType<typeof openLink> {
    const enhanced = options.enhanced === true
      ? { video: ["*"], audio: ["*"] }
      : options.enhanced === false || options.enhanced === undefined
      ? {}
      : options.enhanced;
    let caps = playerCapabilities(enhanced);
    if (reconnect) caps = withReconnect(caps);
    return openLink(
      url,
      (connect) => {
        const params: ConnectParams = {
          ...connect,
          flashVer: options.flashVer ?? "LNX 9,0,124,2",
          fpad: false,
          capabilities: 15,
          audioCodecs: 4071,
          videoCodecs: 252,
          videoFunction: 1,
          extra: options.connectProperties,
          ...caps,
        };
        return new ClientSession({
          role: "play",
          connect: params,
          streamName: url.streamName,
          play: {
            start: options.start,
            duration: options.duration,
            reset: options.reset,
            bufferLength: options.bufferLength,
            fcSubscribe: options.fcSubscribe,
          },
          digestHandshake: options.digestHandshake,
        });
      },
      {
        timeout: options.timeout ?? 15_000,
        started: "playing",
        signal: signal ?? options.signal,
        tls: options.tls,
        adapter: options.adapter,
        credentials: options.credentials,
      },
    );
  }

  /** The URL being played (after a reconnect request, the server it pointed to). */
  get url(): RtmpUrl {
    return this.#url;
  }

  /** The message stream id of the current connection. */
  get streamId(): number {
    return this.#link.session.streamId;
  }

  /** The last `onMetaData` received, or `null`. */
  get metadata(): AmfObject | null {
    return this.#metadata;
  }

  /** Bytes received from the server(s), all connections together. */
  get bytesReceived(): number {
    return this.#bytesBefore + this.#link.session.bytesReceived;
  }

  /** Media packets handed to the reader (or queued for it). */
  get packetsReceived(): number {
    return this.#packetCount;
  }

  /** Successful reconnections so far. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Why the player ended, or `null` while it plays. */
  get endReason(): PlayEndReason | null {
    return this.#endReason;
  }

  /** The error that ended the player, or `null`. */
  get error(): RtmpError | null {
    return this.#error;
  }

  /** Whether {@linkcode RtmpPlayer.pause} paused the stream. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Events until the player ends (the last one is `closed`). Up to 256 unread events are
   * kept; older ones are dropped.
   *
   * @returns An async iterable of events.
   */
  events(): AsyncIterable<PlayerEvent> {
    return this.#events;
  }

  /**
   * The media packets in arrival order (one reader). The iteration ends when the stream ends
   * or the player is closed, and throws the error that ended it otherwise (after a failed
   * reconnect, a reset, a protocol error). Breaking out of it closes the player.
   *
   * @returns An async iterator of packets.
   */
  [Symbol.asyncIterator](): AsyncIterator<MediaPacket> {
    return {
      next: async (): Promise<IteratorResult<MediaPacket>> => {
        const r = await this.#packets.next();
        if (r.done && this.#error !== null && !this.#errorReported) {
          this.#errorReported = true;
          throw this.#error;
        }
        return r;
      },
      return: async (): Promise<IteratorResult<MediaPacket>> => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }

  /**
   * Pauses or resumes the stream (`pause` command at the last timestamp received). The server
   * answers with `NetStream.Pause.Notify` / `Unpause.Notify` (a `status` event).
   *
   * @param paused `true` to pause, `false` to resume.
   * @returns Resolves once the command is written.
   */
  async pause(paused: boolean): Promise<void> {
    this.#check();
    this.#link.session.pause(paused);
    this.#paused = paused;
    try {
      await this.#link.flush();
    } catch (e) {
      throw asRtmpError(e, "writing to the server failed");
    }
  }

  #check(): void {
    if (this.#error) throw this.#error;
    if (this.#closing || this.#endReason) throw new RtmpError("CLOSED", "the player is closed");
  }

  /**
   * Stops playing: `closeStream` and `deleteStream`, then FIN, and waits briefly for the
   * server to close. Packets already queued can still be read. Idempotent.
   *
   * @returns Resolves when closed.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = (async () => {
        this.#endReason ??= "closed";
        this.#lifetime.abort();
        this.#packets.end();
        const link = this.#link;
        if (!this.#error) await link.endGracefully();
        const linger = setTimeout(() => link.conn.close(), 3000);
        await this.#readLoop;
        clearTimeout(linger);
        this.#link.conn.close();
        await this.closed;
      })();
    }
    return this.#closing;
  }

  /** Closes the player (`await using`). @returns Resolves when closed. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #emit(event: PlayerEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A throwing listener must not break playback.
    }
    this.#events.pushDropOldest(event);
  }

  async #dispatchAll(events: ClientSessionEvent[]): Promise<void> {
    for (const ev of events) {
      const wait = this.#dispatch(ev);
      if (wait) await wait;
    }
  }

  /**
   * Handles one session event. Returns a promise only when a media packet went over the
   * queue's bound: the caller then waits for the reader (backpressure) before reading on.
   */
  #dispatch(ev: ClientSessionEvent): Promise<void> | undefined {
    switch (ev.type) {
      case "media":
        return this.#onPacket(ev.packet);
      case "playing":
        if (ev.status) this.#emit({ type: "status", status: ev.status });
        return;
      case "status": {
        const code = ev.status.code;
        if (code === "NetStream.Play.PublishNotify") {
          this.#emit({ type: "publish-notify", status: ev.status });
          return;
        }
        if (code === "NetStream.Play.UnpublishNotify") {
          this.#emit({ type: "unpublish-notify", status: ev.status });
        } else {
          this.#emit({ type: "status", status: ev.status });
        }
        if (
          (this.#options.endOnUnpublish ?? true) &&
          (code === "NetStream.Play.UnpublishNotify" || code === "NetStream.Play.Stop" ||
            code === "NetStream.Play.Complete")
        ) {
          this.#endReason ??= "unpublished";
        } else if (ev.status.level === "error" && ev.streamId !== 0) {
          this.#fail(rejectionErrorOf(ev.status));
        }
        return;
      }
      case "stream-begin":
      case "stream-eof":
      case "stream-dry":
      case "stream-is-recorded":
        this.#emit({ type: ev.type });
        return;
      case "reconnect-request":
        this.#emit({ type: "reconnect-request", tcUrl: ev.tcUrl, description: ev.description });
        if (this.#policy) {
          try {
            this.#switchAt = {
              url: reconnectUrl(this.#url, ev.tcUrl),
              deadline: performance.now() + SWITCH_DEADLINE_MS,
            };
          } catch {
            // A reconnect tcUrl we cannot use: stay on this server.
          }
        }
        return;
      default:
        return;
    }
  }

  #onPacket(packet: MediaPacket): Promise<void> | undefined {
    if (this.#endReason !== null) return;
    const sw = this.#switchAt;
    if (
      sw !== null &&
      (isKeyframe(packet) || (!this.#sawVideo && packet.type === "audio") ||
        performance.now() > sw.deadline)
    ) {
      // E-RTMP v2: keep playing from the old server up to a media boundary, then move. The
      // packet at the boundary comes from the new server (its GOP starts there).
      this.#switchAt = null;
      this.#pendingSwitch = sw.url;
      return;
    }
    if (this.#pendingSwitch !== null) return;
    const out = this.#continuity(packet);
    if (out === null) return;
    if (out.type === "data" && out.data) {
      const md = metadataOf(out.data);
      if (md) {
        this.#metadata = md;
        this.#lastMetadataPayload = out.payload;
        this.#emit({ type: "metadata", metadata: md, timestamp: out.timestamp });
      }
    }
    this.#packetCount++;
    const room = this.#packets.push(out);
    return this.#packets.size > this.#maxQueued ? room : undefined;
  }

  #pendingSwitch: RtmpUrl | null = null;

  /**
   * Keeps one continuous stream across connections: passes packets through unchanged until a
   * reconnect; then drops what the caller already has (timestamps at or before the last
   * delivered per track, repeated sequence headers and metadata), resumes video at a keyframe,
   * and shifts timestamps when the new connection starts a new timeline.
   */
  #continuity(packet: MediaPacket): MediaPacket | null {
    const kind = packet.type;
    const seq = kind !== "data" && isSequenceHeader(packet);
    if (kind === "video") this.#sawVideo = true;
    const resume = this.#resume;
    if (resume !== null) {
      if (seq) {
        const key = headerKeyOf(kind as "audio" | "video", packet.payload);
        const known = this.#headers.get(key);
        if (known && bytesEqual(known, packet.payload)) return null;
      } else if (kind === "data") {
        const md = packet.data ? metadataOf(packet.data) : null;
        if (md) {
          if (this.#lastMetadataPayload && bytesEqual(this.#lastMetadataPayload, packet.payload)) {
            return null;
          }
        } else if (packet.timestamp + this.#offset <= this.#last.data) return null;
      } else if (kind === "video") {
        if (resume.waitKey) {
          if (!isKeyframe(packet)) return null;
          const ts = packet.timestamp + this.#offset;
          if (ts <= this.#last.video) {
            if (ts + NEW_TIMELINE_MS >= this.#last.video) return null;
            // A new timeline: continue right after the last packet delivered.
            this.#offset += Math.max(this.#last.video, this.#last.audio) + 1 - ts;
          }
          resume.waitKey = false;
        }
      } else if (packet.timestamp + this.#offset <= this.#last.audio) {
        return null;
      }
    }
    const out = this.#offset === 0
      ? packet
      : { ...packet, timestamp: (packet.timestamp + this.#offset) >>> 0 };
    if (seq) this.#headers.set(headerKeyOf(kind as "audio" | "video", out.payload), out.payload);
    else if (out.timestamp > this.#last[kind]) this.#last[kind] = out.timestamp;
    return out;
  }

  #fail(error: RtmpError): void {
    this.#error ??= error;
    this.#endReason ??= "error";
  }

  async #run(): Promise<void> {
    try {
      while (true) {
        const lost = await this.#pump(this.#link);
        if (this.#closing || this.#endReason !== null) break;
        // A requested move (also when the old server closed before the media boundary).
        const target = this.#pendingSwitch ?? this.#switchAt?.url ?? null;
        if (target !== null) {
          this.#pendingSwitch = null;
          this.#switchAt = null;
          void this.#link.retire();
          if (!(await this.#reconnect(target, "the server asked to reconnect", false))) break;
          continue;
        }
        if (this.#policy === null) {
          if (lost) this.#fail(lost);
          else this.#endReason = "server-closed";
          break;
        }
        this.#link.conn.close();
        const reason = lost ? lost.message : "the server closed the connection";
        if (!(await this.#reconnect(this.#url, reason, true))) break;
      }
    } finally {
      if (this.#error) this.#endReason = "error";
      this.#endReason ??= "closed";
      this.#packets.end();
      this.#emit({ type: "closed", error: this.#error });
      this.#events.end();
      this.#link.conn.close();
      this.#resolveClosed();
    }
  }

  /**
   * Reads one link until it ends, the stream ends, or a switch is due.
   *
   * @returns The error that broke the link, or `null` for a FIN (or a deliberate stop).
   */
  async #pump(link: ClientLink): Promise<RtmpError | null> {
    try {
      // Events that came with the stream start may already have ended it or asked to move.
      while (this.#closing || (this.#endReason === null && this.#pendingSwitch === null)) {
        const events = await link.read();
        if (events === null) return null;
        // Closing: read (and drop) until the server answers our FIN, so we never reset it.
        if (this.#closing) continue;
        await this.#dispatchAll(events);
      }
      if (this.#pendingSwitch !== null) return null;
      if (!this.#closing) {
        // The stream is over (or failed): leave the way a player does.
        await link.retire();
      }
      return null;
    } catch (e) {
      if (this.#closing) return null;
      return asRtmpError(e, "reading from the server failed");
    }
  }

  /** Tries to reconnect per the policy; `false` when given up (the error is set). */
  async #reconnect(target: RtmpUrl, reason: string, lost: boolean): Promise<boolean> {
    const policy = this.#policy ?? { maxAttempts: 1, initialDelay: 0, maxDelay: 0 };
    const stop = this.#lifetime.signal;
    let last: RtmpError | null = null;
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      // A requested move goes at once; a lost connection waits (the server may be restarting).
      const delayMs = !lost && attempt === 1 ? 0 : backoffDelay(policy, attempt);
      this.#emit({ type: "reconnecting", attempt, delayMs, reason });
      try {
        await sleep(delayMs, stop);
        if (this.#closing) return false;
        const { link, events } = await RtmpPlayer.#dial(target, this.#options, true, stop);
        if (this.#closing) {
          void link.retire();
          return false;
        }
        this.#bytesBefore += this.#link.session.bytesReceived;
        this.#link = link;
        this.#url = target;
        this.#reconnects++;
        this.#resume = { waitKey: this.#sawVideo };
        this.#emit({ type: "reconnected", attempt, url: redactRtmpUrl(fullUrl(target)) });
        await this.#dispatchAll(events);
        return true;
      } catch (e) {
        if (this.#closing) return false;
        last = asRtmpError(e, "reconnecting failed");
        reason = last.message;
      }
    }
    this.#fail(
      new RtmpError(
        "CONNECTION_CLOSED",
        `lost the stream from ${target.hostname}:${target.port}: ${policy.maxAttempts} ` +
          `reconnect attempt(s) failed, the last with: ${last?.message ?? "unknown error"}`,
        { cause: last, status: last?.status, description: last?.description },
      ),
    );
    return false;
  }
}

function fullUrl(u: RtmpUrl): string {
  return `${u.tcUrl}/${u.streamName}`;
}

function rejectionErrorOf(status: StatusObject): RtmpError {
  const text = status.description ? `: ${status.description}` : "";
  return new RtmpError("REJECTED", `the server ended the stream with ${status.code}${text}`, {
    status: status.code,
    description: status.description,
  });
}

function asRtmpError(e: unknown, what: string): RtmpError {
  return e instanceof RtmpError
    ? e
    : new RtmpError("CONNECTION_CLOSED", `${what}: ${String(e)}`, { cause: e });
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
