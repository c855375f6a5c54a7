/**
 * The push client: publishes a live stream to an `rtmp://` or `rtmps://` server, with
 * `authmod` credentials and optional automatic reconnection (also on an E-RTMP v2
 * `NetConnection.Connect.ReconnectRequest`), and opens players ({@linkcode RtmpClient.play}).
 *
 * @example Publish an AVC + AAC stream
 * ```ts
 * import { RtmpClient } from "./publisher.ts";
 *
 * await using client = await RtmpClient.connect("rtmp://127.0.0.1/live/key");
 * await client.sendMetadata({ width: 1280, height: 720, videocodecid: 7, audiocodecid: 10 });
 * await client.sendVideoSequenceHeader(0, new Uint8Array([1, 0x64, 0, 0x1f, 0xff]));
 * await client.sendAudioSequenceHeader(0, new Uint8Array([0x12, 0x10]));
 * await client.sendVideo(0, new Uint8Array([0, 0, 0, 1, 0x65]), { keyframe: true });
 * await client.sendAudio(0, new Uint8Array([0x21, 0x00]));
 * ```
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { AmfObject, AmfValue } from "../protocol/amf.ts";
import { AacPacketType, type AudioTag, buildAudioTag, SoundFormat } from "../protocol/audio_tag.ts";
import { publisherCapabilities, withReconnect } from "../protocol/capabilities.ts";
import type { ConnectParams } from "../protocol/command.ts";
import {
  type DataMessage,
  encodeData,
  unwrapSetDataFrame,
  wrapSetDataFrame,
} from "../protocol/data.ts";
import { ecmaArray } from "../protocol/amf.ts";
import { flvScriptName, type FlvTag } from "../protocol/flv.ts";
import { MessageType } from "../protocol/message.ts";
import type { StatusObject } from "../protocol/status.ts";
import { parseRtmpUrl, reconnectUrl, redactRtmpUrl, type RtmpUrl } from "../protocol/url.ts";
import {
  AvcPacketType,
  buildVideoTag,
  VideoCodecId,
  VideoFrameType,
  type VideoTag,
} from "../protocol/video_tag.ts";
import { BoundedQueue } from "../util/bounded_queue.ts";
import { ClientSession, type ClientSessionEvent } from "../session/client_session.ts";
import {
  isKeyframePayload,
  isSequenceHeaderPayload,
  type MediaPacket,
  messageTypeOf,
} from "../protocol/packet.ts";
import type { SocketAdapter, TlsConnectOptions } from "../socket/types.ts";
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
import { RtmpPlayer, type RtmpPlayOptions } from "./player.ts";

export type { ClientSessionEvent, StatusObject };
export type { StatusCode, StatusLevel } from "../protocol/status.ts";

/**
 * Options for {@linkcode RtmpClient.connect}.
 *
 * @example
 * ```ts
 * import type { RtmpClientOptions } from "./publisher.ts";
 * const o: RtmpClientOptions = { publishType: "live", timeout: 5000, enhanced: { video: ["hvc1"] } };
 * ```
 */
export interface RtmpClientOptions {
  /** `live` (default), `record` or `append`. */
  publishType?: "live" | "record" | "append";
  /** Milliseconds for everything up to `NetStream.Publish.Start`. Default 15 000. */
  timeout?: number;
  /** Aborts connecting, and closes the client once connected. */
  signal?: AbortSignal;
  /** TLS settings for `rtmps://` (custom CA, SNI name). Verification is on by default. */
  tls?: TlsConnectOptions;
  /** Socket adapter; default: the current runtime's. */
  adapter?: SocketAdapter;
  /** `flashVer` sent in connect. Default `FMLE/3.0 (compatible; @x/rtmp)`. */
  flashVer?: string;
  /** Outgoing chunk size. Default 4096. */
  chunkSize?: number;
  /**
   * Enhanced RTMP codecs the client will publish (FourCCs such as `hvc1`, `av01`, `vp09`,
   * `Opus`). They are announced in `fourCcList` and the v2 capability maps, which some
   * servers require before they forward such codecs.
   */
  enhanced?: { video?: string[]; audio?: string[] };
  /** Use the FP9 digest handshake like FFmpeg. Default `true`. */
  digestHandshake?: boolean;
  /** Extra properties for the connect command object. */
  connectProperties?: AmfObject;
  /** User and password for `authmod=adobe` / `llnw` servers; default: the URL's `user:pass@`. */
  credentials?: Credentials;
  /**
   * Reconnect by itself when the connection is lost, and follow a server's
   * `NetConnection.Connect.ReconnectRequest` (announced with `capsEx`): the client reconnects
   * (to the request's `tcUrl`, or the same URL), sends again the metadata and sequence headers
   * it has sent, and resumes at a keyframe. Sends wait while it reconnects. Off by default.
   */
  reconnect?: boolean | ReconnectOptions;
}

