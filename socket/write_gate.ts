/**
 * A process-wide cap on socket writes in flight, handed out first come, first served.
 *
 * Why: Deno 2.9.6 issues concurrently pending `Deno.Conn.write` calls in call order only up to a
 * point; past it, it defers writes and issues them in reverse order. Seen with
 * `strace -e sendto`, in a script without this library: 400 connections, one write each in one
 * loop, and the system calls went backwards 128 times; with at most 128 writes in flight (or 100,
 * 64, 32) never. A wave of media to 500 players then reached the players who joined last before
 * those in the middle. The Deno adapter takes a slot of one gate for each write, so writes leave
 * in the order they were asked for.
 *
 * A write that waits for a peer who reads nothing keeps its slot only until the second sweep
 * after it took it (one timer for the whole gate, armed while slots are held): then it stops
 * counting, so stalled peers hold the other connections' writes back for two sweep periods at
 * most.
 *
 * @example
 * ```ts
 * import { WriteGate } from "./write_gate.ts";
 * const gate = new WriteGate({ limit: 2 });
 * const ticket = await gate.enter();
 * // ... the write ...
 * gate.leave(ticket);
 * ```
 *
 * @module
 */

/** Options of {@linkcode WriteGate}. */
export interface WriteGateOptions {
  /** Slots: writes in flight at most, stalled ones not counted. */
  limit: number;
  /** How long a slot may be held before it stops counting, at most twice this (ms). */
  sweepMs?: number;
}

/** A slot taken from a {@linkcode WriteGate}: the sweep round it was taken in. */
export type WriteTicket = number;

/**
 * Slots for writes in flight, first come, first served; slots held across a whole sweep period
 * stop counting.
 */
export class WriteGate {
  readonly #limit: number;
  readonly #sweepMs: number;
  /** Sweep rounds so far: a ticket is the round its slot was taken in. */
  #round = 0;
  /** Slots held that were taken in this round and in the one before (older ones are forgiven). */
  #now = 0;
  #before = 0;
  #waiters: ((ticket: WriteTicket) => void)[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  /**
   * @param options The number of slots and the sweep period.
   * @example
   * ```ts
   * import { WriteGate } from "./write_gate.ts";
   * console.log(new WriteGate({ limit: 128, sweepMs: 10 }).held); // 0
   * ```
   */
  constructor(options: WriteGateOptions) {
    this.#limit = options.limit;
    this.#sweepMs = options.sweepMs ?? 10;
  }

  /**
   * Slots that count now.
   *
   * @example
   * ```ts
   * import { WriteGate } from "./write_gate.ts";
   * const gate = new WriteGate({ limit: 1 });
   * gate.leave(await gate.enter());
   * console.log(gate.held); // 0
   * ```
   */
  get held(): number {
    return this.#now + this.#before;
  }

  /**
   * Takes a slot: at once while fewer than `limit` count, else after those who asked first.
   *
   * @returns The ticket to give back to {@linkcode WriteGate.leave}.
   * @example
   * ```ts
   * import { WriteGate } from "./write_gate.ts";
   * const gate = new WriteGate({ limit: 1 });
   * const first = await gate.enter();
   * const second = gate.enter(); // waits
   * gate.leave(first);
   * gate.leave(await second);
   * ```
   */
  enter(): WriteTicket | Promise<WriteTicket> {
    if (this.held < this.#limit && this.#head === this.#waiters.length) return this.#take();
    return new Promise<WriteTicket>((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Gives a slot back (its write is done, or was never made).
   *
   * @param ticket What {@linkcode WriteGate.enter} gave.
   * @example
   * ```ts
   * import { WriteGate } from "./write_gate.ts";
   * const gate = new WriteGate({ limit: 4 });
   * gate.leave(await gate.enter());
   * ```
   */
  leave(ticket: WriteTicket): void {
    if (ticket === this.#round) this.#now--;
    else if (ticket === this.#round - 1) this.#before--;
    else return; // forgiven by a sweep: it no longer counts
    this.#wake();
  }

  #take(): WriteTicket {
    this.#now++;
    // Not unref'd: a waiter may depend on it alone (its write then ends the wait), and it stops
    // two sweeps after the last slot is given back.
    this.#timer ??= setTimeout(this.#sweep, this.#sweepMs);
    return this.#round;
  }

  /** Hands free slots to waiters, in order. */
  #wake(): void {
    const waiters = this.#waiters;
    while (this.#head < waiters.length && this.held < this.#limit) {
      const resolve = waiters[this.#head];
      waiters[this.#head++] = noop;
      resolve(this.#take());
    }
    if (this.#head === waiters.length) {
      waiters.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > waiters.length) {
      waiters.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #sweep = (): void => {
    this.#timer = null;
    const forgiven = this.#before;
    this.#before = this.#now;
    this.#now = 0;
    this.#round++;
    if (forgiven > 0) this.#wake();
    if (this.held > 0) this.#timer ??= setTimeout(this.#sweep, this.#sweepMs);
  };
}

function noop(): void {}
