/**
 * The hand-over between a runtime's accept machinery and {@linkcode Listener.accept}, shared by
 * the three adapters.
 *
 * Connections that finished accepting (and, for TLS, the handshake) wait here until the caller
 * asks for them. The queue is bounded: a server that stops calling `accept()` while clients keep
 * arriving drops the surplus instead of holding an unbounded number of sockets.
 *
 * @module
 */

import type { Conn } from "./types.ts";

/** Accepted connections held for a caller that is not asking; more are closed on arrival. */
export const ACCEPT_BACKLOG = 128;

/** How long an accepted client may take to finish its TLS handshake before it is dropped. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 30_000;

/**
 * A bounded FIFO of accepted connections plus the callers waiting for one.
 *
 * @example
 * ```ts
 * import { AcceptQueue } from "./accept_queue.ts";
 * const queue = new AcceptQueue();
 * const next = queue.accept();
 * queue.close();
 * console.log(await next); // null
 * ```
 */
export class AcceptQueue {
  #ready: Conn[] = [];
  #waiters: PromiseWithResolvers<Conn | null>[] = [];
  #room: PromiseWithResolvers<void> | null = null;
  #closed = false;

  /** Whether {@linkcode AcceptQueue.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Whether another connection may be taken in, counting `inFlight` ones still handshaking.
   *
   * @param inFlight Connections accepted but not yet pushed.
   * @returns `true` while under {@linkcode ACCEPT_BACKLOG} or when a caller is waiting.
   */
  hasRoom(inFlight: number): boolean {
    return !this.#closed &&
      (this.#ready.length + inFlight < ACCEPT_BACKLOG || this.#waiters.length > inFlight);
  }

  /**
   * Resolves the next time `accept()` is called or the queue closes; for pull-based acceptors
   * that stop taking connections while the backlog is full.
   *
   * @returns A promise that settles when there may be room again.
   */
  room(): Promise<void> {
    if (this.#room === null) this.#room = Promise.withResolvers<void>();
    return this.#room.promise;
  }

  /**
   * Offers a ready connection. Returns `false` (and the caller must close it) when the queue is
   * closed or full.
   *
   * @param conn An accepted, fully negotiated connection.
   * @returns Whether the queue took it.
   */
  push(conn: Conn): boolean {
    if (this.#closed) return false;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve(conn);
      return true;
    }
    if (this.#ready.length >= ACCEPT_BACKLOG) return false;
    this.#ready.push(conn);
    return true;
  }

  /**
   * The next connection, or `null` once closed.
   *
   * @returns The connection, in arrival order.
   */
  accept(): Promise<Conn | null> {
    this.#wake();
    const conn = this.#ready.shift();
    if (conn !== undefined) return Promise.resolve(conn);
    if (this.#closed) return Promise.resolve(null);
    const waiter = Promise.withResolvers<Conn | null>();
    this.#waiters.push(waiter);
    return waiter.promise;
  }

  /** Resolves every waiting `accept()` with `null` and closes connections nobody took. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(null);
    for (const conn of this.#ready.splice(0)) conn.close();
    this.#wake();
  }

  /**
   * Yields connections until the queue closes.
   *
   * @returns An async iterator over accepted connections.
   */
  async *iterate(): AsyncGenerator<Conn, void, undefined> {
    for (;;) {
      const conn = await this.accept();
      if (conn === null) return;
      yield conn;
    }
  }

  #wake(): void {
    const room = this.#room;
    if (room !== null) {
      this.#room = null;
      room.resolve();
    }
  }
}
