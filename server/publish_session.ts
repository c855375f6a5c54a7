/**
 * One accepted publish, as the server hands it to the caller: who publishes what, its
 * metadata and statistics, and its packets as a backpressured async iterable (a `block`
 * subscriber of the stream in the hub, so players, recorders and restreams read the same
 * stream at the same time).
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { AmfObject } from "../protocol/amf.ts";
import { metadataOf } from "../protocol/data.ts";
import type { MediaPacket } from "../protocol/packet.ts";
import type { NetAddress } from "../socket/types.ts";
import type { HubMessage } from "../hub/hub_message.ts";
import type { LiveStream } from "../hub/live_stream.ts";
import type { Subscriber } from "../hub/subscriber.ts";
import type { ConnectRequest, EndReason, PublishInfo, SessionStats } from "./types.ts";

/** @internal What the connection driver needs from the session besides the public API. */
export interface SessionControl {
  kick(reason: EndReason): void;
}

/**
 * An accepted publish. Iterate it for packets; a consumer that is slower than the publisher
 * slows the publisher's socket down (the queue is bounded). Players and other subscribers of
 * the same stream are served from the hub whether or not anybody iterates the session.
 *
 * @example Print every keyframe's timestamp
 * ```ts
 * import type { PublishSession } from "./publish_session.ts";
 * import { isKeyframe } from "../protocol/packet.ts";
 * async function watch(session: PublishSession): Promise<void> {
 *   for await (const p of session) if (isKeyframe(p)) console.log(p.timestamp);
 *   console.log("ended:", await session.ended);
 * }
 * ```
 */
export class PublishSession implements AsyncIterable<MediaPacket>, PublishInfo, AsyncDisposable {
  /** Server-unique id of this publish. */
  readonly id: number;
  readonly app: string;
  readonly name: string;
  readonly streamName: string;
  readonly query: URLSearchParams;
  readonly publishType: string;
  readonly tcUrl: string;
  readonly connect: ConnectRequest;
  readonly remoteAddr: NetAddress;
  readonly tls: boolean;
  /** The user name the publisher logged in as (the server's `auth`), or `null`. */
  readonly user: string | null;
  /** Resolves with the reason once the session has ended (never rejects). */
  readonly ended: Promise<EndReason>;
  #endReason: EndReason | null = null;
  #resolveEnded!: (reason: EndReason) => void;
  #metadata: AmfObject | null = null;
  readonly #control: SessionControl;
  readonly #stream: LiveStream;
  readonly #queueBytes: number;
  #subscriber: Subscriber | null = null;
  #iterated = false;
  readonly #stats = { payloadBytes: 0, audioPackets: 0, videoPackets: 0, dataPackets: 0 };
  readonly #startedAt = Date.now();
  #endedAt = 0;

  /**
   * Created by the server; not meant to be constructed by applications.
   *
   * @param id Server-unique id.
   * @param info Who publishes what.
   * @param control Hook back to the connection.
   * @param stream The hub stream it feeds.
   * @param maxQueuedBytes Packet queue bound in payload bytes.
   */
  constructor(
    id: number,
    info: PublishInfo,
    control: SessionControl,
    stream: LiveStream,
    maxQueuedBytes: number,
  ) {
    this.id = id;
    this.app = info.app;
    this.name = info.name;
    this.streamName = info.streamName;
    this.query = info.query;
    this.publishType = info.publishType;
    this.tcUrl = info.tcUrl;
    this.connect = info.connect;
    this.remoteAddr = info.remoteAddr;
    this.tls = info.tls;
    this.user = info.user;
    this.#control = control;
    this.#stream = stream;
    this.#queueBytes = maxQueuedBytes;
    this.ended = new Promise((resolve) => this.#resolveEnded = resolve);
  }

  /** `app/name`. */
  get key(): string {
    return this.#stream.key;
  }

  /** The hub stream this publish feeds (subscribe to it for more readers). */
  get stream(): LiveStream {
    return this.#stream;
  }

  /**
   * Attaches the session's own packet queue now, so a later iteration misses nothing from
   * here on. The server does this when a session starts unless `sessionQueue: "lazy"`.
   */
  attach(): void {
    if (this.#subscriber || this.#endReason) return;
    this.#subscriber = this.#stream.subscribe({
      policy: "block",
      maxBytes: this.#queueBytes,
      endOnUnpublish: true,
      label: `session ${this.id}`,
    });
  }

  /** The latest `onMetaData` object the publisher sent, or `null`. */
  get metadata(): AmfObject | null {
    return this.#metadata;
  }

  /** The end reason, or `null` while live. */
  get endReason(): EndReason | null {
    return this.#endReason;
  }

  /** A snapshot of the counters. @returns Stats. */
  stats(): SessionStats {
    const duration = (this.#endedAt || Date.now()) - this.#startedAt;
    const bytes = this.#stats.payloadBytes;
    return {
      ...this.#stats,
      bytes,
      startedAt: this.#startedAt,
      duration,
      bitrate: duration > 0 ? Math.round(bytes * 8000 / duration) : 0,
    };
  }

  /**
   * Counts a published message and keeps its metadata.
   * @internal Called by the connection driver.
   * @param m The message.
   */
  count(m: HubMessage): void {
    this.#stats.payloadBytes += m.payload.length;
    if (m.type === 8) this.#stats.audioPackets++;
    else if (m.type === 9) this.#stats.videoPackets++;
    else {
      this.#stats.dataPackets++;
      const packet = m.packet;
      const meta = packet.type === "data" && packet.data ? metadataOf(packet.data) : null;
      if (meta) this.#metadata = meta;
    }
  }

  /**
   * Marks the session ended; queued packets are still delivered to the consumer.
   * @internal Called by the connection driver.
   * @param reason Why.
   */
  finish(reason: EndReason): void {
    if (this.#endReason) return;
    this.#endReason = reason;
    this.#endedAt = Date.now();
    this.#subscriber?.end();
    this.#resolveEnded(reason);
  }

  /**
   * Ends the publish from the server side: the encoder gets `StreamEOF` and an `onStatus`, and
   * its connection is closed.
   *
   * @returns Resolves once the session has ended.
   */
  close(): Promise<void> {
    if (!this.#endReason) this.#control.kick("kicked");
    return this.ended.then(() => {});
  }

  /** Same as {@linkcode PublishSession.close} (`await using`). @returns Resolves when ended. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * The packets, in arrival order, until the session ends. One consumer only. A session that
   * was not attached before it started (nobody consumes the server's sessions) starts at the
   * stream's current GOP.
   *
   * @returns An async iterator of packets.
   */
  [Symbol.asyncIterator](): AsyncIterator<MediaPacket> {
    if (this.#iterated) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        "a PublishSession's packets can be iterated only once",
      );
    }
    this.#iterated = true;
    this.attach();
    const sub = this.#subscriber;
    return {
      next: async (): Promise<IteratorResult<MediaPacket>> => {
        while (sub) {
          const e = sub.next();
          if (e) {
            if ("signal" in e) continue;
            return { value: e.packet, done: false };
          }
          if (sub.done) break;
          await sub.wait();
        }
        return { value: undefined, done: true };
      },
      return: (): Promise<IteratorResult<MediaPacket>> => {
        // The consumer stopped: drop the backlog so the publisher is never stuck on it.
        sub?.close("the session's consumer stopped");
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
