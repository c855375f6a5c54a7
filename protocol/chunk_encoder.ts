/**
 * The sending half of the RTMP chunk stream (RTMP 1.0 §5.3): splits messages into chunks with
 * the smallest header that the peer will decode to the same values.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { RtmpMessage } from "./message.ts";
import {
  basicHeaderSize,
  DEFAULT_CHUNK_SIZE,
  EXTENDED_TIMESTAMP,
  MAX_CHUNK_SIZE,
  MAX_CHUNK_STREAM_ID,
  MAX_MESSAGE_LENGTH,
  MESSAGE_HEADER_SIZE,
  MIN_CHUNK_STREAM_ID,
  writeBasicHeader,
} from "./chunk_header.ts";
import { IdTable } from "./id_table.ts";

/**
 * Marks "no delta the reader would repeat on fmt 3". Used after a fmt 0 header with a non-zero
 * timestamp: the spec makes the next fmt-3 message repeat that timestamp as its delta
 * (RTMP 1.0 §5.3.1.2.4) but nginx-rtmp resets the delta to 0 there, so a fmt 2 header registers
 * the delta first and every reader agrees.
 */
const NO_DELTA = -1;

/** What the peer's decoder knows about one chunk stream after our last header. */
class EncoderStream {
  timestamp = 0;
  delta = NO_DELTA;
  length = 0;
  type = 0;
  streamId = 0;
  /** Whether the last fmt 0/1/2 header carried an Extended Timestamp. */
  extended = false;
}

/** Options for {@linkcode ChunkEncoder}. */
export interface ChunkEncoderOptions {
  /** Outgoing chunk size (default 128, RTMP 1.0 §5.4.1). */
  chunkSize?: number;
}

function checkChunkSize(size: number): number {
  if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `chunk size: expected an integer 1..${MAX_CHUNK_SIZE}, got ${size}`,
    );
  }
  return size;
}

function checkUint(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RtmpError("INVALID_ARGUMENT", `${what}: expected an integer 0..${max}, got ${value}`);
  }
}

/**
 * Splits RTMP messages into chunks (RTMP 1.0 §5.3), remembering per chunk stream what the peer
 * knows so each message gets the smallest correct header:
 *
 * - fmt 0 for the first message on a chunk stream, a different message stream id, or a
 *   timestamp lower than the previous one (a backwards step or a wrap past 2^32 is sent as the
 *   absolute value);
 * - fmt 1 when the length or type changed;
 * - fmt 3 when the delta equals the one the reader will repeat (RTMP 1.0 §5.3.1.2.4) — never
 *   merely because the timestamp is unchanged;
 * - fmt 2 otherwise.
 *
 * When the absolute timestamp (fmt 0) or the delta (fmt 1/2) is >= 0xFFFFFF, the 24-bit field is
 * 0xFFFFFF and the value follows as a 4-byte Extended Timestamp, repeated on every fmt-3 chunk
 * after it (RTMP 1.0 §5.3.1.3).
 *
 * Remember to call {@linkcode ChunkEncoder.setChunkSize} right after encoding a Set Chunk Size
 * message, and {@linkcode ChunkEncoder.reset} if the peer's decoder state is lost.
 *
 * @example
 * ```ts
 * import { ChunkEncoder } from "./chunk_encoder.ts";
 * const encoder = new ChunkEncoder();
 * const payload = new Uint8Array(300);
 * const bytes = encoder.encode(6, { type: 9, streamId: 1, timestamp: 40, payload });
 * // 12-byte fmt 0 header + 300 bytes + two 1-byte fmt 3 continuation headers
 * console.log(bytes.length); // 314
 * ```
 */
export class ChunkEncoder {
  #chunkSize: number;
  #streams = new IdTable<EncoderStream>();

  /**
   * Creates an encoder with no chunk stream state.
   *
   * @param options Initial chunk size.
   */
  constructor(options: ChunkEncoderOptions = {}) {
    this.#chunkSize = checkChunkSize(options.chunkSize ?? DEFAULT_CHUNK_SIZE);
  }

  /** The chunk size used for outgoing chunks. */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  /**
   * Changes the outgoing chunk size. Call it right after encoding the Set Chunk Size message
   * that announces `size`, so the peer applies it at the same byte.
   *
   * @example
   * ```ts
   * import { ChunkEncoder } from "./chunk_encoder.ts";
   * const encoder = new ChunkEncoder();
   * encoder.setChunkSize(4096);
   * console.log(encoder.chunkSize); // 4096
   * ```
   *
   * @param size 1..0x7FFFFFFF.
   * @throws {RtmpError} `INVALID_ARGUMENT` outside that range.
   */
  setChunkSize(size: number): void {
    this.#chunkSize = checkChunkSize(size);
  }

  /**
   * Forgets header state so the next message gets a fmt 0 header.
   *
   * @example
   * ```ts
   * import { ChunkEncoder } from "./chunk_encoder.ts";
   * const encoder = new ChunkEncoder();
   * const m = { type: 8, streamId: 1, timestamp: 0, payload: new Uint8Array(1) };
   * encoder.encode(4, m);
   * encoder.reset(4);
   * console.log(encoder.encode(4, m)[0] >> 6); // 0 (fmt 0)
   * ```
   *
   * @param chunkStreamId One chunk stream to forget; all when omitted.
   */
  reset(chunkStreamId?: number): void {
    if (chunkStreamId === undefined) this.#streams.clear();
    else this.#streams.delete(chunkStreamId);
  }

