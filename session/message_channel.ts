/**
 * The chunk layer of one connection after the handshake, for either role: decodes incoming
 * bytes into messages, encodes outgoing messages into a write queue, and answers the protocol
 * housekeeping every peer expects (Acknowledgements, ping responses, window changes) so the
 * sessions above only see commands, data and media.
 *
 * Sans-IO: nothing here touches a socket or a timer.
 *
 * @module
 */

import { ChunkDecoder, type ChunkDecoderOptions } from "../protocol/chunk_decoder.ts";
import { ChunkEncoder } from "../protocol/chunk_encoder.ts";
import {
  acknowledgementMessage,
  type ControlMessage,
  decodeControl,
  setChunkSizeMessage,
  type UserControlEvent,
  userControlMessage,
  windowAckSizeMessage,
} from "../protocol/control.ts";
import { ChunkStreamId, MessageType, type RtmpMessage } from "../protocol/message.ts";

/**
 * What the channel hands up after consuming bytes: a non-housekeeping message, or a control
 * message worth knowing about (user control events other than pings, bandwidth changes).
 *
 * @example
 * ```ts
 * import type { ChannelEvent } from "./message_channel.ts";
 * function describe(e: ChannelEvent): string {
 *   return e.kind === "message" ? `type ${e.message.type}` : e.control.type;
 * }
 * ```
 */
export type ChannelEvent =
  | { kind: "message"; message: RtmpMessage }
  | { kind: "control"; control: ControlMessage; message: RtmpMessage };

/**
 * Options for {@linkcode MessageChannel}.
 *
 * @example
 * ```ts
 * import type { MessageChannelOptions } from "./message_channel.ts";
 * const o: MessageChannelOptions = { decoder: { maxMessageSize: 8 << 20 } };
 * ```
 */
export interface MessageChannelOptions {
  /** Limits for the chunk decoder. */
  decoder?: ChunkDecoderOptions;
}

const MAX_U32 = 0x1_0000_0000;

/**
 * Chunk decoding, encoding and housekeeping for one connection.
 *
 * @example
 * ```ts
 * import { MessageChannel } from "./message_channel.ts";
 * const ch = new MessageChannel();
 * ch.setOutgoingChunkSize(4096); // queues Set Chunk Size, then uses it
 * console.log(ch.takeOutput().length > 0); // true
 * ```
 */
export class MessageChannel {
  readonly #decoder: ChunkDecoder;
  readonly #encoder = new ChunkEncoder();
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #peerWindow = 0;
  #lastAcked = 0;
  #bytesSent = 0;
  #lastPeerBandwidth = -1;
  #ourWindow = 0;

  /**
   * Creates it.
   * @param options Decoder limits.
   */
  constructor(options: MessageChannelOptions = {}) {
    this.#decoder = new ChunkDecoder(options.decoder);
  }

  /** Total bytes consumed from the peer (after the handshake). */
  get bytesReceived(): number {
    return this.#decoder.bytesReceived;
  }

  /**
   * Changes the largest message accepted from the peer from now on (a server raises it from
   * a small cap for commands to the media cap once a publish is accepted).
   * @param bytes The new limit.
   */
  setMaxIncomingMessageSize(bytes: number): void {
    this.#decoder.setMaxMessageSize(bytes);
  }

  /** Bytes the decoder holds for messages still arriving (charged to its budget). */
  get partialBytes(): number {
    return this.#decoder.partialBytes;
  }

  /** Releases what the decoder holds (and its budget share); the channel is unusable after. */
  dispose(): void {
    this.#decoder.dispose();
  }

  /** Total bytes queued for the peer. */
  get bytesSent(): number {
    return this.#bytesSent;
  }

  /** The chunk size the peer sends with. */
  get incomingChunkSize(): number {
    return this.#decoder.chunkSize;
  }

  /** The chunk size we send with. */
  get outgoingChunkSize(): number {
    return this.#encoder.chunkSize;
  }

