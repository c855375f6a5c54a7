/**
 * A byte budget shared by many holders: the server-wide bound on memory that peers make the
 * server hold (partial messages in {@linkcode ChunkDecoder}s, queued output), so that many
 * connections each under their own cap cannot add up to an outage.
 *
 * Sans-IO and synchronous: holders take bytes before they allocate and give them back when they
 * free. The budget does not know its holders. A server that would rather free room than refuse
 * (close the connections holding the most, see `ChunkDecoder.partialBytes`) does so in
 * {@linkcode ByteBudgetOptions.onExhausted}, which runs inside the refused
 * {@linkcode ByteBudget.tryTake} before it gives up.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";

/**
 * Options for {@linkcode ByteBudget}.
 *
 * @example
 * ```ts
 * import { ByteBudget, type ByteBudgetOptions } from "./byte_budget.ts";
 * const options: ByteBudgetOptions = { limit: 256 << 20 };
 * console.log(new ByteBudget(options).limit); // 268435456
 * ```
 */
export interface ByteBudgetOptions {
  /** Most bytes that may be taken at once, over all holders. */
  limit: number;
  /**
   * Called synchronously when a {@linkcode ByteBudget.tryTake} of `needed` bytes does not fit,
   * before it returns `false`: the place to free room, e.g. by disposing the decoders that hold
   * the most. Whatever it releases counts: the take is tried once more afterwards. It must not
   * throw; a throw is swallowed and the take refused.
   *
   * It may run in the middle of another holder's `push()`; disposing that very holder is
   * allowed (its `push()` then throws `LIMIT_EXCEEDED`).
   */
  onExhausted?: (needed: number, budget: ByteBudget) => void;
}

function byteCount(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `ByteBudget ${what}: expected a byte count (a non-negative integer), got ${n}`,
    );
  }
  return n;
}

/**
 * Counts bytes taken against a fixed limit.
 *
 * @example Two holders sharing 1 KiB
 * ```ts
 * import { ByteBudget } from "./byte_budget.ts";
 * const budget = new ByteBudget({ limit: 1024 });
 * console.log(budget.tryTake(800), budget.tryTake(400)); // true false
 * budget.release(800);
 * console.log(budget.tryTake(400), budget.used, budget.available); // true 400 624
 * ```
 */
export class ByteBudget {
  readonly #limit: number;
  readonly #onExhausted: ((needed: number, budget: ByteBudget) => void) | undefined;
  #used = 0;
  #reclaiming = false;

  /**
   * Creates an empty budget.
   *
   * @param options The limit and an optional hook to free room when it runs out.
   */
  constructor(options: ByteBudgetOptions) {
    const limit = options?.limit;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `ByteBudget limit: expected a positive integer number of bytes, got ${limit}`,
      );
    }
    this.#limit = limit;
    this.#onExhausted = options.onExhausted;
  }

  /** Most bytes that may be taken at once. */
  get limit(): number {
    return this.#limit;
  }

  /** Bytes taken and not yet released. */
  get used(): number {
    return this.#used;
  }

  /** Bytes that can still be taken. */
  get available(): number {
    return this.#limit - this.#used;
  }

  /**
   * Takes `n` bytes if they fit. When they do not, runs `onExhausted` (not re-entered while it
   * runs) and tries once more.
   *
   * @param n Bytes wanted.
   * @returns Whether they were taken; on `false` nothing was taken.
   */
  tryTake(n: number): boolean {
    byteCount("tryTake", n);
    if (this.#used + n <= this.#limit) {
      this.#used += n;
      return true;
    }
    const hook = this.#onExhausted;
    if (hook === undefined || this.#reclaiming) return false;
    this.#reclaiming = true;
    try {
      hook(n, this);
    } catch {
      // A failing hook frees nothing; the take is refused below like any other.
    } finally {
      this.#reclaiming = false;
    }
    if (this.#used + n > this.#limit) return false;
    this.#used += n;
    return true;
  }

  /**
   * Gives back `n` bytes taken earlier.
   *
   * @param n Bytes released; at most {@linkcode ByteBudget.used}.
   * @throws {RtmpError} `INVALID_ARGUMENT` when more is released than is taken (a holder's
   * accounting bug, which would otherwise let the budget grow without bound).
   */
  release(n: number): void {
    byteCount("release", n);
    if (n > this.#used) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `ByteBudget release: ${n} bytes released but only ${this.#used} are taken`,
      );
    }
    this.#used -= n;
  }
}
