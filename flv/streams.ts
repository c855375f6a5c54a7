/**
 * FLV as web streams, in the style of the Deno standard library's stream modules:
 * {@linkcode FlvMuxStream} turns media packets into FLV bytes (header, then one chunk per tag
 * with its PreviousTagSize), {@linkcode FlvDemuxStream} turns FLV bytes in any split back into
 * tags. Both are `TransformStream`s, so they compose with `pipeThrough` and keep the backpressure
 * of whatever they are piped between; neither queues more than one chunk of its own.
 *
 * @example Record a live stream's packets to a file
 * ```ts ignore
 * import { FlvMuxStream } from "./streams.ts";
 * import { Writable } from "node:stream";
 * import { createWriteStream } from "node:fs";
 * declare const packets: AsyncIterable<import("../protocol/packet.ts").MediaPacket>;
 * await ReadableStream.from(packets)
 *   .pipeThrough(new FlvMuxStream())
 *   .pipeTo(Writable.toWeb(createWriteStream("out.flv")));
 * ```
 *
 * @module
 */

import {
  encodeFlvHeader,
  encodeFlvTag,
  FlvDemuxer,
  type FlvDemuxerEnd,
  type FlvDemuxerOptions,
  type FlvHeader,
  type FlvTag,
} from "../protocol/flv.ts";
import type { MediaPacket } from "../protocol/packet.ts";
import { packetToFlvTag } from "./tags.ts";

/**
 * Options of {@linkcode FlvMuxStream}.
 *
 * @example
 * ```ts
 * import type { FlvMuxStreamOptions } from "./streams.ts";
 * const videoOnly: FlvMuxStreamOptions = { audio: false, video: true };
 * console.log(videoOnly.audio); // false
 * ```
 */
export interface FlvMuxStreamOptions {
  /** TypeFlagsAudio of the header (FLV 10.1 E.2): audio tags are present. Default `true`. */
  audio?: boolean;
  /** TypeFlagsVideo of the header: video tags are present. Default `true`. */
  video?: boolean;
  /**
   * Write the 13-byte FLV header (with PreviousTagSize0) before the first tag. Default `true`;
   * `false` continues a stream whose header was already sent.
   */
  header?: boolean;
  /**
   * Encoded tags by packet, shared by every muxer of one live stream: a stream hub hands the
   * same packet object to each subscriber, so with a shared cache each packet is encoded once
   * for all viewers. Chunks taken from the cache are shared: readers must not modify them.
   */
  cache?: WeakMap<MediaPacket, Uint8Array>;
}

/**
 * One packet's FLV tag bytes (11-byte header, data, PreviousTagSize), taken from `cache` when a
 * muxer of the same live stream already encoded it: what {@linkcode FlvMuxStream} emits per
 * packet, for outputs that write tags themselves (the HTTP-FLV batch path).
 *
 * @example
 * ```ts
 * import { flvTagBytes } from "./streams.ts";
 * const cache = new WeakMap();
 * const p = { type: "audio" as const, timestamp: 0, payload: new Uint8Array([0xaf, 1]), tag: null };
 * console.log(flvTagBytes(p, cache)?.length, flvTagBytes(p, cache) === flvTagBytes(p, cache)); // 17 true
 * ```
 *
 * @param packet The packet.
 * @param cache Encoded tags by packet (shared, read-only bytes), or `undefined`.
 * @returns The bytes, or `null` for a packet with no FLV form.
 * @throws {RtmpError} `INVALID_ARGUMENT` for a timestamp or size no FLV tag can hold.
 */
export function flvTagBytes(
  packet: MediaPacket,
  cache: WeakMap<MediaPacket, Uint8Array> | undefined,
): Uint8Array | null {
  let bytes = cache?.get(packet);
  if (bytes === undefined) {
    const tag = packetToFlvTag(packet);
    if (tag === null) return null;
    bytes = encodeFlvTag(tag);
    cache?.set(packet, bytes);
  }
  return bytes;
}

/**
 * Media packets in, FLV bytes out: the FLV header first (unless `header: false`), then one
 * `Uint8Array` per packet holding its 11-byte tag header, data and PreviousTagSize. Packets
 * with no FLV form (see {@linkcode packetToFlvTag}) are skipped; `@setDataFrame` metadata is
 * written as plain `onMetaData`. Timestamps are written as they are.
 *
 * @example
 * ```ts
 * import { FlvMuxStream } from "./streams.ts";
 * const bytes = await new Response(
 *   ReadableStream.from([
 *     { type: "audio" as const, timestamp: 0, payload: new Uint8Array([0xaf, 0, 0x12, 0x10]), tag: null },
 *   ]).pipeThrough(new FlvMuxStream({ video: false })),
 * ).bytes();
 * console.log(bytes.length); // 13 + 15 + 4 = 32
 * ```
 */
