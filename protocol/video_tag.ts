/**
 * Video tag bodies: the payload of an RTMP video message (type 9) is the body of an FLV video tag.
 * Both the legacy layout (FLV 10.1 Annex E.4.3) and the Enhanced RTMP layout (E-RTMP v2,
 * "Enhanced Video": ExVideoTagHeader with FourCC, ModEx, Multitrack, Metadata, command frames)
 * are parsed into plain objects and built back byte-for-byte: for every body that parses,
 * `buildVideoTag(parseVideoTag(x))` equals `x`. Unknown FourCCs and packet types keep their
 * remaining bytes opaque in `data`.
 *
 * Parsed `data` fields are views into the input (no copy).
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import {
  checkRange,
  type ModEx,
  readFourCc,
  readModExChain,
  resolveModEx,
  writeFourCc,
  writeModExChain,
} from "./fourcc.ts";
import { readMultitrack, trackKind, writeMultitrack } from "./multitrack.ts";

export { AvMultitrackType, FourCc, type ModEx, ModExType } from "./fourcc.ts";

/**
 * Video frame types (FLV 10.1 E.4.3.1; E-RTMP v2 `VideoFrameType`).
 *
 * @example
 * ```ts
 * import { VideoFrameType } from "./video_tag.ts";
 * console.log(VideoFrameType.KeyFrame); // 1
 * ```
 */
export const VideoFrameType = {
  KeyFrame: 1,
  InterFrame: 2,
  /** H.263 only. */
  DisposableInterFrame: 3,
  /** Reserved for server use. */
  GeneratedKeyFrame: 4,
  /** Video info / command frame: a UI8 command instead of video data. */
  Command: 5,
} as const;

/**
 * Legacy video codec ids (FLV 10.1 E.4.3.1). `Hevc` (12) is not in FLV 10.1: it is the de-facto
 * extension used by several servers and FFmpeg forks before E-RTMP, with the AVC packet layout.
 *
 * @example
 * ```ts
 * import { VideoCodecId } from "./video_tag.ts";
 * console.log(VideoCodecId.Avc); // 7
 * ```
 */
export const VideoCodecId = {
  SorensonH263: 2,
  Screen: 3,
  On2Vp6: 4,
  On2Vp6Alpha: 5,
  ScreenV2: 6,
  Avc: 7,
  Hevc: 12,
} as const;

/**
 * AVCPacketType of legacy AVC (and codec-id-12 HEVC) video (FLV 10.1 E.4.3.1).
 *
 * @example
 * ```ts
 * import { AvcPacketType } from "./video_tag.ts";
 * console.log(AvcPacketType.SequenceHeader); // 0
 * ```
 */
export const AvcPacketType = {
  SequenceHeader: 0,
  Nalu: 1,
  EndOfSequence: 2,
} as const;

/**
 * E-RTMP video packet types (E-RTMP v2 `VideoPacketType`).
 *
 * @example
 * ```ts
 * import { VideoPacketType } from "./video_tag.ts";
 * console.log(VideoPacketType.CodedFramesX); // 3
 * ```
 */
export const VideoPacketType = {
  SequenceStart: 0,
  /** Coded frames; `avc1`/`hvc1`/`vvc1` carry an SI24 composition time first. */
  CodedFrames: 1,
  SequenceEnd: 2,
  /** Coded frames with an implied composition time of 0. */
  CodedFramesX: 3,
  /** AMF-encoded metadata (e.g. `colorInfo`); the frame type is ignored. */
  Metadata: 4,
  Mpeg2TsSequenceStart: 5,
  Multitrack: 6,
  ModEx: 7,
} as const;

/**
 * Commands of a video command frame (frame type 5).
 *
 * @example
 * ```ts
 * import { VideoCommand } from "./video_tag.ts";
 * console.log(VideoCommand.EndSeek); // 1
 * ```
 */
export const VideoCommand = {
  StartSeek: 0,
  EndSeek: 1,
} as const;

/**
 * A legacy (non-enhanced) video tag body.
 *
 * @example
 * ```ts
 * import type { LegacyVideoTag } from "./video_tag.ts";
 * const t: LegacyVideoTag = {
 *   enhanced: false, frameType: 1, codecId: 7, avcPacketType: 1, compositionTime: -40,
 *   data: new Uint8Array([0, 0, 0, 1, 0x65]),
 * };
 * console.log(t.codecId); // 7
 * ```
 */