  /**
   * Decodes bytes. Housekeeping is answered into the output queue; the rest comes back in
   * order. Throws `RtmpError` on malformed input; the channel is then unusable.
   *
   * @param bytes Bytes read from the peer (not kept).
   * @returns Messages and noteworthy control events.
   */
  receive(bytes: Uint8Array): ChannelEvent[] {
    const messages = this.#decoder.push(bytes);
    const events: ChannelEvent[] = [];
    for (const message of messages) {
      if (message.type <= MessageType.SetPeerBandwidth && message.type !== 0) {
        const control = decodeControl(message);
        if (this.#handleControl(control)) events.push({ kind: "control", control, message });
      } else {
        events.push({ kind: "message", message });
      }
    }
    this.#maybeAcknowledge();
    return events;
  }

  /** Returns whether the control message is worth reporting upward. */
  #handleControl(control: ControlMessage): boolean {
    switch (control.type) {
      case "SetChunkSize":
      case "Abort":
      case "Acknowledgement":
        // Chunk size and abort are applied by the decoder itself (at the right byte).
        return false;
      case "WindowAckSize":
        this.#peerWindow = control.size;
        return false;
      case "SetPeerBandwidth": {
        // RTMP 1.0 §5.4.5: answer with Window Acknowledgement Size when it differs from the
        // last one we sent. Limit type 2 (dynamic) only applies if the previous was hard.
        const size = control.limitType === 2 && this.#lastPeerBandwidth < 0 ? -1 : control.size;
        if (size > 0 && size !== this.#ourWindow) this.sendWindowAckSize(size);
        if (size > 0) this.#lastPeerBandwidth = size;
        return true;
      }
      case "UserControl":
        if (control.event.type === "PingRequest") {
          this.send(
            ChunkStreamId.Control,
            userControlMessage({ type: "PingResponse", timestamp: control.event.timestamp }),
          );
          return false;
        }
        return control.event.type !== "PingResponse";
    }
  }

  #maybeAcknowledge(): void {
    // RTMP 1.0 §5.4.3: acknowledge once the peer's window worth of bytes has arrived since the
    // last acknowledgement; the sequence number is the total received, mod 2^32.
    if (this.#peerWindow <= 0) return;
    const received = this.#decoder.bytesReceived;
    if (received - this.#lastAcked >= this.#peerWindow) {
      this.#lastAcked = received;
      this.send(ChunkStreamId.Control, acknowledgementMessage(received % MAX_U32));
    }
  }

  /**
   * Encodes a message onto a chunk stream and queues its bytes.
   *
   * @param chunkStreamId Chunk stream to send on.
   * @param message The message.
   */
  send(chunkStreamId: number, message: RtmpMessage): void {
    this.queueBytes(this.#encoder.encode(chunkStreamId, message));
  }

  /**
   * Queues raw bytes (handshake bytes, or chunks encoded elsewhere).
   * @param bytes Bytes to send.
   */
  queueBytes(bytes: Uint8Array): void {
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    this.#bytesSent += bytes.length;
  }

  /** Queues Set Chunk Size and switches the encoder to it. @param size New chunk size. */
  setOutgoingChunkSize(size: number): void {
    this.send(ChunkStreamId.Control, setChunkSizeMessage(size));
    this.#encoder.setChunkSize(size);
  }

  /** Queues Window Acknowledgement Size: the peer must ack every `size` bytes. @param size Bytes. */
  sendWindowAckSize(size: number): void {
    this.#ourWindow = size;
    this.send(ChunkStreamId.Control, windowAckSizeMessage(size));
  }

  /**
   * Queues a user control event.
   * @param event The event.
   */
  sendUserControl(event: UserControlEvent): void {
    this.send(ChunkStreamId.Control, userControlMessage(event));
  }

  /** Bytes waiting in the output queue. */
  get pendingOutput(): number {
    return this.#outBytes;
  }

  /** Removes and returns everything queued for the peer, oldest first. @returns Byte chunks. */
  takeOutput(): Uint8Array[] {
    const out = this.#out;
    this.#out = [];
    this.#outBytes = 0;
    return out;
  }
}
