/**
 * The receive side of the push-based adapters (`node:net` and Bun), whose runtimes hand over
 * chunks as they arrive: a chunk goes straight to a waiting `read()`, or waits in a FIFO. Above
 * 256 KiB of waiting bytes the socket is paused, so a slow reader holds the peer back through TCP
 * flow control; it resumes once the FIFO is down to 64 KiB or a reader waits. Kept low because
 * under a flood every connection may have a FIFO at once (issue 13 §1): a reader that keeps up
 * takes chunks straight from the socket and never reaches it. A chunk the reader is done with
 * (at its next `read()`) is freed at once, see {@linkcode ReadQueue.release}.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { freeNow } from "../protocol/free_now.ts";

/** Received bytes queued for a reader that does not keep up; above this the socket pauses. */
const READ_HIGH_WATER = 256 << 10;
/** Queue level at which a paused socket resumes. */
const READ_LOW_WATER = 64 << 10;

/**
 * What a {@linkcode ReadQueue} pauses and resumes: the socket that feeds it.
 *
 * @example
 * ```ts
 * import type { Pausable } from "./read_queue.ts";
 * const source: Pausable = { pause() {}, resume() {} };
 * source.pause();
 * ```
 */
export interface Pausable {
  /** Stops the runtime from delivering more data. */
  pause(): unknown;
  /** Lets it deliver again. */
  resume(): unknown;
}

/**
 * Chunks received but not yet read, plus the one pending reader.
 *
 * @example
 * ```ts
 * import { ReadQueue } from "./read_queue.ts";
 * const q = new ReadQueue(null);
 * q.push(new Uint8Array([1, 2]));
 * console.log(await q.read(null, false)); // Uint8Array [1, 2]
 * ```
 */
export class ReadQueue {
  /** The socket to pause; `null` until it exists (Bun creates the connection first). */
  source: Pausable | null;
  #mayPause: boolean;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #paused = false;
  #reader: PromiseWithResolvers<Uint8Array | null> | null = null;
  /** The chunk the reader has now; it is the reader's until its next `read()` (Conn contract). */
  #lent: Uint8Array | null = null;

  /**
   * Creates an empty queue.
   * @param source The socket to pause when too much waits.
   * @param mayPause `false` where pausing breaks the socket, leaving reads unbounded.
   */
  constructor(source: Pausable | null, mayPause = true) {
    this.source = source;
    this.#mayPause = mayPause;
  }

  /**
   * The next chunk; otherwise `error`, or `null` when `ended`, or a promise for the next chunk.
   *
   * @param error The connection's failure, if any.
   * @param ended Whether no more data will come (FIN received or closed).
   * @returns The chunk, or `null` at the end.
   * @throws {RtmpError} `INVALID_ARGUMENT` (as a rejection) when a read is already pending.
   */
  read(error: RtmpError | null, ended: boolean): Promise<Uint8Array | null> {
    if (this.#reader === null) this.release();
    const chunk = this.#chunks.shift();
    if (chunk !== undefined) {
      this.#queued -= chunk.byteLength;
      if (this.#paused && this.#queued <= READ_LOW_WATER) this.resume();
      this.#lent = chunk;
      return Promise.resolve(chunk);
    }
    if (error !== null) return Promise.reject(error);
    if (ended) return Promise.resolve(null);
    if (this.#reader !== null) {
      return Promise.reject(
        new RtmpError("INVALID_ARGUMENT", "read: expected one pending read() at most, got two"),
      );
    }
    this.resume();
    this.#reader = Promise.withResolvers<Uint8Array | null>();
    return this.#reader.promise;
  }

  /**
   * Hands a received chunk (kept, not copied) to the pending reader or queues it.
   * @param bytes Bytes from the runtime.
   */
  push(bytes: Uint8Array): void {
    // Readers get a plain Uint8Array view, as on Deno: on Node's Buffer (what Node and Bun hand
    // over) slice() returns a view, not a copy, and a "copy" made that way would vanish with
    // the chunk at the next read (see release()).
    const chunk = Object.getPrototypeOf(bytes) === Uint8Array.prototype
      ? bytes
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const reader = this.#reader;
    if (reader !== null) {
      this.#reader = null;
      this.#lent = chunk;
      reader.resolve(chunk);
      return;
    }
    this.#chunks.push(chunk);
    this.#queued += chunk.byteLength;
    if (!this.#paused && this.#queued > READ_HIGH_WATER && this.#mayPause) {
      this.#paused = true;
      this.source?.pause();
    }
  }

  /**
   * Ends the pending read, if any: rejects with `error`, or resolves `null`.
   * @param error The connection's failure, or `null` for end of stream.
   */
  settle(error: RtmpError | null): void {
    const reader = this.#reader;
    if (reader === null) return;
    this.#reader = null;
    if (error !== null) reader.reject(error);
    else reader.resolve(null);
  }

  /**
   * Frees the memory of the chunk the reader was last given (the Conn contract makes it the
   * reader's only until its next `read()`), now rather than when the collector runs: the
   * runtimes hand over a fresh buffer per socket read, and at full speed dropped read buffers
   * pile up far beyond what is in use (see `protocol/free_now.ts`). The next `read()` calls it;
   * call it also when the connection ends.
   */
  release(): void {
    const lent = this.#lent;
    if (lent === null) return;
    this.#lent = null;
    freeNow(lent);
  }

  /** Resumes the source if this queue paused it. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.source?.resume();
  }
}
