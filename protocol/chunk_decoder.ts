/**
 * The receiving half of the RTMP chunk stream (RTMP 1.0 §5.3): turns bytes, split any way the
 * socket delivers them, into complete {@linkcode RtmpMessage}s.
 *
 * Memory: the decoder keeps no reference to the bytes it is given. A small scratch buffer holds
 * a chunk header split across reads. A message's payload buffer grows with the bytes that
 * actually arrived, never with the length its header announces: it is allocated at the first
 * data byte and doubles (capped at the announced length) when full, so a peer that announces
 * 16 MiB and sends 3 KB makes the decoder hold 3–6 KB, and a complete message costs amortised
 * ≈ 2 copies per byte with O(log n) allocations. The last buffer has exactly the message length
 * and becomes the payload. What is held is bounded per decoder (`maxPartialBytes`) and, when a
 * {@linkcode ByteBudget} is given, across every decoder sharing it.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { ByteBudget } from "./byte_budget.ts";
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
 * Intermediate buffers of 2^0 … 2^17 bytes (up to 128 KiB) that a message outgrew are kept, one
 * per size, for the next message: without them each message would allocate log2(n) fresh
 * buffers, which measured 2–3× slower than one allocation per message. They are counted like
 * partial messages (at most 256 KiB per decoder) and are the first thing given back when a
 * limit is tight.
 */
const SPARE_CLASSES = 18;

/**
 * Bounds for {@linkcode ChunkDecoder}. A peer that exceeds one gets `LIMIT_EXCEEDED`.
 *
 * @example
 * ```ts
 * import { ByteBudget } from "./byte_budget.ts";
 * import { ChunkDecoder, type ChunkDecoderOptions } from "./chunk_decoder.ts";
 * const shared = new ByteBudget({ limit: 256 << 20 });
 * const options: ChunkDecoderOptions = {
 *   maxMessageSize: 64 << 10, // until a publish is accepted; see setMaxMessageSize()
 *   maxChunkStreams: 16,
 *   maxPartialBytes: 32 << 20,
 *   budget: shared,
 * };
 * const decoder = new ChunkDecoder(options);
 * console.log(decoder.chunkSize); // 128
 * ```
 */
export interface ChunkDecoderOptions {
  /**
   * Largest message length accepted, in bytes (default 16 MiB). A header announcing more is
   * refused at once, before any of its data is read. Changeable with
   * {@linkcode ChunkDecoder.setMaxMessageSize}.
   */
  maxMessageSize?: number;
  /** Most distinct chunk stream ids a peer may use (default 64). */
  maxChunkStreams?: number;
  /**
   * Most bytes this decoder holds across all partially received messages (default 64 MiB).
   * Counted as allocated: at most twice what arrived of each message.
   */
  maxPartialBytes?: number;
  /** @deprecated Old name of {@linkcode ChunkDecoderOptions.maxPartialBytes}. */
  maxBufferedBytes?: number;
  /**
   * A budget shared with other decoders (typically one per server). Every byte of a partial
   * message is taken from it before it is allocated and released when the message completes,
   * is aborted (Abort, RTMP 1.0 §5.4.2), the decoder fails, or {@linkcode ChunkDecoder.dispose}
   * is called. When it cannot give, the decoder throws `LIMIT_EXCEEDED`; to close the biggest
   * holders instead, see `ByteBudgetOptions.onExhausted`.
   */
  budget?: ByteBudget;
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
  /** Whether a message is being assembled (its header came, not all of its data yet). */
  open = false;
  /** What arrived of that message (null before its first data byte); its length is counted. */
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
 * the caller is expected to close the connection. A failure gives back every byte held at once.
 *
 * Budget exhaustion: when the shared {@linkcode ByteBudget} cannot give what a growing message
 * needs, the decoder that asked fails with `LIMIT_EXCEEDED`. That punishes whoever happens to
 * ask, which may be a legitimate publisher while hostile peers hold the rest. A server that
 * prefers to close the biggest holders first ranks its decoders by
 * {@linkcode ChunkDecoder.partialBytes} and disposes the top ones in the budget's
 * `onExhausted` hook; the asking decoder then carries on (or, if it was itself evicted, fails).
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
  #maxPartialBytes: number;
  #budget: ByteBudget | null;
  #chunkSize = DEFAULT_CHUNK_SIZE;
  #streams = new Map<number, ChunkStream>();
  #last: ChunkStream | null = null;
  #scratch = new Uint8Array(MAX_HEADER_SIZE);
  #scratchLen = 0;
  /** The chunk stream whose chunk data is being read, or null while reading a header. */
  #current: ChunkStream | null = null;
  /** Chunk data bytes still to read in the current chunk. */
  #chunkLeft = 0;
  /** Bytes allocated for partial messages and spares (all taken from the budget). */
  #held = 0;
  /** Reusable intermediate buffers by log2 of their size; see {@linkcode SPARE_CLASSES}. */
  #spares: (Uint8Array | undefined)[] = new Array(SPARE_CLASSES).fill(undefined);
  #spareBytes = 0;
  #bytesReceived = 0;
  #error: RtmpError | null = null;
  #disposed = false;

