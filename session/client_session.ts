/**
 * The publishing client side of one RTMP connection as a sans-IO state machine: handshake,
 * `connect`, `releaseStream` / `FCPublish` / `createStream`, `publish`, then media; and the
 * server's answers turned into events. The caller writes {@linkcode ClientSession.takeOutput}
 * to the socket and feeds what it reads to {@linkcode ClientSession.receive}.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { AmfValue } from "../protocol/amf.ts";
import {
  type Command,
  connectCommand,
  type ConnectParams,
  createStreamCommand,
  decodeCommand,
  deleteStreamCommand,
  encodeCommand,
  fcPublishCommand,
  fcUnpublishCommand,
  publishCommand,
  releaseStreamCommand,
} from "../protocol/command.ts";
import { ClientHandshake } from "../protocol/handshake.ts";
import { ChunkStreamId, MessageType } from "../protocol/message.ts";
import type { ChunkDecoderOptions } from "../protocol/chunk_decoder.ts";
import { type StatusObject, statusOf } from "../protocol/status.ts";
import { MessageChannel } from "./message_channel.ts";

/**
 * What a {@linkcode ClientSession} reports.
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
  | { type: "rejected"; stage: "connect" | "createStream" | "publish"; status: StatusObject }
  | { type: "status"; streamId: number; status: StatusObject }
  | { type: "reconnect-request"; tcUrl: string | null; description: string }
  | { type: "stream-begin"; streamId: number }
  | { type: "stream-eof"; streamId: number }
  | { type: "result"; transactionId: number; values: AmfValue[] }
  | {
    type: "error-result";
    transactionId: number;
    values: AmfValue[];
    /** The status the server gave for the failure, if any. */
    status: StatusObject | null;
  };

/**
 * Options for {@linkcode ClientSession}.
 *
 * @example
 * ```ts
 * import type { ClientSessionOptions } from "./client_session.ts";
 * const o: ClientSessionOptions = { connect: { app: "live", tcUrl: "rtmp://h/live" }, streamName: "key" };
 * ```
 */
export interface ClientSessionOptions {
  /** The connect command's parameters (app, tcUrl, flashVer, E-RTMP capability fields…). */
  connect: ConnectParams;
  /** Stream name (key, with query) to publish. */
  streamName: string;
  /** `live` (default), `record` or `append`. */
  publishType?: string;
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
  | "closed";

/**
 * The client side of one publishing connection.
 *
 * @example
 * ```ts
 * import { ClientSession } from "./client_session.ts";
 * const s = new ClientSession({ connect: { app: "live", tcUrl: "rtmp://127.0.0.1/live" }, streamName: "key" });
 * const c0c1 = s.takeOutput();
 * console.log(c0c1[0].length); // 1537 (C0 + C1)
 * ```
 */
export class ClientSession {
  readonly #options: ClientSessionOptions;
  #handshake: ClientHandshake | null;
  readonly #channel: MessageChannel;
  #phase: Phase = "handshake";
  #nextTx = 1;
  #connectTx = 0;
  #createTx = 0;
  #streamId = 0;
  readonly #userTx = new Set<number>();

  /**
   * Creates it.
   * @param options What to connect to and publish.
   */
  constructor(options: ClientSessionOptions) {
    this.#options = options;
    this.#channel = new MessageChannel({ decoder: options.decoder });
    this.#handshake = new ClientHandshake({ digest: options.digestHandshake ?? true });
    this.#channel.queueBytes(this.#handshake.start());
  }

  /** The message stream id the server gave us (0 before `createStream` answered). */
  get streamId(): number {
    return this.#streamId;
  }

  /** Whether `NetStream.Publish.Start` arrived and media may be sent. */
  get publishing(): boolean {
    return this.#phase === "publishing";
  }

  /** Bytes received after the handshake. */
  get bytesReceived(): number {
    return this.#channel.bytesReceived;
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
          if (c.event.type === "StreamBegin") {
            events.push({ type: "stream-begin", streamId: c.event.streamId });
          } else if (c.event.type === "StreamEOF") {
            events.push({ type: "stream-eof", streamId: c.event.streamId });
          }
        }
        continue;
      }
      const m = event.message;
      if (m.type === MessageType.CommandAmf0 || m.type === MessageType.CommandAmf3) {
        this.#onCommand(decodeCommand(m), m.streamId, events);
      }
    }
    return events;
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
        this.#sendCommand(releaseStreamCommand(this.#nextTx++, name), 0);
        this.#sendCommand(fcPublishCommand(this.#nextTx++, name), 0);
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
        this.#phase = "publishing-request";
        this.#sendCommand(
          publishCommand(
            this.#nextTx++,
            this.#options.streamName,
            this.#options.publishType ?? "live",
          ),
          id,
        );
        return;
      }
      if (this.#userTx.delete(tx)) {
        const values = [cmd.commandObject, ...cmd.args];
        events.push(
          ok
            ? { type: "result", transactionId: tx, values }
            : { type: "error-result", transactionId: tx, values, status: statusOf(cmd) },
        );
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
      events.push({ type: "status", streamId, status });
    }
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

  /** Queues `FCUnpublish` and `deleteStream`; no media may follow. */
  unpublish(): void {
    if (this.#phase === "publishing" || this.#phase === "publishing-request") {
      this.#sendCommand(fcUnpublishCommand(this.#nextTx++, this.#options.streamName), 0);
      this.#sendCommand(deleteStreamCommand(this.#nextTx++, this.#streamId), 0);
    }
    this.#phase = "closed";
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
