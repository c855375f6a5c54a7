/**
 * Protocol control messages (RTMP 1.0 §5.4: types 1, 2, 3, 5, 6) and user control messages
 * (RTMP 1.0 §6.2 and §7.1.7: type 4), decoded to tagged objects and built as
 * {@linkcode RtmpMessage}s on message stream 0.
 *
 * Decoding reads the fixed fields and ignores trailing bytes, as deployed peers do; a payload
 * too short for its fields, a chunk size with the top bit set or zero, or an unknown bandwidth
 * limit type is `MALFORMED`.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import { MessageType, type RtmpMessage } from "./message.ts";

/**
 * A user control event (RTMP 1.0 §7.1.7). Event types this library does not know (such as the
 * FMS-specific 31/32 buffer events) arrive as `Unknown` with their raw event data.
 *
 * @example
 * ```ts
 * import type { UserControlEvent } from "./control.ts";
 * const e: UserControlEvent = { type: "StreamBegin", streamId: 1 };
 * ```
 */
export type UserControlEvent =
  | { type: "StreamBegin"; streamId: number }
  | { type: "StreamEOF"; streamId: number }
  | { type: "StreamDry"; streamId: number }
  | { type: "SetBufferLength"; streamId: number; bufferLength: number }
  | { type: "StreamIsRecorded"; streamId: number }
  | { type: "PingRequest"; timestamp: number }
  | { type: "PingResponse"; timestamp: number }
  | { type: "Unknown"; eventType: number; data: Uint8Array };

/**
 * A decoded protocol control or user control message.
 *
 * @example
 * ```ts
 * import type { ControlMessage } from "./control.ts";
 * const m: ControlMessage = { type: "SetPeerBandwidth", size: 2500000, limitType: 2 };
 * ```
 */
export type ControlMessage =
  | { type: "SetChunkSize"; chunkSize: number }
  | { type: "Abort"; chunkStreamId: number }
  | { type: "Acknowledgement"; sequenceNumber: number }
  | { type: "WindowAckSize"; size: number }
  | { type: "SetPeerBandwidth"; size: number; limitType: 0 | 1 | 2 }
  | { type: "UserControl"; event: UserControlEvent };

/**
 * User control event type numbers (RTMP 1.0 §7.1.7).
 *
 * @example
 * ```ts
 * import { UserControlEventType } from "./control.ts";
 * console.log(UserControlEventType.PingRequest); // 6
 * ```
 */
export const UserControlEventType = {
  StreamBegin: 0,
  StreamEOF: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
} as const;

/**
 * Set Peer Bandwidth limit types (RTMP 1.0 §5.4.5).
 *
 * @example
 * ```ts
 * import { BandwidthLimitType } from "./control.ts";
 * console.log(BandwidthLimitType.Dynamic); // 2
 * ```
 */
export const BandwidthLimitType = {
  Hard: 0,
  Soft: 1,
  Dynamic: 2,
} as const;

/** The largest chunk size RTMP 1.0 §5.4.1 allows (31 bits). */
const MAX_CHUNK_SIZE = 0x7fffffff;

function decodeUserControl(r: ByteReader): UserControlEvent {
  const eventType = r.u16("user control event type");
  switch (eventType) {
    case 0:
      return { type: "StreamBegin", streamId: r.u32("StreamBegin stream id") };
    case 1:
      return { type: "StreamEOF", streamId: r.u32("StreamEOF stream id") };
    case 2:
      return { type: "StreamDry", streamId: r.u32("StreamDry stream id") };
    case 3: {
      const streamId = r.u32("SetBufferLength stream id");
      return { type: "SetBufferLength", streamId, bufferLength: r.u32("SetBufferLength length") };
    }
    case 4:
      return { type: "StreamIsRecorded", streamId: r.u32("StreamIsRecorded stream id") };
    case 6:
      return { type: "PingRequest", timestamp: r.u32("PingRequest timestamp") };
    case 7:
      return { type: "PingResponse", timestamp: r.u32("PingResponse timestamp") };
    default:
      // A copy: the event outlives the payload buffer if the caller keeps it.
      return { type: "Unknown", eventType, data: r.rest().slice() };
  }
}