  /**
   * Encodes every chunk of `message` into one buffer sized exactly up front.
   *
   * @example
   * ```ts
   * import { ChunkEncoder } from "./chunk_encoder.ts";
   * const encoder = new ChunkEncoder();
   * const audio = (timestamp: number) => ({ type: 8, streamId: 1, timestamp, payload: new Uint8Array(32) });
   * const fmts = [1000, 1020, 1040].map((t) => encoder.encode(4, audio(t))[0] >> 6);
   * console.log(fmts); // [0, 2, 3]
   * ```
   *
   * @param chunkStreamId Chunk stream id, 2..65599.
   * @param message Type 0..255, stream id and timestamp as unsigned 32-bit integers, payload of
   * at most 0xFFFFFF bytes.
   * @returns The chunks, ready to write.
   * @throws {RtmpError} `INVALID_ARGUMENT` for values outside those ranges.
   */
  encode(chunkStreamId: number, message: RtmpMessage): Uint8Array {
    const csid = chunkStreamId;
    if (!Number.isInteger(csid) || csid < MIN_CHUNK_STREAM_ID || csid > MAX_CHUNK_STREAM_ID) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `chunk stream id: expected an integer ${MIN_CHUNK_STREAM_ID}..${MAX_CHUNK_STREAM_ID}, ` +
          `got ${csid}`,
      );
    }
    const { type, streamId, timestamp, payload } = message;
    checkUint("message type", type, 0xff);
    checkUint("message stream id", streamId, 0xffffffff);
    checkUint("message timestamp", timestamp, 0xffffffff);
    const length = payload.length;
    if (length > MAX_MESSAGE_LENGTH) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `message length: expected at most ${MAX_MESSAGE_LENGTH} bytes, got ${length}`,
      );
    }

    let st = this.#streams.get(csid);
    let fmt: number;
    let value: number;
    if (st === undefined || st.streamId !== streamId || timestamp < st.timestamp) {
      fmt = 0;
      value = timestamp;
    } else {
      value = timestamp - st.timestamp;
      if (length !== st.length || type !== st.type) fmt = 1;
      else if (value === st.delta) fmt = 3;
      else fmt = 2;
    }
    // A fmt-3 header inherits the Extended Timestamp presence of the last fmt 0/1/2 header; the
    // delta it repeats is `value`, so both agree.
    const extended = fmt === 3 ? (st as EncoderStream).extended : value >= EXTENDED_TIMESTAMP;

    const chunkSize = this.#chunkSize;
    const bh = basicHeaderSize(csid);
    const ext = extended ? 4 : 0;
    const chunks = length === 0 ? 1 : Math.ceil(length / chunkSize);
    const total = bh + MESSAGE_HEADER_SIZE[fmt] + ext + length + (chunks - 1) * (bh + ext);
    const out = new Uint8Array(total);

    let p = writeBasicHeader(out, 0, fmt, csid);
    if (fmt !== 3) {
      const field = extended ? EXTENDED_TIMESTAMP : value;
      out[p] = field >>> 16;
      out[p + 1] = field >>> 8;
      out[p + 2] = field;
      p += 3;
      if (fmt <= 1) {
        out[p] = length >>> 16;
        out[p + 1] = length >>> 8;
        out[p + 2] = length;
        out[p + 3] = type;
        p += 4;
        if (fmt === 0) {
          // RTMP 1.0 §5.3.1.2.5: the message stream id is little-endian.
          out[p] = streamId;
          out[p + 1] = streamId >>> 8;
          out[p + 2] = streamId >>> 16;
          out[p + 3] = streamId >>> 24;
          p += 4;
        }
      }
    }
    if (extended) p = writeU32(out, p, value);

    let sent = Math.min(chunkSize, length);
    out.set(payload.subarray(0, sent), p);
    p += sent;
    while (sent < length) {
      p = writeBasicHeader(out, p, 3, csid);
      // RTMP 1.0 §5.3.1.3: the Extended Timestamp is repeated on every continuation chunk.
      if (extended) p = writeU32(out, p, value);
      const n = Math.min(chunkSize, length - sent);
      out.set(payload.subarray(sent, sent + n), p);
      p += n;
      sent += n;
    }

    if (st === undefined) {
      st = new EncoderStream();
      this.#streams.set(csid, st);
    }
    st.timestamp = timestamp;
    st.delta = fmt === 0 ? (timestamp === 0 ? 0 : NO_DELTA) : value;
    st.length = length;
    st.type = type;
    st.streamId = streamId;
    if (fmt !== 3) st.extended = extended;
    return out;
  }
}

function writeU32(out: Uint8Array, p: number, v: number): number {
  out[p] = v >>> 24;
  out[p + 1] = v >>> 16;
  out[p + 2] = v >>> 8;
  out[p + 3] = v;
  return p + 4;
}