export class FlvMuxStream extends TransformStream<MediaPacket, Uint8Array> {
  /**
   * Creates a muxer.
   *
   * @param options Header flags, whether to write the header, a shared encode cache.
   * @throws {RtmpError} (from the stream, not the constructor) `INVALID_ARGUMENT` for a packet
   * whose timestamp or size no FLV tag can hold; the stream then errors.
   */
  constructor(options: FlvMuxStreamOptions = {}) {
    const header: FlvHeader = {
      version: 1,
      audio: options.audio ?? true,
      video: options.video ?? true,
    };
    const writeHeader = options.header ?? true;
    const cache = options.cache;
    super({
      start(controller): void {
        if (writeHeader) controller.enqueue(encodeFlvHeader(header));
      },
      transform(packet, controller): void {
        const bytes = flvTagBytes(packet, cache);
        if (bytes !== null) controller.enqueue(bytes);
      },
    });
  }
}

/**
 * Options of {@linkcode FlvDemuxStream}: those of the sans-IO {@linkcode FlvDemuxer}.
 *
 * @example
 * ```ts
 * import type { FlvDemuxStreamOptions } from "./streams.ts";
 * const options: FlvDemuxStreamOptions = { maxTagSize: 4 << 20, strict: true };
 * console.log(options.strict); // true
 * ```
 */
export type FlvDemuxStreamOptions = FlvDemuxerOptions;

/**
 * FLV bytes in (any split), tags out. The header is checked and kept in
 * {@linkcode FlvDemuxStream.header}; the input may end inside a tag (a live stream that was cut,
 * a file still being written): the unfinished tag is dropped and reported in
 * {@linkcode FlvDemuxStream.end}, as {@linkcode FlvDemuxer.end} does. A bad header, an oversized
 * tag or (with `strict`) a wrong PreviousTagSize errors the stream with an `RtmpError`.
 *
 * @example
 * ```ts
 * import { FlvDemuxStream } from "./streams.ts";
 * import { encodeFlvHeader, encodeFlvTag } from "../protocol/flv.ts";
 * const file = new Uint8Array([
 *   ...encodeFlvHeader({ version: 1, audio: true, video: false }),
 *   ...encodeFlvTag({ type: 8, timestamp: 0, streamId: 0, data: new Uint8Array([0xaf, 1]) }),
 * ]);
 * const demux = new FlvDemuxStream();
 * const tags = await Array.fromAsync(ReadableStream.from([file.subarray(0, 5), file.subarray(5)])
 *   .pipeThrough(demux));
 * console.log(tags.length, demux.header?.audio, demux.end?.clean); // 1 true true
 * ```
 */
export class FlvDemuxStream extends TransformStream<Uint8Array, FlvTag> {
  #demuxer: FlvDemuxer;
  #ended: { end: FlvDemuxerEnd | null };

  /**
   * Creates a demuxer.
   *
   * @param options Tag size bound and PreviousTagSize policy.
   * @throws {RtmpError} `INVALID_ARGUMENT` for a bad `maxTagSize`.
   */
  constructor(options: FlvDemuxStreamOptions = {}) {
    const demuxer = new FlvDemuxer(options);
    // The callbacks run before `this` may be used, so the end report lives in a shared box.
    const ended: { end: FlvDemuxerEnd | null } = { end: null };
    super({
      transform(chunk, controller): void {
        for (const tag of demuxer.push(chunk)) controller.enqueue(tag);
      },
      flush(): void {
        ended.end = demuxer.end();
      },
    });
    this.#demuxer = demuxer;
    this.#ended = ended;
  }

  /** The FLV header once its 9 bytes have arrived; `null` before. */
  get header(): FlvHeader | null {
    return this.#demuxer.header;
  }

  /** How the input ended (clean, or bytes of an unfinished tag dropped); `null` until it has. */
  get end(): FlvDemuxerEnd | null {
    return this.#ended.end;
  }

  /** PreviousTagSize fields that disagreed with the tag before them (non-strict mode). */
  get previousTagSizeMismatches(): number {
    return this.#demuxer.previousTagSizeMismatches;
  }
}
