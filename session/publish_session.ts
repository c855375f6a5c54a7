/**
 * One accepted publish, as the server hands it to the caller: who publishes what, its
 * metadata and statistics, and its packets as a backpressured async iterable.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { AmfObject } from "../protocol/amf.ts";
import { metadataOf } from "../protocol/data.ts";
import type { NetAddress } from "../socket/types.ts";
import { BoundedQueue } from "./bounded_queue.ts";
import type { MediaPacket } from "../protocol/packet.ts";
import type { ConnectRequest } from "./server_session.ts";

/**
 * Why a publish session ended.
 *
 * - `publisher-closed`: the encoder unpublished (`FCUnpublish`, `closeStream`, `deleteStream`).
 * - `connection-lost`: the socket ended or reset without an unpublish.
 * - `timeout`: no data within the idle timeout.
 * - `protocol-error`: the publisher sent something malformed.
 * - `server-closed`: the server shut down.
 * - `replaced`: another publisher took the key (policy `replace`).
 * - `kicked`: the application called {@linkcode PublishSession.close}.
 *
 * @example
 * ```ts
 * import type { EndReason } from "./publish_session.ts";
 * const r: EndReason = "publisher-closed";
 * ```
 */
export type EndReason =
  | "publisher-closed"
  | "connection-lost"
  | "timeout"
  | "protocol-error"
  | "server-closed"
  | "replaced"
  | "kicked";

/**
 * Counters of a publish session.
 *
 * @example
 * ```ts
 * import type { SessionStats } from "./publish_session.ts";
 * function kbps(s: SessionStats): number { return s.bitrate / 1000; }
 * ```
 */
export interface SessionStats {
  /** Payload bytes of all packets. */
  bytes: number;
  /** Packet counts by kind. */
  audioPackets: number;
  /** Video packet count. */
  videoPackets: number;
  /** Data packet count. */
  dataPackets: number;
  /** When the publish was accepted (ms since epoch). */
  startedAt: number;
  /** Milliseconds since start (until end, once ended). */
  duration: number;
  /** Average payload bitrate in bits per second over `duration`. */
  bitrate: number;
}

/**
 * Everything the server knows about the publisher, as given to the key hook and kept on the
 * session.
 *
 * @example
 * ```ts
 * import type { PublishInfo } from "./publish_session.ts";
 * function key(p: PublishInfo): string { return `${p.app}/${p.name}`; }
 * ```
 */
export interface PublishInfo {
  /** Application from `connect` (e.g. `live`). */
  app: string;
  /** Stream name without its query string (the key). */
  name: string;
  /** Stream name exactly as sent, with query string. */
  streamName: string;
  /** Query parameters parsed from the stream name (`key?token=…`). */
  query: URLSearchParams;
  /** `live`, `record` or `append`, as sent. */
  publishType: string;
  /** `tcUrl` from `connect`, or `""`. */
  tcUrl: string;
  /** The whole connect request (flashVer, fourCcList, capability maps, raw object). */
  connect: ConnectRequest;
  /** The publisher's address. */
  remoteAddr: NetAddress;
  /** Whether the connection is RTMPS. */
  tls: boolean;
}

/** @internal What the connection driver needs from the session besides the public API. */
export interface SessionControl {
  kick(reason: EndReason): void;
}

/**
 * An accepted publish. Iterate it for packets; a consumer that is slower than the publisher
 * slows the publisher's socket down (the queue is bounded).
 *
 * @example Print every keyframe's timestamp
 * ```ts
 * import type { PublishSession } from "./publish_session.ts";
 * import { isKeyframe } from "../protocol/packet.ts";
 * async function watch(session: PublishSession): Promise<void> {
 *   for await (const p of session) {
 *     if (isKeyframe(p)) console.log(p.timestamp); // sequence headers are not keyframes
 *   }
 *   console.log("ended:", await session.ended);
 * }
 * ```
 */
export class PublishSession implements AsyncIterable<MediaPacket>, PublishInfo {
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
  /** Resolves with the reason once the session has ended (never rejects). */
  readonly ended: Promise<EndReason>;
  #endReason: EndReason | null = null;
  #resolveEnded!: (reason: EndReason) => void;
  #metadata: AmfObject | null = null;
  readonly #queue: BoundedQueue<MediaPacket>;
  readonly #control: SessionControl;
  #iterated = false;
  readonly #stats = { bytes: 0, audioPackets: 0, videoPackets: 0, dataPackets: 0 };
  readonly #startedAt = Date.now();
  #endedAt = 0;

  /**
   * Created by the server; not meant to be constructed by applications.
   *
   * @param id Server-unique id.
   * @param info Who publishes what.
   * @param control Hook back to the connection.
   * @param maxQueuedBytes Packet queue bound in payload bytes.
   */
  constructor(id: number, info: PublishInfo, control: SessionControl, maxQueuedBytes: number) {
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
    this.#control = control;
    this.#queue = new BoundedQueue<MediaPacket>({
      limit: maxQueuedBytes,
      sizeOf: (p) => p.payload.length + 64,
    });
    this.ended = new Promise((resolve) => this.#resolveEnded = resolve);
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
    return {
      ...this.#stats,
      startedAt: this.#startedAt,
      duration,
      bitrate: duration > 0 ? Math.round(this.#stats.bytes * 8000 / duration) : 0,
    };
  }

  /**
   * Hands a packet to the consumer. Resolves when there is room (backpressure).
   * @internal Called by the connection driver.
   * @param packet The packet.
   * @returns Resolves when the driver may read more.
   */
  deliver(packet: MediaPacket): Promise<void> {
    this.#stats.bytes += packet.payload.length;
    if (packet.type === "audio") this.#stats.audioPackets++;
    else if (packet.type === "video") this.#stats.videoPackets++;
    else {
      this.#stats.dataPackets++;
      const meta = packet.data ? metadataOf(packet.data) : null;
      if (meta) this.#metadata = meta;
    }
    return this.#queue.push(packet);
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
    this.#queue.end();
    this.#resolveEnded(reason);
  }

  /**
   * Ends the publish from the server side: the encoder gets `StreamEOF` and an `onStatus`, and
   * its connection is closed.
   */
  close(): void {
    if (!this.#endReason) this.#control.kick("kicked");
  }

  /**
   * The packets, in arrival order, until the session ends. One consumer only.
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
    return this.#queue[Symbol.asyncIterator]();
  }
}
