/**
 * FLV for live streams: {@linkcode FlvMuxStream} (media packets → FLV bytes) and
 * {@linkcode FlvDemuxStream} (FLV bytes → tags) as web `TransformStream`s, and the packet ↔ tag
 * mapping they share ({@linkcode packetToFlvTag}, {@linkcode flvTagToPacket}).
 *
 * @example Serve a live stream as FLV bytes
 * ```ts ignore
 * import { FlvMuxStream } from "./mod.ts";
 * declare const packets: AsyncIterable<import("../session/packet.ts").MediaPacket>;
 * const body: ReadableStream<Uint8Array> = ReadableStream.from(packets)
 *   .pipeThrough(new FlvMuxStream());
 * ```
 *
 * @module
 */

export {
  FlvDemuxStream,
  type FlvDemuxStreamOptions,
  FlvMuxStream,
  type FlvMuxStreamOptions,
} from "./streams.ts";
export { flvHeaderFromMetadata, flvTagToPacket, packetToFlvTag } from "./tags.ts";
export type { FlvDemuxerEnd, FlvDemuxerOptions, FlvHeader, FlvTag } from "../protocol/flv.ts";
export type { AudioPacket, DataPacket, MediaPacket, VideoPacket } from "../session/packet.ts";
