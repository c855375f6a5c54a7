/**
 * Aggregate messages (RTMP 1.0 §7.1.6, type 22): a run of sub-messages, each an 11-byte header,
 * its payload and a 4-byte back pointer, laid out like FLV tags.
 *
 * The sub-message header follows the FLV tag layout that Flash Media Server, nginx-rtmp,
 * librtmp and FFmpeg all use: type (1), payload size (3), timestamp low 24 bits (3), timestamp
 * high 8 bits (1), stream id (3). The back pointer is the size of the sub-message including its
 * header (11 + payload size).
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import { MessageType, type RtmpMessage } from "./message.ts";

/** Sub-message header size (RTMP 1.0 §6.1.1 / FLV tag header). */
const HEADER_SIZE = 11;
/** Header plus back pointer. */
const OVERHEAD = HEADER_SIZE + 4;

/**
 * Splits an aggregate message into its sub-messages. Timestamps are renormalised as RTMP 1.0
 * §7.1.6 describes: the first sub-message lands on the aggregate's timestamp and every other is
 * offset by its difference from the first (modulo 2^32). The aggregate's message stream id
 * overrides the sub-messages' own. Payloads are views into the aggregate's payload (no copy).
 *
 * @example
 * ```ts
 * import { buildAggregate, splitAggregate } from "./aggregate.ts";
 * const agg = buildAggregate([
 *   { type: 9, streamId: 1, timestamp: 40, payload: new Uint8Array([0x17, 1]) },
 *   { type: 8, streamId: 1, timestamp: 60, payload: new Uint8Array([0xaf, 1]) },
 * ], 1);
 * console.log(splitAggregate({ ...agg, timestamp: 1000 }).map((m) => m.timestamp)); // [1000, 1020]
 * ```
 * @param message A type-22 message.
 * @returns The sub-messages in order (none for an empty payload).
 * @throws {RtmpError} `MALFORMED` for a truncated sub-message, a back pointer that does not
 * match, or a nested aggregate; `INVALID_ARGUMENT` for a message of another type.
 */
export function splitAggregate(message: RtmpMessage): RtmpMessage[] {
  if (message.type !== MessageType.Aggregate) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `splitAggregate: expected a message of type 22, got type ${message.type}`,
    );
  }
  const payload = message.payload;
  const r = new ByteReader(payload);
  const out: RtmpMessage[] = [];
  let first = 0;
  while (r.remaining > 0) {
    const at = r.offset;
    const index = out.length;
    if (r.remaining < HEADER_SIZE) {
      throw new RtmpError(
        "MALFORMED",
        `aggregate sub-message ${index} at offset ${at}: needs an ${HEADER_SIZE}-byte header, ` +
          `only ${r.remaining} byte(s) left`,
      );
    }
    const type = r.u8("aggregate sub-message type");
    const size = r.u24("aggregate sub-message size");
    const low = r.u24("aggregate sub-message timestamp");
    const timestamp = (low | (r.u8("aggregate sub-message timestamp high byte") << 24)) >>> 0;
    r.u24("aggregate sub-message stream id"); // RTMP 1.0 §7.1.6: the aggregate's id wins.
    if (type === MessageType.Aggregate) {
      throw new RtmpError(
        "MALFORMED",
        `aggregate sub-message ${index} at offset ${at}: nested aggregate (type 22)`,
      );
    }
    if (size + 4 > r.remaining) {
      throw new RtmpError(
        "MALFORMED",
        `aggregate sub-message ${index} at offset ${at}: declares ${size} payload byte(s) and a ` +
          `4-byte back pointer, only ${r.remaining} byte(s) left`,
      );
    }
    const body = r.view(size, "aggregate sub-message payload");
    const back = r.u32("aggregate back pointer");
    if (back !== HEADER_SIZE + size) {
      throw new RtmpError(
        "MALFORMED",
        `aggregate sub-message ${index} at offset ${at}: back pointer ${back}, expected ` +
          `${HEADER_SIZE + size} (header + payload)`,
      );
    }
    if (index === 0) first = timestamp;
    out.push({
      type,
      streamId: message.streamId,
      timestamp: (message.timestamp + timestamp - first) >>> 0,
      payload: body,
    });
  }
  return out;
}

/**
 * Packs messages into one aggregate message (RTMP 1.0 §7.1.6). The aggregate takes the first
 * message's timestamp and each sub-header carries its message's own timestamp, so the offset a
 * receiver computes is zero, as the spec recommends.
 *
 * @example
 * ```ts
 * import { buildAggregate } from "./aggregate.ts";
 * const audio = { type: 8, streamId: 1, timestamp: 5, payload: new Uint8Array([0xaf]) };
 * const agg = buildAggregate([audio], 1);
 * console.log(agg.type, agg.timestamp, agg.payload.length); // 22 5 16
 * ```
 * @param messages Sub-messages (at least one; none may be an aggregate).
 * @param streamId Message stream id of the aggregate (also written in each sub-header).
 * @returns The aggregate message.
 * @throws {RtmpError} `INVALID_ARGUMENT` for an empty list, a nested aggregate, a payload over
 * 16 MiB − 1, or out-of-range ids and timestamps.
 */
export function buildAggregate(messages: readonly RtmpMessage[], streamId: number): RtmpMessage {
  if (messages.length === 0) {
    throw new RtmpError("INVALID_ARGUMENT", "buildAggregate: needs at least one message");
  }
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffffff) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `buildAggregate: expected a stream id 0..4294967295, got ${streamId}`,
    );
  }
  let total = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (!Number.isInteger(m.type) || m.type < 0 || m.type > 255 || m.type === 22) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `buildAggregate: message ${i} has type ${m.type}; expected 0..255 other than 22`,
      );
    }
    if (m.payload.length > 0xffffff) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `buildAggregate: message ${i} payload is ${m.payload.length} bytes, at most 16777215 fit`,
      );
    }
    if (!Number.isInteger(m.timestamp) || m.timestamp < 0 || m.timestamp > 0xffffffff) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `buildAggregate: message ${i} timestamp ${m.timestamp} is not a uint32`,
      );
    }
    total += OVERHEAD + m.payload.length;
  }
  const w = new ByteWriter(total);
  for (const m of messages) {
    const size = m.payload.length;
    w.u8(m.type).u24(size).u24(m.timestamp & 0xffffff).u8(m.timestamp >>> 24)
      .u24(streamId & 0xffffff).bytes(m.payload).u32(HEADER_SIZE + size);
  }
  return {
    type: MessageType.Aggregate,
    streamId,
    timestamp: messages[0].timestamp,
    payload: w.finish(),
  };
}
