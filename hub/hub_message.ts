/**
 * One media message of a live stream as the hub shares it among subscribers: the raw payload,
 * what kind of frame it is (computed once, from the first bytes, without a full tag parse), the
 * typed packet (parsed on first use), and the chunked bytes for players (encoded once per
 * chunk size and message stream id, then shared by every player: design §8).
 *
 * @module
 */

import { ChunkEncoder } from "../protocol/chunk_encoder.ts";
import { MessageType, type RtmpMessage } from "../protocol/message.ts";
import { unwrapSetDataFrame } from "../protocol/data.ts";
import {
  isConfigurationPayload,
  isKeyframePayload,
  type MediaPacket,
  packetFromMessage,
} from "../protocol/packet.ts";
import { headerKeyOf } from "./header_key.ts";
import { playChunkStream } from "../session/server_session.ts";

const encoders = new Map<number, ChunkEncoder>();

function encoderFor(chunkSize: number): ChunkEncoder {
  let e = encoders.get(chunkSize);
  if (!e) {
    e = new ChunkEncoder({ chunkSize });
    encoders.set(chunkSize, e);
  }
  return e;
}

/**
 * A shared media message.
 *
 * @example
 * ```ts
 * import { HubMessage } from "./hub_message.ts";
 * const m = HubMessage.from({ type: 9, streamId: 1, timestamp: 0, payload: new Uint8Array([0x17, 1, 0, 0, 0]) });
 * console.log(m.keyframe, m.header, m.chunked(4096, 1).length); // true false 17
 * ```
 */
export class HubMessage {
  /** RTMP message type: 8 audio, 9 video, 18/15 data. */
  readonly type: number;
  /** Absolute timestamp in milliseconds, as published. */
  readonly timestamp: number;
  /** The payload as the publisher sent it. */
  readonly payload: Uint8Array;
  /** What players and recordings get (data messages without `@setDataFrame`). */
  readonly playPayload: Uint8Array;
  /** A video frame a decoder can start from (never a sequence header). */
  readonly keyframe: boolean;
  /** A video or audio sequence header (decoder configuration). */
  readonly header: boolean;
  /** Which header this is (per codec and track), or `""`. */
  readonly headerKey: string;
  #packet: MediaPacket | null = null;
  #chunked: Uint8Array | null = null;
  #chunkedSize = 0;
  #chunkedStream = -1;

  /**
   * Wraps a message body (use {@linkcode HubMessage.from} for received messages).
   * @param type Message type.
   * @param timestamp Absolute timestamp (ms).
   * @param payload Body as received.
   */
  constructor(type: number, timestamp: number, payload: Uint8Array) {
    this.type = type;
    this.timestamp = timestamp;
    this.payload = payload;
    const video = type === MessageType.Video;
    const audio = type === MessageType.Audio;
    this.keyframe = video && isKeyframePayload(payload);
    this.header = (video || audio) && isConfigurationPayload(video ? "video" : "audio", payload);
    this.headerKey = this.header ? headerKeyOf(video ? "video" : "audio", payload) : "";
    this.playPayload = video || audio
      ? payload
      : unwrapSetDataFrame(payload, { amf3: type === MessageType.DataAmf3 });
  }

  /**
   * Wraps a received media message.
   * @param message An audio, video or data message.
   * @returns The shared message.
   */
  static from(message: RtmpMessage): HubMessage {
    return new HubMessage(message.type, message.timestamp, message.payload);
  }

  /**
   * Wraps a packet given by user code (e.g. a relay's source).
   * @param packet A media packet.
   * @returns The shared message.
   */
  static fromPacket(packet: MediaPacket): HubMessage {
    const type = packet.type === "audio"
      ? MessageType.Audio
      : packet.type === "video"
      ? MessageType.Video
      : packet.amf3
      ? MessageType.DataAmf3
      : MessageType.DataAmf0;
    const m = new HubMessage(type, packet.timestamp, packet.payload);
    m.#packet = packet;
    return m;
  }

  /** `audio`, `video` or `data`. */
  get kind(): "audio" | "video" | "data" {
    return this.type === MessageType.Audio
      ? "audio"
      : this.type === MessageType.Video
      ? "video"
      : "data";
  }

  /** Bytes this message costs in a queue. */
  get size(): number {
    return this.payload.length + 64;
  }

  /** The typed packet (tag parsed on first access). */
  get packet(): MediaPacket {
    if (!this.#packet) {
      this.#packet = packetFromMessage({
        type: this.type,
        streamId: 0,
        timestamp: this.timestamp,
        payload: this.payload,
      })!;
    }
    return this.#packet;
  }

  /**
   * The complete chunked message (type 0 header, absolute timestamp) for a player, built once
   * for the most recent chunk size / stream id pair and shared.
   *
   * @param chunkSize The player connection's outgoing chunk size.
   * @param streamId The player's message stream id.
   * @returns Bytes to write as they are.
   */
  chunked(chunkSize: number, streamId: number): Uint8Array {
    // Both compared in full: stream ids are 32-bit and a client may pick its own.
    if (this.#chunked && this.#chunkedSize === chunkSize && this.#chunkedStream === streamId) {
      return this.#chunked;
    }
    const csid = playChunkStream(this.type);
    const encoder = encoderFor(chunkSize);
    // A fresh chunk stream state makes the encoder write a type 0 header every time.
    encoder.reset(csid);
    const bytes = encoder.encode(csid, {
      type: this.type,
      streamId,
      timestamp: this.timestamp,
      payload: this.playPayload,
    });
    if (this.#chunkedStream === -1 || streamId === 1) {
      this.#chunked = bytes;
      this.#chunkedSize = chunkSize;
      this.#chunkedStream = streamId;
    }
    return bytes;
  }
}
