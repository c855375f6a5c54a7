/**
 * A table keyed by small non-negative integer ids: the chunk streams of a connection (RTMP 1.0
 * §5.3.1.1: ids 2–63 fit the one-byte basic header, and peers use a handful of them) and its
 * message streams (`createStream` hands out 1, 2, …). Ids below 64 live in an array of exactly
 * the size the highest of them needs; others in a `Map` made on first use. Every connection
 * holds three such tables, and an empty `Map` alone costs more than a small array holding
 * its entries.
 *
 * @module
 */

/** Ids below this live in the array. */
const LOW = 64;

/**
 * Small-integer-keyed table with the part of the `Map` interface the sessions use. Values are
 * never `undefined`.
 *
 * @example
 * ```ts
 * import { IdTable } from "./id_table.ts";
 * const t = new IdTable<string>();
 * t.set(3, "command");
 * t.set(70000, "far");
 * console.log(t.get(3), t.get(70000), t.size); // command far 2
 * console.log([...t.keys()]); // [3, 70000]
 * ```
 */
export class IdTable<T> {
  #low: Array<T | undefined> | null = null;
  #high: Map<number, T> | null = null;
  #size = 0;

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /**
   * @param id The id.
   * @returns Its value, or `undefined`.
   */
  get(id: number): T | undefined {
    if (id < LOW) {
      const low = this.#low;
      return low !== null && id < low.length ? low[id] : undefined;
    }
    return this.#high === null ? undefined : this.#high.get(id);
  }

  /**
   * @param id The id.
   * @returns Whether it has a value.
   */
  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /**
   * Sets `id`'s value.
   * @param id The id (a non-negative integer).
   * @param value The value.
   */
  set(id: number, value: T): void {
    if (id < LOW) {
      let low = this.#low;
      if (low === null || id >= low.length) {
        const grown = new Array<T | undefined>(id + 1);
        if (low !== null) { for (let i = 0; i < low.length; i++) grown[i] = low[i]; }
        this.#low = low = grown;
      }
      if (low[id] === undefined) this.#size++;
      low[id] = value;
      return;
    }
    const high = this.#high ??= new Map();
    if (!high.has(id)) this.#size++;
    high.set(id, value);
  }

  /**
   * Removes `id`.
   * @param id The id.
   * @returns Whether it had a value.
   */
  delete(id: number): boolean {
    if (id < LOW) {
      const low = this.#low;
      if (low === null || id >= low.length || low[id] === undefined) return false;
      low[id] = undefined;
      this.#size--;
      return true;
    }
    if (this.#high === null || !this.#high.delete(id)) return false;
    this.#size--;
    return true;
  }

  /** Removes every entry. */
  clear(): void {
    this.#low = null;
    this.#high = null;
    this.#size = 0;
  }

  /** @returns The ids, ascending below 64, then the others in insertion order. */
  *keys(): Generator<number> {
    for (const [id] of this.entries()) yield id;
  }

  /** @returns The values, in the order of {@linkcode IdTable.keys}. */
  *values(): Generator<T> {
    for (const [, value] of this.entries()) yield value;
  }

  /** @returns `[id, value]` pairs, in the order of {@linkcode IdTable.keys}. */
  *entries(): Generator<[number, T]> {
    const low = this.#low;
    if (low !== null) {
      for (let id = 0; id < low.length; id++) {
        const value = low[id];
        if (value !== undefined) yield [id, value];
      }
    }
    if (this.#high !== null) yield* this.#high;
  }

  /** @returns `[id, value]` pairs, as {@linkcode IdTable.entries}. */
  [Symbol.iterator](): Generator<[number, T]> {
    return this.entries();
  }
}
