/**
 * The receiving half of the RTMP chunk stream (RTMP 1.0 §5.3): turns bytes, split any way the
 * socket delivers them, into complete {@linkcode RtmpMessage}s.
 *
 * Memory: the decoder keeps no reference to the bytes it is given. A small scratch buffer holds
 * a chunk header split across reads; chunk data is copied once, straight into a buffer
 * allocated at the message length when the message's first chunk arrives, and that buffer
 * becomes the message payload. Allocation is bounded by {@linkcode ChunkDecoderOptions}.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { RtmpMessage } from "./message.ts";
import {
  DEFAULT_CHUNK_SIZE,
  EXTENDED_TIMESTAMP,
  MAX_CHUNK_SIZE,
  MESSAGE_HEADER_SIZE,
} from "./chunk_header.ts";

/** Largest chunk header: 3-byte basic header + 11-byte fmt 0 header + 4-byte extended ts. */
const MAX_HEADER_SIZE = 18;

/**
 * Bounds for {@linkcode ChunkDecoder}. A peer that exceeds one gets `LIMIT_EXCEEDED`.
 *
 * @example
 * ```ts
 * import { ChunkDecoder, type ChunkDecoderOptions } from "./chunk_decoder.ts";
 * const options: ChunkDecoderOptions = { maxMessageSize: 1 << 20, maxChunkStreams: 16 };
 * const decoder = new ChunkDecoder(options);
 * console.log(decoder.chunkSize); // 128
 * ```
 */
export interface ChunkDecoderOptions {
  /** Largest message length accepted, in bytes (default 16 MiB). */
  maxMessageSize?: number;
  /** Most distinct chunk stream ids a peer may use (default 64). */
  maxChunkStreams?: number;
  /** Most bytes held across all partially received messages (default 64 MiB). */
  maxBufferedBytes?: number;
}

/** Header state and the message in progress for one chunk stream id. */
class ChunkStream {
  readonly id: number;
  /** Absolute timestamp of the last message started on this chunk stream. */
  timestamp = 0;
  /** The delta a fmt-3 header starting a new message repeats (RTMP 1.0 §5.3.1.2.4). */
  delta = 0;
  length = 0;
  type = 0;
  streamId = 0;
  /** Whether the last fmt 0/1/2 header carried an Extended Timestamp (RTMP 1.0 §5.3.1.3). */
  extended = false;
  /** The message being assembled, or null between messages. */
  payload: Uint8Array | null = null;
  received = 0;

  constructor(id: number) {
    this.id = id;
  }
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `ChunkDecoder ${name}: expected a positive integer, got ${value}`,
    );
  }
  return value;
}

/**
 * Reassembles RTMP messages from a chunk stream (RTMP 1.0 §5.3).
 *
 * - Timestamps come out absolute: fmt 0 carries the absolute value, fmt 1/2 a delta added to the
 *   previous message's timestamp on that chunk stream, and fmt 3 starting a new message repeats
 *   the previous delta (after a fmt 0 header that delta is the fmt-0 timestamp itself). All
 *   arithmetic wraps at 2^32.
 * - Extended Timestamp: when the 24-bit field is 0xFFFFFF, 4 more bytes follow the message
 *   header (the absolute value for fmt 0, the delta for fmt 1/2), and — as the spec requires and
 *   FFmpeg and librtmp do — they are repeated on every fmt-3 chunk of the stream until the next
 *   fmt 0/1/2 header. Peers that omit them on continuation chunks are not supported: the
 *   header alone cannot tell the two apart.
 * - Set Chunk Size (type 1) and Abort (type 2) take effect inside the decoder the moment their
 *   message completes, so the next chunk of the same `push()` already uses the new size. They are
 *   still returned to the caller.
 * - A fmt 0/1/2 header on a chunk stream whose message is incomplete continues that message if it
 *   repeats its length, type and stream id (its timestamp is ignored); any change is `MALFORMED`.
 *
 * Every malformed or over-limit input throws {@linkcode RtmpError} (`MALFORMED`,
 * `LIMIT_EXCEEDED`). Messages completed before the bad byte are still returned (nothing already
 * received is lost); the error is thrown by that `push()` when none completed, otherwise by the
 * next one. After that the decoder is unusable — every later `push()` throws the same error — and
 * the caller is expected to close the connection.
 *
 * @example Decode one message
 * ```ts
 * import { ChunkDecoder } from "./chunk_decoder.ts";
 * const decoder = new ChunkDecoder();
 * // fmt 0, csid 3, timestamp 0, length 1, type 20, stream 0, payload [5]
 * const bytes = new Uint8Array([3, 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 5]);
 * const [message] = decoder.push(bytes);
 * console.log(message.type, message.payload); // 20 Uint8Array [5]
 * ```
 */
