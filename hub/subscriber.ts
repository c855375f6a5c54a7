/**
 * One reader of a live stream with its own bounded queue. Two policies (design §8):
 *
 * - `block`: a full queue makes the publisher wait (the recorder, user code that must see
 *   every packet). The slowest such subscriber sets the publisher's pace.
 * - `drop`: live viewers. Past the soft bound, video is skipped up to the next keyframe that
 *   arrives while the queue is back under the bound; a frame whose reference was dropped is
 *   never queued. Audio, data and sequence headers keep flowing; past the hard bound the
 *   subscriber is closed with a reason. It never slows the publisher or anyone else.
 *
 * Timestamps are never rewritten: what a subscriber gets is exactly what was published.
 *
 * @module
 */

import type { HubMessage } from "./hub_message.ts";

/**
 * A signal in a subscriber's queue, ordered with the media around it.
 *
 * @example
 * ```ts
 * import type { StreamSignal } from "./subscriber.ts";
 * const s: StreamSignal = { signal: "unpublish" };
 * ```
 */
export interface StreamSignal {
  /** The publisher went away (`unpublish`) or a publisher started (`publish`). */
  signal: "publish" | "unpublish";
}

/**
 * What a subscriber's queue holds.
 *
 * @example
 * ```ts
 * import type { SubscriberEntry } from "./subscriber.ts";
 * function isSignal(e: SubscriberEntry): boolean { return "signal" in e; }
 * ```
 */
export type SubscriberEntry = HubMessage | StreamSignal;

/**
 * How a subscriber copes with a full queue.
 *
 * @example
 * ```ts
 * import type { SubscriberPolicy } from "./subscriber.ts";
 * const p: SubscriberPolicy = "drop";
 * ```
 */
export type SubscriberPolicy = "block" | "drop";

/**
 * Options for a subscriber.
 *
 * @example
 * ```ts
 * import type { SubscriberOptions } from "./subscriber.ts";
 * const o: SubscriberOptions = { policy: "drop", maxBytes: 4 << 20 };
 * ```
 */
export interface SubscriberOptions {
  /** `block` (default) or `drop`. */
  policy?: SubscriberPolicy;
  /** Soft bound in bytes (payload + 64 per message). Default 8 MiB. */
  maxBytes?: number;
  /** Hard bound for `drop`: past it the subscriber is closed. Default 2 × `maxBytes`. */
  hardMaxBytes?: number;
  /**
   * Past the hard bound of a `drop` subscriber: `close` it (default: a viewer that cannot keep
   * up) or `drop` everything but sequence headers until it has room again (a restream
   * destination that must survive a stall of its remote).
   */
  overflow?: "close" | "drop";
  /** End (instead of waiting for the next publisher) when the publisher goes away. */
  endOnUnpublish?: boolean;
  /** A name for logs and stats (e.g. `rtmp 127.0.0.1:50000`). */
  label?: string;
}

/**
 * Counters of one subscriber.
 *
 * @example
 * ```ts
 * import type { SubscriberStats } from "./subscriber.ts";
 * function lossy(s: SubscriberStats): boolean { return s.droppedMessages > 0; }
 * ```
 */
export interface SubscriberStats {
  /** Name given at subscribe time. */
  label: string;
  /** `block` or `drop`. */
  policy: SubscriberPolicy;
  /** Messages handed to the reader. */
  messages: number;
  /** Payload bytes handed to the reader. */
  bytes: number;
  /** Messages skipped by the drop policy. */
  droppedMessages: number;
  /** Payload bytes skipped by the drop policy. */
  droppedBytes: number;
  /** Times the subscriber started skipping video. */
  dropEpisodes: number;
  /** Bytes queued now. */
  queuedBytes: number;
  /** Messages queued now. */
  queuedMessages: number;
  /** Milliseconds of media between the newest queued and the newest read message. */
  lagMs: number;
}

