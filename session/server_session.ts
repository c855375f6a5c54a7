/**
 * The server side of one RTMP connection as a sans-IO state machine: handshake, `connect`,
 * stream creation, `publish` and `play` requests the caller decides on, media in, media out,
 * and the end of streams. The caller feeds bytes with {@linkcode ServerSession.receive}, acts
 * on the events, answers requests with {@linkcode ServerSession.accept} /
 * {@linkcode ServerSession.reject}, and writes {@linkcode ServerSession.takeOutput} to the
 * socket. There are no timers, sockets or clocks here.
 *
 * States of the connection: `handshake` → `connecting` (a connect request is pending) →
 * `connected` → `closed`, or `failed` after malformed input (terminal). States of each message
 * stream: `idle` (created) → `publish-pending` → `publishing`, or `idle` → `play-pending` →
 * `playing`, and back to `idle` on unpublish / stop.
 *
 * Nothing about a stream is announced (no `onFCPublish`, no `StreamBegin`, no
 * `NetStream.Publish.Start`, no `NetStream.Play.Start`) until the caller accepts it: design §4.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { AmfObject, AmfValue } from "../protocol/amf.ts";
import {
  type Command,
  type ConnectParams,
  decodeCommand,
  encodeCommand,
  errorCommand,
  onFcPublishCommand,
  parseConnect,
  parsePlay,
  parsePublish,
  resultCommand,
  statusCommand,
} from "../protocol/command.ts";
import { forwarderCapabilities, isEnhancedConnect } from "../protocol/capabilities.ts";
import type { StatusInfo } from "../protocol/status.ts";
import type { ChunkDecoderOptions } from "../protocol/chunk_decoder.ts";
import type { ByteBudget } from "../protocol/byte_budget.ts";
import { splitAggregate } from "../protocol/aggregate.ts";
import { setPeerBandwidthMessage } from "../protocol/control.ts";
import { encodeData } from "../protocol/data.ts";
import { type HmacSha256, ServerHandshake } from "../protocol/handshake.ts";
import { ChunkStreamId, MessageType, type RtmpMessage } from "../protocol/message.ts";
import { MessageChannel } from "./message_channel.ts";
import { IdTable } from "../protocol/id_table.ts";

/**
 * The connect request as parsed from the client's `connect` command.
 *
 * @example
 * ```ts
 * import type { ConnectRequest } from "./server_session.ts";
 * function app(r: ConnectRequest): string { return r.app; }
 * ```
 */
export type ConnectRequest = ConnectParams & { raw: AmfObject };

/**
 * A `play` request as the client sent it (RTMP 1.0 §7.2.2.1).
 *
 * @example
 * ```ts
 * import type { PlayRequest } from "./server_session.ts";
 * const live: PlayRequest = { streamName: "cam", start: -2, duration: -1, reset: true };
 * ```
 */
export interface PlayRequest {
  /** The stream name with its query string, as sent. */
  streamName: string;
  /** −2 live or recorded, −1 live only, ≥ 0 a recorded offset in seconds. */
  start: number;
  /** Seconds to play, −1 until the end. */
  duration: number;
  /** Whether earlier play-list entries are flushed. */
  reset: boolean;
}

/**
 * What a {@linkcode ServerSession} reports after consuming bytes.
 *
 * Requests (`connect-request`, `publish-request`, `play-request`) carry an `id` to answer with
 * {@linkcode ServerSession.accept} or {@linkcode ServerSession.reject}. A `command` event is a
 * call the session does not handle itself (custom RPCs): answer it with
 * {@linkcode ServerSession.sendResult} / {@linkcode ServerSession.sendError}.
 *
 * @example
 * ```ts
 * import type { ServerSessionEvent } from "./server_session.ts";
 * function isMedia(e: ServerSessionEvent): boolean { return e.type === "media"; }
 * ```
 */
export type ServerSessionEvent =
  | { type: "handshake"; digest: boolean }
  | { type: "connect-request"; id: number; request: ConnectRequest }
  | {
    type: "publish-request";
    id: number;
    streamId: number;
    streamName: string;
    publishType: string;
  }
  | { type: "play-request"; id: number; streamId: number; request: PlayRequest }
  | { type: "media"; streamId: number; message: RtmpMessage }
  | { type: "unpublish"; streamId: number; command: string }
  | { type: "play-stop"; streamId: number; command: string }
  | { type: "pause"; streamId: number; paused: boolean; position: number }
  | { type: "receive"; streamId: number; kind: "audio" | "video"; enabled: boolean }
  | { type: "command"; streamId: number; command: Command; amf3: boolean }
  | { type: "stray-media"; streamId: number; messageType: number; bytes: number };

