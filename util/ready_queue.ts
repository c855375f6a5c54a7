/**
 * One run of every ready delivery task per wave of input: when a publisher's read puts media in
 * the queues of 500 subscribers, each subscriber's driver is marked ready (no promise, no
 * closure), and a single microtask then runs them all, each moving its whole queue to its
 * socket in one write. A promise per message per subscriber cost more than the writes did.
 *
 * @module
 */

/**
 * Something a {@linkcode ReadyQueue} runs: a subscriber's driver.
 *
 * @example
 * ```ts
 * import type { ReadyTask } from "./ready_queue.ts";
 * const task: ReadyTask = { run: () => console.log("deliver"), failed: (e) => console.error(e) };
 * ```
 */
export interface ReadyTask {
  /** Moves what is queued to the socket; must not wait. */
  run(): void;
  /** `run` threw: the task's own failure (the others still run). */
  failed(error: unknown): void;
}

/**
 * Tasks to run once, together, after the current synchronous work (a microtask).
 *
 * @example
 * ```ts
 * import { ReadyQueue } from "./ready_queue.ts";
 * const q = new ReadyQueue();
 * const task = { run: () => console.log("ran once"), failed: () => {} };
 * q.add(task);
 * q.add(task); // still once
 * ```
 */
export class ReadyQueue {
  #tasks = new Set<ReadyTask>();
  #scheduled = false;
  readonly #delay: number;
  readonly #runAll = (): void => this.#run();

  /**
   * @param options `delayMs`: run each wave that long after its first task was added, on one
   * timer for every task (merged writes: what arrives in the meantime goes out in the same
   * write). Default 0: a microtask, right after the current synchronous work.
   */
  constructor(options: { delayMs?: number } = {}) {
    this.#delay = options.delayMs ?? 0;
  }

  /**
   * Marks a task ready; it runs once in the next wave however often it was added.
   * @param task The task.
   */
  add(task: ReadyTask): void {
    this.#tasks.add(task);
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (this.#delay <= 0) queueMicrotask(this.#runAll);
    else setTimeout(this.#runAll, this.#delay);
  }

  #run(): void {
    this.#scheduled = false;
    const tasks = this.#tasks;
    // Tasks made ready while these run (a write that freed room) wait for the next wave.
    this.#tasks = new Set();
    for (const task of tasks) {
      try {
        task.run();
      } catch (e) {
        task.failed(e);
      }
    }
  }
}

/**
 * The process-wide queue every subscriber driver uses, so one wave serves every connection.
 *
 * @example
 * ```ts
 * import { readyQueue } from "./ready_queue.ts";
 * readyQueue.add({ run: () => {}, failed: () => {} });
 * ```
 */
export const readyQueue: ReadyQueue = new ReadyQueue();
