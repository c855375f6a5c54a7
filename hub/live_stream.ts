/**
 * One live stream (one key, `app/name`): its current publisher, the latest metadata, the
 * sequence headers per codec and track, the GOP cache, and its subscribers. A subscriber that
 * joins while the stream is live gets metadata + headers + the cached GOP at once; the stream
 * outlives its publisher while subscribers wait for the next one.
 *
 * @module
 */

import { metadataOf } from "../protocol/data.ts";
import { GopCache, type GopCacheOptions } from "./gop_cache.ts";
import type { HubMessage } from "./hub_message.ts";
import { Subscriber, type SubscriberOptions } from "./subscriber.ts";

/**
 * A live stream.
 *
 * @example
 * ```ts
 * import { LiveStream } from "./live_stream.ts";
 * const stream = new LiveStream("live/cam");
 * const viewer = stream.subscribe({ policy: "drop" });
 * console.log(stream.live, stream.subscriberCount, viewer.closed); // false 1 false
 * ```
 */
export class LiveStream {
  /** `app/name`. */
  readonly key: string;
  #live = false;
  #metadata: HubMessage | null = null;
  readonly #headers = new Map<string, HubMessage>();
  readonly #gop: GopCache;
  readonly #subscribers = new Set<Subscriber>();
  #onIdle: ((s: LiveStream) => void) | null = null;
  #hasVideo = false;
  #blocking: Promise<void>[] = [];
  #publishedAt = 0;
  #owner: unknown = null;
  #lastTimestamp = 0;
  readonly #counters = { messages: 0, bytes: 0 };

  /**
   * Creates an empty stream (the hub does; see `StreamHub.open`).
   * @param key `app/name`.
   * @param options GOP cache bounds.
   * @param onIdle Called when the stream has neither a publisher nor subscribers.
   */
  constructor(key: string, options: GopCacheOptions = {}, onIdle?: (s: LiveStream) => void) {
    this.key = key;
    this.#gop = new GopCache(options);
    this.#onIdle = onIdle ?? null;
  }

  /** Whether a publisher is live. */
  get live(): boolean {
    return this.#live;
  }