/**
 * An event from the server after publishing started, and the client's own reconnect events.
 *
 * @example
 * ```ts
 * import type { ClientEvent } from "./publisher.ts";
 * function log(e: ClientEvent): string { return e.type === "status" ? e.status.code : e.type; }
 * ```
 */
export type ClientEvent =
  | Exclude<
    ClientSessionEvent,
    | { type: "connected" }
    | { type: "publishing" }
    | { type: "rejected" }
    | { type: "playing" }
    | { type: "media" }
  >
  | { type: "reconnecting"; attempt: number; delayMs: number; reason: string }
  | { type: "reconnected"; attempt: number; url: string }
  | { type: "closed"; error: RtmpError | null };

/** Switch at the next send once this long passed without a keyframe after a request. */
const SWITCH_DEADLINE_MS = 5000;

/** What a reconnect sends again before any media. */
interface Remembered {
  type: number;
  timestamp: number;
  payload: Uint8Array;
}

/**
 * A publishing RTMP connection.
 *
 * @example
 * ```ts
 * import { RtmpClient } from "./publisher.ts";
 * const client = await RtmpClient.connect("rtmps://live.example.com/app/key", { tls: { ca: "-----BEGIN…" } });
 * for await (const event of client.events()) console.log(event.type);
 * await client.close();
 * ```
 */
export class RtmpClient implements AsyncDisposable {
  readonly #options: RtmpClientOptions;
  readonly #policy: ReturnType<typeof reconnectPolicy>;
  #url: RtmpUrl;
  #link: ClientLink;
  readonly #events = new BoundedQueue<ClientEvent>({ limit: 256 });
  readonly #calls = new Map<
    number,
    { settle: (ev: ClientSessionEvent) => void; fail: (e: RtmpError) => void }
  >();
  #error: RtmpError | null = null;
  #closing: Promise<void> | null = null;
  readonly #lifetime = new AbortController();
  #readLoop: Promise<void> = Promise.resolve();
  #finished = false;
  #resolveClosed!: () => void;
  // Reconnecting.
  #switching: Promise<void> | null = null;
  #switchAt: { url: RtmpUrl; deadline: number } | null = null;
  #waitKey = false;
  #sawVideo = false;
  #metadata: Remembered | null = null;
  readonly #headers = new Map<string, Remembered>();
  #reconnects = 0;
  /** Resolves once the connection has ended, for whatever reason. */
  readonly closed: Promise<void>;

