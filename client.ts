/**
 * The push client: publishes a live stream to an `rtmp://` or `rtmps://` server.
 *
 * @example Publish an AVC + AAC stream
 * ```ts
 * import { RtmpClient } from "./client.ts";
 *
 * await using client = await RtmpClient.connect("rtmp://127.0.0.1/live/key");
 * await client.sendMetadata({ width: 1280, height: 720, videocodecid: 7, audiocodecid: 10 });
 * await client.sendVideoSequenceHeader(new Uint8Array([1, 0x64, 0, 0x1f, 0xff]));
 * await client.sendAudioSequenceHeader(new Uint8Array([0x12, 0x10]));
 * await client.sendVideo(0, true, new Uint8Array([0, 0, 0, 1, 0x65]));
 * await client.sendAudio(0, new Uint8Array([0x21, 0x00]));
 * ```
 *
 * @module
 */

import { isRtmpError, RtmpError } from "./errors.ts";
import type { AmfObject, AmfValue } from "./protocol/amf.ts";
import { AacPacketType, type AudioTag, buildAudioTag, SoundFormat } from "./protocol/audio_tag.ts";
import { publisherCapabilities } from "./protocol/capabilities.ts";
import type { ConnectParams } from "./protocol/command.ts";
import { type DataMessage, encodeData, wrapSetDataFrame } from "./protocol/data.ts";
import { ecmaArray } from "./protocol/amf.ts";
import { flvScriptName, type FlvTag } from "./protocol/flv.ts";
import { MessageType } from "./protocol/message.ts";
import type { StatusObject } from "./protocol/status.ts";
import { parseRtmpUrl, type RtmpUrl } from "./protocol/url.ts";
import {
  AvcPacketType,
  buildVideoTag,
  VideoCodecId,
  VideoFrameType,
  type VideoTag,
} from "./protocol/video_tag.ts";
import { BoundedQueue } from "./util/bounded_queue.ts";
import { ClientSession, type ClientSessionEvent } from "./session/client_session.ts";
import { OutputPump } from "./util/output_pump.ts";
import { type MediaPacket, messageTypeOf } from "./protocol/packet.ts";
import { defaultAdapter } from "./socket/mod.ts";
import type { Conn, SocketAdapter, TlsConnectOptions } from "./socket/types.ts";

export { isRtmpError, RtmpError } from "./errors.ts";
export type { RtmpErrorCode, RtmpErrorOptions } from "./errors.ts";
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
export type { ClientSessionEvent, StatusObject };
export type { StatusCode, StatusLevel } from "./protocol/status.ts";

/**
 * Options for {@linkcode RtmpClient.connect}.
 *
 * @example
 * ```ts
 * import type { RtmpClientOptions } from "./client.ts";
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
}

/**
 * An event from the server after publishing started.
 *
 * @example
 * ```ts
 * import type { ClientEvent } from "./client.ts";
 * function log(e: ClientEvent): string { return e.type === "status" ? e.status.code : e.type; }
 * ```
 */
export type ClientEvent =
  | Exclude<
    ClientSessionEvent,
    { type: "connected" } | { type: "publishing" } | { type: "rejected" }
  >
  | { type: "closed"; error: RtmpError | null };

/**
 * A publishing RTMP connection.
 *
 * @example
 * ```ts
 * import { RtmpClient } from "./client.ts";
 * const client = await RtmpClient.connect("rtmps://live.example.com/app/key", { tls: { ca: "-----BEGIN…" } });
 * for await (const event of client.events()) console.log(event.type);
 * await client.close();
 * ```
 */
export class RtmpClient implements AsyncDisposable {
  /** The parsed URL. */
  readonly url: RtmpUrl;
  readonly #conn: Conn;
  readonly #session: ClientSession;
  readonly #pump: OutputPump;
  readonly #events = new BoundedQueue<ClientEvent>({ limit: 256 });
  readonly #calls = new Map<
    number,
    { settle: (ev: ClientSessionEvent) => void; fail: (e: RtmpError) => void }
  >();
  #error: RtmpError | null = null;
  #closing: Promise<void> | null = null;
  #readLoop: Promise<void> = Promise.resolve();
  #resolveClosed!: () => void;
  /** Resolves once the connection has ended, for whatever reason. */
  readonly closed: Promise<void>;

