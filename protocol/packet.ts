/**
 * Media packets as the server hands them to the caller and the client accepts them: one audio,
 * video or data message with its absolute timestamp, the parsed tag, and the raw payload for
 * zero-copy forwarding or recording.
 *
 * The predicates a stream consumer needs — where a decodable picture starts
 * ({@linkcode isKeyframe}) and which packets are decoder configuration to keep for late joiners
 * ({@linkcode isSequenceHeader}) — are here for packets, and as {@linkcode isKeyframePayload} /
 * {@linkcode isSequenceHeaderPayload} for raw message bodies on paths that do not parse tags.
 *
 * @module
 */

import {
  AacPacketType,
  AudioPacketType,
  type AudioTag,
  isAudioSequenceHeader,
  parseAudioTag,
  SoundFormat,
} from "./audio_tag.ts";
import { ByteReader } from "./bytes.ts";
import { type DataMessage, decodeData } from "./data.ts";
import { readModExChain } from "./fourcc.ts";
import { MessageType, type RtmpMessage } from "./message.ts";
import {
  AvcPacketType,
  isVideoKeyframe,
  isVideoSequenceHeader,
  parseVideoTag,
  VideoCodecId,
  VideoFrameType,
  VideoPacketType,
  type VideoTag,
} from "./video_tag.ts";

export { VideoFrameType } from "./video_tag.ts";

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

/**
 * Whether a packet is a video key frame a decoder can start at: see
 * {@linkcode isVideoKeyframe} (false for sequence headers, end of sequence, Metadata and
 * command frames, and for a video packet whose tag did not parse).
 *
 * @example
 * ```ts
 * import { isKeyframe, packetFromMessage } from "./packet.ts";
 * const idr = packetFromMessage({ type: 9, streamId: 1, timestamp: 0, payload: new Uint8Array([0x17, 1, 0, 0, 0, 9]) });
 * const avcC = packetFromMessage({ type: 9, streamId: 1, timestamp: 0, payload: new Uint8Array([0x17, 0, 0, 0, 0, 1]) });
 * console.log(isKeyframe(idr!), isKeyframe(avcC!)); // true false
 * ```
 *
 * @param packet A media packet.
 * @returns `true` for a video key frame.
 */
export function isKeyframe(packet: MediaPacket): boolean {
  return packet.type === "video" && packet.tag !== null && isVideoKeyframe(packet.tag);
}

/**
 * Whether a packet is decoder configuration — the sequence header a late joiner needs before
 * any frame: a legacy AVC/HEVC sequence header or AAC AudioSpecificConfig (AACPacketType 0), an
 * Enhanced RTMP SequenceStart (video or audio, also per track of a multitrack message) or video
 * MPEG2TSSequenceStart. See {@linkcode isVideoSequenceHeader} and
 * {@linkcode isAudioSequenceHeader}. Data packets are never sequence headers.
 *
 * @example
 * ```ts
 * import { isSequenceHeader, packetFromMessage } from "./packet.ts";
 * const asc = packetFromMessage({ type: 8, streamId: 1, timestamp: 0, payload: new Uint8Array([0xaf, 0, 0x12, 0x10]) });
 * const aac = packetFromMessage({ type: 8, streamId: 1, timestamp: 0, payload: new Uint8Array([0xaf, 1, 0x21]) });
 * console.log(isSequenceHeader(asc!), isSequenceHeader(aac!)); // true false
 * ```
 *
 * @param packet A media packet.
 * @returns `true` for a video or audio sequence header.
 */
export function isSequenceHeader(packet: MediaPacket): boolean {
  if (packet.type === "video") return packet.tag !== null && isVideoSequenceHeader(packet.tag);
  if (packet.type === "audio") return packet.tag !== null && isAudioSequenceHeader(packet.tag);
  return false;
}

/**
 * The packet type that applies to an enhanced body: after any ModEx chain (E-RTMP v2, "Process
 * each ModEx data packet") and, for a multitrack message, the per-track type. `-1` when the
 * header is cut short or the chain is malformed. Reads a few header bytes only.
 */
function enhancedPacketType(payload: Uint8Array, media: "audio" | "video"): number {
  const modEx = media === "video" ? VideoPacketType.ModEx : AudioPacketType.ModEx;
  let packetType = payload[0] & 0x0f;
  let next = 1;
  if (packetType === modEx) {
    const r = new ByteReader(payload, 1);
    try {
      packetType = readModExChain(r, packetType, modEx, media).packetType;
    } catch {
      return -1;
    }
    next = r.offset;
  }
  const multitrack = media === "video" ? VideoPacketType.Multitrack : AudioPacketType.Multitrack;
  if (packetType !== multitrack) return packetType;
  // The multitrack header byte: AvMultitrackType in the high nibble, the tracks' packet type low.
  return next < payload.length ? payload[next] & 0x0f : -1;
}

