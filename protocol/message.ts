/**
 * The unit the chunk layer carries: an RTMP message (RTMP 1.0 §6.1). Types and well-known
 * chunk stream ids live here so every layer agrees on them.
 *
 * @module
 */

/**
 * One complete RTMP message.
 *
 * @example
 * ```ts
 * import { MessageType, type RtmpMessage } from "./message.ts";
 * const m: RtmpMessage = { type: MessageType.Audio, streamId: 1, timestamp: 0, payload: new Uint8Array([0xaf, 1]) };
 * console.log(m.type); // 8
 * ```
 */
export interface RtmpMessage {
  /** Message type id (RTMP 1.0 §5.4, §7.1). */
  type: number;
  /** Message stream id (0 for protocol control and NetConnection commands). */
  streamId: number;
  /** Absolute timestamp in milliseconds, unsigned 32-bit (wraps at 2^32). */
  timestamp: number;
  /** The message body. Owned by the receiver; never reused by the decoder. */
  payload: Uint8Array;
}

/**
 * RTMP message type ids (RTMP 1.0 §5.4 and §7.1).
 *
 * @example
 * ```ts
 * import { MessageType } from "./message.ts";
 * console.log(MessageType.Video); // 9
 * ```
 */
export const MessageType = {
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const;

/**
 * Conventional chunk stream ids, as FFmpeg, OBS and librtmp use them. Any id 2..65599 is legal;
 * these keep control, commands and media on separate streams so header compression works.
 *
 * @example
 * ```ts
 * import { ChunkStreamId } from "./message.ts";
 * console.log(ChunkStreamId.Control); // 2
 * ```
 */
export const ChunkStreamId = {
  Control: 2,
  Command: 3,
  /** Data messages (`@setDataFrame`) in the NetStream. */
  Data: 5,
  Audio: 4,
  Video: 6,
} as const;
