/**
 * FLV: files (a streaming reader tolerant of a truncated tail, a writer that patches
 * `duration`/`filesize`, the recorder), and for live streams {@linkcode FlvMuxStream} (media
 * packets → FLV bytes) and {@linkcode FlvDemuxStream} (FLV bytes → tags) as web
 * `TransformStream`s, with the packet ↔ tag mapping they share.
 *
 * @example Serve a live stream as FLV bytes
 * ```ts ignore
 * import { FlvMuxStream } from "./mod.ts";
 * declare const packets: AsyncIterable<import("../protocol/packet.ts").MediaPacket>;
 * const body: ReadableStream<Uint8Array> = ReadableStream.from(packets)
 *   .pipeThrough(new FlvMuxStream());
 * ```
 *
 * @module
 */

export type * from "../protocol/vocabulary.ts";
export * from "./file.ts";
export * from "./recorder.ts";
export {
  FlvDemuxStream,
  type FlvDemuxStreamOptions,
  FlvMuxStream,
  type FlvMuxStreamOptions,
} from "./streams.ts";
export { flvHeaderFromMetadata, flvTagToPacket, packetToFlvTag } from "./tags.ts";
export type { FlvDemuxerEnd, FlvDemuxerOptions, FlvHeader, FlvTag } from "../protocol/flv.ts";
export type { AudioPacket, DataPacket, MediaPacket, VideoPacket } from "../protocol/packet.ts";
