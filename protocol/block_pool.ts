/**
 * Fixed-size memory blocks shared by many {@linkcode ChunkDecoder}s: where partial messages
 * live while their chunks arrive (issue 13 §1).
 *
 * Why blocks and not one buffer per message: a buffer that grows with what arrived is
 * re-allocated at every growth step, and the buffers of a connection closed half-way become
 * garbage. Under a flood of half-sent big messages that is far more memory allocated than the
 * server-wide budget allows to be held, and resident memory follows what was allocated until the
 * collector runs, not what is held. Blocks of one size are taken from a free list and given back
 * to it, so the same memory serves connection after connection.
 *
 * Accounting: a block in use is charged to the {@linkcode ByteBudget} (when there is one) for its
 * whole size, from {@linkcode BlockPool.take} to {@linkcode BlockPool.give}. Free blocks are not
 * charged, but the free list is bounded so that the pool never has more memory than the budget
 * allows (`inUse + free <= limit`) and it shrinks by itself when demand falls: it keeps at most
 * as many free blocks as are in use, plus a small fixed reserve. After a flood ends and its
 * connections close, at most the reserve is left. Blocks it drops are freed at once (see
 * {@linkcode freeNow}), not left for the collector, so resident memory goes down with them.
 *
 * Sans-IO and synchronous, like the budget: no timers, nothing asynchronous.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { ByteBudget } from "./byte_budget.ts";
import { freeNow } from "./free_now.ts";

/** Default block size: large enough that a block holds many chunks, small next to the budget. */
export const DEFAULT_BLOCK_SIZE: number = 64 << 10;

/**
 * Options for {@linkcode BlockPool}.
 *
 * @example
 * ```ts
 * import { ByteBudget } from "./byte_budget.ts";
 * import { BlockPool, type BlockPoolOptions } from "./block_pool.ts";
 * const options: BlockPoolOptions = {
 *   blockSize: 32 << 10,
 *   budget: new ByteBudget({ limit: 64 << 20 }),
 *   reserve: 32,
 * };
 * console.log(new BlockPool(options).blockSize); // 32768
 * ```
 */
export interface BlockPoolOptions {
  /** Bytes per block, a positive integer (default 64 KiB). */
  blockSize?: number;
  /**
   * Charged for every block in use. Without one, blocks are not counted anywhere but here (a
   * decoder still applies its own `maxPartialBytes`).
   */
  budget?: ByteBudget;
  /**
   * Free blocks kept however low demand falls (default 16, i.e. 1 MiB of 64 KiB blocks), so a
   * quiet server does not allocate for every message that spans chunks.
   */
  reserve?: number;
}

function count(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `BlockPool ${name}: expected an integer >= ${min}, got ${value}`,
    );
  }
  return value;
}

/**
 * A free list of equal-size `Uint8Array` blocks, charged to a budget while in use.
 *
 * @example Take, give back, take again: the same memory
 * ```ts
 * import { ByteBudget } from "./byte_budget.ts";
 * import { BlockPool } from "./block_pool.ts";
 * const budget = new ByteBudget({ limit: 1 << 20 });
 * const pool = new BlockPool({ blockSize: 4096, budget });
 * const a = pool.take()!;
 * console.log(a.length, budget.used, pool.inUse); // 4096 4096 1
 * pool.give(a);
 * console.log(budget.used, pool.free); // 0 1
 * console.log(pool.take() === a); // true
 * ```
 */
export class BlockPool {
  readonly #blockSize: number;
  readonly #budget: ByteBudget | null;
  readonly #reserve: number;
  readonly #free: Uint8Array[] = [];
  #inUse = 0;
  #allocated = 0;

  /**
   * Creates an empty pool; blocks are allocated on demand.
   *
   * @param options Block size, budget, reserve.
   */
  constructor(options: BlockPoolOptions = {}) {
    this.#blockSize = count("blockSize", options.blockSize, DEFAULT_BLOCK_SIZE, 1);
    this.#budget = options.budget ?? null;
    this.#reserve = count("reserve", options.reserve, 16, 0);
  }

  /** Bytes per block. */
  get blockSize(): number {
    return this.#blockSize;
  }

  /** The budget blocks in use are charged to, if any. */
  get budget(): ByteBudget | null {
    return this.#budget;
  }

  /** Blocks taken and not given back. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Free blocks kept for reuse. */
  get free(): number {
    return this.#free.length;
  }

  /** Blocks ever allocated (a measure of how well blocks are reused; for tests and stats). */
  get allocated(): number {
    return this.#allocated;
  }

  /**
   * Takes a block, charging {@linkcode BlockPool.blockSize} bytes to the budget first (which may
   * run the budget's `onExhausted` hook, and so dispose the caller). A reused block holds old
   * bytes: only what the caller writes is meaningful.
   *
   * @returns The block, or `null` when the budget cannot give its size.
   */
  take(): Uint8Array | null {
    const size = this.#blockSize;
    if (this.#budget !== null && !this.#budget.tryTake(size)) return null;
    this.#inUse++;
    const block = this.#free.pop();
    if (block !== undefined) return block;
    this.#allocated++;
    return new Uint8Array(size);
  }

  /**
   * Gives back a block taken from this pool and releases its charge. It is kept for reuse while
   * the free list is within its bounds (see the module docs), otherwise freed at once.
   * The caller must not use it afterwards.
   *
   * @param block A block from {@linkcode BlockPool.take}.
   * @throws {RtmpError} `INVALID_ARGUMENT` for a buffer of another size, or when more blocks
   * come back than were taken (an accounting bug that would corrupt the budget).
   */
  give(block: Uint8Array): void {
    const size = this.#blockSize;
    if (block.length !== size || this.#inUse === 0) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `BlockPool give: expected one of the ${this.#inUse} blocks of ${size} bytes in use, ` +
          `got a buffer of ${block.length} bytes`,
      );
    }
    this.#inUse--;
    const budget = this.#budget;
    budget?.release(size);
    // Keep free <= inUse + reserve, so the free list shrinks as demand falls (dropping blocks
    // kept earlier if need be), and free + used <= the budget's limit.
    let keep = this.#inUse + this.#reserve;
    if (budget !== null) keep = Math.min(keep, Math.floor((budget.limit - budget.used) / size));
    const free = this.#free;
    while (free.length > keep) freeNow(free.pop()!);
    if (free.length < keep) free.push(block);
    else freeNow(block);
  }

  /**
   * Frees every free block now. Blocks in use are not affected.
   *
   * @example
   * ```ts
   * import { BlockPool } from "./block_pool.ts";
   * const pool = new BlockPool({ blockSize: 1024 });
   * pool.give(pool.take()!);
   * pool.clear();
   * console.log(pool.free); // 0
   * ```
   */
  clear(): void {
    for (const block of this.#free) freeNow(block);
    this.#free.length = 0;
  }
}
