/**
 * Lets the process exit while a timer is pending, on every runtime: Node's and Bun's timers are
 * objects with `unref()`, Deno's are numbers given to `Deno.unrefTimer`.
 *
 * @module
 */

/**
 * Unrefs `timer` (a `setTimeout`/`setInterval` result) and returns it.
 *
 * @example
 * ```ts
 * import { unrefTimer } from "./unref_timer.ts";
 * const timer = unrefTimer(setTimeout(() => console.log("not awaited"), 60_000));
 * clearTimeout(timer);
 * ```
 *
 * @param timer What `setTimeout` or `setInterval` returned.
 * @returns `timer`.
 */
export function unrefTimer<T>(timer: T): T {
  if (typeof timer === "number") {
    (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno?.unrefTimer?.(timer);
  } else (timer as { unref?: () => void }).unref?.();
  return timer;
}
