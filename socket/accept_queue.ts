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

import type { Conn, Listener, NetAddress } from "./types.ts";

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

/**
 * What the three adapters' listeners share: an {@linkcode AcceptQueue} behind `accept()` and
 * async iteration, and a `close()` that runs once, on call or when the abort signal fires.
 * Subclasses feed {@linkcode QueuedListener.queue}, call {@linkcode QueuedListener.watch} last in
 * their constructor, and stop their runtime's server in {@linkcode QueuedListener.stop}.
 *
 * @example
 * ```ts
 * import { QueuedListener } from "./accept_queue.ts";
 * class Idle extends QueuedListener {
 *   readonly addr = { hostname: "127.0.0.1", port: 0 };
 *   protected override stop(): void {}
 * }
 * const l = new Idle(false);
 * l.close();
 * console.log(await l.accept()); // null
 * ```
 */
export abstract class QueuedListener implements Listener {
  abstract readonly addr: NetAddress;
  readonly tls: boolean;
  /** Accepted connections waiting for `accept()`. */
  protected readonly queue: AcceptQueue = new AcceptQueue();
  #signal: AbortSignal | undefined;

  /**
   * @param isTls Whether accepted connections are TLS.
   */
  constructor(isTls: boolean) {
    this.tls = isTls;
  }

  accept(): Promise<Conn | null> {
    return this.queue.accept();
  }

  close(): void {
    if (this.queue.closed) return;
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.queue.close();
    this.stop();
  }

  [Symbol.asyncIterator](): AsyncIterator<Conn> {
    return this.queue.iterate();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  /**
   * Closes the listener when `signal` aborts (at once if it already has). Called at the end of
   * the subclass constructor, once {@linkcode QueuedListener.stop} can run.
   *
   * @param signal The caller's abort signal.
   * @returns `false` when the listener is closed already.
   */
  protected watch(signal: AbortSignal | undefined): boolean {
    this.#signal = signal;
    if (signal?.aborted) {
      this.close();
      return false;
    }
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    return true;
  }

  /** Stops the runtime's server from accepting; runs once, from `close()`. */
  protected abstract stop(): void;

  #onAbort = (): void => {
    this.close();
  };
}
