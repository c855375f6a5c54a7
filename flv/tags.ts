/**
 * Media packets ↔ FLV tags: the one place that decides how an RTMP packet is stored in FLV (and
 * read back), shared by the FLV streams, HTTP-FLV output, recording and `pull -`.
 *
 * - Audio and video payloads are FLV AUDIODATA / VIDEODATA bodies already (RTMP 1.0 §7.1.4, FLV
 *   10.1 E.4.2–E.4.3, Enhanced RTMP v1/v2 included), so they become tags byte for byte.
 * - Script data: an FLV file carries `onMetaData` as a plain SCRIPTDATA tag (FLV 10.1 E.5), not
 *   the `@setDataFrame` wrapper a publisher sends, so the wrapper is stripped; an AMF3 data message
 *   (type 15) has no FLV tag type and is re-encoded as AMF0 when its values allow.
 *
 * @module
 */

import { encodeAmf0 } from "../protocol/amf0.ts";
import { type DataMessage, metadataOf } from "../protocol/data.ts";
import { type FlvHeader, type FlvTag, FlvTagType } from "../protocol/flv.ts";
import { type MediaPacket, packetFromMessage } from "../protocol/packet.ts";

import { SET_DATA_FRAME, unwrapSetDataFrame } from "../protocol/data.ts";

/**
 * The FLV tag that stores a packet, or `null` when the packet has no FLV form (an AMF3 data
 * message whose values AMF0 cannot express, or one that did not decode). The tag's `data` is
 * the packet's payload itself (or a view of it), not a copy.
 *
 * @example
 * ```ts
 * import { packetToFlvTag } from "./tags.ts";
 * const tag = packetToFlvTag({
 *   type: "audio", timestamp: 40, payload: new Uint8Array([0xaf, 1, 0x21]), tag: null,
 * });
 * console.log(tag?.type, tag?.timestamp); // 8 40
 * ```
 *
 * @param packet An audio, video or data packet.
 * @returns The tag (stream id 0, as in files), or `null`.
 */
export function packetToFlvTag(packet: MediaPacket): FlvTag | null {
  const { timestamp } = packet;
  if (packet.type === "audio") {
    return { type: FlvTagType.Audio, timestamp, streamId: 0, data: packet.payload };
  }
  if (packet.type === "video") {
    return { type: FlvTagType.Video, timestamp, streamId: 0, data: packet.payload };
  }
  const data = packet.amf3 ? amf0Body(packet.data) : unwrapSetDataFrame(packet.payload);
  return data === null ? null : { type: FlvTagType.Script, timestamp, streamId: 0, data };
}

/** An AMF0 body (without `@setDataFrame`) for a decoded AMF3 data message, when expressible. */
function amf0Body(data: DataMessage | null): Uint8Array | null {
  if (data === null) return null;
  const values = data.handler === SET_DATA_FRAME ? data.values : [data.handler, ...data.values];
  if (typeof values[0] !== "string") return null;
  try {
    return encodeAmf0(values);
  } catch {
    // An AMF3-only value (vector, dictionary, …) has no AMF0 form: the message is not stored.
    return null;
  }
}

/**
 * The packet an FLV tag carries, with its tag parsed (legacy or Enhanced RTMP), or `null` for a
 * tag type that is not audio, video or script data. The packet's payload is the tag's data, not
 * a copy.
 *
 * @example
 * ```ts
 * import { flvTagToPacket } from "./tags.ts";
 * const p = flvTagToPacket({ type: 9, timestamp: 0, streamId: 0, data: new Uint8Array([0x17, 0]) });
 * console.log(p?.type); // video
 * ```
 *
 * @param tag An FLV tag.
 * @returns The packet, or `null`.
 */
export function flvTagToPacket(tag: FlvTag): MediaPacket | null {
  if (
    tag.type !== FlvTagType.Audio && tag.type !== FlvTagType.Video &&
    tag.type !== FlvTagType.Script
  ) {
    return null;
  }
  return packetFromMessage({
    type: tag.type,
    streamId: 0,
    timestamp: tag.timestamp,
    payload: tag.data,
  });
}

/**
 * The FLV header flags a stream's `onMetaData` announces: audio when it names an
 * `audiocodecid`, video when it names a `videocodecid`. `null` when the packet is not metadata
 * or names neither, so callers keep their default.
 *
 * Why it matters: browser players (flv.js, mpegts.js) wait for an init segment of every track
 * the header flags, so a video-only stream announced as audio + video never starts playing.
 *
 * @example
 * ```ts
 * import { flvHeaderFromMetadata } from "./tags.ts";
 * const flags = flvHeaderFromMetadata({
 *   type: "data", timestamp: 0, payload: new Uint8Array(0), amf3: false,
 *   data: { handler: "onMetaData", values: [{ videocodecid: 7, width: 640 }] },
 * });
 * console.log(flags); // { version: 1, audio: false, video: true }
 * ```
 *
 * @param packet Usually the first packet of a live stream.
 * @returns Header flags, or `null`.
 */
export function flvHeaderFromMetadata(packet: MediaPacket): FlvHeader | null {
  if (packet.type !== "data" || packet.data === null) return null;
  const md = metadataOf(packet.data);
  if (md === null) return null;
  const audio = md.audiocodecid !== undefined;
  const video = md.videocodecid !== undefined;
  return audio || video ? { version: 1, audio, video } : null;
}
