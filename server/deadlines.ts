/**
 * One timer for every connection of a server: connections register a deadline (absolute ms)
 * and a callback; a single interval checks them all. A per-connection timer costs memory and
 * wake-ups for every socket; a server-wide one costs one wake-up per tick (design, issue 14).
 *
 * @module
 */

import { unrefTimer } from "../socket/unref_timer.ts";

/**
 * Something with a deadline.
 *
 * @example
 * ```ts
 * import type { DeadlineOwner } from "./deadlines.ts";
 * const owner: DeadlineOwner = { deadline: Date.now() + 1000, expire: () => console.log("late") };
 * ```
 */
export interface DeadlineOwner {
  /** Absolute time in ms (`Date.now()` clock); 0 = none. */
  deadline: number;
  /** Called once when the deadline has passed (the owner sets a new one if it wants). */
  expire(now: number): void;
}

/**
 * The server-wide deadline clock.
 *
 * @example
 * ```ts
 * import { DeadlineClock } from "./deadlines.ts";
 * const clock = new DeadlineClock(100);
 * const owner = { deadline: Date.now() + 50, expire: () => clock.remove(owner) };
 * clock.add(owner);
 * clock.remove(owner); // nothing left: the timer stops
 * ```
 */
export class DeadlineClock {
  readonly #owners = new Set<DeadlineOwner>();
  readonly #tickMs: number;
  #timer: ReturnType<typeof setInterval> | null = null;

  /** @param tickMs Resolution. Default 250 ms. */
  constructor(tickMs = 250) {
    this.#tickMs = tickMs;
  }

  /** Owners registered. */
  get size(): number {
    return this.#owners.size;
  }

  /**
   * Registers an owner until {@linkcode DeadlineClock.remove}.
   * @param owner The owner.
   */
  add(owner: DeadlineOwner): void {
    this.#owners.add(owner);
    if (this.#timer === null) {
      // Listeners keep the process alive, not the clock.
      this.#timer = unrefTimer(setInterval(() => this.tick(Date.now()), this.#tickMs));
    }
  }

  /**
   * Unregisters an owner.
   * @param owner The owner.
   */
  remove(owner: DeadlineOwner): void {
    this.#owners.delete(owner);
    if (this.#owners.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /**
   * Expires every owner whose deadline has passed.
   * @param now Current time in ms.
   */
  tick(now: number): void {
    for (const owner of this.#owners) {
      if (owner.deadline > 0 && now >= owner.deadline) {
        owner.deadline = 0;
        try {
          owner.expire(now);
        } catch {
          // One owner's failure must not stop the others' deadlines.
        }
      }
    }
  }

  /** Stops the timer and forgets every owner. */
  close(): void {
    this.#owners.clear();
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