  /**
   * Creates a decoder in the initial state (chunk size 128, no chunk streams).
   *
   * @param options Limits; see {@linkcode ChunkDecoderOptions}.
   */
  constructor(options: ChunkDecoderOptions = {}) {
    this.#maxMessageSize = positiveInteger("maxMessageSize", options.maxMessageSize, 16 << 20);
    this.#maxChunkStreams = positiveInteger("maxChunkStreams", options.maxChunkStreams, 64);
    this.#maxPartialBytes = positiveInteger(
      options.maxPartialBytes === undefined && options.maxBufferedBytes !== undefined
        ? "maxBufferedBytes"
        : "maxPartialBytes",
      options.maxPartialBytes ?? options.maxBufferedBytes,
      64 << 20,
    );
    this.#budget = options.budget ?? null;
  }

  /** The current largest message length accepted. */
  get maxMessageSize(): number {
    return this.#maxMessageSize;
  }

  /**
   * Changes the largest message length accepted, e.g. from a small cap while a connection has
   * no reason to send big messages (commands before a publish) to the media cap once a publish
   * is accepted. Applies to every message whose header arrives afterwards; a message already
   * being received keeps the limit it started under.
   *
   * @example
   * ```ts
   * import { ChunkDecoder } from "./chunk_decoder.ts";
   * const decoder = new ChunkDecoder({ maxMessageSize: 64 << 10 });
   * // ... publish accepted:
   * decoder.setMaxMessageSize(16 << 20);
   * console.log(decoder.maxMessageSize); // 16777216
   * ```
   *
   * @param bytes The new limit, a positive integer.
   * @throws {RtmpError} `INVALID_ARGUMENT` for anything else.
   */
  setMaxMessageSize(bytes: number): void {
    if (bytes === undefined) {
      throw new RtmpError("INVALID_ARGUMENT", "setMaxMessageSize: expected a byte count, got none");
    }
    this.#maxMessageSize = positiveInteger("maxMessageSize", bytes, 0);
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

  /**
   * Bytes this decoder holds and has charged to its limits and budget: the buffers of
   * incomplete messages (each at most twice what arrived of it) plus up to 256 KiB of spare
   * buffers it reuses for the next messages. A server whose shared budget runs low can rank its
   * connections by this and close the biggest holders first.
   */
  get partialBytes(): number {
    return this.#held;
  }

  /** Of {@linkcode ChunkDecoder.partialBytes}, the bytes in incomplete messages (0 between). */
  get bufferedBytes(): number {
    return this.#held - this.#spareBytes;
  }

  /**
   * Releases every byte held for partial messages (back to the shared budget too) and makes the
   * decoder unusable: later pushes throw `CLOSED`. Call it when the connection ends — a decoder
   * dropped without it keeps its share of the budget taken. Idempotent.
   *
   * @example
   * ```ts
   * import { ByteBudget } from "./byte_budget.ts";
   * import { ChunkDecoder } from "./chunk_decoder.ts";
   * const budget = new ByteBudget({ limit: 1 << 20 });
   * const decoder = new ChunkDecoder({ budget });
   * // fmt 0, csid 3, length 1000, type 9: a header and 2 bytes of data
   * decoder.push(new Uint8Array([3, 0, 0, 0, 0, 0x03, 0xe8, 9, 1, 0, 0, 0, 1, 2]));
   * console.log(budget.used); // 2
   * decoder.dispose();
   * console.log(budget.used); // 0
   * ```
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#error ??= new RtmpError("CLOSED", "chunk decoder: used after dispose()");
    this.#releaseAll();
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
      // Nothing held can complete any more: give it back now, not when the owner disposes.
      this.#releaseAll();
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
          const end = cs.received + n;
          let payload = cs.payload;
          if (payload === null || payload.length < end) payload = this.#grow(cs, end);
          payload.set(bytes.subarray(off, off + n), cs.received);
          cs.received = end;
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
      if (!cs.open) {
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
      if (cs.open) {
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

  /** Opens a message; nothing is allocated until its data arrives. */
  #startMessage(cs: ChunkStream): void {
    const length = cs.length;
    if (length > this.#maxMessageSize) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `chunk stream ${cs.id}: message of ${length} bytes (type ${cs.type}) exceeds the ` +
          `limit of ${this.#maxMessageSize} bytes`,
      );
    }
    if (length > this.#maxPartialBytes) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `chunk stream ${cs.id}: message of ${length} bytes could never be held: at most ` +
          `${this.#maxPartialBytes} bytes of partial messages per connection`,
      );
    }
    cs.open = true;
    cs.payload = null;
    cs.received = 0;
  }

  /**
   * Makes room for `need` bytes of `cs`'s message. The buffer at least doubles, so a message
   * costs O(log n) growths; intermediate buffers are powers of two so that they can be reused
   * (see {@linkcode SPARE_CLASSES}), and the last one is exactly the announced length.
   */
  #grow(cs: ChunkStream, need: number): Uint8Array {
    const old = cs.payload;
    const had = old === null ? 0 : old.length;
    let size = had * 2;
    if (size < need) size = need;
    // Round up to a power of two: at most doubles what arrived, and makes the buffer reusable.
    if (size < cs.length) size = 2 ** Math.ceil(Math.log2(size));
    if (size >= cs.length) size = cs.length;
    // The outgrown buffer is accounted as gone (kept as a spare, or given back) before the new
    // one is charged, so the limits bound what is held once the copy is done: a message of the
    // full maxPartialBytes fits. It stays readable here until copied.
    cs.payload = null;
    if (old !== null) this.#recycle(old);
    let payload: Uint8Array | undefined;
    if (size < cs.length && this.#spareBytes > 0) {
      // A spare is counted already, so taking one costs nothing: take the largest that is big
      // enough and still short of the message (whose payload must be a fresh, exact buffer) —
      // a bigger start saves growth copies.
      let cls = Math.min(SPARE_CLASSES - 1, Math.floor(Math.log2(cs.length - 1)));
      for (const low = Math.log2(size); cls >= low; cls--) {
        payload = this.#spares[cls];
        if (payload !== undefined) break;
      }
      if (payload !== undefined) {
        this.#spares[cls] = undefined;
        this.#spareBytes -= payload.length;
      }
    }
    if (payload === undefined) {
      this.#take(cs, size);
      payload = new Uint8Array(size);
    }
    if (old !== null) payload.set(old.subarray(0, cs.received));
    cs.payload = payload;
    return payload;
  }

  /** Charges `n` newly allocated bytes to both limits, dropping spares first if they are tight. */
  #take(cs: ChunkStream, n: number): void {
    if (this.#held + n > this.#maxPartialBytes) {
      this.#dropSpares();
      if (this.#held + n > this.#maxPartialBytes) {
        throw new RtmpError(
          "LIMIT_EXCEEDED",
          `chunk stream ${cs.id}: partial messages would hold ${this.#held + n} bytes, ` +
            `more than the ${this.#maxPartialBytes} allowed per connection`,
        );
      }
    }
    const budget = this.#budget;
    if (budget !== null) {
      let taken = budget.tryTake(n);
      if (!taken && !this.#disposed && this.#spareBytes > 0) {
        this.#dropSpares();
        taken = budget.tryTake(n);
      }
      if (this.#disposed) {
        // The budget's onExhausted hook disposed this decoder to free room.
        if (taken) budget.release(n);
        throw new RtmpError(
          "LIMIT_EXCEEDED",
          `chunk stream ${cs.id}: connection evicted to free the shared partial-message budget`,
        );
      }
      if (!taken) {
        throw new RtmpError(
          "LIMIT_EXCEEDED",
          `chunk stream ${cs.id}: the shared partial-message budget is exhausted ` +
            `(${budget.used} of ${budget.limit} bytes in use, ${n} more needed; ` +
            `this connection holds ${this.#held})`,
        );
      }
    }
    this.#held += n;
  }

  /** Gives back `n` counted bytes. */
  #untake(n: number): void {
    this.#held -= n;
    this.#budget?.release(n);
  }

  /** Keeps an intermediate buffer for the next message, or frees it. */
  #recycle(buffer: Uint8Array): void {
    const size = buffer.length;
    const cls = Math.log2(size);
    if (cls < SPARE_CLASSES && Number.isInteger(cls) && this.#spares[cls] === undefined) {
      this.#spares[cls] = buffer;
      this.#spareBytes += size;
    } else {
      this.#untake(size);
    }
  }

  #dropSpares(): void {
    this.#spares.fill(undefined);
    this.#untake(this.#spareBytes);
    this.#spareBytes = 0;
  }

  /** Forgets `cs`'s partial message; its buffer is kept as a spare or given back. */
  #drop(cs: ChunkStream): void {
    const buffer = cs.payload;
    cs.open = false;
    cs.payload = null;
    cs.received = 0;
    if (buffer !== null) this.#recycle(buffer);
  }

  #releaseAll(): void {
    for (const cs of this.#streams.values()) if (cs.open) this.#drop(cs);
    this.#dropSpares();
    this.#current = null;
  }

  #complete(cs: ChunkStream, out: RtmpMessage[]): void {
    // The last growth stopped at the message length, so this buffer is exactly the payload;
    // it leaves the decoder's accounting with the message.
    const payload = cs.payload ?? new Uint8Array(0);
    cs.open = false;
    cs.payload = null;
    cs.received = 0;
    if (payload.length > 0) this.#untake(payload.length);
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
    if (cs === undefined || !cs.open) return;
    this.#drop(cs);
  }
}
