/**
 * The types public signatures of this package name, in one place, so each entry point can
 * re-export them (`deno doc --lint`: no private types in public signatures). Types only.
 *
 * @example
 * ```ts
 * import type { AmfObject, VideoTag } from "./vocabulary.ts";
 * const meta: AmfObject = { width: 1280 };
 * function isEnhanced(t: VideoTag): boolean { return t.enhanced; }
 * console.log(isEnhanced({ enhanced: false, frameType: 1, codecId: 7, data: new Uint8Array(0) }), meta.width);
 * ```
 *
 * @module
 */

export type {
  AmfArray3,
  AmfDecodeOptions,
  AmfDictionary,
  AmfObject,
  AmfTypedObject,
  AmfValue,
  AmfVector,
  AmfVectorKind,
  AmfVectorOptions,
  AmfXml,
  AmfXmlDocument,
} from "./amf.ts";
export type {
  AudioMultitrack,
  AudioTag,
  AudioTrack,
  ExAudioTag,
  LegacyAudioTag,
  MultichannelConfig,
} from "./audio_tag.ts";
export type {
  ExVideoTag,
  LegacyVideoTag,
  VideoMultitrack,
  VideoTag,
  VideoTrack,
} from "./video_tag.ts";
export type { ModEx } from "./fourcc.ts";
export type { Command, ConnectParams, EncodeMessageOptions, PlayOptions } from "./command.ts";
export type { ControlMessage, UserControlEvent } from "./control.ts";
export type { RtmpMessage } from "./message.ts";
export type { ChunkDecoderOptions } from "./chunk_decoder.ts";
export type { ByteBudget, ByteBudgetOptions } from "./byte_budget.ts";
export type { BlockPool, BlockPoolOptions } from "./block_pool.ts";
export type { HmacSha256 } from "./handshake.ts";
export type { RtmpUrl } from "./url.ts";
export type { FlvDemuxerEnd, FlvDemuxerOptions, FlvHeader, FlvTag } from "./flv.ts";
export type { DataMessage } from "./data.ts";
export type { StatusCode, StatusInfo, StatusLevel, StatusObject } from "./status.ts";
export type { AudioPacket, DataPacket, MediaPacket, VideoPacket } from "./packet.ts";