export interface LegacyVideoTag {
  /** Always `false`: byte 0 bit 7 (IsExHeader) is clear. */
  enhanced: false;
  /** Frame type 0..7, see {@linkcode VideoFrameType}. */
  frameType: number;
  /** Codec id 0..15, see {@linkcode VideoCodecId}. */
  codecId: number;
  /** For codec id 7 (AVC) and 12 (HEVC): see {@linkcode AvcPacketType}. */
  avcPacketType?: number;
  /** For codec id 7 and 12: SI24 composition time offset in ms (0 unless a NALU packet). */
  compositionTime?: number;
  /** For frame type 5: the UI8 command, see {@linkcode VideoCommand}. */
  command?: number;
  /** Everything after the header: codec data, or bytes trailing a command. */
  data: Uint8Array;
}

/**
 * One track of a multitrack video message.
 *
 * @example
 * ```ts
 * import type { VideoTrack } from "./video_tag.ts";
 * const tr: VideoTrack = { trackId: 1, fourCc: "hvc1", compositionTime: 0, data: new Uint8Array(4) };
 * console.log(tr.trackId); // 1
 * ```
 */
export interface VideoTrack {
  /** UI8 track id (0 is the default track by convention). */
  trackId: number;
  /** The track's codec; in OneTrack/ManyTracks mode this is the shared FourCC. */
  fourCc: string;
  /** SI24 composition time, only for CodedFrames of `avc1`/`hvc1`/`vvc1`. */
  compositionTime?: number;
  /** The track's payload after any composition time. */
  data: Uint8Array;
}

/**
 * Multitrack layout of an enhanced video message.
 *
 * @example
 * ```ts
 * import type { VideoMultitrack } from "./video_tag.ts";
 * const m: VideoMultitrack = { type: 1, fourCc: "av01", tracks: [] };
 * console.log(m.type); // 1
 * ```
 */
export interface VideoMultitrack {
  /** See {@linkcode AvMultitrackType}; reserved values 3..15 keep the body opaque in `data`. */
  type: number;
  /** Shared FourCC for OneTrack and ManyTracks (defaults to the tracks' FourCC when building). */
  fourCc?: string;
  /** Tracks in wire order (empty for a reserved multitrack type). */
  tracks: VideoTrack[];
}

/**
 * An Enhanced RTMP video tag body (byte 0 bit 7 set).
 *
 * `packetType` is the packet type that applies to the payload: after any ModEx chain, and for a
 * multitrack message the per-track type (the Multitrack code itself is implied by `multitrack`).
 *
 * @example
 * ```ts
 * import type { ExVideoTag } from "./video_tag.ts";
 * const t: ExVideoTag = {
 *   enhanced: true, frameType: 1, packetType: 1, fourCc: "hvc1", compositionTime: 33,
 *   data: new Uint8Array([0, 0, 0, 2, 0x26, 0x01]),
 * };
 * console.log(t.fourCc); // "hvc1"
 * ```
 */
export interface ExVideoTag {
  /** Always `true`. */
  enhanced: true;
  /** Frame type 0..7 (ignored by receivers for Metadata packets). */
  frameType: number;
  /** Packet type 0..15, see {@linkcode VideoPacketType}. */
  packetType: number;
  /** ModEx chain in wire order; written as is when non-empty. */
  modEx?: ModEx[];
  /**
   * The first TimestampOffsetNano value of the chain. When building without `modEx`, a value here
   * produces a one-entry chain; when `modEx` is given it wins.
   */
  timestampOffsetNano?: number;
  /** For frame type 5 (except Metadata): the UI8 command; no FourCC or payload follows. */
  command?: number;
  /** Present for multitrack messages. */
  multitrack?: VideoMultitrack;
  /** Codec of a single-track message. */
  fourCc?: string;
  /** SI24 composition time, only for CodedFrames of `avc1`/`hvc1`/`vvc1`. */
  compositionTime?: number;
  /** Payload of a single-track message, bytes after a command, or an opaque multitrack body. */
  data?: Uint8Array;
}