  private constructor(url: RtmpUrl, conn: Conn, session: ClientSession) {
    this.url = url;
    this.#conn = conn;
    this.#session = session;
    this.#pump = new OutputPump(conn, () => session.takeOutput());
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /**
   * Connects, handshakes and publishes. Resolves only after `NetStream.Publish.Start`; an
   * error status, `_error` or `NetConnection.Connect.Rejected` rejects with `RtmpError`
   * `REJECTED` carrying the server's code (`status`) and `description`.
   *
   * @example
   * ```ts
   * import { RtmpClient } from "./client.ts";
   * import { isRtmpError } from "./errors.ts";
   * try {
   *   await RtmpClient.connect("rtmp://127.0.0.1/live/wrong-key", { timeout: 5000 });
   * } catch (e) {
   *   if (isRtmpError(e, "REJECTED")) console.log(e.status, e.description);
   * }
   * ```
   *
   * @param url `rtmp://host[:port]/app[/instance]/streamName[?query]` or `rtmps://…`.
   * @param options Timeouts, TLS, E-RTMP codecs.
   * @returns A client that is publishing.
   */
  static async connect(url: string, options: RtmpClientOptions = {}): Promise<RtmpClient> {
    const parsed = parseRtmpUrl(url);
    if (parsed.streamName === "") {
      throw new RtmpError(
        "INVALID_URL",
        `no stream name (key) in "${url}": expected rtmp://host/app/key`,
      );
    }
    const timeout = options.timeout ?? 15_000;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeout);
    const outer = options.signal;
    const onOuterAbort = (): void => deadline.abort();
    outer?.addEventListener("abort", onOuterAbort, { once: true });
    const fail = (): RtmpError =>
      outer?.aborted
        ? new RtmpError("ABORTED", `connecting to ${parsed.hostname}:${parsed.port} was aborted`)
        : new RtmpError(
          "TIMEOUT",
          `no NetStream.Publish.Start from ${parsed.hostname}:${parsed.port} within ${timeout} ms`,
        );
    let conn: Conn | null = null;
    try {
      if (outer?.aborted) throw fail();
      const adapter = options.adapter ?? await defaultAdapter();
      conn = await adapter.connect({
        hostname: parsed.hostname,
        port: parsed.port,
        tls: parsed.secure ? { serverName: parsed.hostname, ...options.tls } : undefined,
        signal: deadline.signal,
        timeout,
      });
      const session = new ClientSession({
        connect: connectParams(parsed, options),
        streamName: parsed.streamName,
        publishType: options.publishType ?? "live",
        chunkSize: options.chunkSize,
        digestHandshake: options.digestHandshake,
      });
      const client = new RtmpClient(parsed, conn, session);
      const c = conn;
      const onAbort = (): void => c.close();
      deadline.signal.addEventListener("abort", onAbort, { once: true });
      try {
        await client.#establish();
      } finally {
        deadline.signal.removeEventListener("abort", onAbort);
      }
      client.#readLoop = client.#runReadLoop();
      if (outer) {
        outer.addEventListener("abort", () => void client.close(), { once: true });
      }
      return client;
    } catch (e) {
      conn?.close();
      // Whatever broke once the deadline fired (an aborted connect, a socket we closed) is
      // reported as the timeout or abort it is; a rejection that raced it stays a rejection.
      if (deadline.signal.aborted && !isRtmpError(e, "REJECTED")) throw fail();
      throw e;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onOuterAbort);
    }
  }

  async #establish(): Promise<void> {
    await this.#pump.flush();
    while (true) {
      const chunk = await this.#conn.read();
      if (chunk === null) {
        throw new RtmpError(
          "CONNECTION_CLOSED",
          `${this.url.hostname}:${this.url.port} closed the connection before NetStream.Publish.Start`,
        );
      }
      const events = this.#session.receive(chunk);
      await this.#pump.flush();
      let publishing = false;
      for (const ev of events) {
        if (ev.type === "rejected") throw rejection(ev.stage, ev.status);
        if (ev.type === "publishing") publishing = true;
        this.#dispatch(ev);
      }
      if (publishing) return;
    }
  }

  /** Routes a session event: answers to `call()` go to their caller, the rest to `events()`. */
  #dispatch(ev: ClientSessionEvent): void {
    if (ev.type === "connected" || ev.type === "publishing" || ev.type === "rejected") return;
    if (ev.type === "result" || ev.type === "error-result") {
      const waiter = this.#calls.get(ev.transactionId);
      if (waiter) {
        this.#calls.delete(ev.transactionId);
        waiter.settle(ev);
        return;
      }
    }
    this.#events.pushDropOldest(ev);
  }

  async #runReadLoop(): Promise<void> {
    try {
      while (true) {
        const chunk = await this.#conn.read();
        if (chunk === null) break;
        const events = this.#session.receive(chunk);
        if (this.#session.pendingOutput > 0) await this.#pump.flush();
        for (const ev of events) this.#dispatch(ev);
      }
      if (!this.#closing) {
        this.#error = new RtmpError(
          "CONNECTION_CLOSED",
          `${this.url.hostname}:${this.url.port} closed the connection`,
        );
      }
    } catch (e) {
      if (!this.#closing) {
        this.#error = e instanceof RtmpError
          ? e
          : new RtmpError("PROTOCOL", `reading from the server failed: ${String(e)}`, { cause: e });
      }
    } finally {
      const gone = this.#error ??
        new RtmpError("CONNECTION_CLOSED", "the connection closed before the answer");
      for (const waiter of this.#calls.values()) waiter.fail(gone);
      this.#calls.clear();
      this.#events.pushDropOldest({ type: "closed", error: this.#error });
      this.#events.end();
      this.#conn.close();
      this.#resolveClosed();
    }
  }

  /** The message stream id the server assigned. */
  get streamId(): number {
    return this.#session.streamId;
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
   * @param data Handler and values.
   * @param timestamp Milliseconds.
   * @param options `amf3: true` for a type-15 message.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendData(data: DataMessage, timestamp = 0, options: { amf3?: boolean } = {}): Promise<void> {
    const m = encodeData(data, { streamId: this.streamId, amf3: options.amf3 });
    return this.#send(m.type, timestamp, m.payload);
  }

  /**
   * Sends the AVC decoder configuration (`AVCDecoderConfigurationRecord`).
   *
   * @param avcC The avcC bytes.
   * @param timestamp Milliseconds. Default 0.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendVideoSequenceHeader(avcC: Uint8Array, timestamp = 0): Promise<void> {
    return this.#send(
      MessageType.Video,
      timestamp,
      avcTag(VideoFrameType.KeyFrame, AvcPacketType.SequenceHeader, 0, avcC),
    );
  }

  /**
   * Sends one AVC access unit (AVCC length-prefixed NAL units).
   *
   * @param timestamp Decode timestamp in milliseconds.
   * @param keyframe Whether it is a keyframe (IDR).
   * @param data The NAL units.
   * @param compositionTime Presentation minus decode time (B-frames), milliseconds.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendVideo(
    timestamp: number,
    keyframe: boolean,
    data: Uint8Array,
    compositionTime = 0,
  ): Promise<void> {
    return this.#send(
      MessageType.Video,
      timestamp,
      avcTag(
        keyframe ? VideoFrameType.KeyFrame : VideoFrameType.InterFrame,
        AvcPacketType.Nalu,
        compositionTime,
        data,
      ),
    );
  }

  /**
   * Sends the AAC AudioSpecificConfig.
   *
   * @param config AudioSpecificConfig bytes.
   * @param timestamp Milliseconds. Default 0.
   * @returns Resolves when the OS accepted the bytes.
   */
  sendAudioSequenceHeader(config: Uint8Array, timestamp = 0): Promise<void> {
    return this.#send(MessageType.Audio, timestamp, aacTag(AacPacketType.SequenceHeader, config));
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
    const tx = this.#session.call(name, ...args);
    const answer = new Promise<ClientSessionEvent>((settle, fail) =>
      this.#calls.set(tx, { settle, fail })
    );
    await this.#flushOrFail();
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
    this.#session.sendMedia(type, Math.floor(timestamp) % 0x1_0000_0000, payload);
    await this.#flushOrFail();
  }

  /** Writes queued bytes; a write failure becomes the client's error for every later send. */
  async #flushOrFail(): Promise<void> {
    try {
      await this.#pump.flush();
    } catch (e) {
      this.#error ??= e instanceof RtmpError
        ? e
        : new RtmpError("CONNECTION_CLOSED", `writing to the server failed: ${String(e)}`, {
          cause: e,
        });
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
        if (!this.#error) {
          try {
            this.#session.unpublish();
            await this.#pump.flush();
            await this.#conn.closeWrite();
          } catch {
            // The connection is already gone; nothing more can be delivered.
          }
        }
        const linger = setTimeout(() => this.#conn.close(), 3000);
        await this.#readLoop;
        clearTimeout(linger);
        this.#conn.close();
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

function connectParams(url: RtmpUrl, options: RtmpClientOptions): ConnectParams {
  const params: ConnectParams = {
    app: url.app,
    type: "nonprivate",
    flashVer: options.flashVer ?? "FMLE/3.0 (compatible; @x/rtmp)",
    tcUrl: url.tcUrl,
    extra: options.connectProperties,
  };
  // E-RTMP v1 fourCcList (deprecated but still read by servers) and the v2 capability maps.
  return { ...params, ...publisherCapabilities(options.enhanced ?? {}) };
}

function rejection(stage: string, status: StatusObject): RtmpError {
  const text = status.description ? `: ${status.description}` : "";
  return new RtmpError("REJECTED", `${stage} rejected by the server with ${status.code}${text}`, {
    status: status.code,
    description: status.description,
  });
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