/**
 * A subscriber. Created by {@linkcode LiveStream.subscribe}; read with
 * {@linkcode Subscriber.take} (batches, for drivers) or {@linkcode Subscriber.next}.
 *
 * @example
 * ```ts
 * import { Subscriber } from "./subscriber.ts";
 * const s = new Subscriber({ policy: "drop" });
 * console.log(s.take(1 << 16).length, s.closed); // 0 false
 * ```
 */
export class Subscriber {
  /** `block` or `drop`. */
  readonly policy: SubscriberPolicy;
  /** The name given at subscribe time. */
  readonly label: string;
  /** Whether it ends when the publisher goes away. */
  readonly endOnUnpublish: boolean;
  readonly #overflowDrop: boolean;
  readonly #soft: number;
  readonly #hard: number;
  #items: SubscriberEntry[] = [];
  #head = 0;
  #bytes = 0;
  #waiter: (() => void) | null = null;
  #listener: (() => void) | null = null;
  #blocked: Array<() => void> = [];
  #needKeyframe = false;
  #videoOff = false;
  #audioOff = false;
  #paused = false;
  #ended = false;
  #closeReason: string | null = null;
  #detach: ((s: Subscriber) => void) | null = null;
  #onClose: ((reason: string) => void) | null = null;
  #lastIn = 0;
  #lastOut = 0;
  readonly #stats = {
    messages: 0,
    bytes: 0,
    droppedMessages: 0,
    droppedBytes: 0,
    dropEpisodes: 0,
  };

  /**
   * Creates it.
   * @param options Policy and bounds.
   */
  constructor(options: SubscriberOptions = {}) {
    this.policy = options.policy ?? "block";
    this.label = options.label ?? "";
    this.endOnUnpublish = options.endOnUnpublish ?? false;
    this.#overflowDrop = options.overflow === "drop";
    this.#soft = options.maxBytes ?? 8 << 20;
    this.#hard = options.hardMaxBytes ?? this.#soft * 2;
  }

  /** Whether the subscriber was closed (by its reader, or by the drop policy). */
  get closed(): boolean {
    return this.#closeReason !== null;
  }

  /** Why it was closed, or `null`. */
  get closeReason(): string | null {
    return this.#closeReason;
  }

  /** Whether no more entries will come (ended or closed) and the queue is empty. */
  get done(): boolean {
    return (this.#ended || this.#closeReason !== null) && this.#head >= this.#items.length;
  }

  /** Bytes queued now. */
  get queuedBytes(): number {
    return this.#bytes;
  }

  /**
   * Binds the subscriber to its stream.
   * @internal
   * @param detach Called once when the subscriber closes or ends.
   * @param onClose Called with the reason when the subscriber is closed.
   */
  bind(detach: (s: Subscriber) => void, onClose?: (reason: string) => void): void {
    this.#detach = detach;
    this.#onClose = onClose ?? null;
  }

  /**
   * Starts at the next keyframe (a late joiner without a cached GOP, or after a gap).
   */
  waitForKeyframe(): void {
    this.#needKeyframe = true;
  }

  /**
   * Stops or resumes delivery of one kind (`receiveAudio` / `receiveVideo`).
   * @param kind Audio or video.
   * @param enabled Whether to deliver it.
   */
  setReceive(kind: "audio" | "video", enabled: boolean): void {
    if (kind === "audio") this.#audioOff = !enabled;
    else {
      if (this.#videoOff && enabled) this.#needKeyframe = true;
      this.#videoOff = !enabled;
    }
  }

  /**
   * Pauses (nothing but headers and signals is queued) or resumes at the next keyframe.
   * @param paused Whether paused.
   */
  setPaused(paused: boolean): void {
    if (this.#paused && !paused) this.#needKeyframe = true;
    this.#paused = paused;
  }

  /**
   * Queues a message under the policy.
   * @internal Called by the stream.
   * @param m The message.
   * @returns For `block`, a promise while the queue is over its bound; otherwise `undefined`.
   */
  push(m: HubMessage): Promise<void> | undefined {
    if (this.#closeReason !== null || this.#ended) return undefined;
    if (!this.#admit(m)) {
      this.#stats.droppedMessages++;
      this.#stats.droppedBytes += m.payload.length;
      return undefined;
    }
    this.#enqueue(m, m.size);
    this.#lastIn = m.timestamp;
    if (this.policy === "drop") {
      if (this.#bytes > this.#hard) {
        this.close(`queue over its hard bound (${this.#hard} bytes): the reader is too slow`);
      }
      return undefined;
    }
    if (this.#bytes <= this.#soft) return undefined;
    return new Promise((resolve) => this.#blocked.push(resolve));
  }

  /**
   * Queues a signal (never dropped).
   * @internal Called by the stream.
   * @param signal The signal.
   */
  signal(signal: StreamSignal): void {
    if (this.#closeReason !== null || this.#ended) return;
    if (signal.signal === "unpublish" && this.endOnUnpublish) {
      this.end();
      return;
    }
    // A new publisher's stream starts with its own headers and keyframe. Only viewers skip to
    // it: a `block` reader sees every frame the new publisher sends.
    if (signal.signal === "publish" && this.policy === "drop" && this.#head < this.#items.length) {
      this.#needKeyframe = true;
    }
    this.#enqueue(signal, 0);
  }

  #admit(m: HubMessage): boolean {
    if (this.#overflowDrop && this.#bytes > this.#hard && !m.header) {
      if (m.type === 9) this.#needKeyframe = true;
      return false;
    }
    if (m.header || m.type !== 8 && m.type !== 9) {
      return !this.#paused || m.header;
    }
    if (this.#paused) return false;
    if (m.type === 8) return !this.#audioOff;
    if (this.#videoOff) return false;
    if (this.#needKeyframe) {
      // The soft bound only delays a `drop` reader's restart; a `block` reader over its bound
      // is already slowing the publisher and must not lose the keyframe it waits for.
      if (!m.keyframe || (this.policy === "drop" && this.#bytes > this.#soft)) return false;
      this.#needKeyframe = false;
      return true;
    }
    if (this.policy === "drop" && this.#bytes > this.#soft) {
      this.#needKeyframe = true;
      this.#stats.dropEpisodes++;
      return false;
    }
    return true;
  }

  #enqueue(entry: SubscriberEntry, size: number): void {
    const wasEmpty = this.#head >= this.#items.length;
    this.#items.push(entry);
    this.#bytes += size;
    if (wasEmpty) this.#listener?.();
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter();
    }
  }

  /**
   * The timestamp of the oldest queued audio or video frame, or `null` when none is queued.
   * Sequence headers and metadata are skipped: a new subscriber is primed with them, and they
   * keep the timestamp they were published with (often 0), not their place in the backlog.
   * @returns Milliseconds.
   */
  oldestTimestamp(): number | null {
    for (let i = this.#head; i < this.#items.length; i++) {
      const e = this.#items[i];
      if (!("signal" in e) && !e.header && (e.type === 8 || e.type === 9)) return e.timestamp;
    }
    return null;
  }

  /**
   * Drops everything queued (counted as dropped) and starts again at the next keyframe: a
   * restream destination that reconnects resumes live instead of sending a stale backlog.
   * @returns Messages discarded.
   */
  discardQueued(): number {
    let n = 0;
    while (this.#head < this.#items.length) {
      const e = this.#items[this.#head];
      this.#items[this.#head++] = undefined as unknown as SubscriberEntry;
      if ("signal" in e) continue;
      n++;
      this.#bytes -= e.size;
      this.#stats.droppedMessages++;
      this.#stats.droppedBytes += e.payload.length;
    }
    this.#compact();
    this.#release();
    this.#needKeyframe = true;
    return n;
  }

  /**
   * Drops what is queued before the newest queued video keyframe (counted as dropped): a
   * restream destination that reconnected resumes at that keyframe instead of waiting for the
   * next one. When no keyframe is queued, or the newest is more than `maxAge` ms of media older
   * than the newest queued message, drops everything and starts again at the next keyframe
   * ({@linkcode Subscriber.discardQueued}).
   * @param maxAge Oldest keyframe still worth resuming at, in ms of media.
   * @returns Messages dropped.
   */
  skipToKeyframe(maxAge: number): number {
    let newest: number | null = null;
    for (let i = this.#items.length - 1; i >= this.#head; i--) {
      const e = this.#items[i];
      if ("signal" in e) continue;
      newest ??= e.timestamp;
      if (!e.keyframe) continue;
      // Timestamps are unsigned 32-bit and wrap; the difference is taken modulo 2^32.
      if (((newest - e.timestamp) >>> 0) > maxAge) break;
      let n = 0;
      while (this.#head < i) {
        const x = this.#items[this.#head];
        this.#items[this.#head++] = undefined as unknown as SubscriberEntry;
        if ("signal" in x) continue;
        n++;
        this.#bytes -= x.size;
        this.#stats.droppedMessages++;
        this.#stats.droppedBytes += x.payload.length;
      }
      this.#compact();
      this.#release();
      return n;
    }
    return this.discardQueued();
  }

  /**
   * Removes up to `maxBytes` worth of entries (at least one when any is queued).
   * @param maxBytes Batch size bound.
   * @returns The entries, oldest first.
   */
  take(maxBytes: number): SubscriberEntry[] {
    const out: SubscriberEntry[] = [];
    let n = 0;
    while (this.#head < this.#items.length && (out.length === 0 || n < maxBytes)) {
      const e = this.#shift();
      out.push(e);
      if (!("signal" in e)) n += e.size;
    }
    this.#compact();
    this.#release();
    return out;
  }

  /**
   * Removes the oldest entry, or `undefined` when the queue is empty.
   * @returns The entry.
   */
  next(): SubscriberEntry | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const e = this.#shift();
    this.#compact();
    this.#release();
    return e;
  }

  /**
   * Resolves when an entry is queued or the subscriber ends or closes (at once if one is).
   * @returns A promise.
   */
  wait(): Promise<void> {
    if (this.#head < this.#items.length || this.#ended || this.#closeReason !== null) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const previous = this.#waiter;
      this.#waiter = previous
        ? () => {
          previous();
          resolve();
        }
        : resolve;
    });
  }

  /**
   * Sets the reader's listener, called synchronously whenever an entry arrives in an empty
   * queue and when the subscriber ends or closes: a driver that takes everything queued each
   * time it is called needs no promise per message ({@linkcode Subscriber.wait} makes one).
   * @param listener The callback, or `null` to remove it.
   */
  onReady(listener: (() => void) | null): void {
    this.#listener = listener;
  }

  #shift(): SubscriberEntry {
    const e = this.#items[this.#head];
    this.#items[this.#head++] = undefined as unknown as SubscriberEntry;
    if (!("signal" in e)) {
      this.#bytes -= e.size;
      this.#stats.messages++;
      this.#stats.bytes += e.payload.length;
      this.#lastOut = e.timestamp;
    }
    return e;
  }

  #compact(): void {
    if (this.#head >= this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  #release(): void {
    if (this.#blocked.length === 0 || this.#bytes > this.#soft) return;
    const blocked = this.#blocked;
    this.#blocked = [];
    for (const resolve of blocked) resolve();
  }

  /**
   * No more entries will come; what is queued is still read. Releases a waiting publisher.
   */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#finish();
  }

  /**
   * Closes the subscriber: drops what is queued and detaches it from its stream.
   * @param reason Why (logged and kept in {@linkcode Subscriber.closeReason}).
   */
  close(reason = "closed by the reader"): void {
    if (this.#closeReason !== null) return;
    this.#closeReason = reason;
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#finish();
    this.#onClose?.(reason);
  }

  #finish(): void {
    const blocked = this.#blocked;
    this.#blocked = [];
    for (const resolve of blocked) resolve();
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
    this.#listener?.();
    const detach = this.#detach;
    this.#detach = null;
    detach?.(this);
  }

  /** A snapshot of the counters. @returns Stats. */
  stats(): SubscriberStats {
    return {
      label: this.label,
      policy: this.policy,
      ...this.#stats,
      queuedBytes: this.#bytes,
      queuedMessages: this.#items.length - this.#head,
      lagMs: Math.max(0, (this.#lastIn - this.#lastOut) | 0),
    };
  }
}