  private constructor(url: RtmpUrl, link: ClientLink, options: RtmpClientOptions) {
    this.#url = url;
    this.#link = link;
    this.#options = options;
    this.#policy = reconnectPolicy(options.reconnect);
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /**
   * Connects, handshakes and publishes. Resolves only after `NetStream.Publish.Start`; an
   * error status, `_error` or `NetConnection.Connect.Rejected` rejects with `RtmpError`
   * `REJECTED` carrying the server's code (`status`) and `description`. Servers asking for
   * `authmod=adobe` / `llnw` are answered with the URL's `user:pass@` (or `credentials`).
   *
   * @example
   * ```ts
   * import { RtmpClient } from "./publisher.ts";
   * import { isRtmpError } from "../errors.ts";
   * try {
   *   await RtmpClient.connect("rtmp://127.0.0.1/live/wrong-key", { timeout: 5000 });
   * } catch (e) {
   *   if (isRtmpError(e, "REJECTED")) console.log(e.status, e.description);
   * }
   * ```
   *
   * @param url `rtmp://[user:pass@]host[:port]/app[/instance]/streamName[?query]` or `rtmps://…`.
   * @param options Timeouts, TLS, E-RTMP codecs, credentials, reconnecting.
   * @returns A client that is publishing.
   */
  static async connect(url: string, options: RtmpClientOptions = {}): Promise<RtmpClient> {
    const parsed = parseRtmpUrl(url);
    if (parsed.streamName === "") {
      throw new RtmpError(
        "INVALID_URL",
        `no stream name (key) in "${redactRtmpUrl(url)}": expected rtmp://host/app/key`,
      );
    }
    const policy = reconnectPolicy(options.reconnect);
    const { link, events } = await RtmpClient.#dial(parsed, options, policy !== null);
    const client = new RtmpClient(parsed, link, options);
    for (const ev of events) client.#dispatch(ev);
    client.#readLoop = client.#runReadLoop(link);
    if (options.signal) {
      options.signal.addEventListener("abort", () => void client.close(), { once: true });
    }
    return client;
  }

  /**
   * Plays a stream: connects, handshakes, `play`s and resolves once `NetStream.Play.Start`
   * arrived (see {@linkcode RtmpPlayer.open}). Iterate the player for media packets.
   *
   * @example
   * ```ts
   * import { RtmpClient } from "./publisher.ts";
   * await using player = await RtmpClient.play("rtmp://127.0.0.1/live/cam", { enhanced: true });
   * for await (const packet of player) console.log(packet.type, packet.timestamp);
   * ```
   *
   * @param url `rtmp://[user:pass@]host[:port]/app[/instance]/stream[?query]` or `rtmps://…`.
   * @param options Timeouts, TLS, credentials, E-RTMP, reconnecting, queue bound.
   * @returns A player whose stream started.
   */
  static play(url: string, options: RtmpPlayOptions = {}): Promise<RtmpPlayer> {
    return RtmpPlayer.open(url, options);
  }

  static #dial(
    url: RtmpUrl,
    options: RtmpClientOptions,
    reconnect: boolean,
    signal?: AbortSignal,
  ): ReturnType<typeof openLink> {
    // E-RTMP v1 fourCcList (deprecated but still read by servers) and the v2 capability maps.
    let caps = publisherCapabilities(options.enhanced ?? {});
    if (reconnect) caps = withReconnect(caps);
    return openLink(
      url,
      (connect) => {
        const params: ConnectParams = {
          ...connect,
          type: "nonprivate",
          flashVer: options.flashVer ?? "FMLE/3.0 (compatible; @x/rtmp)",
          extra: options.connectProperties,
          ...caps,
        };
        return new ClientSession({
          connect: params,
          streamName: url.streamName,
          publishType: options.publishType ?? "live",
          chunkSize: options.chunkSize,
          digestHandshake: options.digestHandshake,
        });
      },
      {
        timeout: options.timeout ?? 15_000,
        started: "publishing",
        signal: signal ?? options.signal,
        tls: options.tls,
        adapter: options.adapter,
        credentials: options.credentials,
      },
    );
  }

  /** The URL published to (after a reconnect request, the server it pointed to). */
  get url(): RtmpUrl {
    return this.#url;
  }

