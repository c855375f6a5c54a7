/**
 * A session's output queue moved to its socket: everything queued is handed to the connection
 * at once with {@linkcode Conn.send} (in order, behind whatever was written before), small
 * pieces gathered into one buffer so a burst of messages costs one syscall. No promise is made
 * unless the connection reports backpressure: then `flush()` waits for it to drain, so a slow
 * peer slows the flusher down instead of growing memory.
 *
 * @module
 */

import type { Conn } from "../socket/types.ts";
import { sendPieces } from "../socket/gather.ts";

/**
 * Where an {@linkcode OutputPump} takes its output from: a session's queue.
 *
 * @example
 * ```ts
 * import type { OutputSource } from "./output_pump.ts";
 * const queue: Uint8Array[] = [];
 * const source: OutputSource = { takeOutput: () => queue.splice(0) };
 * ```
 */
export interface OutputSource {
  /** Removes and returns the queued chunks. */
  takeOutput(): Uint8Array[];
}

/**
 * Writes queued output to a connection in order.
 *
 * @example
 * ```ts
 * import { OutputPump } from "./output_pump.ts";
 * import type { Conn } from "../socket/types.ts";
 * async function send(conn: Conn, queue: Uint8Array[]): Promise<void> {
 *   const pump = new OutputPump(conn, { takeOutput: () => queue.splice(0) });
 *   await pump.flush();
 * }
 * ```
 */
export class OutputPump {
  readonly #conn: Conn;
  readonly #source: OutputSource;

  /**
   * @param conn Connection to write to.
   * @param source Its queued output (objects, not closures: one pump per connection).
   */
  constructor(conn: Conn, source: OutputSource) {
    this.#conn = conn;
    this.#source = source;
  }

  /**
   * Hands everything queued now to the connection, without waiting.
   *
   * @returns `false` when the connection is over its high-water mark (or closed): wait for
   * {@linkcode OutputPump.writable} before queuing more.
   */
  flushNow(): boolean {
    return sendPieces(this.#conn, this.#source.takeOutput());
  }

  /**
   * Resolves once the connection takes more output; rejects with its `RtmpError` if it failed.
   * @returns A promise.
   */
  writable(): Promise<void> {
    return this.#conn.writable();
  }

  /**
   * Writes everything queued now. Rejects with the socket's `RtmpError` if the connection failed
   * or closed; later flushes reject the same way.
   *
   * @returns Resolves once the connection is under its high-water mark again.
   */
  flush(): Promise<void> {
    return this.flushNow() ? Promise.resolve() : this.#conn.writable();
  }
}