/**
 * Decodes a protocol control message (types 1, 2, 3, 5, 6) or user control message (type 4).
 *
 * @example
 * ```ts
 * import { decodeControl } from "./control.ts";
 * const payload = new Uint8Array([0, 0, 16, 0]);
 * const m = decodeControl({ type: 1, streamId: 0, timestamp: 0, payload });
 * console.log(m); // { type: "SetChunkSize", chunkSize: 4096 }
 * ```
 * @param message A message of type 1–6.
 * @returns The decoded message.
 * @throws {RtmpError} `MALFORMED` for a short payload or an out-of-range field;
 * `INVALID_ARGUMENT` for a message of another type.
 */
export function decodeControl(message: RtmpMessage): ControlMessage {
  const r = new ByteReader(message.payload);
  switch (message.type) {
    case MessageType.SetChunkSize: {
      const v = r.u32("SetChunkSize chunk size");
      // RTMP 1.0 §5.4.1: bit 31 must be zero and the size at least 1.
      if (v === 0 || v > MAX_CHUNK_SIZE) {
        throw new RtmpError(
          "MALFORMED",
          `SetChunkSize: expected a chunk size 1..${MAX_CHUNK_SIZE}, got ${v}`,
        );
      }
      return { type: "SetChunkSize", chunkSize: v };
    }
    case MessageType.Abort:
      return { type: "Abort", chunkStreamId: r.u32("Abort chunk stream id") };
    case MessageType.Acknowledgement:
      return { type: "Acknowledgement", sequenceNumber: r.u32("Acknowledgement sequence number") };
    case MessageType.UserControl:
      return { type: "UserControl", event: decodeUserControl(r) };
    case MessageType.WindowAckSize:
      return { type: "WindowAckSize", size: r.u32("WindowAckSize size") };
    case MessageType.SetPeerBandwidth: {
      const size = r.u32("SetPeerBandwidth size");
      const limitType = r.u8("SetPeerBandwidth limit type");
      if (limitType > 2) {
        throw new RtmpError(
          "MALFORMED",
          "SetPeerBandwidth: expected limit type 0 (hard), 1 (soft) or 2 (dynamic), " +
            `got ${limitType}`,
        );
      }
      return { type: "SetPeerBandwidth", size, limitType: limitType as 0 | 1 | 2 };
    }
    default:
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `decodeControl: expected a message of type 1..6, got type ${message.type}`,
      );
  }
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RtmpError("INVALID_ARGUMENT", `${what}: expected an integer 0..4294967295, got ${v}`);
  }
}

function u32Message(type: number, v: number, what: string): RtmpMessage {
  checkU32(v, what);
  return { type, streamId: 0, timestamp: 0, payload: new ByteWriter(4).u32(v).finish() };
}

/**
 * Builds Set Chunk Size (RTMP 1.0 §5.4.1).
 *
 * @example
 * ```ts
 * import { setChunkSizeMessage } from "./control.ts";
 * console.log(setChunkSizeMessage(4096).payload); // Uint8Array [0, 0, 16, 0]
 * ```
 * @param size New maximum chunk size, 1..0x7FFFFFFF.
 * @returns The message (stream 0, timestamp 0).
 * @throws {RtmpError} `INVALID_ARGUMENT` when `size` is out of range.
 */
export function setChunkSizeMessage(size: number): RtmpMessage {
  if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `setChunkSizeMessage: expected a chunk size 1..${MAX_CHUNK_SIZE}, got ${size}`,
    );
  }
  return u32Message(MessageType.SetChunkSize, size, "setChunkSizeMessage");
}

/**
 * Builds Abort (RTMP 1.0 §5.4.2).
 *
 * @example
 * ```ts
 * import { abortMessage } from "./control.ts";
 * console.log(abortMessage(4).type); // 2
 * ```
 * @param chunkStreamId The chunk stream whose partial message the peer should drop.
 * @returns The message (stream 0, timestamp 0).
 * @throws {RtmpError} `INVALID_ARGUMENT` when not a uint32.
 */
export function abortMessage(chunkStreamId: number): RtmpMessage {
  return u32Message(MessageType.Abort, chunkStreamId, "abortMessage");
}

/**
 * Builds Acknowledgement (RTMP 1.0 §5.4.3).
 *
 * @example
 * ```ts
 * import { acknowledgementMessage } from "./control.ts";
 * console.log(acknowledgementMessage(2500000).type); // 3
 * ```
 * @param sequenceNumber Bytes received so far (modulo 2^32).
 * @returns The message (stream 0, timestamp 0).
 * @throws {RtmpError} `INVALID_ARGUMENT` when not a uint32.
 */
