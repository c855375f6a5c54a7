/**
 * The receiving half of the RTMP chunk stream (RTMP 1.0 §5.3): turns bytes, split any way the
 * socket delivers them, into complete {@linkcode RtmpMessage}s.
 *
 * Memory: the decoder keeps no reference to the bytes it is given. A small scratch buffer holds
 * a chunk header split across reads. What it holds of a message grows with the bytes that
 * actually arrived, never with the length its header announces (issue 13 §1):
 *
 * - A message whose chunks are all in one `push()`, back to back (the common case: a socket
 *   read holds many chunks), is copied once, straight into its exact-size payload.
 * - Any other message is stored in fixed-size blocks from a {@linkcode BlockPool} (taken one at
 *   a time, as the data arrives) and copied into its exact-size payload when its last byte
 *   comes. The blocks go back to the pool at once: on completion, Abort (RTMP 1.0 §5.4.2), a
 *   failure or {@linkcode ChunkDecoder.dispose}. A pool shared by every decoder of a server means
 *   the memory of a connection closed half-way serves the next one instead of becoming garbage,
 *   so a flood of half-sent messages allocates about the budget, not what it sent.
 *
 * A peer that announces 16 MiB and sends 3 KB makes the decoder hold one block (64 KiB by
 * default). What is held is bounded per decoder (`maxPartialBytes`, counted in bytes that
 * arrived) and, when the pool has a {@linkcode ByteBudget}, across every decoder sharing it
 * (counted in blocks).
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { BlockPool } from "./block_pool.ts";
import type { ByteBudget } from "./byte_budget.ts";
import { copyBytes } from "./bytes.ts";
import type { RtmpMessage } from "./message.ts";
import {
  DEFAULT_CHUNK_SIZE,
  EXTENDED_TIMESTAMP,
  MAX_CHUNK_SIZE,
  MESSAGE_HEADER_SIZE,
} from "./chunk_header.ts";
import { IdTable } from "./id_table.ts";

/** Largest chunk header: 3-byte basic header + 11-byte fmt 0 header + 4-byte extended ts. */
const MAX_HEADER_SIZE = 18;

/**
 * Bounds for {@linkcode ChunkDecoder}. A peer that exceeds one gets `LIMIT_EXCEEDED`.
 *
 * @example
 * ```ts
 * import { BlockPool } from "./block_pool.ts";
 * import { ByteBudget } from "./byte_budget.ts";
 * import { ChunkDecoder, type ChunkDecoderOptions } from "./chunk_decoder.ts";
 * const budget = new ByteBudget({ limit: 96 << 20 }); // the server default
 * const options: ChunkDecoderOptions = {
 *   maxMessageSize: 64 << 10, // until a publish is accepted; see setMaxMessageSize()
 *   maxChunkStreams: 16,
 *   maxPartialBytes: 32 << 20,
 *   pool: new BlockPool({ budget }), // one per server, shared by every connection
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
   * Most bytes of partially received messages this decoder holds (default 64 MiB), counted as
   * they arrive. The memory behind them is counted in blocks, see
   * {@linkcode ChunkDecoder.partialBytes}.
   */
  maxPartialBytes?: number;
  /** @deprecated Old name of {@linkcode ChunkDecoderOptions.maxPartialBytes}. */
  maxBufferedBytes?: number;
  /**
   * Where partial messages are stored, shared with other decoders (typically one pool per
   * server, with the server-wide budget). Default: a pool of this decoder's own, with
   * {@linkcode ChunkDecoderOptions.budget}.
   */
  pool?: BlockPool;
  /**
   * Small blocks for the first bytes of each message (see `pool`; its blocks must be smaller
   * than `pool`'s), with the same budget. Default: one of this decoder's own, of 4 KiB blocks.
   */
  headPool?: BlockPool;
  /**
   * A budget shared with other decoders, for a decoder without a `pool` (with a pool, the pool's
   * budget counts, and this must be absent or the same). Every block of a partial message is
   * taken from it before it is used and released when the message completes, is aborted
   * (Abort, RTMP 1.0 §5.4.2), the decoder fails, or {@linkcode ChunkDecoder.dispose} is called.
   * When it cannot give, the decoder throws `LIMIT_EXCEEDED`; to close the biggest holders
   * instead, see `ByteBudgetOptions.onExhausted`.
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
  /** Pool blocks holding what arrived of that message, in order (none before its data). */
  blocks: Uint8Array[] = [];
  /**
   * Before any block: the first bytes of the message (at most a head block's size) in a block of
   * the head pool, given back when the message completes (its payload is copied out) or outgrows
   * it.
   */
  head: Uint8Array | null = null;
  received = 0;

  constructor(id: number) {
    this.id = id;
  }
}

/**
 * A message's first bytes go to a small block of their own (`headPool`), not a 64 KiB one: a
 * peer that starts many messages and sends a chunk of each (128 bytes at the default chunk size)
 * would otherwise hold a 64 KiB block per message — memory by the number of messages announced,
 * not by the bytes that arrived. Used when the pool's blocks are bigger than the head blocks.
 */