  /** Successful reconnections so far. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Routes a session event: answers to `call()` go to their caller, the rest to `events()`. */
  #dispatch(ev: ClientSessionEvent): void {
    switch (ev.type) {
      case "connected":
      case "publishing":
      case "rejected":
      case "playing":
      case "media":
        return;
      case "result":
      case "error-result": {
        const waiter = this.#calls.get(ev.transactionId);
        if (waiter) {
          this.#calls.delete(ev.transactionId);
          waiter.settle(ev);
          return;
        }
        break;
      }
      case "reconnect-request":
        if (this.#policy) {
          try {
            this.#switchAt = {
              url: reconnectUrl(this.#url, ev.tcUrl),
              deadline: performance.now() + SWITCH_DEADLINE_MS,
            };
          } catch {
            // A tcUrl we cannot use: stay on this server.
          }
        }
        break;
    }
    this.#events.pushDropOldest(ev);
  }

  async #runReadLoop(link: ClientLink): Promise<void> {
    let lost: RtmpError | null = null;
    try {
      while (true) {
        const events = await link.read();
        if (events === null) break;
        if (link !== this.#link) continue; // a retired link, draining
        for (const ev of events) this.#dispatch(ev);
      }
      lost = new RtmpError(
        "CONNECTION_CLOSED",
        `${link.url.hostname}:${link.url.port} closed the connection`,
      );
    } catch (e) {
      lost = e instanceof RtmpError
        ? e
        : new RtmpError("PROTOCOL", `reading from the server failed: ${String(e)}`, { cause: e });
    } finally {
      link.conn.close();
    }
    if (link !== this.#link || this.#switching) return;
    if (this.#closing) return this.#finish();
    if (this.#policy) {
      const target = this.#switchAt?.url ?? this.#url;
      const requested = this.#switchAt !== null;
      this.#switchAt = null;
      this.#startSwitch(target, lost.message, !requested);
      return;
    }
    this.#error ??= lost;
    this.#finish();
  }

  /** Ends everything once: waiting calls fail, `closed` is the last event. */
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    const gone = this.#error ??
      new RtmpError("CONNECTION_CLOSED", "the connection closed before the answer");
    for (const waiter of this.#calls.values()) waiter.fail(gone);
    this.#calls.clear();
    this.#events.pushDropOldest({ type: "closed", error: this.#error });
    this.#events.end();
    this.#link.conn.close();
    this.#resolveClosed();
  }

  /** Moves to a new connection in the background; sends wait for it. */
  #startSwitch(target: RtmpUrl, reason: string, lost: boolean): void {
    if (this.#switching) return;
    const old = this.#link;
    const gone = new RtmpError(
      "CONNECTION_CLOSED",
      "the connection was replaced before the answer",
    );
    for (const waiter of this.#calls.values()) waiter.fail(gone);
    this.#calls.clear();
    this.#switching = (async () => {
      if (lost) old.conn.close();
      else {
        // Leave the old server cleanly; its read loop drains until the FIN answer.
        await old.endGracefully();
        old.closeWithin(3000);
      }
      const ok = await this.#reconnect(target, reason, lost);
      this.#switching = null;
      if (!ok) this.#finish();
    })();
  }

  async #reconnect(target: RtmpUrl, reason: string, lost: boolean): Promise<boolean> {
    const policy = this.#policy!;
    const stop = this.#lifetime.signal;
    let last: RtmpError | null = null;
    for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
      const delayMs = !lost && attempt === 1 ? 0 : backoffDelay(policy, attempt);
      this.#events.pushDropOldest({ type: "reconnecting", attempt, delayMs, reason });
      try {
        await sleep(delayMs, stop);
        if (this.#closing) return false;
        const { link, events } = await RtmpClient.#dial(target, this.#options, true, stop);
        if (this.#closing) {
          void link.retire();
          return false;
        }
        this.#link = link;
        this.#url = target;
        for (const ev of events) this.#dispatch(ev);
        this.#readLoop = this.#runReadLoop(link);
        // What a player joining now needs before any frame: metadata, then sequence headers.
        const again = [...(this.#metadata ? [this.#metadata] : []), ...this.#headers.values()];
        for (const m of again) link.session.sendMedia(m.type, m.timestamp, m.payload);
        await link.flush();
        this.#waitKey = lost && this.#sawVideo;
        this.#reconnects++;
        this.#events.pushDropOldest({
          type: "reconnected",
          attempt,
          url: redactRtmpUrl(`${target.tcUrl}/${target.streamName}`),
        });
        return true;
      } catch (e) {
        if (this.#closing) return false;
        last = e instanceof RtmpError
          ? e
          : new RtmpError("CONNECTION_CLOSED", `reconnecting failed: ${String(e)}`, { cause: e });
        reason = last.message;
      }
    }
    this.#error ??= new RtmpError(
      "CONNECTION_CLOSED",
      `lost the connection to ${target.hostname}:${target.port}: ${policy.maxAttempts} ` +
        `reconnect attempt(s) failed, the last with: ${last?.message ?? "unknown error"}`,
      { cause: last, status: last?.status, description: last?.description },
    );
    return false;
  }

  /** The message stream id the server assigned. */
  get streamId(): number {
    return this.#link.session.streamId;
  }

  /**
   * Server events until the connection ends (the last one is `closed`). Up to 256 unread
   * events are kept; older ones are dropped.
   *
   * @returns An async iterable of events.
   */
  events(): AsyncIterable<ClientEvent> {
    return this.#events;
  }

  /**
   * Sends `@setDataFrame` `onMetaData` (as an ECMA array, like FFmpeg and OBS).
   *
   * @param metadata Properties (width, height, framerate, videocodecid, …).
   * @param options `amf3: true` sends a type-15 AMF3 data message instead.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendMetadata(metadata: AmfObject, options: { amf3?: boolean } = {}): Promise<void> {
    const m = encodeData(
      { handler: "onMetaData", values: [ecmaArray({ ...metadata })] },
      { streamId: this.streamId, amf3: options.amf3 },
    );
    return this.#send(m.type, 0, wrapSetDataFrame(m.payload, options));
  }

  /**
   * Sends a data message (`onTextData`, `onCuePoint`, …), keeping the handler name.
   *
   * The timestamp comes first, as in every `send…` method. (The 0.1 order
   * `sendData(data, timestamp?, options?)` still works and is deprecated.)
   *
   * @example
   * ```ts ignore
   * await client.sendData(1000, { handler: "onTextData", values: [{ text: "hello" }] });
   * ```
   *
   * @param timestamp Milliseconds.
   * @param data Handler and values.
   * @param options `amf3` to send a type-15 message.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendData(
    timestamp: number | DataMessage,
    data?: DataMessage | number,
    options: { amf3?: boolean } = {},
  ): Promise<void> {
    const [ts, d] = typeof timestamp === "number"
      ? [timestamp, data as DataMessage]
      : [typeof data === "number" ? data : 0, timestamp];
    const m = encodeData(d, { streamId: this.streamId, amf3: options.amf3 });
    return this.#send(m.type, ts, m.payload);
  }

  /**
   * Sends the AVC decoder configuration (`AVCDecoderConfigurationRecord`).
   *
   * (The 0.1 order `sendVideoSequenceHeader(avcC, timestamp?)` still works and is deprecated.)
   *
   * @example
   * ```ts ignore
   * await client.sendVideoSequenceHeader(0, avcC);
   * ```
   *
   * @param timestamp Milliseconds (usually 0).
   * @param avcC The avcC bytes.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendVideoSequenceHeader(
    timestamp: number | Uint8Array,
    avcC?: Uint8Array | number,
  ): Promise<void> {
    const [ts, body] = timestampFirst(timestamp, avcC);
    return this.#send(
      MessageType.Video,
      ts,
      avcTag(VideoFrameType.KeyFrame, AvcPacketType.SequenceHeader, 0, body),
    );
  }

  /**
   * Sends one AVC access unit (AVCC length-prefixed NAL units).
   *
   * (The 0.1 form `sendVideo(timestamp, keyframe, data, compositionTime?)` still works and is
   * deprecated: a positional boolean reads badly at the call site.)
   *
   * @example
   * ```ts ignore
   * await client.sendVideo(40, accessUnit, { keyframe: true, compositionTime: 40 });
   * ```
   *
   * @param timestamp Decode timestamp in milliseconds.
   * @param data The access unit.
   * @param options `keyframe` (IDR; default false) and `compositionTime` (ms; default 0).
   * @returns Resolves when the OS accepted the bytes.
   */
  sendVideo(
    timestamp: number,
    data: Uint8Array | boolean,
    options: { keyframe?: boolean; compositionTime?: number } | Uint8Array = {},
    compositionTime = 0,
  ): Promise<void> {
    let body: Uint8Array;
    let keyframe: boolean;
    let cts: number;
    if (typeof data === "boolean") {
      keyframe = data;
      body = options as Uint8Array;
      cts = compositionTime;
    } else {
      const o = options as { keyframe?: boolean; compositionTime?: number };
      body = data;
      keyframe = o.keyframe ?? false;
      cts = o.compositionTime ?? 0;
    }
    return this.#send(
      MessageType.Video,
      timestamp,
      avcTag(
        keyframe ? VideoFrameType.KeyFrame : VideoFrameType.InterFrame,
        AvcPacketType.Nalu,
        cts,
        body,
      ),
    );
  }

  /**
   * Sends the AAC `AudioSpecificConfig`.
   *
   * (The 0.1 order `sendAudioSequenceHeader(config, timestamp?)` still works and is deprecated.)
   *
   * @example
   * ```ts ignore
   * await client.sendAudioSequenceHeader(0, new Uint8Array([0x12, 0x10]));
   * ```
   *
   * @param timestamp Milliseconds (usually 0).
   * @param config The AudioSpecificConfig bytes.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendAudioSequenceHeader(
    timestamp: number | Uint8Array,
    config?: Uint8Array | number,
  ): Promise<void> {
    const [ts, body] = timestampFirst(timestamp, config);
    return this.#send(MessageType.Audio, ts, aacTag(AacPacketType.SequenceHeader, body));
  }

  /**
   * Sends one raw AAC frame.
   *
   * @param timestamp Milliseconds.
   * @param data The AAC frame (no ADTS header).
   * @returns Resolves when the OS accepted the bytes.
   */
  sendAudio(timestamp: number, data: Uint8Array): Promise<void> {
    return this.#send(MessageType.Audio, timestamp, aacTag(AacPacketType.Raw, data));
  }

  /**
   * Sends any video tag: legacy or Enhanced RTMP (HEVC, AV1, VP9, multitrack…), as a parsed
   * tag or as body bytes.
   *
   * @param timestamp Milliseconds.
   * @param tag A tag, or the VIDEODATA body bytes.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendVideoTag(timestamp: number, tag: VideoTag | Uint8Array): Promise<void> {
    return this.#send(
      MessageType.Video,
      timestamp,
      tag instanceof Uint8Array ? tag : buildVideoTag(tag),
    );
  }

  /**
   * Sends any audio tag: legacy or Enhanced RTMP (Opus, FLAC, AC-3, multitrack…).
   *
   * @param timestamp Milliseconds.
   * @param tag A tag, or the AUDIODATA body bytes.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendAudioTag(timestamp: number, tag: AudioTag | Uint8Array): Promise<void> {
    return this.#send(
      MessageType.Audio,
      timestamp,
      tag instanceof Uint8Array ? tag : buildAudioTag(tag),
    );
  }

  /**
   * Sends an FLV tag as read from a file (audio, video or script data). An `onMetaData`
   * script tag is sent as `@setDataFrame` `onMetaData`, as FFmpeg does.
   *
   * @param tag The tag.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendFlvTag(tag: FlvTag): Promise<void> {
    if (
      tag.type !== MessageType.Audio && tag.type !== MessageType.Video &&
      tag.type !== MessageType.DataAmf0
    ) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `FLV tag type ${tag.type} cannot be published (expected 8, 9 or 18)`,
      );
    }
    if (tag.type === MessageType.DataAmf0 && flvScriptName(tag.data) === "onMetaData") {
      // A file's onMetaData goes out as `@setDataFrame` like FFmpeg sends it, so servers store
      // it for players; recorders strip the prefix again.
      return this.#send(tag.type, tag.timestamp, wrapSetDataFrame(tag.data));
    }
    return this.#send(tag.type, tag.timestamp, tag.data);
  }

  /**
   * Sends a packet as a server session yields it (restreaming): the raw payload is forwarded.
   *
   * @param packet A media packet.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendPacket(packet: MediaPacket): Promise<void> {
    return this.#send(messageTypeOf(packet), packet.timestamp, packet.payload);
  }

  /**
   * Calls a server method; resolves with the `_result` values, rejects with `REJECTED` on
   * `_error`.
   *
   * @param name Method name.
   * @param args Arguments.
   * @returns The values of the `_result`.
   */
  async call(name: string, ...args: AmfValue[]): Promise<AmfValue[]> {
    this.#check();
    if (this.#switching) await this.#switching;
    this.#check();
    const tx = this.#link.session.call(name, ...args);
    const answer = new Promise<ClientSessionEvent>((settle, fail) =>
      this.#calls.set(tx, { settle, fail })
    );
    await this.#flushOrFail(true);
    const ev = await answer;
    if (ev.type === "result") return ev.values;
    const status = ev.type === "error-result" ? ev.status : null;
    throw new RtmpError(
      "REJECTED",
      `${name} failed on the server${status ? ` with ${status.code}` : ""}`,
      { status: status?.code, description: status?.description },
    );
  }

  #check(): void {
    if (this.#error) throw this.#error;
    if (this.#closing) throw new RtmpError("CLOSED", "the client is closed");
  }

  async #send(type: number, timestamp: number, payload: Uint8Array): Promise<void> {
    this.#check();
    if (!Number.isFinite(timestamp) || timestamp < 0) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `timestamp must be a non-negative number, got ${timestamp}`,
      );
    }
    const ts = Math.floor(timestamp) % 0x1_0000_0000;
    const config = this.#remember(type, ts, payload);
    const sw = this.#switchAt;
    if (sw !== null && !config && this.#atBoundary(type, payload, sw.deadline)) {
      // E-RTMP v2: stream to the old server up to a media boundary, then move; this packet
      // is the first one the new server gets after the headers.
      this.#switchAt = null;
      this.#startSwitch(sw.url, "the server asked to reconnect", false);
    }
    if (this.#switching) {
      await this.#switching;
      this.#check();
      // The reconnect already sent the latest configuration.
      if (config) return;
    }
    if (type === MessageType.Video) {
      if (!config) this.#sawVideo = true;
      if (this.#waitKey && !config) {
        if (!isKeyframePayload(payload)) return;
        this.#waitKey = false;
      }
    } else if (type === MessageType.Audio && this.#waitKey && !config) {
      return;
    }
    this.#link.session.sendMedia(type, ts, payload);
    await this.#flushOrFail(false);
  }

  /** Keeps metadata and sequence headers for a reconnect; `true` when it is one of them. */
  #remember(type: number, timestamp: number, payload: Uint8Array): boolean {
    if (this.#policy === null) return false;
    if (type === MessageType.DataAmf0 || type === MessageType.DataAmf3) {
      const amf3 = type === MessageType.DataAmf3;
      const body = unwrapSetDataFrame(payload, { amf3 });
      const isMeta = flvScriptName(body.subarray(amf3 ? 1 : 0)) === "onMetaData";
      if (!isMeta) return false;
      this.#metadata = { type, timestamp, payload };
      return true;
    }
    const kind = type === MessageType.Audio ? "audio" : type === MessageType.Video ? "video" : null;
    if (kind === null || !isSequenceHeaderPayload(kind, payload)) return false;
    this.#headers.set(headerKeyOf(kind, payload), { type, timestamp, payload });
    return true;
  }

  #atBoundary(type: number, payload: Uint8Array, deadline: number): boolean {
    if (type === MessageType.Video && isKeyframePayload(payload)) return true;
    if (type === MessageType.Audio && !this.#sawVideo) return true;
    return performance.now() > deadline;
  }

  /**
   * Writes queued bytes. Without reconnecting, a write failure becomes the client's error for
   * every later send; with it, the client reconnects and the packet is lost (`strict` rethrows).
   */
  async #flushOrFail(strict: boolean): Promise<void> {
    const link = this.#link;
    try {
      await link.flush();
    } catch (e) {
      const error = e instanceof RtmpError
        ? e
        : new RtmpError("CONNECTION_CLOSED", `writing to the server failed: ${String(e)}`, {
          cause: e,
        });
      if (this.#policy && !this.#closing) {
        if (link === this.#link) {
          link.conn.close();
          this.#startSwitch(this.#switchAt?.url ?? this.#url, error.message, true);
        }
        if (strict) throw error;
        return;
      }
      this.#error ??= error;
      throw this.#error;
    }
  }

  /**
   * Unpublishes (`FCUnpublish`, `deleteStream`), then closes the write side gracefully so the
   * server receives every byte, and waits briefly for the server to close. Idempotent.
   *
   * @returns Resolves when closed.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = (async () => {
        this.#lifetime.abort();
        if (this.#switching) await this.#switching;
        const link = this.#link;
        if (!this.#error && !this.#finished) await link.endGracefully();
        const linger = setTimeout(() => link.conn.close(), 3000);
        await this.#readLoop;
        clearTimeout(linger);
        link.conn.close();
        this.#finish();
        await this.closed;
      })();
    }
    return this.#closing;
  }

  /** Closes the client (`await using`). @returns Resolves when closed. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function avcTag(
  frameType: number,
  avcPacketType: number,
  compositionTime: number,
  data: Uint8Array,
): Uint8Array {
  return buildVideoTag({
    enhanced: false,
    frameType,
    codecId: VideoCodecId.Avc,
    avcPacketType,
    compositionTime,
    data,
  });
}

function aacTag(aacPacketType: number, data: Uint8Array): Uint8Array {
  // FLV 10.1 E.4.2.1: AAC is always signalled as 44 kHz, 16-bit, stereo (0xAF).
  return buildAudioTag({
    enhanced: false,
    soundFormat: SoundFormat.Aac,
    soundRate: 3,
    soundSize: 1,
    soundType: 1,
    aacPacketType,
    data,
  });
}

/** Accepts `(timestamp, bytes)` and the deprecated `(bytes, timestamp?)`. */
function timestampFirst(
  a: number | Uint8Array,
  b: Uint8Array | number | undefined,
): [number, Uint8Array] {
  if (typeof a === "number") {
    if (!(b instanceof Uint8Array)) {
      throw new RtmpError("INVALID_ARGUMENT", "expected (timestamp, bytes): the bytes are missing");
    }
    return [a, b];
  }
  return [typeof b === "number" ? b : 0, a];
}
