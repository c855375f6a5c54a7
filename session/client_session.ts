/**
 * The client side of one RTMP connection as a sans-IO state machine, for both roles:
 *
 * - publishing: handshake, `connect`, `releaseStream` / `FCPublish` / `createStream`,
 *   `publish`, then media sent with {@linkcode ClientSession.sendMedia};
 * - playing: handshake, `connect`, `createStream`, `play` (with Set Buffer Length), then the
 *   server's media as {@linkcode MediaPacket}s, `pause`, `closeStream` / `deleteStream`.
 *
 * The server's answers become events. Housekeeping is answered by the chunk channel: an
 * Acknowledgement each time the window the server set has arrived (servers stall a player that
 * never acknowledges), ping responses, and the window answer to Set Peer Bandwidth. The caller
 * writes {@linkcode ClientSession.takeOutput} to the socket and feeds what it reads to
 * {@linkcode ClientSession.receive}.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { AmfValue } from "../protocol/amf.ts";
import { splitAggregate } from "../protocol/aggregate.ts";
import {
  closeStreamCommand,
  type Command,
  connectCommand,
  type ConnectParams,
  createStreamCommand,
  decodeCommand,
  deleteStreamCommand,
  encodeCommand,
  fcPublishCommand,
  fcSubscribeCommand,
  fcUnpublishCommand,
  pauseCommand,
  playCommand,
  type PlayOptions,
  publishCommand,
  releaseStreamCommand,
} from "../protocol/command.ts";
import { ClientHandshake } from "../protocol/handshake.ts";
import { ChunkStreamId, MessageType, type RtmpMessage } from "../protocol/message.ts";
import type { ChunkDecoderOptions } from "../protocol/chunk_decoder.ts";
import { type MediaPacket, packetFromMessage } from "../protocol/packet.ts";
import { parseStatus, type StatusObject, statusOf } from "../protocol/status.ts";
import { MessageChannel } from "./message_channel.ts";

/**
 * What a {@linkcode ClientSession} reports.
 *
 * - `connected`: `connect` succeeded; `properties` is the server's properties object (E-RTMP
 *   servers state their capabilities there).
 * - `publishing` / `playing`: the stream started (`NetStream.Publish.Start`;
 *   `NetStream.Play.Start`, or the first media after `play` for servers that send only
 *   `Play.Reset`). `status` is `null` when media came first.
 * - `rejected`: the server refused a step; the session is closed.
 * - `status`: any other `onStatus` (NetConnection or NetStream, e.g. `Play.PublishNotify`), and
 *   the `onStatus` data message some servers send (`NetStream.Data.Start`).
 * - `media`: an audio, video or data packet of the played stream (aggregates are split;
 *   `|RtmpSampleAccess` is not media and is dropped).
 *
 * @example
 * ```ts
 * import type { ClientSessionEvent } from "./client_session.ts";
 * function done(e: ClientSessionEvent): boolean { return e.type === "publishing"; }
 * ```
 */
export type ClientSessionEvent =
  | { type: "connected"; properties: AmfValue; info: StatusObject | null }
  | { type: "publishing"; streamId: number; status: StatusObject }
  | { type: "playing"; streamId: number; status: StatusObject | null }
  | {
    type: "rejected";
    stage: "connect" | "createStream" | "publish" | "play";
    status: StatusObject;
  }
  | { type: "status"; streamId: number; status: StatusObject }
  | { type: "reconnect-request"; tcUrl: string | null; description: string }
  | { type: "stream-begin"; streamId: number }
  | { type: "stream-eof"; streamId: number }
  | { type: "stream-dry"; streamId: number }
  | { type: "stream-is-recorded"; streamId: number }
  | { type: "media"; streamId: number; packet: MediaPacket }
  | { type: "result"; transactionId: number; values: AmfValue[] }
  | {
    type: "error-result";
    transactionId: number;
    values: AmfValue[];
    /** The status the server gave for the failure, if any. */
    status: StatusObject | null;
  };

