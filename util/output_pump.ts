/**
 * Serialised writing of a session's output queue to a socket: every `flush()` waits for the
 * previous one, so bytes reach the socket in the order the session queued them even when the
 * read loop (acks, pings) and the caller (media) flush concurrently. Each `write()` resolves
 * when the OS accepted the bytes, so a slow peer slows the flusher down (backpressure).
 *
 * @module
 */

import type { Conn } from "../socket/types.ts";

/** Pieces smaller than this are gathered into one write. */
const COALESCE_PIECE = 64 << 10;
/** The most bytes gathered into one write. */
const COALESCE_LIMIT = 256 << 10;

/**
 * Writes queued output to a connection in order.
 *
 * @example
 * ```ts
 * import { OutputPump } from "./output_pump.ts";
 * import type { Conn } from "../socket/types.ts";
 * async function send(conn: Conn, queue: Uint8Array[]): Promise<void> {
 *   const pump = new OutputPump(conn, () => queue.splice(0));
 *   await pump.flush();
 * }
 * ```
 */
export class OutputPump {
  readonly #conn: Conn;
  readonly #take: () => Uint8Array[];
  #chain: Promise<void> = Promise.resolve();
  #drainBound = (): Promise<void> => this.#drain();

  /**
   * @param conn Connection to write to.
   * @param take Removes and returns the queued chunks.
   */
  constructor(conn: Conn, take: () => Uint8Array[]) {
    this.#conn = conn;
    this.#take = take;
  }

  /**
   * Writes everything queued now (and whatever is queued while writing). Rejects with the
   * socket's `RtmpError` if a write fails; later flushes reject the same way.
   *
   * @returns Resolves when the OS accepted every byte.
   */
  flush(): Promise<void> {
    const next = this.#chain.then(this.#drainBound);
    // Keep the chain alive after a failure; each caller still sees its own rejection.
    this.#chain = next.catch(() => {});
    return next;
  }

  async #drain(): Promise<void> {
    for (let chunks = this.#take(); chunks.length > 0; chunks = this.#take()) {
      // Several queued messages go out in one write: one syscall (and one promise) per batch
      // instead of one per message — for a player, a burst of small audio/video messages.
      // Large pieces are written as they are (copying them would cost more than it saves).
      let i = 0;
      while (i < chunks.length) {
        let end = i;
        let bytes = 0;
        while (
          end < chunks.length && chunks[end].length < COALESCE_PIECE &&
          bytes + chunks[end].length <= COALESCE_LIMIT
        ) bytes += chunks[end++].length;
        if (end - i < 2) {
          await this.#conn.write(chunks[i++]);
          continue;
        }
        const batch = new Uint8Array(bytes);
        let at = 0;
        for (; i < end; i++) {
          batch.set(chunks[i], at);
          at += chunks[i].length;
        }
        await this.#conn.write(batch);
      }
    }
  }
}