export function acknowledgementMessage(sequenceNumber: number): RtmpMessage {
  return u32Message(MessageType.Acknowledgement, sequenceNumber, "acknowledgementMessage");
}

/**
 * Builds Window Acknowledgement Size (RTMP 1.0 §5.4.4).
 *
 * @example
 * ```ts
 * import { windowAckSizeMessage } from "./control.ts";
 * console.log(windowAckSizeMessage(2500000).type); // 5
 * ```
 * @param size Bytes the peer may receive before it must acknowledge.
 * @returns The message (stream 0, timestamp 0).
 * @throws {RtmpError} `INVALID_ARGUMENT` when not a uint32.
 */
export function windowAckSizeMessage(size: number): RtmpMessage {
  return u32Message(MessageType.WindowAckSize, size, "windowAckSizeMessage");
}

/**
 * Builds Set Peer Bandwidth (RTMP 1.0 §5.4.5).
 *
 * @example
 * ```ts
 * import { setPeerBandwidthMessage } from "./control.ts";
 * console.log(setPeerBandwidthMessage(2500000, 2).payload); // Uint8Array [0, 38, 37, 160, 2]
 * ```
 * @param size Window size in bytes.
 * @param limitType 0 hard, 1 soft, 2 dynamic.
 * @returns The message (stream 0, timestamp 0).
 * @throws {RtmpError} `INVALID_ARGUMENT` for an out-of-range size or limit type.
 */
export function setPeerBandwidthMessage(size: number, limitType: 0 | 1 | 2): RtmpMessage {
  checkU32(size, "setPeerBandwidthMessage size");
  if (limitType !== 0 && limitType !== 1 && limitType !== 2) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `setPeerBandwidthMessage: expected limit type 0, 1 or 2, got ${String(limitType)}`,
    );
  }
  return {
    type: MessageType.SetPeerBandwidth,
    streamId: 0,
    timestamp: 0,
    payload: new ByteWriter(5).u32(size).u8(limitType).finish(),
  };
}

/**
 * Builds a user control message (RTMP 1.0 §6.2) carrying `event`.
 *
 * @example
 * ```ts
 * import { userControlMessage } from "./control.ts";
 * const m = userControlMessage({ type: "StreamBegin", streamId: 1 });
 * console.log(m.type, m.payload); // 4 Uint8Array [0, 0, 0, 0, 0, 1]
 * ```
 * @param event The event.
 * @param timestamp Message timestamp (default 0; ignored by receivers per §6.2).
 * @returns The message on stream 0.
 * @throws {RtmpError} `INVALID_ARGUMENT` for out-of-range fields.
 */
export function userControlMessage(event: UserControlEvent, timestamp = 0): RtmpMessage {
  checkU32(timestamp, "userControlMessage timestamp");
  const w = new ByteWriter(10);
  switch (event.type) {
    case "StreamBegin":
    case "StreamEOF":
    case "StreamDry":
    case "StreamIsRecorded":
      checkU32(event.streamId, `${event.type} stream id`);
      w.u16(UserControlEventType[event.type]).u32(event.streamId);
      break;
    case "SetBufferLength":
      checkU32(event.streamId, "SetBufferLength stream id");
      checkU32(event.bufferLength, "SetBufferLength buffer length");
      w.u16(UserControlEventType.SetBufferLength).u32(event.streamId).u32(event.bufferLength);
      break;
    case "PingRequest":
    case "PingResponse":
      checkU32(event.timestamp, `${event.type} timestamp`);
      w.u16(UserControlEventType[event.type]).u32(event.timestamp);
      break;
    case "Unknown":
      if (!Number.isInteger(event.eventType) || event.eventType < 0 || event.eventType > 0xffff) {
        throw new RtmpError(
          "INVALID_ARGUMENT",
          `userControlMessage: expected an event type 0..65535, got ${event.eventType}`,
        );
      }
      w.u16(event.eventType).bytes(event.data);
      break;
    default:
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `userControlMessage: unknown event ${String((event as { type: unknown }).type)}`,
      );
  }
  return { type: MessageType.UserControl, streamId: 0, timestamp, payload: w.finish() };
}