/**
 * {@linkcode isKeyframe} on a raw video message body, for hot paths that forward payloads
 * without parsing them: it reads the header bytes only (frame type, packet type, any ModEx
 * chain and the multitrack header), so a body whose rest is malformed may still count.
 *
 * @example
 * ```ts
 * import { isKeyframePayload } from "./packet.ts";
 * console.log(isKeyframePayload(new Uint8Array([0x17, 1, 0, 0, 0, 9]))); // true (AVC NALU)
 * console.log(isKeyframePayload(new Uint8Array([0x17, 0, 0, 0, 0, 1]))); // false (AVC header)
 * console.log(isKeyframePayload(new Uint8Array([0x93, 0x61, 0x76, 0x30, 0x31, 0]))); // true (av01 CodedFramesX)
 * ```
 *
 * @param payload The body of a video message (type 9) or FLV video tag.
 * @returns `true` when it is a key frame.
 */
export function isKeyframePayload(payload: Uint8Array): boolean {
  if (payload.length === 0) return false;
  const b0 = payload[0];
  if ((b0 & 0x80) !== 0) {
    if (((b0 >> 4) & 0x07) !== VideoFrameType.KeyFrame) return false;
    const packetType = enhancedPacketType(payload, "video");
    return packetType === VideoPacketType.CodedFrames ||
      packetType === VideoPacketType.CodedFramesX;
  }
  if (b0 >> 4 !== VideoFrameType.KeyFrame) return false;
  const codecId = b0 & 0x0f;
  if (codecId !== VideoCodecId.Avc && codecId !== VideoCodecId.Hevc) return true;
  // FLV 10.1 E.4.3.1: AVCPacketType, then a SI24 composition time.
  return payload.length >= 5 && payload[1] === AvcPacketType.Nalu;
}

/**
 * {@linkcode isSequenceHeader} on a raw audio or video message body, for hot paths that do not
 * parse tags: it reads the header bytes only, like {@linkcode isKeyframePayload}.
 *
 * @example
 * ```ts
 * import { isSequenceHeaderPayload } from "./packet.ts";
 * console.log(isSequenceHeaderPayload("video", new Uint8Array([0x17, 0, 0, 0, 0, 1]))); // true (avcC)
 * console.log(isSequenceHeaderPayload("audio", new Uint8Array([0xaf, 0, 0x12, 0x10]))); // true (AAC ASC)
 * console.log(isSequenceHeaderPayload("audio", new Uint8Array([0x90, 0x4f, 0x70, 0x75, 0x73]))); // true (Opus SequenceStart)
 * ```
 *
 * @param kind `audio` (message type 8) or `video` (type 9).
 * @param payload The message body.
 * @returns `true` when it is a sequence header.
 */
export function isSequenceHeaderPayload(kind: "audio" | "video", payload: Uint8Array): boolean {
  if (payload.length === 0) return false;
  const b0 = payload[0];
  if (kind === "audio") {
    if (b0 >> 4 === SoundFormat.ExHeader) {
      return enhancedPacketType(payload, "audio") === AudioPacketType.SequenceStart;
    }
    return b0 >> 4 === SoundFormat.Aac && payload.length >= 2 &&
      payload[1] === AacPacketType.SequenceHeader;
  }
  // Frame type 5 is a command frame (or a Metadata packet): never configuration.
  if (((b0 >> 4) & 0x07) === VideoFrameType.Command) return false;
  if ((b0 & 0x80) !== 0) {
    const packetType = enhancedPacketType(payload, "video");
    return packetType === VideoPacketType.SequenceStart ||
      packetType === VideoPacketType.Mpeg2TsSequenceStart;
  }
  const codecId = b0 & 0x0f;
  return (codecId === VideoCodecId.Avc || codecId === VideoCodecId.Hevc) && payload.length >= 5 &&
    payload[1] === AvcPacketType.SequenceHeader;
}

/**
 * Whether a message body configures a decoder: a sequence header
 * ({@linkcode isSequenceHeaderPayload}) or, for audio, an Enhanced RTMP MultichannelConfig
 * (the channel layout, E-RTMP v2 "Multichannel Config"). A late joiner needs all of them
 * before the first frame; a stream keeps the latest of each.
 *
 * @example
 * ```ts
 * import { isConfigurationPayload } from "./packet.ts";
 * console.log(isConfigurationPayload("audio", new Uint8Array([0x94, 0x4f, 0x70, 0x75, 0x73, 0, 2]))); // true
 * ```
 *
 * @param kind `audio` or `video`.
 * @param payload The message body.
 * @returns `true` for configuration.
 */
export function isConfigurationPayload(kind: "audio" | "video", payload: Uint8Array): boolean {
  if (isSequenceHeaderPayload(kind, payload)) return true;
  return kind === "audio" && payload.length > 0 && payload[0] >> 4 === SoundFormat.ExHeader &&
    enhancedPacketType(payload, "audio") === AudioPacketType.MultichannelConfig;
}
