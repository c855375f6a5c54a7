/**
 * The messages since the last video keyframe, so a subscriber that joins late starts on a
 * keyframe at once instead of waiting for the next one. Bounded in bytes and in media
 * duration: a GOP that outgrows either bound is dropped whole (a partial GOP would hand a
 * decoder frames whose references are missing), and the cache starts again at the next keyframe.
 *
 * @module
 */

import type { HubMessage } from "./hub_message.ts";

/**
 * Bounds of the GOP cache.
 *
 * @example
 * ```ts
 * import type { GopCacheOptions } from "./gop_cache.ts";
 * const o: GopCacheOptions = { maxBytes: 32 << 20, maxDuration: 12_000 };
 * ```
 */
export interface GopCacheOptions {
  /** Bytes (payload + 64 per message). Default 32 MiB: a 12 s GOP of 1080p at 20 Mbit/s. */
  maxBytes?: number;
  /** Milliseconds of media from the keyframe. Default 12 000. */
  maxDuration?: number;
}

/**
 * A GOP cache.
 *
 * @example
 * ```ts
 * import { GopCache } from "./gop_cache.ts";
 * import { HubMessage } from "./hub_message.ts";
 * const gop = new GopCache();
 * gop.add(HubMessage.from({ type: 9, streamId: 1, timestamp: 0, payload: new Uint8Array([0x17, 1, 0, 0, 0]) }));
 * console.log(gop.messages().length); // 1
 * ```
 */
export class GopCache {
  readonly #maxBytes: number;
  readonly #maxDuration: number;
  #messages: HubMessage[] = [];
  #bytes = 0;
  #start = 0;

  /** @param options Bounds. */
  constructor(options: GopCacheOptions = {}) {
    this.#maxBytes = options.maxBytes ?? 32 << 20;
    this.#maxDuration = options.maxDuration ?? 12_000;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Offers a message: a keyframe starts a new GOP; anything else joins the current one.
   * Sequence headers are kept elsewhere (they are not part of a GOP).
   * @param m The message.
   */
  add(m: HubMessage): void {
    if (m.header) return;
    if (m.keyframe) {
      this.#messages = [m];
      this.#bytes = m.size;
      this.#start = m.timestamp;
      return;
    }
    if (this.#messages.length === 0) return;
    this.#bytes += m.size;
    // Timestamps are unsigned 32-bit and wrap; the difference is taken modulo 2^32.
    const span = (m.timestamp - this.#start) >>> 0;
    if (this.#bytes > this.#maxBytes || span > this.#maxDuration) {
      this.clear();
      return;
    }
    this.#messages.push(m);
  }

  /** The cached GOP, keyframe first, or an empty list. @returns Messages. */
  messages(): readonly HubMessage[] {
    return this.#messages;
  }

  /** Forgets everything (a new publisher). */
  clear(): void {
    this.#messages = [];
    this.#bytes = 0;
  }
}