/**
 * Options for {@linkcode ServerSession}.
 *
 * @example
 * ```ts
 * import type { ServerSessionOptions } from "./server_session.ts";
 * const o: ServerSessionOptions = { chunkSize: 4096, maxStreams: 4 };
 * ```
 */
export interface ServerSessionOptions {
  /** Chunk size announced after connect (≥ 128). Default 4096. */
  chunkSize?: number;
  /** Window acknowledgement size and peer bandwidth announced after connect. Default 2 500 000. */
  windowAckSize?: number;
  /** Largest number of streams one connection may create. Default 8. */
  maxStreams?: number;
  /**
   * Chunk decoder limits (message size, chunk streams, partial bytes, a shared budget). Its
   * `maxMessageSize` holds until a publish is accepted: commands are small.
   */
  decoder?: ChunkDecoderOptions;
  /** HMAC-SHA256 for the digest handshake (a faster native one, when the driver has it). */
  hmac?: HmacSha256;
  /** Largest message once the connection asked to publish (media). Default 16 MiB. */
  maxMediaMessageSize?: number;
  /**
   * Bytes of messages held while a decision is pending (also charged to `decoder.budget`, the
   * server-wide budget, when there is one). Default 16 MiB.
   */
  maxDeferredBytes?: number;
  /** `createStream` calls and refused requests answered per connection before it fails. Default 64. */
  maxFailedCommands?: number;
}

/**
 * The state of the connection as a whole.
 *
 * @example
 * ```ts
 * import type { ConnectionState } from "./server_session.ts";
 * const s: ConnectionState = "connected";
 * ```
 */
export type ConnectionState = "handshake" | "connecting" | "connected" | "closed" | "failed";

/**
 * The state of one message stream of a connection.
 *
 * @example
 * ```ts
 * import type { StreamState } from "./server_session.ts";
 * const s: StreamState = "playing";
 * ```
 */
export type StreamState = "idle" | "publish-pending" | "publishing" | "play-pending" | "playing";

interface StreamEntry {
  state: StreamState;
  name: string;
  transaction: number;
  amf3: boolean;
}

type Pending =
  | { kind: "connect"; id: number; request: ConnectRequest; transaction: number; amf3: boolean }
  | { kind: "publish"; id: number; streamId: number }
  | { kind: "play"; id: number; streamId: number; reset: boolean };

/** Chunk streams used for media sent to players; the command encoder never writes on them. */
const PLAY_CSID = { audio: ChunkStreamId.Audio, video: ChunkStreamId.Video, data: 7 } as const;

/**
 * How a status answer to a refused request is worded.
 *
 * @example
 * ```ts
 * import type { Refusal } from "./server_session.ts";
 * const r: Refusal = { code: "NetStream.Publish.Unauthorized", description: "bad key" };
 * ```
 */
export interface Refusal {
  /** Status code sent to the peer; a default per request kind when omitted. */
  code?: string;
  /** Text sent to the peer. Keep internal details out of it. */
  description?: string;
}

/**
 * The server side of one connection.
 *
 * @example Drive it with bytes (here the client handshake is omitted)
 * ```ts
 * import { ServerSession } from "./server_session.ts";
 * const session = new ServerSession();
 * const events = session.receive(new Uint8Array([3])); // C0 only: nothing yet
 * console.log(events.length, session.takeOutput().length, session.state); // 0 0 handshake
 * ```
 */
export class ServerSession {
  readonly #options: Required<Omit<ServerSessionOptions, "decoder" | "hmac">>;
  #mediaSizeRaised = false;
  readonly #budget: ByteBudget | null;
  #heldCharged = 0;
  #handshake: ServerHandshake | null;
  readonly #channel: MessageChannel;
  #state: ConnectionState = "handshake";
  #connect: ConnectRequest | null = null;
  readonly #streams = new IdTable<StreamEntry>();
  #nextStreamId = 1;
  #nextRequestId = 1;
  /** Requests waiting for a decision; null when none (most of the time: no idle table). */
  #pending: Map<number, Pending> | null = null;
  // Messages held while a decision is pending: an array with a read index, so taking from the
  // front is O(1) however many are held.
  #held: RtmpMessage[] = [];
  #heldHead = 0;
  #heldBytes = 0;
  #failedCommands = 0;