const HEAD_BYTES = 4096;

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
  #pool: BlockPool;
  #headPool: BlockPool;
  #chunkSize = DEFAULT_CHUNK_SIZE;
  #streams = new IdTable<ChunkStream>();
  #last: ChunkStream | null = null;
  #scratch = new Uint8Array(MAX_HEADER_SIZE);
  #scratchLen = 0;
  /** The chunk stream whose chunk data is being read, or null while reading a header. */
  #current: ChunkStream | null = null;
  /** Chunk data bytes still to read in the current chunk. */
  #chunkLeft = 0;
  /** Blocks taken from the pool for partial messages (each charged to its budget). */
  #blocks = 0;
  /** Bytes of head buffers held (charged to the budget like blocks). */
  #headBytes = 0;
  /** Bytes that arrived of partial messages (what `maxPartialBytes` bounds). */
  #buffered = 0;
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
    const pool = options.pool;
    if (pool !== undefined && options.budget !== undefined && options.budget !== pool.budget) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        "ChunkDecoder: expected the budget of the given pool (or none), got another budget",
      );
    }
    // A private pool keeps a small reserve of single blocks: one decoder rarely has more than a
    // message or two in blocks at a time, and 1 MiB slabs would be much for one connection.
    this.#pool = pool ?? new BlockPool({ budget: options.budget, reserve: 4, slabBlocks: 1 });
    const heads = options.headPool;
    if (heads !== undefined && heads.budget !== this.#pool.budget) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        "ChunkDecoder: expected headPool to share the budget of pool",
      );
    }
    this.#headPool = heads ??
      new BlockPool({ blockSize: HEAD_BYTES, budget: this.#pool.budget ?? undefined, reserve: 4 });
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
   * Bytes of memory this decoder holds for incomplete messages, as charged to the pool's budget:
   * the blocks they are stored in (0 between messages). A server whose shared budget runs low
   * can rank its connections by this and close the biggest holders first.
   */
  get partialBytes(): number {
    return this.#blocks * this.#pool.blockSize + this.#headBytes;
  }

  /** The bytes that arrived of incomplete messages (0 between messages); at most `partialBytes`. */
  get bufferedBytes(): number {
    return this.#buffered;
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
   * console.log(budget.used); // 65536: one block
   * decoder.dispose();
   * console.log(budget.used); // 0
   * ```
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
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
    // Made on first use: a connection's teardown disposes its decoder, and most are never pushed
    // to again, so the error (and its stack) would be made for nothing.
    if (this.#disposed) {
      throw this.#error = new RtmpError("CLOSED", "chunk decoder: used after dispose()");
    }
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
        if (cs.received === 0 && cs.length > 0) {
          // The message starts here: when all of it is in these bytes, copy it out at once.
          const end = this.#whole(cs, bytes, off, len, out);
          if (end >= 0) {
            off = end;
            this.#chunkLeft = 0;
            this.#current = null;
            continue;
          }
        }
        const n = Math.min(this.#chunkLeft, len - off);
        if (n > 0) {
          this.#store(cs, bytes, off, n);
          off += n;
          this.#chunkLeft -= n;
        }
        if (this.#chunkLeft > 0) return;
        this.#current = null;
        if (cs.received === cs.length) this.#complete(cs, this.#assemble(cs), out);
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
    cs.received = 0;
  }

  /**
   * The fast path for a message starting at `bytes[off]`: when every one of its chunks is in
   * `bytes[off..len)`, back to back (fmt 3 continuation headers of its own chunk stream only,
   * RTMP 1.0 §5.3.1.2.4), copies its data straight into the exact-size payload — one copy, no
   * blocks — and completes it.
   *
   * @returns The offset after its last chunk, or -1 (nothing consumed) to take the slow path.
   */
  #whole(cs: ChunkStream, bytes: Uint8Array, off: number, len: number, out: RtmpMessage[]): number {
    const length = cs.length;
    const size = this.#chunkSize;
    const first = this.#chunkLeft; // min(length, chunk size): the header was just parsed
    if (first === length) {
      if (off + length > len) return -1;
      // Not bytes.slice(): on a Node Buffer that is a view of the read buffer.
      this.#complete(cs, copyBytes(bytes, off, off + length), out);
      return off + length;
    }
    // The continuation header: basic header of this csid (§5.3.1.1), then the Extended
    // Timestamp again when the message header had one (§5.3.1.3).
    const id = cs.id;
    const b0 = id < 64 ? 0xc0 | id : id < 320 ? 0xc0 : 0xc1;
    const basic = id < 64 ? 1 : id < 320 ? 2 : 3;
    const header = basic + (cs.extended ? 4 : 0);
    const chunks = Math.ceil((length - first) / size) + 1;
    if (off + length + (chunks - 1) * header > len) return -1;
    for (let i = 1, p = off + first; i < chunks; i++, p += header + size) {
      if (bytes[p] !== b0) return -1;
      if (basic === 2 && bytes[p + 1] !== id - 64) return -1;
      if (basic === 3 && bytes[p + 1] + bytes[p + 2] * 256 !== id - 64) return -1;
    }
    const payload = new Uint8Array(length);
    payload.set(bytes.subarray(off, off + first), 0);
    let p = off + first;
    for (let at = first; at < length; at += size) {
      p += header;
      const n = Math.min(size, length - at);
      payload.set(bytes.subarray(p, p + n), at);
      p += n;
    }
    this.#complete(cs, payload, out);
    return p;
  }

  /** Appends `n` bytes of `bytes` from `off` to `cs`'s message, taking blocks as needed. */
  #store(cs: ChunkStream, bytes: Uint8Array, off: number, n: number): void {
    const newBuffered = this.#buffered + n;
    if (newBuffered > this.#maxPartialBytes) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `chunk stream ${cs.id}: partial messages would hold ${newBuffered} bytes, ` +
          `more than the ${this.#maxPartialBytes} allowed per connection`,
      );
    }
    const size = this.#pool.blockSize;
    const blocks = cs.blocks;
    const headSize = this.#headPool.blockSize;
    if (blocks.length === 0 && size > headSize) {
      if (cs.received + n <= headSize || cs.length <= headSize) {
        const head = cs.head ?? this.#takeHead(cs);
        head.set(bytes.subarray(off, off + n), cs.received);
        this.#buffered += n;
        cs.received += n;
        return;
      }
      const head = cs.head;
      if (head !== null) {
        // The message outgrew its head: continue in blocks, the head's bytes first.
        this.#takeBlock(cs).set(head.subarray(0, cs.received));
        this.#dropHead(cs);
      }
    }
    let at = cs.received;
    while (n > 0) {
      const index = Math.floor(at / size);
      const inBlock = at - index * size;
      const block = index < blocks.length ? blocks[index] : this.#takeBlock(cs);
      const k = Math.min(size - inBlock, n);
      block.set(bytes.subarray(off, off + k), inBlock);
      off += k;
      n -= k;
      at += k;
      // Counted as it is stored, so that a failure part-way gives back exactly what is held.
      this.#buffered += k;
      cs.received = at;
    }
  }

  /** Takes the next block for `cs` from the pool (charging the budget) or throws. */
  #takeBlock(cs: ChunkStream): Uint8Array {
    const block = this.#takeFrom(this.#pool, cs);
    cs.blocks.push(block);
    this.#blocks++;
    return block;
  }

  /** Takes `cs`'s head block from the head pool (charging the budget), or throws. */
  #takeHead(cs: ChunkStream): Uint8Array {
    const block = this.#takeFrom(this.#headPool, cs);
    this.#headBytes += block.length;
    return cs.head = block;
  }

  /** A block of `pool` for `cs`, or `LIMIT_EXCEEDED` when the budget (or an eviction) says no. */
  #takeFrom(pool: BlockPool, cs: ChunkStream): Uint8Array {
    const block = pool.take();
    if (this.#disposed) {
      // The budget's onExhausted hook disposed this decoder to free room.
      if (block !== null) pool.give(block);
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `chunk stream ${cs.id}: connection evicted to free the shared partial-message budget`,
      );
    }
    if (block === null) {
      const budget = pool.budget!;
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `chunk stream ${cs.id}: the shared partial-message budget is exhausted ` +
          `(${budget.used} of ${budget.limit} bytes in use, ${pool.blockSize} more needed; ` +
          `this connection holds ${this.partialBytes})`,
      );
    }
    return block;
  }

  /** Gives `cs`'s head block back to the head pool. */
  #dropHead(cs: ChunkStream): void {
    const head = cs.head;
    if (head === null) return;
    cs.head = null;
    this.#headBytes -= head.length;
    this.#headPool.give(head);
  }

  /** Gives `cs`'s blocks back to the pool and forgets its partial message. */
  #drop(cs: ChunkStream): void {
    this.#dropHead(cs);
    const pool = this.#pool;
    for (const block of cs.blocks) pool.give(block);
    this.#blocks -= cs.blocks.length;
    this.#buffered -= cs.received;
    cs.blocks.length = 0;
    cs.open = false;
    cs.received = 0;
  }

  #releaseAll(): void {
    for (const cs of this.#streams.values()) if (cs.open) this.#drop(cs);
    this.#current = null;
  }

  /** Copies `cs`'s complete message out of its blocks into its exact-size payload. */
  #assemble(cs: ChunkStream): Uint8Array {
    const length = cs.length;
    const blocks = cs.blocks;
    let payload: Uint8Array;
    const head = cs.head;
    if (head !== null) payload = head.slice(0, length);
    else if (blocks.length === 0) payload = new Uint8Array(0);
    else if (blocks.length === 1) payload = blocks[0].slice(0, length);
    else {
      payload = new Uint8Array(length);
      const size = this.#pool.blockSize;
      for (let i = 0, at = 0; at < length; i++, at += size) {
        const block = blocks[i];
        payload.set(length - at < size ? block.subarray(0, length - at) : block, at);
      }
    }
    this.#drop(cs);
    return payload;
  }

  #complete(cs: ChunkStream, payload: Uint8Array, out: RtmpMessage[]): void {
    cs.open = false;
    cs.received = 0;
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
