/**
 * The server side of one RTMP connection as a sans-IO state machine: handshake, `connect`,
 * stream creation, `publish` requests the caller decides on, media, and unpublish. The caller
 * feeds bytes with {@linkcode ServerSession.receive}, acts on the events, answers decisions
 * with the accept/reject methods and writes {@linkcode ServerSession.takeOutput} to the socket.
 *
 * Nothing about a stream is announced (no `onFCPublish`, no `StreamBegin`, no
 * `NetStream.Publish.Start`) until the caller accepts it: design §4.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { AmfObject } from "../protocol/amf.ts";
import {
  type Command,
  decodeCommand,
  encodeCommand,
  errorCommand,
  onFcPublishCommand,
  parseConnect,
  parsePublish,
  resultCommand,
  statusCommand,
} from "../protocol/command.ts";
import { forwarderCapabilities, isEnhancedConnect } from "../protocol/capabilities.ts";
import type { StatusInfo } from "../protocol/status.ts";
import type { ConnectParams } from "../protocol/command.ts";
import type { ChunkDecoderOptions } from "../protocol/chunk_decoder.ts";
import { splitAggregate } from "../protocol/aggregate.ts";
import { setPeerBandwidthMessage } from "../protocol/control.ts";
import { ServerHandshake } from "../protocol/handshake.ts";
import { ChunkStreamId, MessageType, type RtmpMessage } from "../protocol/message.ts";
import { MessageChannel } from "./message_channel.ts";

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
 * What a {@linkcode ServerSession} reports after consuming bytes.
 *
 * @example
 * ```ts
 * import type { ServerSessionEvent } from "./server_session.ts";
 * function isMedia(e: ServerSessionEvent): boolean { return e.type === "media"; }
 * ```
 */
export type ServerSessionEvent =
  | { type: "handshake"; digest: boolean }
  | { type: "connect"; request: ConnectRequest }
  | { type: "publish"; streamId: number; streamName: string; publishType: string }
  | { type: "media"; streamId: number; message: RtmpMessage }
  | { type: "unpublish"; streamId: number; command: string };

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
  /** Chunk decoder limits (message size, chunk streams, buffered bytes). */
  decoder?: ChunkDecoderOptions;
  /** Bytes of messages held while a connect/publish decision is pending. Default 16 MiB. */
  maxDeferredBytes?: number;
}

type StreamState = "created" | "pending" | "publishing";

interface StreamEntry {
  state: StreamState;
  name: string;
  publishTransaction: number;
  amf3: boolean;
}

/**
 * The server side of one connection.
 *
 * @example Drive it with bytes (here the client handshake is omitted)
 * ```ts
 * import { ServerSession } from "./server_session.ts";
 * const session = new ServerSession();
 * const events = session.receive(new Uint8Array([3])); // C0 only: nothing yet
 * console.log(events.length, session.takeOutput().length); // 0 0
 * ```
 */
export class ServerSession {
  readonly #options: Required<Omit<ServerSessionOptions, "decoder">>;
  #handshake: ServerHandshake | null = new ServerHandshake();
  readonly #channel: MessageChannel;
  #connect: ConnectRequest | null = null;
  #pendingConnect: ConnectRequest | null = null;
  #connectTransaction = 0;
  #connectAmf3 = false;
  readonly #streams = new Map<number, StreamEntry>();
  #nextStreamId = 1;
  #deferred: RtmpMessage[] = [];
  #deferredBytes = 0;

  /** @param options Announced sizes and limits. */
  constructor(options: ServerSessionOptions = {}) {
    this.#options = {
      chunkSize: options.chunkSize ?? 4096,
      windowAckSize: options.windowAckSize ?? 2_500_000,
      maxStreams: options.maxStreams ?? 8,
      maxDeferredBytes: options.maxDeferredBytes ?? 16 << 20,
    };
    this.#channel = new MessageChannel({ decoder: options.decoder });
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

  /** Name of a stream that is pending or publishing, or `undefined`. @param streamId Stream. @returns The name. */
  streamName(streamId: number): string | undefined {
    return this.#streams.get(streamId)?.name;
  }

  /**
   * Consumes bytes from the client. Throws `RtmpError` for malformed input or a broken
   * command flow; the connection should then be closed.
   *
   * @param bytes Bytes read from the socket (not kept).
   * @returns Events in order.
   */
  receive(bytes: Uint8Array): ServerSessionEvent[] {
    const events: ServerSessionEvent[] = [];
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
      if (this.#awaitingDecision()) this.#defer(event.message);
      else this.#onMessage(event.message, events);
    }
    return events;
  }