/**
 * What to play, for a session in the `play` role.
 *
 * @example
 * ```ts
 * import type { ClientPlayOptions } from "./client_session.ts";
 * const o: ClientPlayOptions = { start: -1, bufferLength: 1000 };
 * ```
 */
export interface ClientPlayOptions extends PlayOptions {
  /**
   * Milliseconds announced with User Control Set Buffer Length (RTMP 1.0 §7.1.7), which some
   * servers wait for before sending. Default 3000 (FFmpeg's default).
   */
  bufferLength?: number;
  /** Send `FCSubscribe` before `play` (some CDN edges want it for live streams). */
  fcSubscribe?: boolean;
}

/**
 * Options for {@linkcode ClientSession}.
 *
 * @example
 * ```ts
 * import type { ClientSessionOptions } from "./client_session.ts";
 * const o: ClientSessionOptions = { connect: { app: "live", tcUrl: "rtmp://h/live" }, streamName: "key" };
 * const p: ClientSessionOptions = { ...o, role: "play", play: { start: -1 } };
 * ```
 */
export interface ClientSessionOptions {
  /** The connect command's parameters (app, tcUrl, flashVer, E-RTMP capability fields…). */
  connect: ConnectParams;
  /** Stream name (key, with query) to publish or play. */
  streamName: string;
  /** `publish` (default) or `play`. */
  role?: "publish" | "play";
  /** Publishing: `live` (default), `record` or `append`. */
  publishType?: string;
  /** Playing: start, duration, reset, buffer length. */
  play?: ClientPlayOptions;
  /** Outgoing chunk size. Default 4096. */
  chunkSize?: number;
  /** Use the FP9 digest handshake (as FFmpeg does). Default `true`. */
  digestHandshake?: boolean;
  /** Chunk decoder limits for what the server sends. */
  decoder?: ChunkDecoderOptions;
}

type Phase =
  | "handshake"
  | "connecting"
  | "creating"
  | "publishing-request"
  | "publishing"
  | "play-request"
  | "playing"
  | "closed";

/**
 * The client side of one publishing or playing connection.
 *
 * @example Publish
 * ```ts
 * import { ClientSession } from "./client_session.ts";
 * const s = new ClientSession({ connect: { app: "live", tcUrl: "rtmp://127.0.0.1/live" }, streamName: "key" });
 * const c0c1 = s.takeOutput();
 * console.log(c0c1[0].length); // 1537 (C0 + C1)
 * ```
 *
 * @example Play: feed what the socket reads, act on the events
 * ```ts
 * import { ClientSession } from "./client_session.ts";
 * const s = new ClientSession({
 *   role: "play",
 *   connect: { app: "live", tcUrl: "rtmp://127.0.0.1/live" },
 *   streamName: "cam",
 * });
 * function onBytes(bytes: Uint8Array): void {
 *   for (const e of s.receive(bytes)) {
 *     if (e.type === "media") console.log(e.packet.type, e.packet.timestamp);
 *   }
 * }
 * console.log(typeof onBytes, s.playing); // function false
 * ```
 */
export class ClientSession {
  readonly #options: ClientSessionOptions;
  readonly #role: "publish" | "play";
  #handshake: ClientHandshake | null;
  readonly #channel: MessageChannel;
  #phase: Phase = "handshake";
  #nextTx = 1;
  #connectTx = 0;
  #createTx = 0;
  #playTx = -1;
  #streamId = 0;
  #sawReset = false;
  #lastTimestamp = 0;
  readonly #userTx = new Set<number>();

