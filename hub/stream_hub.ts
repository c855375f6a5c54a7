/**
 * The stream hub: one {@linkcode LiveStream} per key (`app/name`), created when a publisher or
 * a subscriber asks for it and forgotten when it has neither.
 *
 * @module
 */

import type { GopCacheOptions } from "./gop_cache.ts";
import { LiveStream } from "./live_stream.ts";

/**
 * The hub.
 *
 * @example
 * ```ts
 * import { StreamHub } from "./stream_hub.ts";
 * const hub = new StreamHub();
 * const s = hub.open("live/cam");
 * console.log(hub.get("live/cam") === s, s.live); // true false
 * ```
 */
export class StreamHub {
  readonly #streams = new Map<string, LiveStream>();
  readonly #options: GopCacheOptions;
  readonly #onIdle = (s: LiveStream): void => {
    if (this.#streams.get(s.key) === s) this.#streams.delete(s.key);
  };

  /**
   * Creates it.
   * @param options GOP cache bounds for every stream.
   */
  constructor(options: GopCacheOptions = {}) {
    this.#options = options;
  }

  /**
   * The stream of a key, or `undefined`.
   * @param key `app/name`.
   * @returns The stream.
   */
  get(key: string): LiveStream | undefined {
    return this.#streams.get(key);
  }

  /**
   * The stream of a key, created when missing.
   * @param key `app/name`.
   * @returns The stream.
   */
  open(key: string): LiveStream {
    let s = this.#streams.get(key);
    if (!s) {
      s = new LiveStream(key, this.#options, this.#onIdle);
      this.#streams.set(key, s);
    }
    return s;
  }

  /** Streams with a publisher or subscribers. @returns A snapshot. */
  streams(): LiveStream[] {
    return [...this.#streams.values()];
  }
}