/**
 * A parsed video tag body.
 *
 * @example
 * ```ts
 * import { parseVideoTag, type VideoTag } from "./video_tag.ts";
 * const t: VideoTag = parseVideoTag(new Uint8Array([0x17, 0x02, 0, 0, 0]));
 * console.log(t.enhanced); // false
 * ```
 */
export type VideoTag = LegacyVideoTag | ExVideoTag;

const EMPTY = new Uint8Array(0);

/**
 * Whether CodedFrames of this FourCC start with an SI24 composition time (E-RTMP v2,
 * ExVideoTagBody: only AVC, HEVC and VVC).
 */
function hasCompositionTime(packetType: number, fourCc: string): boolean {
  return packetType === VideoPacketType.CodedFrames &&
    (fourCc === "avc1" || fourCc === "hvc1" || fourCc === "vvc1");
}

/**
 * Parses a video tag body (the payload of an RTMP video message or an FLV video tag).
 *
 * An empty body throws `MALFORMED`: zero-length video messages are legal at the message level
 * (RTMP peers send them), so the session layer checks the length before calling this.
 *
 * Layout notes: the enhanced header follows E-RTMP v2 — ModEx chain first, then a command frame
 * (frame type 5 and not Metadata) is followed by its UI8 command and no FourCC, then Multitrack or
 * a single FourCC. A legacy command frame carries its UI8 right after byte 0 as in E-RTMP v2's
 * legacy branch. Bytes trailing a command are kept in `data`.
 *
 * @example
 * ```ts
 * import { parseVideoTag } from "./video_tag.ts";
 * const t = parseVideoTag(new Uint8Array([0x90, 0x61, 0x76, 0x30, 0x31])); // av01 SequenceStart
 * console.log(t.enhanced && t.fourCc); // "av01"
 * ```
 *
 * @param body The tag body.
 * @returns The parsed tag; `data` fields are views into `body`.
 * @throws {RtmpError} `MALFORMED` when the body is empty, short, or breaks a layout rule.
 */
export function parseVideoTag(body: Uint8Array): VideoTag {
  const r = new ByteReader(body);
  const b0 = r.u8("video tag header");
  if ((b0 & 0x80) === 0) return parseLegacy(r, b0);
  return parseEnhanced(r, b0);
}

function parseLegacy(r: ByteReader, b0: number): LegacyVideoTag {
  const frameType = b0 >> 4;
  const codecId = b0 & 0x0f;
  if (frameType === VideoFrameType.Command) {
    const command = r.u8("video command");
    return { enhanced: false, frameType, codecId, command, data: r.rest() };
  }
  if (codecId === VideoCodecId.Avc || codecId === VideoCodecId.Hevc) {
    // FLV 10.1 E.4.3.1: AVCPacketType and CompositionTime are both present whenever CodecID is AVC.
    const avcPacketType = r.u8("AVC packet type");
    const compositionTime = r.s24("AVC composition time");
    return { enhanced: false, frameType, codecId, avcPacketType, compositionTime, data: r.rest() };
  }
  return { enhanced: false, frameType, codecId, data: r.rest() };
}

function parseEnhanced(r: ByteReader, b0: number): ExVideoTag {
  const frameType = (b0 >> 4) & 0x07;
  const chain = readModExChain(r, b0 & 0x0f, VideoPacketType.ModEx, "video");
  const packetType = chain.packetType;
  const tag: ExVideoTag = { enhanced: true, frameType, packetType };
  if (chain.modEx.length > 0) tag.modEx = chain.modEx;
  if (chain.timestampOffsetNano !== undefined) tag.timestampOffsetNano = chain.timestampOffsetNano;

  if (packetType !== VideoPacketType.Metadata && frameType === VideoFrameType.Command) {
    tag.command = r.u8("video command");
    tag.data = r.rest();
    return tag;
  }
  if (packetType === VideoPacketType.Multitrack) {
    readMultitrack(r, tag, VIDEO_TRACKS);
    return tag;
  }
  const fourCc = readFourCc(r, "video FourCC");
  tag.fourCc = fourCc;
  if (hasCompositionTime(packetType, fourCc)) {
    tag.compositionTime = r.s24("video composition time");
  }
  tag.data = r.rest();
  return tag;
}

