/**
 * Media packets as the server hands them to the caller and the client accepts them: one audio,
 * video or data message with its absolute timestamp, the parsed tag, and the raw payload for
 * zero-copy forwarding or recording.
 *
 * @module
 */

import { type AudioTag, parseAudioTag } from "../protocol/audio_tag.ts";
import { type DataMessage, decodeData } from "../protocol/data.ts";
import { MessageType, type RtmpMessage } from "../protocol/message.ts";
import { parseVideoTag, type VideoTag } from "../protocol/video_tag.ts";

/**
 * An audio packet. `tag` is `null` for a zero-length payload (legal, RTMP 1.0 §7.1.5) or a body
 * that does not parse; the raw `payload` is always there.
 *
 * @example
 * ```ts
 * import type { AudioPacket } from "./packet.ts";
 * const p: AudioPacket = { type: "audio", timestamp: 0, payload: new Uint8Array(0), tag: null };
 * ```
 */
export interface AudioPacket {
  /** Packet kind. */
  type: "audio";
  /** Absolute timestamp in milliseconds (unsigned 32-bit, wraps at 2^32). */
  timestamp: number;
  /** The message body: an FLV AUDIODATA tag body. */
  payload: Uint8Array;
  /** The parsed tag (legacy or Enhanced RTMP), or `null` when empty or unparsable. */
  tag: AudioTag | null;
}

/**
 * A video packet.
 *
 * @example
 * ```ts
 * import type { VideoPacket } from "./packet.ts";
 * const p: VideoPacket = { type: "video", timestamp: 40, payload: new Uint8Array(0), tag: null };
 * ```
 */
export interface VideoPacket {
  /** Packet kind. */
  type: "video";
  /** Absolute timestamp in milliseconds (decode time). */
  timestamp: number;
  /** The message body: an FLV VIDEODATA tag body. */
  payload: Uint8Array;
  /** The parsed tag (legacy or Enhanced RTMP), or `null` when empty or unparsable. */
  tag: VideoTag | null;
}

/**
 * A data packet (`@setDataFrame` / `onMetaData`, `onTextData`, `onCuePoint`, …).
 *
 * @example
 * ```ts
 * import type { DataPacket } from "./packet.ts";
 * function handler(p: DataPacket): string { return p.data?.handler ?? "?"; }
 * ```
 */
export interface DataPacket {
  /** Packet kind. */
  type: "data";
  /** Absolute timestamp in milliseconds. */
  timestamp: number;
  /** The message body as received (AMF0, or AMF3 with its leading format byte). */
  payload: Uint8Array;
  /** Whether the payload is an AMF3 data message (type 15). */
  amf3: boolean;
  /** The decoded handler name and values, or `null` when the body does not decode. */
  data: DataMessage | null;
}

/**
 * One media packet of a published stream.
 *
 * @example
 * ```ts
 * import type { MediaPacket } from "./packet.ts";
 * function size(p: MediaPacket): number { return p.payload.length; }
 * ```
 */
export type MediaPacket = AudioPacket | VideoPacket | DataPacket;

/**
 * Turns an audio, video or data message into a packet, parsing its tag. Returns `null` for
 * other message types.
 *
 * @example
 * ```ts
 * import { packetFromMessage } from "./packet.ts";
 * const p = packetFromMessage({ type: 8, streamId: 1, timestamp: 5, payload: new Uint8Array([0xaf, 1, 9]) });
 * console.log(p?.type, p?.timestamp); // audio 5
 * ```
 *
 * @param message An RTMP message.
 * @returns The packet, or `null` when the message is not media.
 */
export function packetFromMessage(message: RtmpMessage): MediaPacket | null {
  const { payload, timestamp } = message;
  switch (message.type) {
    case MessageType.Audio:
      return { type: "audio", timestamp, payload, tag: tryParse(parseAudioTag, payload) };
    case MessageType.Video:
      return { type: "video", timestamp, payload, tag: tryParse(parseVideoTag, payload) };
    case MessageType.DataAmf0:
    case MessageType.DataAmf3: {
      let data: DataMessage | null = null;
      try {
        data = decodeData(message);
      } catch {
        // Undecodable script data is still forwarded raw; it must not end the stream.
      }
      return {
        type: "data",
        timestamp,
        payload,
        amf3: message.type === MessageType.DataAmf3,
        data,
      };
    }
    default:
      return null;
  }
}

/**
 * The RTMP message type that carries a packet.
 *
 * @example
 * ```ts
 * import { messageTypeOf } from "./packet.ts";
 * console.log(messageTypeOf({ type: "video", timestamp: 0, payload: new Uint8Array(0), tag: null })); // 9
 * ```
 *
 * @param packet A packet.
 * @returns Its message type id.
 */
export function messageTypeOf(packet: MediaPacket): number {
  if (packet.type === "audio") return MessageType.Audio;
  if (packet.type === "video") return MessageType.Video;
  return packet.amf3 ? MessageType.DataAmf3 : MessageType.DataAmf0;
}

function tryParse<T>(parse: (body: Uint8Array) => T, payload: Uint8Array): T | null {
  if (payload.length === 0) return null;
  try {
    return parse(payload);
  } catch {
    // An unparsable body is forwarded raw: a tag we do not understand is not a protocol error.
    return null;
  }
}
