/**
 * Constants and helpers of the RTMP chunk header (RTMP 1.0 §5.3.1) shared by the chunk decoder
 * and encoder.
 *
 * @module
 */

/**
 * The chunk size both directions start with (RTMP 1.0 §5.4.1).
 *
 * @example
 * ```ts
 * import { DEFAULT_CHUNK_SIZE } from "./chunk_header.ts";
 * console.log(DEFAULT_CHUNK_SIZE); // 128
 * ```
 */
export const DEFAULT_CHUNK_SIZE = 128;

/**
 * The largest legal chunk size: Set Chunk Size carries 31 bits (RTMP 1.0 §5.4.1).
 *
 * @example
 * ```ts
 * import { MAX_CHUNK_SIZE } from "./chunk_header.ts";
 * console.log(MAX_CHUNK_SIZE === 0x7fffffff); // true
 * ```
 */
export const MAX_CHUNK_SIZE = 0x7fffffff;

/**
 * The 24-bit timestamp value that announces a 4-byte Extended Timestamp (RTMP 1.0 §5.3.1.3).
 *
 * @example
 * ```ts
 * import { EXTENDED_TIMESTAMP } from "./chunk_header.ts";
 * console.log(EXTENDED_TIMESTAMP === 0xffffff); // true
 * ```
 */
export const EXTENDED_TIMESTAMP = 0xffffff;

/**
 * The largest message length a chunk message header can carry (24 bits, RTMP 1.0 §5.3.1.2.1).
 *
 * @example
 * ```ts
 * import { MAX_MESSAGE_LENGTH } from "./chunk_header.ts";
 * console.log(MAX_MESSAGE_LENGTH); // 16777215
 * ```
 */
export const MAX_MESSAGE_LENGTH = 0xffffff;

/**
 * The smallest chunk stream id; 0 and 1 only mark the 2- and 3-byte basic header forms
 * (RTMP 1.0 §5.3.1.1).
 *
 * @example
 * ```ts
 * import { MIN_CHUNK_STREAM_ID } from "./chunk_header.ts";
 * console.log(MIN_CHUNK_STREAM_ID); // 2
 * ```
 */
export const MIN_CHUNK_STREAM_ID = 2;

/**
 * The largest chunk stream id: 64 + 0xFFFF in the 3-byte basic header (RTMP 1.0 §5.3.1.1).
 *
 * @example
 * ```ts
 * import { MAX_CHUNK_STREAM_ID } from "./chunk_header.ts";
 * console.log(MAX_CHUNK_STREAM_ID); // 65599
 * ```
 */
export const MAX_CHUNK_STREAM_ID = 65599;

/**
 * Size of the chunk message header for fmt 0, 1, 2 and 3 (RTMP 1.0 §5.3.1.2).
 *
 * @example
 * ```ts
 * import { MESSAGE_HEADER_SIZE } from "./chunk_header.ts";
 * console.log(MESSAGE_HEADER_SIZE[1]); // 7
 * ```
 */
export const MESSAGE_HEADER_SIZE: readonly number[] = [11, 7, 3, 0];

/**
 * Bytes the smallest basic header for `csid` takes: 1 for 2..63, 2 for 64..319, 3 above
 * (RTMP 1.0 §5.3.1.1 says to use the smallest form).
 *
 * @example
 * ```ts
 * import { basicHeaderSize } from "./chunk_header.ts";
 * console.log(basicHeaderSize(3), basicHeaderSize(64), basicHeaderSize(320)); // 1 2 3
 * ```
 *
 * @param csid A chunk stream id in 2..65599.
 * @returns 1, 2 or 3.
 */
export function basicHeaderSize(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

/**
 * Writes a basic header in its smallest form. The 3-byte form stores csid - 64 little-endian:
 * byte 1 is the low 8 bits, byte 2 the high 8 bits (RTMP 1.0 §5.3.1.1).
 *
 * @example
 * ```ts
 * import { writeBasicHeader } from "./chunk_header.ts";
 * const b = new Uint8Array(3);
 * writeBasicHeader(b, 0, 3, 365);
 * console.log(b); // Uint8Array [193, 45, 1]
 * ```
 *
 * @param buf Destination.
 * @param offset Where to write.
 * @param fmt Chunk type 0..3.
 * @param csid Chunk stream id 2..65599 (not checked here).
 * @returns The offset after the header.
 */
export function writeBasicHeader(
  buf: Uint8Array,
  offset: number,
  fmt: number,
  csid: number,
): number {
  const f = fmt << 6;
  if (csid < 64) {
    buf[offset] = f | csid;
    return offset + 1;
  }
  const id = csid - 64;
  if (csid < 320) {
    buf[offset] = f;
    buf[offset + 1] = id;
    return offset + 2;
  }
  buf[offset] = f | 1;
  buf[offset + 1] = id & 0xff;
  buf[offset + 2] = id >>> 8;
  return offset + 3;
}