/**
 * Builds a video tag body. Inverse of {@linkcode parseVideoTag}: for every body that parses,
 * building the result gives the same bytes.
 *
 * @example
 * ```ts
 * import { buildVideoTag } from "./video_tag.ts";
 * const body = buildVideoTag({
 *   enhanced: false, frameType: 1, codecId: 7, avcPacketType: 0, compositionTime: 0,
 *   data: new Uint8Array([1, 0x64, 0, 0x1f]),
 * });
 * console.log(body.length); // 9
 * ```
 *
 * @param tag The tag to encode.
 * @returns A new byte array.
 * @throws {RtmpError} `INVALID_ARGUMENT` when a field is out of range or inconsistent.
 */
export function buildVideoTag(tag: VideoTag): Uint8Array {
  const w = new ByteWriter(16 + payloadLength(tag));
  if (tag.enhanced) buildEnhanced(w, tag);
  else buildLegacy(w, tag);
  return w.finish();
}

function payloadLength(tag: VideoTag): number {
  let n = tag.data?.length ?? 0;
  if (tag.enhanced && tag.multitrack) {
    for (const t of tag.multitrack.tracks) n += t.data.length + 12;
  }
  return n;
}

function buildLegacy(w: ByteWriter, tag: LegacyVideoTag): void {
  // Bit 7 of byte 0 is IsExHeader (E-RTMP v2), so legacy frame types stop at 7.
  checkRange(tag.frameType, 0, 7, "legacy video frame type");
  checkRange(tag.codecId, 0, 15, "legacy video codec id");
  w.u8((tag.frameType << 4) | tag.codecId);
  if (tag.frameType === VideoFrameType.Command) {
    if (tag.command === undefined) {
      throw new RtmpError("INVALID_ARGUMENT", "legacy video command frame: command is missing");
    }
    checkRange(tag.command, 0, 255, "video command");
    w.u8(tag.command);
  } else if (tag.codecId === VideoCodecId.Avc || tag.codecId === VideoCodecId.Hevc) {
    if (tag.avcPacketType === undefined) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `legacy video codec id ${tag.codecId}: avcPacketType is missing`,
      );
    }
    checkRange(tag.avcPacketType, 0, 255, "AVC packet type");
    const ct = tag.compositionTime ?? 0;
    checkRange(ct, -0x800000, 0x7fffff, "AVC composition time");
    w.u8(tag.avcPacketType).u24(ct);
  } else if (tag.command !== undefined || tag.avcPacketType !== undefined) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `legacy video: command needs frame type 5 and avcPacketType needs codec id 7 or 12 ` +
        `(frame type ${tag.frameType}, codec id ${tag.codecId})`,
    );
  }
  w.bytes(tag.data);
}

function buildEnhanced(w: ByteWriter, tag: ExVideoTag): void {
  checkRange(tag.frameType, 0, 7, "enhanced video frame type");
  checkRange(tag.packetType, 0, 15, "video packet type");
  const mt = tag.multitrack;
  const outer = mt !== undefined ? VideoPacketType.Multitrack : tag.packetType;
  // E-RTMP v2 reads the command before looking for Multitrack, so frame type 5 with any outer
  // packet type but Metadata is a command frame.
  const isCommand = tag.frameType === VideoFrameType.Command &&
    outer !== VideoPacketType.Metadata;
  if (isCommand && mt !== undefined) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      "video multitrack with frame type 5 would be read as a command frame",
    );
  }
  if (mt === undefined && tag.packetType === VideoPacketType.ModEx) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      "video packet type ModEx (7) is written from the modEx field, not as packetType",
    );
  }
  if (!isCommand && mt === undefined && tag.packetType === VideoPacketType.Multitrack) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      "video packet type Multitrack (6) needs the multitrack field",
    );
  }
  const chain = resolveModEx(tag.modEx, tag.timestampOffsetNano);
  w.u8(0x80 | (tag.frameType << 4) | (chain.length > 0 ? VideoPacketType.ModEx : outer));
  writeModExChain(w, chain, outer, VideoPacketType.ModEx, "video");

  if (isCommand) {
    if (tag.command === undefined) {
      throw new RtmpError("INVALID_ARGUMENT", "enhanced video command frame: command is missing");
    }
    checkRange(tag.command, 0, 255, "video command");
    w.u8(tag.command).bytes(tag.data ?? EMPTY);
    return;
  }
  if (tag.command !== undefined) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      "video command needs frame type 5 and a packet type other than Metadata",
    );
  }
  if (mt !== undefined) {
    writeMultitrack(w, tag.packetType, mt, tag.data, VIDEO_TRACKS);
    return;
  }
  if (tag.fourCc === undefined) {
    throw new RtmpError("INVALID_ARGUMENT", "enhanced video tag: fourCc is missing");
  }
  writeFourCc(w, tag.fourCc, "video FourCC");
  if (hasCompositionTime(tag.packetType, tag.fourCc)) {
    const ct = tag.compositionTime ?? 0;
    checkRange(ct, -0x800000, 0x7fffff, "video composition time");
    w.u24(ct);
  }
  w.bytes(tag.data ?? EMPTY);
}