  /** Subscribers now. */
  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** The subscribers now. @returns A snapshot. */
  subscribers(): Subscriber[] {
    return [...this.#subscribers];
  }

  /** The latest metadata message, or `null`. */
  get metadata(): HubMessage | null {
    return this.#metadata;
  }

  /**
   * What a decoder needs before the first frame: the latest metadata and every sequence
   * header (per codec and track), in that order.
   * @returns The messages.
   */
  configuration(): HubMessage[] {
    const out: HubMessage[] = [];
    if (this.#metadata) out.push(this.#metadata);
    for (const h of this.#headers.values()) out.push(h);
    return out;
  }

  /**
   * The Enhanced RTMP codecs (FourCCs) of the current sequence headers, per kind: what a
   * player or a restream destination must have announced to receive them.
   * @returns FourCCs by kind (empty for a legacy stream).
   */
  enhancedCodecs(): { video: string[]; audio: string[] } {
    const video = new Set<string>();
    const audio = new Set<string>();
    for (const m of this.#headers.values()) {
      const p = m.packet;
      if (p.type === "data" || !p.tag || !p.tag.enhanced) continue;
      const set = p.type === "video" ? video : audio;
      const tag = p.tag as { fourCc?: string; multitrack?: { tracks: { fourCc: string }[] } };
      if (tag.fourCc) set.add(tag.fourCc);
      for (const t of tag.multitrack?.tracks ?? []) set.add(t.fourCc);
    }
    return { video: [...video], audio: [...audio] };
  }

  /** Messages and payload bytes published since the current publisher started. */
  get counters(): { messages: number; bytes: number } {
    return { ...this.#counters };
  }

  /** The latest sequence header of each codec and track. @returns A snapshot. */
  sequenceHeaders(): HubMessage[] {
    return [...this.#headers.values()];
  }

  /** Timestamp of the newest message. */
  get lastTimestamp(): number {
    return this.#lastTimestamp;
  }

  /**
   * Adds a subscriber. When the stream is live it is given metadata, headers and the cached
   * GOP first (or told to start at the next keyframe when no GOP is cached).
   * @param options Policy and bounds.
   * @param onClose Called when the subscriber is closed (reader gone, hard bound).
   * @returns The subscriber.
   */
  subscribe(options: SubscriberOptions = {}, onClose?: (reason: string) => void): Subscriber {
    const sub = new Subscriber(options);
    sub.bind((s) => this.#detach(s), onClose);
    this.#subscribers.add(sub);
    if (this.#live) this.#prime(sub);
    return sub;
  }

  #prime(sub: Subscriber): void {
    if (this.#metadata) sub.push(this.#metadata);
    for (const h of this.#headers.values()) sub.push(h);
    const gop = this.#gop.messages();
    if (gop.length > 0) { for (const m of gop) sub.push(m); }
    else if (this.#hasVideo) sub.waitForKeyframe();
  }

  #detach(sub: Subscriber): void {
    this.#subscribers.delete(sub);
    this.dropIfIdle();
  }

  /** Lets the hub forget the stream when it has neither a publisher nor subscribers. */
  dropIfIdle(): void {
    if (!this.#live && this.#subscribers.size === 0) this.#onIdle?.(this);
  }

  /**
   * A publisher started: subscribers already waiting are told (`publish` signal).
   * @param now Clock time in ms (for uptime).
   * @param owner Who publishes (only the same owner can stop it).
   */
  start(now: number, owner: unknown = null): void {
    // A new publisher (also one taking over without a stop) sends its own metadata and headers.
    this.#metadata = null;
    this.#headers.clear();
    this.#gop.clear();
    this.#hasVideo = false;
    this.#live = true;
    this.#owner = owner;
    this.#publishedAt = now;
    this.#counters.messages = 0;
    this.#counters.bytes = 0;
    for (const sub of this.#subscribers) sub.signal({ signal: "publish" });
  }

  /** When the current publisher started (ms), or 0. */
  get publishedAt(): number {
    return this.#live ? this.#publishedAt : 0;
  }

  /**
   * The publisher went away: subscribers are told (`unpublish`), caches are cleared (the next
   * publisher sends its own metadata and headers).
   * @param owner The owner given to {@linkcode LiveStream.start}; a stale owner does nothing.
   */
  stop(owner: unknown = null): void {
    if (!this.#live || owner !== this.#owner) return;
    this.#owner = null;
    this.#live = false;
    this.#metadata = null;
    this.#headers.clear();
    this.#gop.clear();
    this.#hasVideo = false;
    for (const sub of [...this.#subscribers]) sub.signal({ signal: "unpublish" });
    this.dropIfIdle();
  }

  /**
   * Hands a message to every subscriber.
   * @param m The message.
   * @returns A promise while a `block` subscriber is full; `undefined` otherwise (no await
   * per message on the fast path).
   */
  publish(m: HubMessage): Promise<void> | undefined {
    this.#counters.messages++;
    this.#counters.bytes += m.payload.length;
    this.#lastTimestamp = m.timestamp;
    if (m.type === 9) this.#hasVideo = true;
    if (m.header) this.#headers.set(m.headerKey, m);
    else if (m.type !== 8 && m.type !== 9) {
      if (isMetadata(m)) this.#metadata = m;
    }
    if (this.#hasVideo) this.#gop.add(m);
    let waits: Promise<void>[] | null = null;
    for (const sub of this.#subscribers) {
      const wait = sub.push(m);
      if (wait) (waits ??= this.#blocking).push(wait);
    }
    if (!waits) return undefined;
    this.#blocking = [];
    return Promise.all(waits).then(() => {});
  }
}

/** Whether a data message carries `onMetaData` (data messages are rare: parsing is fine). */
function isMetadata(m: HubMessage): boolean {
  const p = m.packet;
  return p.type === "data" && p.data !== null && metadataOf(p.data) !== null;
}
