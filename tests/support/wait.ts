/**
 * Waits on conditions instead of fixed sleeps, for the cases {@linkcode waitFor} (peers.ts) does
 * not cover: "this counter stopped moving" (a sender blocked by backpressure).
 *
 * @module
 */

/** Options of {@linkcode waitForStall}. */
export interface StallOptions {
  /** How long the value must stay the same to count as stalled (default 400 ms). */
  quietMs?: number;
  /** Give up after this long (default 30 000 ms). */
  timeoutMs?: number;
  /** Resolves when the producer finished: then there is nothing left to stall. */
  finished?: Promise<unknown>;
  /** What is waited for, for the timeout message. */
  what?: string;
}

/**
 * Resolves once `value()` has not changed for `quietMs`, or once `finished` settles, whichever
 * comes first; returns the value then. The caller asserts on it (e.g. "fewer than all frames
 * were sent"): a producer that never blocks finishes instead, and the assertion fails at once.
 *
 * A stall is inferred from silence, so on a loaded machine a producer that merely paused for
 * `quietMs` can look stalled; that can only make a test pass that should have failed when the
 * code under test is already broken in another way, never fail a correct one.
 *
 * @example
 * ```ts
 * import { waitForStall } from "./wait.ts";
 * let sent = 0;
 * const sending = (async () => { for (; sent < 10; sent++) await Promise.resolve(); })();
 * console.log(await waitForStall(() => sent, { finished: sending })); // 10
 * ```
 *
 * @param value Reads the counter that moves while the producer makes progress.
 * @param options Quiet period, deadline, the producer's completion.
 * @returns The value at the moment it was judged stalled (or the producer finished).
 * @throws {Error} When it kept changing until the deadline.
 */
export async function waitForStall(
  value: () => number,
  options: StallOptions = {},
): Promise<number> {
  const quietMs = options.quietMs ?? 400;
  const timeoutMs = options.timeoutMs ?? 30_000;
  let done = false;
  options.finished?.then(() => done = true, () => done = true);
  const deadline = Date.now() + timeoutMs;
  let last = value();
  let since = Date.now();
  while (!done) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(25, quietMs)));
    const now = value();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return now;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${options.what ?? "a stall"} (at ${now})`,
      );
    }
  }
  return value();
}