  /**
   * Creates it.
   * @param options What to connect to, and what to publish or play.
   */
  constructor(options: ClientSessionOptions) {
    this.#options = options;
    this.#role = options.role ?? "publish";
    if (this.#role !== "publish" && this.#role !== "play") {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `ClientSession role: expected "publish" or "play", got ${JSON.stringify(options.role)}`,
      );
    }
    this.#channel = new MessageChannel({ decoder: options.decoder });
    this.#handshake = new ClientHandshake({ digest: options.digestHandshake ?? true });
    this.#channel.queueBytes(this.#handshake.start());
  }

  /** `publish` or `play`. */
  get role(): "publish" | "play" {
    return this.#role;
  }

  /** The message stream id the server gave us (0 before `createStream` answered). */
  get streamId(): number {
    return this.#streamId;
  }

  /** Whether `NetStream.Publish.Start` arrived and media may be sent. */
  get publishing(): boolean {
    return this.#phase === "publishing";
  }

  /** Whether the played stream started (`NetStream.Play.Start` or its first media). */
  get playing(): boolean {
    return this.#phase === "playing";
  }

  /** Whether the session ended (rejected, unpublished or stopped). */
  get closed(): boolean {
    return this.#phase === "closed";
  }

  /** Bytes received after the handshake. */
  get bytesReceived(): number {
    return this.#channel.bytesReceived;
  }

  /** Timestamp of the last media message received (playing), for `pause`. */
  get lastTimestamp(): number {
    return this.#lastTimestamp;
  }

  /**
   * Consumes bytes from the server. Throws `RtmpError` on malformed input.
   *
   * @param bytes Bytes read from the socket (not kept).
   * @returns Events in order.
   */
  receive(bytes: Uint8Array): ClientSessionEvent[] {
    const events: ClientSessionEvent[] = [];
    if (this.#handshake) {
      const step = this.#handshake.push(bytes);
      if (step.send) this.#channel.queueBytes(step.send);
      if (!step.done) return events;
      this.#handshake = null;
      this.#startConnect();
      if (!step.remainder || step.remainder.length === 0) return events;
      bytes = step.remainder;
    }
    for (const event of this.#channel.receive(bytes)) {
      if (event.kind === "control") {
        const c = event.control;
        if (c.type === "UserControl") {
          const e = c.event;
          if (e.type === "StreamBegin") {
            events.push({ type: "stream-begin", streamId: e.streamId });
          } else if (e.type === "StreamEOF") {
            events.push({ type: "stream-eof", streamId: e.streamId });
          } else if (e.type === "StreamDry") {
            events.push({ type: "stream-dry", streamId: e.streamId });
          } else if (e.type === "StreamIsRecorded") {
            events.push({ type: "stream-is-recorded", streamId: e.streamId });
          }
        }
        continue;
      }
      this.#onMessage(event.message, events);
    }
    return events;
  }

  #onMessage(m: RtmpMessage, events: ClientSessionEvent[]): void {
    switch (m.type) {
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        this.#onCommand(decodeCommand(m), m.streamId, events);
        return;
      case MessageType.Audio:
      case MessageType.Video:
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        this.#onMedia(m, events);
        return;
      case MessageType.Aggregate:
        if (this.#role === "play") {
          for (const sub of splitAggregate(m)) this.#onMedia(sub, events);
        }
        return;
      default:
        // Shared objects and unknown types carry nothing a client acts on.
        return;
    }
  }

  #onMedia(m: RtmpMessage, events: ClientSessionEvent[]): void {
    if (this.#phase !== "play-request" && this.#phase !== "playing") return;
    const packet = packetFromMessage(m);
    if (packet === null) return;
    if (packet.type === "data") {
      const handler = packet.data?.handler;
      // Flash-era access grants: not part of the stream.
      if (handler === "|RtmpSampleAccess") return;
      if (handler === "onStatus") {
        const status = parseStatus(packet.data!.values[0] ?? null);
        if (status) events.push({ type: "status", streamId: m.streamId, status });
        return;
      }
    }
    if (this.#phase === "play-request") {
      // Servers that send only Play.Reset (or nothing) before media: the first media starts it.
      this.#phase = "playing";
      events.push({ type: "playing", streamId: this.#streamId, status: null });
    }
    this.#lastTimestamp = m.timestamp;
    events.push({ type: "media", streamId: m.streamId, packet });
  }

  #startConnect(): void {
    this.#phase = "connecting";
    this.#channel.setOutgoingChunkSize(this.#options.chunkSize ?? 4096);
    this.#connectTx = this.#nextTx++;
    this.#sendCommand(connectCommand(this.#options.connect, this.#connectTx), 0);
  }

  #onCommand(cmd: Command, streamId: number, events: ClientSessionEvent[]): void {
    const tx = cmd.transactionId;
    if (cmd.name === "_result" || cmd.name === "_error") {
      const ok = cmd.name === "_result";
      if (tx === this.#connectTx && this.#phase === "connecting") {
        const info = statusOf(cmd);
        if (!ok || (info && info.level === "error")) {
          this.#phase = "closed";
          events.push({
            type: "rejected",
            stage: "connect",
            status: info ?? fallbackStatus("NetConnection.Connect.Rejected", cmd),
          });
          return;
        }
        events.push({ type: "connected", properties: cmd.commandObject, info });
        this.#phase = "creating";
        const name = this.#options.streamName;
        if (this.#role === "publish") {
          this.#sendCommand(releaseStreamCommand(this.#nextTx++, name), 0);
          this.#sendCommand(fcPublishCommand(this.#nextTx++, name), 0);
        } else if (this.#options.play?.fcSubscribe) {
          this.#sendCommand(fcSubscribeCommand(this.#nextTx++, name), 0);
        }
        this.#createTx = this.#nextTx++;
        this.#sendCommand(createStreamCommand(this.#createTx), 0);
        return;
      }
      if (tx === this.#createTx && this.#phase === "creating") {
        const id = cmd.args[0];
        if (!ok || typeof id !== "number") {
          this.#phase = "closed";
          events.push({
            type: "rejected",
            stage: "createStream",
            status: statusOf(cmd) ??
              fallbackStatus("NetConnection.Call.Failed", cmd, "createStream failed"),
          });
          return;
        }
        this.#streamId = id;
        if (this.#role === "publish") {
          this.#phase = "publishing-request";
          this.#sendCommand(
            publishCommand(
              this.#nextTx++,
              this.#options.streamName,
              this.#options.publishType ?? "live",
            ),
            id,
          );
        } else {
          this.#phase = "play-request";
          const play = this.#options.play ?? {};
          this.#playTx = this.#nextTx++;
          this.#sendCommand(playCommand(this.#playTx, this.#options.streamName, play), id);
          this.#channel.sendUserControl({
            type: "SetBufferLength",
            streamId: id,
            bufferLength: play.bufferLength ?? 3000,
          });
        }
        return;
      }
      if (this.#userTx.delete(tx)) {
        const values = [cmd.commandObject, ...cmd.args];
        events.push(
          ok
            ? { type: "result", transactionId: tx, values }
            : { type: "error-result", transactionId: tx, values, status: statusOf(cmd) },
        );
      } else if (!ok && tx === this.#playTx && this.#phase === "play-request") {
        // An `_error` answering `play` (its transaction is not one the caller opened).
        this.#phase = "closed";
        events.push({
          type: "rejected",
          stage: "play",
          status: statusOf(cmd) ?? fallbackStatus("NetStream.Play.Failed", cmd),
        });
      }
      return;
    }
    if (cmd.name === "onStatus") {
      const status = statusOf(cmd);
      if (!status) return;
      if (status.code === "NetConnection.Connect.ReconnectRequest") {
        events.push({
          type: "reconnect-request",
          tcUrl: typeof status.raw.tcUrl === "string" ? status.raw.tcUrl : null,
          description: status.description,
        });
        return;
      }
      if (this.#phase === "publishing-request") {
        if (status.code === "NetStream.Publish.Start") {
          this.#phase = "publishing";
          events.push({ type: "publishing", streamId: this.#streamId, status });
          return;
        }
        if (status.level === "error") {
          // BadName, Unauthorized, … — never success (the reference crate's bug, design §5).
          this.#phase = "closed";
          events.push({ type: "rejected", stage: "publish", status });
          return;
        }
      }
      if (this.#phase === "play-request") {
        if (status.code === "NetStream.Play.Start") {
          this.#phase = "playing";
          events.push({ type: "playing", streamId: this.#streamId, status });
          return;
        }
        if (status.code === "NetStream.Play.Reset") this.#sawReset = true;
        if (status.level === "error") {
          // StreamNotFound, Play.Failed, NetStream.Failed, Unauthorized…
          this.#phase = "closed";
          events.push({ type: "rejected", stage: "play", status });
          return;
        }
      }
      events.push({ type: "status", streamId, status });
    }
  }

  /** Whether `NetStream.Play.Reset` arrived before the stream started. */
  get sawReset(): boolean {
    return this.#sawReset;
  }

  /**
   * Queues an audio, video or data message on our stream.
   *
   * @param type Message type (8 audio, 9 video, 18/15 data).
   * @param timestamp Absolute milliseconds.
   * @param payload The tag body.
   */
  sendMedia(type: number, timestamp: number, payload: Uint8Array): void {
    if (this.#phase !== "publishing") {
      throw new RtmpError("CLOSED", "cannot send media: the stream is not publishing");
    }
    const csid = type === MessageType.Audio
      ? ChunkStreamId.Audio
      : type === MessageType.Video
      ? ChunkStreamId.Video
      : ChunkStreamId.Data;
    this.#channel.send(csid, {
      type,
      streamId: this.#streamId,
      timestamp: timestamp >>> 0,
      payload,
    });
  }

  /**
   * Queues a command of the caller's own; the answer comes back as a `result` or
   * `error-result` event with the returned transaction id.
   *
   * @param name Command name.
   * @param args Arguments after the (null) command object.
   * @returns The transaction id.
   */
  call(name: string, ...args: AmfValue[]): number {
    const tx = this.#nextTx++;
    this.#userTx.add(tx);
    this.#sendCommand({ name, transactionId: tx, commandObject: null, args }, 0);
    return tx;
  }

  /**
   * Playing: queues `pause` (RTMP 1.0 §7.2.2.8) at the last timestamp received; the server
   * answers `NetStream.Pause.Notify` / `NetStream.Unpause.Notify` as a `status` event.
   *
   * @param paused `true` to pause, `false` to resume.
   */
  pause(paused: boolean): void {
    if (this.#phase !== "playing") {
      throw new RtmpError("CLOSED", "cannot pause: the stream is not playing");
    }
    this.#sendCommand(pauseCommand(paused, this.#lastTimestamp), this.#streamId);
  }

  /** Queues `FCUnpublish` and `deleteStream`; no media may follow. */
  unpublish(): void {
    if (this.#phase === "publishing" || this.#phase === "publishing-request") {
      this.#sendCommand(fcUnpublishCommand(this.#nextTx++, this.#options.streamName), 0);
      this.#sendCommand(deleteStreamCommand(this.#nextTx++, this.#streamId), 0);
    }
    this.#phase = "closed";
  }

  /**
   * Playing: queues `closeStream` on the stream and `deleteStream` (what Flash's
   * `NetStream.close()` sends); no media is reported after it.
   */
  stop(): void {
    if (this.#phase === "playing" || this.#phase === "play-request") {
      this.#sendCommand(closeStreamCommand(0), this.#streamId);
      this.#sendCommand(deleteStreamCommand(0, this.#streamId), 0);
    }
    this.#phase = "closed";
  }

  /** Ends the stream the way the role does: {@linkcode unpublish} or {@linkcode stop}. */
  end(): void {
    if (this.#role === "publish") this.unpublish();
    else this.stop();
  }

  #sendCommand(cmd: Command, streamId: number): void {
    this.#channel.send(
      streamId === 0 ? ChunkStreamId.Command : ChunkStreamId.Data,
      encodeCommand(cmd, { streamId }),
    );
  }

  /** Bytes waiting to be written. */
  get pendingOutput(): number {
    return this.#channel.pendingOutput;
  }

  /** Removes and returns the bytes to write, oldest first. @returns Byte chunks. */
  takeOutput(): Uint8Array[] {
    return this.#channel.takeOutput();
  }
}

function fallbackStatus(code: string, cmd: Command, description?: string): StatusObject {
  return {
    level: "error",
    code,
    description: description ?? `${cmd.name} without a status object`,
    raw: {},
  };
}