  /**
   * Creates it.
   * @param options Announced sizes and limits.
   */
  constructor(options: ServerSessionOptions = {}) {
    this.#options = {
      chunkSize: options.chunkSize ?? 4096,
      windowAckSize: options.windowAckSize ?? 2_500_000,
      maxStreams: options.maxStreams ?? 8,
      maxDeferredBytes: options.maxDeferredBytes ?? 16 << 20,
      maxFailedCommands: options.maxFailedCommands ?? 64,
      maxMediaMessageSize: options.maxMediaMessageSize ?? 16 << 20,
    };
    this.#handshake = new ServerHandshake({ hmac: options.hmac });
    this.#channel = new MessageChannel({ decoder: options.decoder });
    this.#budget = options.decoder?.budget ?? null;
  }

  /** The connection's state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** Whether the handshake has completed. */
  get handshakeDone(): boolean {
    return this.#handshake === null;
  }

  /** The accepted connect request, once accepted. */
  get connectRequest(): ConnectRequest | null {
    return this.#connect;
  }

  /** Bytes received after the handshake. */
  get bytesReceived(): number {
    return this.#channel.bytesReceived;
  }

  /** The chunk size used for messages to the peer. */
  get outgoingChunkSize(): number {
    return this.#channel.outgoingChunkSize;
  }

  /** The underlying chunk channel (decoder limits, counters). */
  get channel(): MessageChannel {
    return this.#channel;
  }

  /**
   * The state of a message stream, or `undefined` when it does not exist.
   * @param streamId Stream.
   * @returns Its state.
   */
  streamState(streamId: number): StreamState | undefined {
    return this.#streams.get(streamId)?.state;
  }

  /**
   * Name of a stream that is pending, publishing or playing, or `undefined`.
   * @param streamId Stream.
   * @returns The name as sent (with query).
   */
  streamName(streamId: number): string | undefined {
    return this.#streams.get(streamId)?.name;
  }

  /**
   * Consumes bytes from the client. Throws `RtmpError` for malformed input or a broken
   * command flow; the session is then `failed` and the connection should be closed.
   *
   * @param bytes Bytes read from the socket (not kept).
   * @returns Events in order.
   */
  receive(bytes: Uint8Array): ServerSessionEvent[] {
    if (this.#state === "failed" || this.#state === "closed") {
      throw new RtmpError("CLOSED", `the session is ${this.#state}`);
    }
    const events: ServerSessionEvent[] = [];
    try {
      if (this.#handshake) {
        const step = this.#handshake.push(bytes);
        if (step.send) this.#channel.queueBytes(step.send);
        if (!step.done) return events;
        events.push({ type: "handshake", digest: this.#handshake.usedDigest });
        this.#handshake = null;
        if (!step.remainder || step.remainder.length === 0) return events;
        bytes = step.remainder;
      }
      for (const event of this.#channel.receive(bytes)) {
        if (event.kind !== "message") continue;
        if (this.#pending !== null) this.#hold(event.message);
        else this.#onMessage(event.message, events);
      }
    } catch (e) {
      this.#state = "failed";
      throw e;
    }
    return events;
  }

  /**
   * Accepts a pending request.
   *
   * - connect: announces window, bandwidth and chunk size and answers `_result`
   *   `NetConnection.Connect.Success` with the Enhanced RTMP capabilities we support;
   * - publish: `onFCPublish`, `StreamBegin`, `NetStream.Publish.Start`; media is reported from now;
   * - play: `StreamBegin`, `NetStream.Play.Reset` (when asked), `NetStream.Play.Start`,
   *   `|RtmpSampleAccess`; then send media with
   *   {@linkcode ServerSession.queueEncoded}.
   *
   * @param id The request's id.
   * @returns Events of messages that arrived while the decision was pending.
   */
  accept(id: number): ServerSessionEvent[] {
    const pending = this.#take(id);
    switch (pending.kind) {
      case "connect":
        this.#acceptConnect(pending);
        break;
      case "publish":
        this.#acceptPublish(pending.streamId);
        break;
      case "play":
        this.#acceptPlay(pending.streamId, pending.reset);
        break;
    }
    return this.#resume();
  }

  /**
   * Refuses a pending request with an error status: `_error` `NetConnection.Connect.Rejected`
   * for connect, `onStatus` `NetStream.Publish.BadName` / `NetStream.Play.StreamNotFound`
   * (or the given code) for publish and play. After a refused connect, flush the output and
   * close the write side so the answer reaches the peer before the FIN.
   *
   * @param id The request's id.
   * @param refusal Code and text for the peer.
   * @returns Events of other messages that arrived while the decision was pending.
   */
  reject(id: number, refusal: Refusal = {}): ServerSessionEvent[] {
    const pending = this.#take(id);
    if (pending.kind === "connect") {
      this.#state = "closed";
      this.#dropHeld(() => true);
      this.#sendCommand(
        errorCommand(pending.transaction, null, {
          level: "error",
          code: refusal.code ?? "NetConnection.Connect.Rejected",
          description: refusal.description ?? "Connection rejected.",
        }),
        0,
        pending.amf3,
      );
      return [];
    }
    const entry = this.#streams.get(pending.streamId)!;
    const publish = pending.kind === "publish";
    entry.state = "idle";
    entry.name = "";
    this.#countFailure();
    this.#sendStatus(pending.streamId, entry.amf3, {
      level: "error",
      code: refusal.code ??
        (publish ? "NetStream.Publish.BadName" : "NetStream.Play.StreamNotFound"),
      description: refusal.description ?? (publish ? "Publish rejected." : "Play rejected."),
    });
    // Early media of the refused stream goes; anything else is still handled.
    const refused = pending.streamId;
    this.#dropHeld((m) => m.streamId === refused && isMedia(m.type));
    return this.#resume();
  }

  /**
   * Ends a publishing stream from the server side (kicked, replaced, server closing):
   * `StreamEOF` and an `onStatus` the encoder can show.
   *
   * @param streamId A publishing stream.
   * @param info Status to send; default `NetStream.Unpublish.Success`.
   */
  endPublish(streamId: number, info?: StatusInfo): void {
    const entry = this.#streams.get(streamId);
    if (!entry || entry.state !== "publishing") return;
    entry.state = "idle";
    this.#channel.sendUserControl({ type: "StreamEOF", streamId });
    this.#sendStatus(
      streamId,
      entry.amf3,
      info ?? {
        level: "status",
        code: "NetStream.Unpublish.Success",
        description: `${entry.name} is now unpublished.`,
      },
    );
  }

  /**
   * Ends a playing stream from the server side: `StreamEOF` and `NetStream.Play.Stop`
   * (or the given status).
   *
   * @param streamId A playing stream.
   * @param info Status to send.
   */
  endPlay(streamId: number, info?: StatusInfo): void {
    const entry = this.#streams.get(streamId);
    if (!entry || entry.state !== "playing") return;
    entry.state = "idle";
    this.#channel.sendUserControl({ type: "StreamEOF", streamId });
    this.#sendStatus(
      streamId,
      entry.amf3,
      info ??
        { level: "status", code: "NetStream.Play.Stop", description: `Stopped ${entry.name}.` },
    );
  }

  /**
   * Tells a player the publisher went away (`StreamEOF`, `NetStream.Play.UnpublishNotify`);
   * the player stays connected and is told again when the stream comes back.
   *
   * @param streamId A playing stream.
   */
  notifyUnpublish(streamId: number): void {
    const entry = this.#playing(streamId);
    if (!entry) return;
    this.#channel.sendUserControl({ type: "StreamEOF", streamId });
    this.#sendStatus(streamId, entry.amf3, {
      level: "status",
      code: "NetStream.Play.UnpublishNotify",
      description: `${entry.name} is now unpublished.`,
    });
  }

  /**
   * Tells a player the stream is published again (`StreamBegin`, `NetStream.Play.PublishNotify`).
   *
   * @param streamId A playing stream.
   */
  notifyPublish(streamId: number): void {
    const entry = this.#playing(streamId);
    if (!entry) return;
    this.#channel.sendUserControl({ type: "StreamBegin", streamId });
    this.#sendStatus(streamId, entry.amf3, {
      level: "status",
      code: "NetStream.Play.PublishNotify",
      description: `${entry.name} is now published.`,
    });
  }

  /**
   * Asks the client to reconnect (E-RTMP v2 "Reconnect Request"): an `onStatus` on stream 0
   * with code `NetConnection.Connect.ReconnectRequest`, level `status`, and `tcUrl` when the
   * client should move to another server (absent: the client reconnects to its current
   * tcUrl). The spec has the old server keep serving the client until it disconnects, so
   * nothing else changes here. Send it only to clients whose `connect` set the `capsEx`
   * Reconnect bit (`CapsExMask.Reconnect`); others do not know the code.
   *
   * @example
   * ```ts
   * import { ServerSession } from "./server_session.ts";
   * function moveTo(session: ServerSession): void {
   *   session.requestReconnect("rtmp://node-2.example.com/live", "This server is restarting.");
   * }
   * ```
   *
   * @param tcUrl Where to reconnect (absolute, or relative to the current tcUrl).
   * @param description Text for the client's logs.
   * @throws {RtmpError} `INVALID_ARGUMENT` before a connect was accepted.
   */
  requestReconnect(tcUrl?: string, description?: string): void {
    if (this.#state !== "connected") {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `a reconnect request needs an accepted connect, but the session is ${this.#state}`,
      );
    }
    const info: StatusInfo = {
      level: "status",
      code: "NetConnection.Connect.ReconnectRequest",
      description: description ?? "The server asks the client to reconnect.",
    };
    if (tcUrl !== undefined) info.tcUrl = tcUrl;
    this.sendStatus(0, info);
  }

  /**
   * Sends an `onStatus` on a stream.
   *
   * @param streamId Stream (0 for the connection).
   * @param info The status.
   */
  sendStatus(streamId: number, info: StatusInfo): void {
    this.#sendStatus(streamId, this.#streams.get(streamId)?.amf3 ?? false, info);
  }

  /**
   * Answers a `command` event with `_result`.
   *
   * @param event The command event.
   * @param values Values after the command object.
   */
  sendResult(
    event: { streamId: number; command: Command; amf3: boolean },
    ...values: AmfValue[]
  ): void {
    if (event.command.transactionId === 0) return;
    this.#sendCommand(
      resultCommand(event.command.transactionId, null, ...values),
      event.streamId,
      event.amf3,
    );
  }

  /**
   * Answers a `command` event with `_error`.
   *
   * @param event The command event.
   * @param info The error status.
   */
  sendError(event: { streamId: number; command: Command; amf3: boolean }, info: StatusInfo): void {
    if (event.command.transactionId === 0) return;
    this.#sendCommand(
      errorCommand(event.command.transactionId, null, info),
      event.streamId,
      event.amf3,
    );
  }

  /**
   * Queues bytes that are already chunked for this connection (a media message encoded once
   * for many players with {@linkcode playChunkStream} and the session's chunk size).
   *
   * @param bytes Chunked bytes.
   */
  queueEncoded(bytes: Uint8Array): void {
    this.#channel.queueBytes(bytes);
  }

  /** Streams currently publishing. @returns Their ids. */
  publishingStreams(): number[] {
    return this.#streamsIn("publishing");
  }

  /** Streams currently playing. @returns Their ids. */
  playingStreams(): number[] {
    return this.#streamsIn("playing");
  }

  /** Marks the session closed: later input throws, and what the decoder holds is released. */
  close(): void {
    if (this.#state !== "failed") this.#state = "closed";
    this.#dropHeld(() => true);
    this.#channel.dispose();
  }

  /** Bytes waiting to be written. */
  get pendingOutput(): number {
    return this.#channel.pendingOutput;
  }

  /** Removes and returns the bytes to write to the client, oldest first. @returns Byte chunks. */
  takeOutput(): Uint8Array[] {
    return this.#channel.takeOutput();
  }

  #streamsIn(state: StreamState): number[] {
    const ids: number[] = [];
    for (const [id, e] of this.#streams) if (e.state === state) ids.push(id);
    return ids;
  }

  #playing(streamId: number): StreamEntry | null {
    const entry = this.#streams.get(streamId);
    return entry && entry.state === "playing" ? entry : null;
  }

  #hold(message: RtmpMessage): void {
    const n = message.payload.length;
    if (this.#budget && !this.#budget.tryTake(n)) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `the server's memory budget cannot hold ${n} more bytes while a decision is pending`,
      );
    }
    this.#heldBytes += n;
    this.#heldCharged += this.#budget ? n : 0;
    if (this.#heldBytes > this.#options.maxDeferredBytes) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `more than ${this.#options.maxDeferredBytes} bytes arrived while a decision was pending`,
      );
    }
    this.#held.push(message);
  }

  /** Handles held messages until the next decision is needed; returns their events. */
  #resume(): ServerSessionEvent[] {
    const events: ServerSessionEvent[] = [];
    while (this.#heldHead < this.#held.length && this.#pending === null) {
      const message = this.#held[this.#heldHead];
      this.#held[this.#heldHead++] = undefined as unknown as RtmpMessage;
      this.#heldBytes -= message.payload.length;
      this.#uncharge(message.payload.length);
      this.#onMessage(message, events);
    }
    if (this.#heldHead >= this.#held.length) {
      this.#held = [];
      this.#heldHead = 0;
    }
    return events;
  }

  #uncharge(n: number): void {
    const m = Math.min(n, this.#heldCharged);
    if (m > 0 && this.#budget) {
      this.#heldCharged -= m;
      this.#budget.release(m);
    }
  }

  #dropHeld(drop: (m: RtmpMessage) => boolean): void {
    const kept: RtmpMessage[] = [];
    let bytes = 0;
    for (let i = this.#heldHead; i < this.#held.length; i++) {
      const m = this.#held[i];
      if (drop(m)) {
        this.#uncharge(m.payload.length);
        continue;
      }
      kept.push(m);
      bytes += m.payload.length;
    }
    this.#held = kept;
    this.#heldHead = 0;
    this.#heldBytes = bytes;
  }

  #take(id: number): Pending {
    const pending = this.#pending?.get(id);
    if (!pending) {
      throw new RtmpError("INVALID_ARGUMENT", `no request ${id} is waiting for a decision`);
    }
    this.#pending!.delete(id);
    if (this.#pending!.size === 0) this.#pending = null;
    return pending;
  }

  #request(pending: Pending): void {
    (this.#pending ??= new Map()).set(pending.id, pending);
  }

  #countFailure(): void {
    if (++this.#failedCommands > this.#options.maxFailedCommands) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `more than ${this.#options.maxFailedCommands} refused or repeated requests on one connection`,
      );
    }
  }

  #onMessage(message: RtmpMessage, events: ServerSessionEvent[]): void {
    switch (message.type) {
      case MessageType.CommandAmf0:
      case MessageType.CommandAmf3:
        this.#onCommand(
          decodeCommand(message),
          message.streamId,
          message.type === MessageType.CommandAmf3,
          events,
        );
        return;
      case MessageType.Audio:
      case MessageType.Video:
      case MessageType.DataAmf0:
      case MessageType.DataAmf3:
        if (this.#streams.get(message.streamId)?.state === "publishing") {
          events.push({ type: "media", streamId: message.streamId, message });
        } else {
          events.push({
            type: "stray-media",
            streamId: message.streamId,
            messageType: message.type,
            bytes: message.payload.length,
          });
        }
        return;
      case MessageType.Aggregate:
        if (this.#streams.get(message.streamId)?.state === "publishing") {
          for (const sub of splitAggregate(message)) this.#onMessage(sub, events);
        } else {
          events.push({
            type: "stray-media",
            streamId: message.streamId,
            messageType: message.type,
            bytes: message.payload.length,
          });
        }
        return;
      default:
        // Shared objects and unknown types carry nothing a live server acts on.
        return;
    }
  }

  #onCommand(cmd: Command, streamId: number, amf3: boolean, events: ServerSessionEvent[]): void {
    if (cmd.name === "connect") {
      if (this.#state !== "handshake") {
        throw new RtmpError("PROTOCOL", "second connect command on one connection");
      }
      const request = parseConnect(cmd);
      this.#state = "connecting";
      const id = this.#nextRequestId++;
      this.#request({ kind: "connect", id, request, transaction: cmd.transactionId, amf3 });
      events.push({ type: "connect-request", id, request });
      return;
    }
    if (this.#state !== "connected") {
      throw new RtmpError("PROTOCOL", `command "${cmd.name}" before connect was accepted`);
    }
    // One handler per command the session understands; anything else is a `command` event.
    switch (cmd.name) {
      case "releaseStream":
      case "FCPublish":
      case "FCSubscribe":
      case "FCUnsubscribe":
      case "_checkbw":
        // onFCPublish is sent only once the key is accepted, so nothing is announced early.
        return this.#answer(cmd, amf3);
      case "getStreamLength":
        return this.#answer(cmd, amf3, 0);
      case "createStream":
        return this.#createStream(cmd, amf3);
      case "publish":
        return this.#publish(cmd, streamId, amf3, events);
      case "play":
        return this.#play(cmd, streamId, amf3, events);
      case "FCUnpublish":
        return this.#fcUnpublish(cmd, amf3, events);
      case "closeStream":
        return this.#endStream(streamId, cmd.name, events);
      case "deleteStream":
        return this.#deleteStream(cmd, streamId, events);
      case "pause":
      case "pauseRaw":
        return this.#pause(cmd, streamId, events);
      case "receiveAudio":
      case "receiveVideo":
        events.push({
          type: "receive",
          streamId,
          kind: cmd.name === "receiveAudio" ? "audio" : "video",
          enabled: cmd.args[0] !== false,
        });
        return;
      case "_result":
      case "_error":
      case "onStatus":
      case "onBWDone":
      // Live streams cannot seek; players that try (ffplay on a key press) get no answer.
      case "seek":
        return;
      default:
        events.push({ type: "command", streamId, command: cmd, amf3 });
    }
  }

  /** Answers `_result` (when a transaction is open) so a client waiting on it goes on. */
  #answer(cmd: Command, amf3: boolean, ...values: AmfValue[]): void {
    if (cmd.transactionId !== 0) {
      this.#sendCommand(resultCommand(cmd.transactionId, null, ...values), 0, amf3);
    }
  }

  #acceptConnect(pending: Pending & { kind: "connect" }): void {
    const { request } = pending;
    this.#connect = request;
    this.#state = "connected";
    const ch = this.#channel;
    ch.sendWindowAckSize(this.#options.windowAckSize);
    ch.send(ChunkStreamId.Control, setPeerBandwidthMessage(this.#options.windowAckSize, 2));
    ch.setOutgoingChunkSize(this.#options.chunkSize);
    const properties: AmfObject = { fmsVer: "FMS/3,5,7,7009", capabilities: 31, mode: 1 };
    const info: AmfObject = {
      level: "status",
      code: "NetConnection.Connect.Success",
      description: "Connection succeeded.",
      objectEncoding: typeof request.objectEncoding === "number" ? request.objectEncoding : 0,
    };
    // E-RTMP v2: state support in the _result; we forward any codec as opaque bytes.
    if (isEnhancedConnect(request)) Object.assign(properties, forwarderCapabilities());
    this.#sendCommand(resultCommand(pending.transaction, properties, info), 0, pending.amf3);
  }

  #acceptPublish(streamId: number): void {
    const entry = this.#streams.get(streamId)!;
    entry.state = "publishing";

    this.#sendCommand(
      onFcPublishCommand({
        level: "status",
        code: "NetStream.Publish.Start",
        description: entry.name,
      }),
      0,
      entry.amf3,
    );
    this.#channel.sendUserControl({ type: "StreamBegin", streamId });
    this.#sendStatus(streamId, entry.amf3, {
      level: "status",
      code: "NetStream.Publish.Start",
      description: `${entry.name} is now published.`,
      details: entry.name,
    });
  }

  #acceptPlay(streamId: number, reset: boolean): void {
    const entry = this.#streams.get(streamId)!;
    entry.state = "playing";
    const name = entry.name;
    this.#channel.sendUserControl({ type: "StreamBegin", streamId });
    if (reset) {
      this.#sendStatus(streamId, entry.amf3, {
        level: "status",
        code: "NetStream.Play.Reset",
        description: `Playing and resetting ${name}.`,
        details: name,
      });
    }
    this.#sendStatus(streamId, entry.amf3, {
      level: "status",
      code: "NetStream.Play.Start",
      description: `Started playing ${name}.`,
      details: name,
    });
    // Lets Flash-era players read the media (and is expected by several players before data).
    // No `onStatus` NetStream.Data.Start data message (FMS, SRS): FFmpeg's FLV demuxer takes any
    // unknown script tag for a data stream, so ffprobe would list one the publisher never sent
    // and `ffmpeg -map 0 … out.mp4` would fail on it.
    // On the stream's command chunk stream, never on PLAY_CSID: players' media there is written
    // with type 0 headers outside this session's encoder, whose header state for that chunk
    // stream would then be stale (a second play of the stream would get a wrong length).
    this.#channel.send(
      ChunkStreamId.Data,
      encodeData({ handler: "|RtmpSampleAccess", values: [true, true] }, { streamId }),
    );
  }

  #createStream(cmd: Command, amf3: boolean): void {
    const tx = cmd.transactionId;
    if (this.#streams.size >= this.#options.maxStreams) {
      this.#countFailure();
      this.#sendCommand(
        errorCommand(tx, null, {
          level: "error",
          code: "NetConnection.Call.Failed",
          description: `too many streams on one connection (limit ${this.#options.maxStreams})`,
        }),
        0,
        amf3,
      );
      return;
    }
    const id = this.#nextStreamId++;
    this.#streams.set(id, { state: "idle", name: "", transaction: 0, amf3 });
    this.#sendCommand(resultCommand(tx, null, id), 0, amf3);
  }

  /** Finds (or adopts: some encoders pick their own id) an idle stream. */
  #idleStream(streamId: number, amf3: boolean): StreamEntry | null {
    let entry = this.#streams.get(streamId);
    if (!entry && streamId !== 0 && this.#streams.size < this.#options.maxStreams) {
      entry = { state: "idle", name: "", transaction: 0, amf3 };
      this.#streams.set(streamId, entry);
      this.#nextStreamId = Math.max(this.#nextStreamId, streamId + 1);
    }
    return entry && entry.state === "idle" ? entry : null;
  }

  #publish(cmd: Command, streamId: number, amf3: boolean, events: ServerSessionEvent[]): void {
    const { name, type } = parsePublish(cmd);
    const id = this.#pendingStream(cmd, streamId, amf3, name, "publish");
    if (id === null) return;
    if (!this.#mediaSizeRaised) {
      // Media may be large (keyframes), and some encoders send it before Publish.Start;
      // until a publish was asked for, only small commands had a reason to arrive.
      this.#mediaSizeRaised = true;
      this.#channel.setMaxIncomingMessageSize(this.#options.maxMediaMessageSize);
    }
    this.#request({ kind: "publish", id, streamId });
    events.push({ type: "publish-request", id, streamId, streamName: name, publishType: type });
  }

  #play(cmd: Command, streamId: number, amf3: boolean, events: ServerSessionEvent[]): void {
    const { name, start, duration, reset } = parsePlay(cmd);
    const id = this.#pendingStream(cmd, streamId, amf3, name, "play");
    if (id === null) return;
    this.#request({ kind: "play", id, streamId, reset });
    events.push({
      type: "play-request",
      id,
      streamId,
      request: { streamName: name, start, duration, reset },
    });
  }

  /**
   * Moves an idle stream to `publish-pending` / `play-pending` for a request and returns the
   * request's id; a stream that is busy or unknown is answered with an error status (`null`).
   */
  #pendingStream(
    cmd: Command,
    streamId: number,
    amf3: boolean,
    name: string,
    kind: "publish" | "play",
  ): number | null {
    const existing = this.#streams.get(streamId);
    const entry = this.#idleStream(streamId, amf3);
    if (!entry) {
      this.#countFailure();
      this.#sendStatus(streamId, amf3, {
        level: "error",
        code: kind === "publish" ? "NetStream.Publish.BadName" : "NetStream.Play.Failed",
        description: existing ? "stream is already in use" : `no such stream ${streamId}`,
      });
      return null;
    }
    entry.state = kind === "publish" ? "publish-pending" : "play-pending";
    entry.name = name;
    entry.transaction = cmd.transactionId;
    entry.amf3 = amf3;
    return this.#nextRequestId++;
  }

  /** Ends what a stream does (unpublish or stop), answering as the peer expects. */
  #endStream(streamId: number, command: string, events: ServerSessionEvent[]): void {
    const entry = this.#streams.get(streamId);
    if (!entry) return;
    if (entry.state === "publishing") {
      entry.state = "idle";
      this.#sendStatus(streamId, entry.amf3, {
        level: "status",
        code: "NetStream.Unpublish.Success",
        description: `${entry.name} is now unpublished.`,
      });
      events.push({ type: "unpublish", streamId, command });
    } else if (entry.state === "playing") {
      entry.state = "idle";
      events.push({ type: "play-stop", streamId, command });
    }
  }

  #fcUnpublish(cmd: Command, amf3: boolean, events: ServerSessionEvent[]): void {
    this.#answer(cmd, amf3);
    const name = typeof cmd.args[0] === "string" ? cmd.args[0] : null;
    for (const [id, entry] of this.#streams) {
      if (entry.state === "publishing" && (name === null || entry.name === name)) {
        this.#endStream(id, "FCUnpublish", events);
      }
    }
  }

  #deleteStream(cmd: Command, streamId: number, events: ServerSessionEvent[]): void {
    const id = typeof cmd.args[0] === "number" ? cmd.args[0] : streamId;
    this.#endStream(id, cmd.name, events);
    this.#streams.delete(id);
  }

  #pause(cmd: Command, streamId: number, events: ServerSessionEvent[]): void {
    const entry = this.#playing(streamId);
    if (!entry) return;
    const paused = cmd.args[0] !== false;
    const position = typeof cmd.args[1] === "number" ? cmd.args[1] : 0;
    this.#sendStatus(streamId, entry.amf3, {
      level: "status",
      code: paused ? "NetStream.Pause.Notify" : "NetStream.Unpause.Notify",
      description: paused ? "Paused." : "Unpaused.",
    });
    events.push({ type: "pause", streamId, paused, position });
  }

  #sendStatus(streamId: number, amf3: boolean, info: StatusInfo): void {
    this.#sendCommand(statusCommand(info), streamId, amf3);
  }

  #sendCommand(cmd: Command, streamId: number, amf3: boolean): void {
    this.#channel.send(
      streamId === 0 ? ChunkStreamId.Command : ChunkStreamId.Data,
      encodeCommand(cmd, { streamId, amf3 }),
    );
  }
}

/**
 * The chunk stream a media message is sent on to players. Media to players always uses a
 * full (type 0) chunk header, so the bytes of one message can be encoded once and shared by
 * every player with the same chunk size and stream id, and every player sees the published
 * timestamps exactly (no relative headers shared among players: design §8).
 *
 * @example
 * ```ts
 * import { playChunkStream } from "./server_session.ts";
 * console.log(playChunkStream(9)); // 6
 * ```
 *
 * @param messageType Audio (8), video (9) or data (18/15).
 * @returns The chunk stream id.
 */
export function playChunkStream(messageType: number): number {
  if (messageType === MessageType.Audio) return PLAY_CSID.audio;
  if (messageType === MessageType.Video) return PLAY_CSID.video;
  return PLAY_CSID.data;
}

function isMedia(type: number): boolean {
  return type === MessageType.Audio || type === MessageType.Video ||
    type === MessageType.DataAmf0 || type === MessageType.DataAmf3 ||
    type === MessageType.Aggregate;
}
