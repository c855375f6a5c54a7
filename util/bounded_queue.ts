/**
 * A single-consumer async queue with a size bound, used for a publish session's packets, the
 * server's accepted sessions and the client's events. A producer that pushes past the bound
 * waits (`push` resolves once the consumer made room), which is how a slow consumer applies
 * backpressure all the way to the publisher's socket. Ending the queue keeps what is queued:
 * the consumer still receives it, then the iteration finishes.
 *
 * @module
 */

/**
 * A bounded async queue.
 *
 * @example
 * ```ts
 * import { BoundedQueue } from "./bounded_queue.ts";
 * const q = new BoundedQueue<string>({ limit: 2 });
 * await q.push("a");
 * q.end();
 * for await (const v of q) console.log(v); // a
 * ```
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #head = 0;
  #size = 0;
  readonly #limit: number;
  readonly #sizeOf: (item: T) => number;
  #ended = false;
  #waitingConsumer: ((result: IteratorResult<T>) => void) | null = null;
  #waitingProducers: Array<() => void> = [];

  /**
   * @param options `limit`: the bound in size units; `sizeOf`: size of one item (default 1).
   */
  constructor(options: { limit: number; sizeOf?: (item: T) => number }) {
    this.#limit = options.limit;
    this.#sizeOf = options.sizeOf ?? (() => 1);
  }

  /** Total size of queued items. */
  get size(): number {
    return this.#size;
  }

  /** Whether {@linkcode BoundedQueue.end} was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Adds an item. Resolves at once while under the bound, otherwise once the consumer has
   * taken enough. Items pushed after `end()` are dropped.
   *
   * @param item The item.
   * @returns Resolves when the producer may go on.
   */
  push(item: T): Promise<void> {
    if (this.#ended) return Promise.resolve();
    const consumer = this.#waitingConsumer;
    if (consumer) {
      this.#waitingConsumer = null;
      consumer({ value: item, done: false });
      return Promise.resolve();
    }
    this.#items.push(item);
    this.#size += this.#sizeOf(item);
    if (this.#size <= this.#limit) return Promise.resolve();
    return new Promise((resolve) => this.#waitingProducers.push(resolve));
  }

  /**
   * Adds an item without waiting; when over the bound, drops the oldest items first. For
   * streams where the newest matters (events).
   *
   * @param item The item.
   */
  pushDropOldest(item: T): void {
    if (this.#ended) return;
    const consumer = this.#waitingConsumer;
    if (consumer) {
      this.#waitingConsumer = null;
      consumer({ value: item, done: false });
      return;
    }
    this.#items.push(item);
    this.#size += this.#sizeOf(item);
    while (this.#size > this.#limit && this.#head < this.#items.length - 1) this.#shift();
  }

  /** No more items will come; queued ones are still delivered. Releases waiting producers. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#releaseProducers(true);
    if (this.#waitingConsumer && this.#head >= this.#items.length) {
      const consumer = this.#waitingConsumer;
      this.#waitingConsumer = null;
      consumer({ value: undefined, done: true });
    }
  }

  /** Drops everything queued and ends the queue (the consumer stopped). */
  clear(): void {
    this.#items.length = 0;
    this.#head = 0;
    this.#size = 0;
    this.end();
  }

  #shift(): T {
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined as T;
    this.#head++;
    this.#size -= this.#sizeOf(item);
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return item;
  }

  #releaseProducers(all: boolean): void {
    while (this.#waitingProducers.length > 0 && (all || this.#size <= this.#limit)) {
      this.#waitingProducers.shift()!();
    }
  }

  /**
   * Takes the next item, waiting for one; `done` once ended and empty.
   * @returns The next iterator result.
   */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#items.length) {
      const value = this.#shift();
      this.#releaseProducers(false);
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.#waitingConsumer = resolve;
    });
  }

  /** Iterates until the queue ends and is drained. @returns An iterator. */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: (): Promise<IteratorResult<T>> => {
        // The consumer stopped: drop the backlog so the producer is never stuck on it.
        this.clear();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