  /**
   * Whether a connect or publish decision is outstanding. Messages that arrive meanwhile (an
   * encoder that pipelines `releaseStream`/`createStream` after `connect`, or sends media
   * without waiting for `NetStream.Publish.Start`) are held and handled after the decision,
   * in order, so nothing is lost and nothing runs ahead of the hook.
   */
  #awaitingDecision(): boolean {
    if (this.#pendingConnect) return true;
    for (const entry of this.#streams.values()) if (entry.state === "pending") return true;
    return false;
  }

  #defer(message: RtmpMessage): void {
    this.#deferredBytes += message.payload.length;
    if (this.#deferredBytes > this.#options.maxDeferredBytes) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `more than ${this.#options.maxDeferredBytes} bytes arrived while a decision was pending`,
      );
    }
    this.#deferred.push(message);
  }

  /** Handles held messages until the next decision is needed; returns their events. */
  #resume(): ServerSessionEvent[] {
    const events: ServerSessionEvent[] = [];
    while (this.#deferred.length > 0 && !this.#awaitingDecision()) {
      const message = this.#deferred.shift()!;
      this.#deferredBytes -= message.payload.length;
      this.#onMessage(message, events);
    }
    return events;
  }

  #dropDeferred(): void {
    this.#deferred = [];
    this.#deferredBytes = 0;
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
        }
        return;
      case MessageType.Aggregate:
        if (this.#streams.get(message.streamId)?.state === "publishing") {
          for (const sub of splitAggregate(message)) this.#onMessage(sub, events);
        }
        return;
      default:
        // Shared objects and unknown types carry nothing an ingest server acts on.
        return;
    }
  }

  #onCommand(cmd: Command, streamId: number, amf3: boolean, events: ServerSessionEvent[]): void {
    if (cmd.name === "connect") {
      if (this.#connect || this.#pendingConnect) {
        throw new RtmpError("PROTOCOL", "second connect command on one connection");
      }
      const request = parseConnect(cmd);
      this.#connectTransaction = cmd.transactionId;
      this.#connectAmf3 = amf3;
      this.#pendingConnect = request;
      events.push({ type: "connect", request });
      return;
    }
    if (!this.#connect) {
      throw new RtmpError("PROTOCOL", `command "${cmd.name}" before connect was accepted`);
    }
    const tx = cmd.transactionId;
    switch (cmd.name) {
      case "releaseStream":
      case "FCPublish":
      case "_checkbw":
        // Answered so clients waiting on the transaction go on; onFCPublish is only sent once
        // the key is accepted, so nothing is announced early.
        if (tx !== 0) this.#sendCommand(resultCommand(tx, null), 0, amf3);
        return;
      case "getStreamLength":
        if (tx !== 0) this.#sendCommand(resultCommand(tx, null, 0), 0, amf3);
        return;
      case "createStream": {
        if (this.#streams.size >= this.#options.maxStreams) {
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
        this.#streams.set(id, { state: "created", name: "", publishTransaction: 0, amf3 });
        this.#sendCommand(resultCommand(tx, null, id), 0, amf3);
        return;
      }
      case "publish":
        this.#onPublish(cmd, streamId, amf3, events);
        return;
      case "FCUnpublish": {
        if (tx !== 0) this.#sendCommand(resultCommand(tx, null), 0, amf3);
        const name = typeof cmd.args[0] === "string" ? cmd.args[0] : null;
        for (const [id, entry] of this.#streams) {
          if (entry.state === "publishing" && (name === null || entry.name === name)) {
            this.#unpublish(id, entry, "FCUnpublish", events);
          }
        }
        return;
      }
      case "closeStream": {
        const entry = this.#streams.get(streamId);
        if (entry && entry.state !== "created") this.#unpublish(streamId, entry, cmd.name, events);
        return;
      }
      case "deleteStream": {
        const id = typeof cmd.args[0] === "number" ? cmd.args[0] : streamId;
        const entry = this.#streams.get(id);
        if (entry && entry.state !== "created") this.#unpublish(id, entry, cmd.name, events);
        this.#streams.delete(id);
        return;
      }
      case "play":
        this.#sendCommand(
          statusCommand({
            level: "error",
            code: "NetStream.Play.StreamNotFound",
            description: "this server only ingests streams",
          }),
          streamId,
          amf3,
        );
        return;
      case "_result":
      case "_error":
      case "onStatus":
      case "receiveAudio":
      case "receiveVideo":
      case "pause":
      case "seek":
      case "onBWDone":
        return;
      default:
        if (tx !== 0) {
          this.#sendCommand(
            errorCommand(tx, null, {
              level: "error",
              code: "NetConnection.Call.Failed",
              description: `Method not found (${cmd.name}).`,
            }),
            streamId,
            amf3,
          );
        }
    }
  }

  #onPublish(cmd: Command, streamId: number, amf3: boolean, events: ServerSessionEvent[]): void {
    const { name, type } = parsePublish(cmd);
    let entry = this.#streams.get(streamId);
    if (!entry && streamId !== 0 && this.#streams.size < this.#options.maxStreams) {
      // Some encoders publish on a stream id they picked themselves; adopt it.
      entry = { state: "created", name: "", publishTransaction: 0, amf3 };
      this.#streams.set(streamId, entry);
      this.#nextStreamId = Math.max(this.#nextStreamId, streamId + 1);
    }
    if (!entry || entry.state !== "created") {
      this.#sendStatus(streamId, amf3, {
        level: "error",
        code: "NetStream.Publish.BadName",
        description: entry ? "stream is already publishing" : `no such stream ${streamId}`,
      });
      return;
    }
    entry.state = "pending";
    entry.name = name;
    entry.publishTransaction = cmd.transactionId;
    entry.amf3 = amf3;
    events.push({ type: "publish", streamId, streamName: name, publishType: type });
  }

  #unpublish(id: number, entry: StreamEntry, command: string, events: ServerSessionEvent[]): void {
    const wasPublishing = entry.state === "publishing";
    entry.state = "created";
    if (!wasPublishing) return;
    this.#sendStatus(id, entry.amf3, {
      level: "status",
      code: "NetStream.Unpublish.Success",
      description: `${entry.name} is now unpublished.`,
    });
    events.push({ type: "unpublish", streamId: id, command });
  }

  /**
   * Accepts the pending connect: announces window, bandwidth and chunk size and answers
   * `_result` with `NetConnection.Connect.Success` and the Enhanced RTMP capabilities we accept.
   *
   * @returns Events of messages that arrived while the decision was pending.
   */
  acceptConnect(): ServerSessionEvent[] {
    const request = this.#takeConnect();
    this.#connect = request;
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
    // E-RTMP v2: state support in the _result. We forward any codec as opaque bytes.
    if (isEnhancedConnect(request)) Object.assign(properties, forwarderCapabilities());
    this.#sendCommand(
      resultCommand(this.#connectTransaction, properties, info),
      0,
      this.#connectAmf3,
    );
    return this.#resume();
  }

  /**
   * Refuses the pending connect with `_error` `NetConnection.Connect.Rejected`. Close the
   * write side after sending the output.
   *
   * @param description Human-readable reason sent to the client.
   */
  rejectConnect(description = "Connection rejected."): void {
    this.#takeConnect();
    this.#dropDeferred();
    this.#sendCommand(
      errorCommand(this.#connectTransaction, null, {
        level: "error",
        code: "NetConnection.Connect.Rejected",
        description,
      }),
      0,
      this.#connectAmf3,
    );
  }

  #takeConnect(): ConnectRequest {
    const request = this.#pendingConnect;
    if (!request) {
      throw new RtmpError("INVALID_ARGUMENT", "no connect request is waiting for a decision");
    }
    this.#pendingConnect = null;
    return request;
  }

  /**
   * Accepts a pending publish: `onFCPublish`, `StreamBegin`, then `onStatus`
   * `NetStream.Publish.Start`. Media on the stream is reported from now on.
   *
   * @param streamId The stream from the `publish` event.
   * @returns Events of messages that arrived while the decision was pending (early media).
   */
  acceptPublish(streamId: number): ServerSessionEvent[] {
    const entry = this.#pending(streamId);
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
    return this.#resume();
  }

  /**
   * Refuses a pending publish with an error-level `onStatus`. The caller should then close the
   * write side gracefully so the status reaches the encoder before the FIN.
   *
   * @param streamId The stream from the `publish` event.
   * @param options Status code (default `NetStream.Publish.BadName`) and description.
   * @returns Events of other messages that arrived while the decision was pending.
   */
  rejectPublish(
    streamId: number,
    options: { code?: string; description?: string } = {},
  ): ServerSessionEvent[] {
    const entry = this.#pending(streamId);
    entry.state = "created";
    this.#sendStatus(streamId, entry.amf3, {
      level: "error",
      code: options.code ?? "NetStream.Publish.BadName",
      description: options.description ?? "Publish rejected.",
    });
    // Early media of the refused stream is dropped; anything else still gets handled.
    this.#deferred = this.#deferred.filter((m) => m.streamId !== streamId || !isMedia(m.type));
    this.#deferredBytes = this.#deferred.reduce((n, m) => n + m.payload.length, 0);
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
    entry.state = "created";
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

  /** Streams currently publishing. @returns Their ids. */
  publishingStreams(): number[] {
    const ids: number[] = [];
    for (const [id, e] of this.#streams) if (e.state === "publishing") ids.push(id);
    return ids;
  }

  #pending(streamId: number): StreamEntry {
    const entry = this.#streams.get(streamId);
    if (!entry || entry.state !== "pending") {
      throw new RtmpError("INVALID_ARGUMENT", `stream ${streamId} has no publish request waiting`);
    }
    return entry;
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

  /** Bytes waiting to be written. */
  get pendingOutput(): number {
    return this.#channel.pendingOutput;
  }

  /** Removes and returns the bytes to write to the client, oldest first. @returns Byte chunks. */
  takeOutput(): Uint8Array[] {
    return this.#channel.takeOutput();
  }
}

function isMedia(type: number): boolean {
  return type === MessageType.Audio || type === MessageType.Video ||
    type === MessageType.DataAmf0 || type === MessageType.DataAmf3 ||
    type === MessageType.Aggregate;
}
