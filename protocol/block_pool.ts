/**
 * Fixed-size memory blocks shared by many {@linkcode ChunkDecoder}s: where partial messages
 * live while their chunks arrive (issue 13 §1).
 *
 * Why blocks and not one buffer per message: a buffer that grows with what arrived is
 * re-allocated at every growth step, and the buffers of a connection closed half-way become
 * garbage. Under a flood of half-sent big messages that is far more memory allocated than the
 * server-wide budget allows to be held, and resident memory follows what was allocated until the
 * collector runs, not what is held. Blocks of one size are handed out and taken back, so the
 * same memory serves connection after connection.
 *
 * Why slabs: blocks are carved out of slabs of several blocks (default 16 × 64 KiB = 1 MiB), and
 * a slab whose blocks are all free is freed as a whole, at once (see {@linkcode freeNow}). An
 * allocation that large is mapped by the C allocator on its own, so freeing it gives the memory
 * back to the operating system; freed 64 KiB buffers stay resident in the allocator's heap
 * (measured on Node and Deno: 48 MiB held in 64 KiB buffers stayed resident after being freed,
 * in 1 MiB buffers it went back). New blocks come from the slab with the fewest free blocks,
 * so that the others can empty.
 *
 * Accounting: a block in use is charged to the {@linkcode ByteBudget} (when there is one) for its
 * whole size, from {@linkcode BlockPool.take} to {@linkcode BlockPool.give}. Free blocks are not
 * charged. The pool allocates a slab only when no block is free, so it never has more memory
 * than what is charged plus one slab, and wholly free slabs are kept only while there is demand
 * for them: as many free blocks in them as blocks in use plus a small reserve, rounded up to
 * whole slabs, and never past the budget's limit. After a flood ends and its connections close,
 * about the reserve is left.
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
 *   slabBlocks: 32, // 1 MiB slabs
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
   * Blocks per slab, the unit of allocation and of freeing (default 16: 1 MiB slabs of 64 KiB
   * blocks). 1 makes every block its own allocation.
   */
  slabBlocks?: number;
  /**
   * Charged for every block in use. Without one, blocks are not counted anywhere but here (a
   * decoder still applies its own `maxPartialBytes`).
   */
  budget?: ByteBudget;
  /**
   * Free blocks kept (in wholly free slabs) however low demand falls (default 16, one slab of
   * the default size), so a quiet server does not allocate for every message that spans reads.
   */
  reserve?: number;
}

/** One allocation, cut into blocks. */
interface Slab {
  readonly bytes: Uint8Array;
  /** Its blocks not in use. */
  readonly free: Uint8Array[];
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
 * Equal-size `Uint8Array` blocks, carved from slabs, charged to a budget while in use.
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
 * console.log(budget.used, pool.free); // 0 16
 * console.log(pool.take() === a); // true
 * ```
 */
export class BlockPool {
  readonly #blockSize: number;
  readonly #slabBlocks: number;
  readonly #budget: ByteBudget | null;
  readonly #reserve: number;
  /** Every live slab, by its buffer (what a block given back is recognised by). */
  readonly #slabs = new Map<ArrayBufferLike, Slab>();
  /** Slabs with some blocks in use and some free: where blocks are taken first. */
  readonly #partial = new Set<Slab>();
  /** Slabs with every block free. */
  readonly #idle: Slab[] = [];
  #inUse = 0;
  #free = 0;
  #allocated = 0;

  /**
   * Creates an empty pool; slabs are allocated on demand.
   *
   * @param options Block size, slab size, budget, reserve.
   */
  constructor(options: BlockPoolOptions = {}) {
    this.#blockSize = count("blockSize", options.blockSize, DEFAULT_BLOCK_SIZE, 1);
    this.#slabBlocks = count("slabBlocks", options.slabBlocks, 16, 1);
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

  /** Free blocks, ready for reuse. */
  get free(): number {
    return this.#free;
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
    if (this.#budget !== null && !this.#budget.tryTake(this.#blockSize)) return null;
    this.#inUse++;
    // The fullest partial slab, so that the emptier ones can become idle and be freed.
    let slab: Slab | undefined;
    for (const s of this.#partial) {
      if (slab === undefined || s.free.length < slab.free.length) slab = s;
    }
    if (slab === undefined) slab = this.#idle.pop() ?? this.#newSlab();
    const block = slab.free.pop()!;
    this.#free--;
    if (slab.free.length === 0) this.#partial.delete(slab);
    else this.#partial.add(slab);
    return block;
  }

  /**
   * Gives back a block taken from this pool and releases its charge. Its slab is freed at once
   * when all of its blocks are free and the pool keeps enough of those already (see the module
   * docs). The caller must not use the block afterwards.
   *
   * @param block A block from {@linkcode BlockPool.take}.
   * @throws {RtmpError} `INVALID_ARGUMENT` for a buffer that is not one of this pool's blocks in
   * use (an accounting bug that would corrupt the budget).
   */
  give(block: Uint8Array): void {
    const slab = this.#slabs.get(block.buffer);
    if (
      slab === undefined || block.length !== this.#blockSize ||
      slab.free.length === this.#slabBlocks
    ) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `BlockPool give: expected one of the ${this.#inUse} blocks of ${this.#blockSize} bytes ` +
          `in use, got a buffer of ${block.length} bytes`,
      );
    }
    this.#inUse--;
    this.#budget?.release(this.#blockSize);
    slab.free.push(block);
    this.#free++;
    if (slab.free.length === this.#slabBlocks) {
      this.#partial.delete(slab);
      this.#idle.push(slab);
    } else {
      this.#partial.add(slab);
    }
    this.#trim();
  }

  /**
   * Frees every wholly free slab now. Blocks in use are not affected.
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
    while (this.#idle.length > 0) this.#freeSlab(this.#idle.pop()!);
  }

  #newSlab(): Slab {
    const size = this.#blockSize;
    const bytes = new Uint8Array(size * this.#slabBlocks);
    const free: Uint8Array[] = [];
    for (let i = this.#slabBlocks - 1; i >= 0; i--) {
      free.push(bytes.subarray(i * size, (i + 1) * size));
    }
    const slab = { bytes, free };
    this.#slabs.set(bytes.buffer, slab);
    this.#allocated += this.#slabBlocks;
    this.#free += this.#slabBlocks;
    return slab;
  }

  #freeSlab(slab: Slab): void {
    this.#slabs.delete(slab.bytes.buffer);
    this.#free -= this.#slabBlocks;
    freeNow(slab.bytes);
  }

  /**
   * Frees idle slabs beyond demand (blocks in use + reserve, rounded up to whole slabs) and
   * beyond the budget's room. Rounding up matters when the reserve is smaller than a slab: a
   * pool that freed its only idle slab whenever its last block came back would allocate a whole
   * slab for the next message (one publisher sending small messages through a 256-block head
   * pool did so for every message).
   */
  #trim(): void {
    const blocks = this.#slabBlocks;
    const demand = this.#inUse + this.#reserve;
    const budget = this.#budget;
    const room = budget === null
      ? Infinity
      : Math.floor((budget.limit - budget.used) / this.#blockSize);
    const idle = this.#idle;
    while (
      idle.length > 0 && ((idle.length - 1) * blocks >= demand || idle.length * blocks > room)
    ) {
      this.#freeSlab(idle.shift()!);
    }
  }
}