/** Video tracks of CodedFrames in AVC, HEVC and VVC start with an SI24 composition time. */
const VIDEO_TRACKS = trackKind<VideoTrack>("video", VideoPacketType.Multitrack, {
  readHead(r: ByteReader, packetType: number, track: VideoTrack): void {
    if (hasCompositionTime(packetType, track.fourCc)) {
      track.compositionTime = r.s24("video track composition time");
    }
  },
  headLength(packetType: number, track: VideoTrack): number {
    return hasCompositionTime(packetType, track.fourCc) ? 3 : 0;
  },
  writeHead(w: ByteWriter, packetType: number, track: VideoTrack): void {
    if (!hasCompositionTime(packetType, track.fourCc)) return;
    const v = track.compositionTime ?? 0;
    checkRange(v, -0x800000, 0x7fffff, "video track composition time");
    w.u24(v);
  },
});

/**
 * Whether the tag is a coded key frame: frame type 1 (FLV 10.1 E.4.3.1) on a tag that carries a
 * picture — a legacy AVC/HEVC NALU packet, an enhanced CodedFrames/CodedFramesX packet (also per
 * track of a multitrack message), or any legacy codec's frame. Sequence headers, end of
 * sequence, Metadata packets and command frames are not key frames even when their frame type
 * says 1: a player or a GOP cache must not start at them. Use {@linkcode isVideoSequenceHeader}
 * for headers.
 *
 * @example
 * ```ts
 * import { isVideoKeyframe, parseVideoTag } from "./video_tag.ts";
 * console.log(isVideoKeyframe(parseVideoTag(new Uint8Array([0x17, 1, 0, 0, 0])))); // true (NALU)
 * console.log(isVideoKeyframe(parseVideoTag(new Uint8Array([0x17, 0, 0, 0, 0])))); // false (header)
 * ```
 *
 * @param tag A parsed tag.
 * @returns `true` for key frames.
 */
export function isVideoKeyframe(tag: VideoTag): boolean {
  if (tag.frameType !== VideoFrameType.KeyFrame) return false;
  if (tag.enhanced) {
    return tag.packetType === VideoPacketType.CodedFrames ||
      tag.packetType === VideoPacketType.CodedFramesX;
  }
  if (tag.codecId === VideoCodecId.Avc || tag.codecId === VideoCodecId.Hevc) {
    return tag.avcPacketType === AvcPacketType.Nalu;
  }
  return true;
}

/**
 * Whether the tag carries decoder configuration that must be kept for late joiners: a legacy
 * AVC/HEVC sequence header, or an enhanced SequenceStart / MPEG2TSSequenceStart (also in a
 * multitrack message).
 *
 * @example
 * ```ts
 * import { isVideoSequenceHeader, parseVideoTag } from "./video_tag.ts";
 * console.log(isVideoSequenceHeader(parseVideoTag(new Uint8Array([0x17, 0, 0, 0, 0])))); // true
 * ```
 *
 * @param tag A parsed tag.
 * @returns `true` for sequence headers.
 */
export function isVideoSequenceHeader(tag: VideoTag): boolean {
  if (tag.command !== undefined) return false;
  if (!tag.enhanced) return tag.avcPacketType === AvcPacketType.SequenceHeader;
  return tag.packetType === VideoPacketType.SequenceStart ||
    tag.packetType === VideoPacketType.Mpeg2TsSequenceStart;
}