export class ChunkDecoder {
  #maxMessageSize: number;
  #maxChunkStreams: number;
  #maxBufferedBytes: number;
  #chunkSize = DEFAULT_CHUNK_SIZE;
  #streams = new Map<number, ChunkStream>();
  #last: ChunkStream | null = null;
  #scratch = new Uint8Array(MAX_HEADER_SIZE);
  #scratchLen = 0;
  /** The chunk stream whose chunk data is being read, or null while reading a header. */
  #current: ChunkStream | null = null;
  /** Chunk data bytes still to read in the current chunk. */
  #chunkLeft = 0;
  #buffered = 0;
  #bytesReceived = 0;
  #error: RtmpError | null = null;

  /**
   * Creates a decoder in the initial state (chunk size 128, no chunk streams).
   *
   * @param options Limits; see {@linkcode ChunkDecoderOptions}.
   */
  constructor(options: ChunkDecoderOptions = {}) {
    this.#maxMessageSize = positiveInteger("maxMessageSize", options.maxMessageSize, 16 << 20);
    this.#maxChunkStreams = positiveInteger("maxChunkStreams", options.maxChunkStreams, 64);
    this.#maxBufferedBytes = positiveInteger(
      "maxBufferedBytes",
      options.maxBufferedBytes,
      64 << 20,
    );
  }

  /** The peer's current chunk size (starts at 128, changed by Set Chunk Size). */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  /**
   * Total bytes pushed so far. An Acknowledgement's sequence number is this value mod 2^32
   * (RTMP 1.0 §5.4.3).
   */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** Bytes currently held by incomplete messages. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Feeds bytes from the peer.
   *
   * @param bytes Any slice of the chunk stream, even one byte; not retained.
   * @returns The messages completed by these bytes, in order (possibly none).
   * @throws {RtmpError} `MALFORMED` or `LIMIT_EXCEEDED` (deferred to the next call when messages
   * completed first); the decoder is unusable afterwards.
   */
  push(bytes: Uint8Array): RtmpMessage[] {
    if (this.#error !== null) throw this.#error;
    this.#bytesReceived += bytes.length;
    const out: RtmpMessage[] = [];
    try {
      this.#run(bytes, out);
    } catch (e) {
      this.#error = e instanceof RtmpError
        ? e
        : new RtmpError("MALFORMED", `chunk stream: cannot decode (${e})`, { cause: e });
      if (out.length === 0) throw this.#error;
    }
    return out;
  }

  #run(bytes: Uint8Array, out: RtmpMessage[]): void {
    const len = bytes.length;
    let off = 0;
    for (;;) {
      const cs = this.#current;
      if (cs !== null) {
        const n = Math.min(this.#chunkLeft, len - off);
        if (n > 0) {
          (cs.payload as Uint8Array).set(bytes.subarray(off, off + n), cs.received);
          cs.received += n;
          off += n;
          this.#chunkLeft -= n;
        }
        if (this.#chunkLeft > 0) return;
        this.#current = null;
        if (cs.received === cs.length) this.#complete(cs, out);
        continue;
      }
      if (off >= len) return;
      if (this.#scratchLen === 0) {
        const need = this.#headerSize(bytes, off, len - off);
        if (need > len - off) {
          // The header continues in a later read: keep its start (fewer than 18 bytes).
          this.#scratch.set(bytes.subarray(off), 0);
          this.#scratchLen = len - off;
          return;
        }
        this.#parseHeader(bytes, off);
        off += need;
      } else {
        const scratch = this.#scratch;
        for (;;) {
          const need = this.#headerSize(scratch, 0, this.#scratchLen);
          if (need <= this.#scratchLen) break;
          const take = Math.min(need - this.#scratchLen, len - off);
          if (take === 0) return;
          scratch.set(bytes.subarray(off, off + take), this.#scratchLen);
          this.#scratchLen += take;
          off += take;
        }
        this.#scratchLen = 0;
        this.#parseHeader(scratch, 0);
      }
    }
  }

  #lookup(csid: number): ChunkStream | undefined {
    const last = this.#last;
    if (last !== null && last.id === csid) return last;
    const cs = this.#streams.get(csid);
    if (cs !== undefined) this.#last = cs;
    return cs;
  }

  #known(csid: number, fmt: number): ChunkStream {
    const cs = this.#lookup(csid);
    if (cs === undefined) {
      throw new RtmpError(
        "MALFORMED",
        `chunk stream ${csid}: expected a fmt 0 header first, got fmt ${fmt}`,
      );
    }
    return cs;
  }

  /**
   * Length of the chunk header starting at `buf[o]`, as far as `avail` bytes reveal it: a lower
   * bound that is exact once it is <= `avail`.
   */
  #headerSize(buf: Uint8Array, o: number, avail: number): number {
    if (avail < 1) return 1;
    const b0 = buf[o];
    const low = b0 & 0x3f;
    const bh = low === 0 ? 2 : low === 1 ? 3 : 1;
    if (avail < bh) return bh;
    const fmt = b0 >>> 6;
    if (fmt === 3) {
      // RTMP 1.0 §5.3.1.3: a fmt-3 chunk carries the Extended Timestamp when the last fmt 0/1/2
      // header of its chunk stream did.
      const csid = low === 0
        ? buf[o + 1] + 64
        : low === 1
        ? buf[o + 1] + buf[o + 2] * 256 + 64
        : low;
      return this.#known(csid, 3).extended ? bh + 4 : bh;
    }
    const mh = MESSAGE_HEADER_SIZE[fmt];
    if (avail < bh + mh) return bh + mh;
    const ts = (buf[o + bh] << 16) | (buf[o + bh + 1] << 8) | buf[o + bh + 2];
    return ts === EXTENDED_TIMESTAMP ? bh + mh + 4 : bh + mh;
  }

  /** Applies a complete chunk header (its size was checked by #headerSize). */
  #parseHeader(buf: Uint8Array, o: number): void {
    const b0 = buf[o];
    const fmt = b0 >>> 6;
    const low = b0 & 0x3f;
    let csid: number;
    let p: number;
    if (low === 0) {
      csid = buf[o + 1] + 64;
      p = o + 2;
    } else if (low === 1) {
      csid = buf[o + 1] + buf[o + 2] * 256 + 64;
      p = o + 3;
    } else {
      csid = low;
      p = o + 1;
    }

    let cs: ChunkStream;
    if (fmt === 3) {
      cs = this.#known(csid, 3);
      let extValue = -1;
      if (cs.extended) {
        extValue = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
      }
      if (cs.payload === null) {
        // RTMP 1.0 §5.3.1.2.4: a new message with the previous header; it repeats the delta.
        // With an Extended Timestamp the 4 bytes carry that delta; FFmpeg's writer uses fmt 3
        // whenever the 24-bit field repeats (0xFFFFFF), so the 4 bytes are authoritative.
        const delta = extValue >= 0 ? extValue : cs.delta;
        cs.delta = delta;
        cs.timestamp = (cs.timestamp + delta) >>> 0;
        this.#startMessage(cs);
      }
      // A continuation chunk: the repeated Extended Timestamp (if any) was consumed above.
    } else {
      let c = this.#lookup(csid);
      if (c === undefined) {
        if (fmt !== 0) {
          throw new RtmpError(
            "MALFORMED",
            `chunk stream ${csid}: expected a fmt 0 header first, got fmt ${fmt}`,
          );
        }
        if (this.#streams.size >= this.#maxChunkStreams) {
          throw new RtmpError(
            "LIMIT_EXCEEDED",
            `chunk stream ${csid}: at most ${this.#maxChunkStreams} chunk streams allowed`,
          );
        }
        c = new ChunkStream(csid);
        this.#streams.set(csid, c);
        this.#last = c;
      }
      cs = c;
      let ts = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2];
      let length = cs.length;
      let type = cs.type;
      let streamId = cs.streamId;
      if (fmt <= 1) {
        length = (buf[p + 3] << 16) | (buf[p + 4] << 8) | buf[p + 5];
        type = buf[p + 6];
        if (fmt === 0) {
          // RTMP 1.0 §5.3.1.2.5: the message stream id is little-endian.
          streamId = (buf[p + 7] | (buf[p + 8] << 8) | (buf[p + 9] << 16) | (buf[p + 10] << 24)) >>>
            0;
        }
      }
      p += MESSAGE_HEADER_SIZE[fmt];
      const extended = ts === EXTENDED_TIMESTAMP;
      if (extended) {
        ts = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
      }
      cs.extended = extended;
      if (cs.payload !== null) {
        if (length !== cs.length || type !== cs.type || streamId !== cs.streamId) {
          throw new RtmpError(
            "MALFORMED",
            `chunk stream ${csid}: fmt ${fmt} header in the middle of a message changes it ` +
              `(length ${cs.length} -> ${length}, type ${cs.type} -> ${type}, ` +
              `stream ${cs.streamId} -> ${streamId}) after ${cs.received} bytes`,
          );
        }
      } else {
        if (fmt === 0) {
          cs.timestamp = ts;
          // RTMP 1.0 §5.3.1.2.4: a fmt-3 message right after fmt 0 uses its timestamp as delta.
          cs.delta = ts;
        } else {
          cs.delta = ts;
          cs.timestamp = (cs.timestamp + ts) >>> 0;
        }
        cs.length = length;
        cs.type = type;
        cs.streamId = streamId;
        this.#startMessage(cs);
      }
    }
    this.#current = cs;
    const left = cs.length - cs.received;
    this.#chunkLeft = left < this.#chunkSize ? left : this.#chunkSize;
  }

  #startMessage(cs: ChunkStream): void {
    const length = cs.length;
    if (length > this.#maxMessageSize) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `chunk stream ${cs.id}: message of ${length} bytes exceeds the limit of ` +
          `${this.#maxMessageSize}`,
      );
    }
    if (this.#buffered + length > this.#maxBufferedBytes) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `chunk stream ${cs.id}: a ${length}-byte message would hold ` +
          `${this.#buffered + length} bytes in partial messages, limit ${this.#maxBufferedBytes}`,
      );
    }
    cs.payload = new Uint8Array(length);
    cs.received = 0;
    this.#buffered += length;
  }

  #complete(cs: ChunkStream, out: RtmpMessage[]): void {
    const payload = cs.payload as Uint8Array;
    cs.payload = null;
    cs.received = 0;
    this.#buffered -= cs.length;
    // Validate control messages before handing them out, so a malformed one is never returned.
    if (cs.type === 1) this.#applySetChunkSize(payload);
    else if (cs.type === 2) this.#applyAbort(payload);
    out.push({ type: cs.type, streamId: cs.streamId, timestamp: cs.timestamp, payload });
  }

  // RTMP 1.0 §5.4.1: 31-bit chunk size, top bit zero, at least 1.
  #applySetChunkSize(payload: Uint8Array): void {
    if (payload.length < 4) {
      throw new RtmpError(
        "MALFORMED",
        `Set Chunk Size: expected a 4-byte payload, got ${payload.length} byte(s)`,
      );
    }
    const size = ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
    if (size < 1 || size > MAX_CHUNK_SIZE) {
      throw new RtmpError(
        "MALFORMED",
        `Set Chunk Size: expected 1..${MAX_CHUNK_SIZE}, got ${size}`,
      );
    }
    this.#chunkSize = size;
  }

  // RTMP 1.0 §5.4.2: discard the partial message on the named chunk stream.
  #applyAbort(payload: Uint8Array): void {
    if (payload.length < 4) {
      throw new RtmpError(
        "MALFORMED",
        `Abort: expected a 4-byte payload, got ${payload.length} byte(s)`,
      );
    }
    const csid = ((payload[0] << 24) | (payload[1] << 16) | (payload[2] << 8) | payload[3]) >>> 0;
    const cs = this.#streams.get(csid);
    if (cs === undefined || cs.payload === null) return;
    this.#buffered -= cs.length;
    cs.payload = null;
    cs.received = 0;
  }
}
