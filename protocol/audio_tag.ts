/**
 * Audio tag bodies: the payload of an RTMP audio message (type 8) is the body of an FLV audio tag.
 * Both the legacy layout (FLV 10.1 Annex E.4.2) and the Enhanced RTMP layout (E-RTMP v2,
 * "Enhanced Audio": SoundFormat 9 = ExHeader with FourCC, ModEx, Multitrack, MultichannelConfig)
 * are parsed into plain objects and built back byte-for-byte: for every body that parses,
 * `buildAudioTag(parseAudioTag(x))` equals `x`. Unknown FourCCs and packet types keep their
 * remaining bytes opaque in `data`.
 *
 * Parsed `data` and `channelMapping` fields are views into the input (no copy).
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
 * SoundFormat values (FLV 10.1 E.4.2.1; E-RTMP v2 `SoundFormat`, where 9 became ExHeader).
 *
 * @example
 * ```ts
 * import { SoundFormat } from "./audio_tag.ts";
 * console.log(SoundFormat.Aac); // 10
 * ```
 */
export const SoundFormat = {
  LPcmPlatformEndian: 0,
  AdPcm: 1,
  Mp3: 2,
  LPcmLittleEndian: 3,
  Nellymoser16KMono: 4,
  Nellymoser8KMono: 5,
  Nellymoser: 6,
  G711ALaw: 7,
  G711MuLaw: 8,
  /** E-RTMP: the low nibble is an {@linkcode AudioPacketType} and a FourCC follows. */
  ExHeader: 9,
  Aac: 10,
  Speex: 11,
  Mp3At8K: 14,
  /** Device-specific sound. */
  Native: 15,
} as const;

/**
 * AACPacketType of legacy AAC audio (FLV 10.1 E.4.2.1).
 *
 * @example
 * ```ts
 * import { AacPacketType } from "./audio_tag.ts";
 * console.log(AacPacketType.Raw); // 1
 * ```
 */
export const AacPacketType = {
  /** AudioSpecificConfig (ISO 14496-3). */
  SequenceHeader: 0,
  Raw: 1,
} as const;

/**
 * E-RTMP audio packet types (E-RTMP v2 `AudioPacketType`).
 *
 * @example
 * ```ts
 * import { AudioPacketType } from "./audio_tag.ts";
 * console.log(AudioPacketType.MultichannelConfig); // 4
 * ```
 */
export const AudioPacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  SequenceEnd: 2,
  MultichannelConfig: 4,
  Multitrack: 5,
  ModEx: 7,
} as const;

/**
 * Channel order of a MultichannelConfig packet (E-RTMP v2 `AudioChannelOrder`).
 *
 * @example
 * ```ts
 * import { AudioChannelOrder } from "./audio_tag.ts";
 * console.log(AudioChannelOrder.Custom); // 2
 * ```
 */
export const AudioChannelOrder = {
  /** Only the channel count is known. */
  Unspecified: 0,
  /** Channels in native order, present ones flagged in a UI32 `AudioChannelMask`. */
  Native: 1,
  /** An explicit UI8 `AudioChannel` per channel. */
  Custom: 2,
} as const;

/**
 * A legacy (non-enhanced) audio tag body.
 *
 * @example
 * ```ts
 * import type { LegacyAudioTag } from "./audio_tag.ts";
 * const t: LegacyAudioTag = {
 *   enhanced: false, soundFormat: 10, soundRate: 3, soundSize: 1, soundType: 1, aacPacketType: 1,
 *   data: new Uint8Array([0x21, 0x10]),
 * };
 * console.log(t.soundFormat); // 10
 * ```
 */
export interface LegacyAudioTag {
  /** Always `false`: the SoundFormat is not 9. */
  enhanced: false;
  /** SoundFormat 0..15 except 9, see {@linkcode SoundFormat}. */
  soundFormat: number;
  /** 0 = 5.5 kHz, 1 = 11 kHz, 2 = 22 kHz, 3 = 44 kHz. */
  soundRate: number;
  /** 0 = 8-bit, 1 = 16-bit samples. */
  soundSize: number;
  /** 0 = mono, 1 = stereo. */
  soundType: number;
  /** For SoundFormat 10 (AAC): see {@linkcode AacPacketType}. */
  aacPacketType?: number;
  /** The sound data after the header. */
  data: Uint8Array;
}

/**
 * The body of a MultichannelConfig packet (E-RTMP v2, ExAudioTagBody).
 *
 * @example
 * ```ts
 * import type { MultichannelConfig } from "./audio_tag.ts";
 * const stereo: MultichannelConfig = { channelOrder: 1, channelCount: 2, channelFlags: 0x3 };
 * console.log(stereo.channelCount); // 2
 * ```
 */
export interface MultichannelConfig {
  /** See {@linkcode AudioChannelOrder}. */
  channelOrder: number;
  /** UI8 number of channels. */
  channelCount: number;
  /** For the Custom order: one UI8 `AudioChannel` per channel. */
  channelMapping?: Uint8Array;
  /** For the Native order: UI32 `AudioChannelMask` of the channels present. */
  channelFlags?: number;
}

/**
 * One track of a multitrack audio message.
 *
 * @example
 * ```ts
 * import type { AudioTrack } from "./audio_tag.ts";
 * const tr: AudioTrack = { trackId: 0, fourCc: "Opus", data: new Uint8Array([0xfc]) };
 * console.log(tr.fourCc); // "Opus"
 * ```
 */
export interface AudioTrack {
  /** UI8 track id (0 is the default track by convention). */
  trackId: number;
  /** The track's codec; in OneTrack/ManyTracks mode this is the shared FourCC. */
  fourCc: string;
  /** For MultichannelConfig packets: the parsed configuration. */
  multichannelConfig?: MultichannelConfig;
  /** The track's payload (after any multichannel configuration). */
  data: Uint8Array;
}

/**
 * Multitrack layout of an enhanced audio message.
 *
 * @example
 * ```ts
 * import type { AudioMultitrack } from "./audio_tag.ts";
 * const m: AudioMultitrack = { type: 2, tracks: [] };
 * console.log(m.type); // 2
 * ```
 */
export interface AudioMultitrack {
  /** See {@linkcode AvMultitrackType}; reserved values 3..15 keep the body opaque in `data`. */
  type: number;
  /** Shared FourCC for OneTrack and ManyTracks (defaults to the tracks' FourCC when building). */
  fourCc?: string;
  /** Tracks in wire order (empty for a reserved multitrack type). */
  tracks: AudioTrack[];
}

/**
 * An Enhanced RTMP audio tag body (SoundFormat 9).
 *
 * `packetType` is the packet type that applies to the payload: after any ModEx chain, and for a
 * multitrack message the per-track type (the Multitrack code itself is implied by `multitrack`).
 *
 * @example
 * ```ts
 * import type { ExAudioTag } from "./audio_tag.ts";
 * const t: ExAudioTag = { enhanced: true, packetType: 1, fourCc: "Opus", data: new Uint8Array([0xfc]) };
 * console.log(t.packetType); // 1
 * ```
 */
export interface ExAudioTag {
  /** Always `true`. */
  enhanced: true;
  /** Packet type 0..15, see {@linkcode AudioPacketType}. */
  packetType: number;
  /** ModEx chain in wire order; written as is when non-empty. */
  modEx?: ModEx[];
  /**
   * The first TimestampOffsetNano value of the chain. When building without `modEx`, a value here
   * produces a one-entry chain; when `modEx` is given it wins.
   */
  timestampOffsetNano?: number;
  /** Codec of a single-track message. */
  fourCc?: string;
  /** Present for multitrack messages. */
  multitrack?: AudioMultitrack;
  /** For a single-track MultichannelConfig packet. */
  multichannelConfig?: MultichannelConfig;
  /** Payload of a single-track message, or an opaque multitrack body. */
  data?: Uint8Array;
}

/**
 * A parsed audio tag body.
 *
 * @example
 * ```ts
 * import { type AudioTag, parseAudioTag } from "./audio_tag.ts";
 * const t: AudioTag = parseAudioTag(new Uint8Array([0xaf, 0x00, 0x12, 0x10]));
 * console.log(t.enhanced); // false
 * ```
 */
export type AudioTag = LegacyAudioTag | ExAudioTag;

const EMPTY = new Uint8Array(0);

/**
 * Parses an audio tag body (the payload of an RTMP audio message or an FLV audio tag).
 *
 * An empty body throws `MALFORMED`: zero-length audio messages are legal at the message level
 * (the "audio silence" message of E-RTMP v2), so the session layer checks the length before
 * calling this.
 *
 * @example
 * ```ts
 * import { parseAudioTag } from "./audio_tag.ts";
 * const t = parseAudioTag(new Uint8Array([0x91, 0x4f, 0x70, 0x75, 0x73, 0xfc])); // Opus frame
 * console.log(t.enhanced && t.fourCc); // "Opus"
 * ```
 *
 * @param body The tag body.
 * @returns The parsed tag; `data` fields are views into `body`.
 * @throws {RtmpError} `MALFORMED` when the body is empty, short, or breaks a layout rule.
 */
export function parseAudioTag(body: Uint8Array): AudioTag {
  const r = new ByteReader(body);
  const b0 = r.u8("audio tag header");
  const soundFormat = b0 >> 4;
  if (soundFormat !== SoundFormat.ExHeader) {
    const tag: LegacyAudioTag = {
      enhanced: false,
      soundFormat,
      soundRate: (b0 >> 2) & 0x03,
      soundSize: (b0 >> 1) & 0x01,
      soundType: b0 & 0x01,
      data: EMPTY,
    };
    if (soundFormat === SoundFormat.Aac) tag.aacPacketType = r.u8("AAC packet type");
    tag.data = r.rest();
    return tag;
  }
  return parseEnhanced(r, b0);
}

function parseEnhanced(r: ByteReader, b0: number): ExAudioTag {
  const chain = readModExChain(r, b0 & 0x0f, AudioPacketType.ModEx, "audio");
  const packetType = chain.packetType;
  const tag: ExAudioTag = { enhanced: true, packetType };
  if (chain.modEx.length > 0) tag.modEx = chain.modEx;
  if (chain.timestampOffsetNano !== undefined) tag.timestampOffsetNano = chain.timestampOffsetNano;

  if (packetType === AudioPacketType.Multitrack) {
    readMultitrack(r, tag, AUDIO_TRACKS);
    return tag;
  }
  tag.fourCc = readFourCc(r, "audio FourCC");
  if (packetType === AudioPacketType.MultichannelConfig) {
    tag.multichannelConfig = readMultichannel(r);
  }
  tag.data = r.rest();
  return tag;
}

function readMultichannel(r: ByteReader): MultichannelConfig {
  const channelOrder = r.u8("audio channel order");
  const channelCount = r.u8("audio channel count");
  const config: MultichannelConfig = { channelOrder, channelCount };
  if (channelOrder === AudioChannelOrder.Custom) {
    config.channelMapping = r.view(channelCount, "audio channel mapping");
  } else if (channelOrder === AudioChannelOrder.Native) {
    config.channelFlags = r.u32("audio channel flags");
  }
  return config;
}

/**
 * Builds an audio tag body. Inverse of {@linkcode parseAudioTag}: for every body that parses,
 * building the result gives the same bytes.
 *
 * @example
 * ```ts
 * import { buildAudioTag } from "./audio_tag.ts";
 * const body = buildAudioTag({
 *   enhanced: false, soundFormat: 10, soundRate: 3, soundSize: 1, soundType: 1, aacPacketType: 0,
 *   data: new Uint8Array([0x12, 0x10]),
 * });
 * console.log(body); // Uint8Array [175, 0, 18, 16]
 * ```
 *
 * @param tag The tag to encode.
 * @returns A new byte array.
 * @throws {RtmpError} `INVALID_ARGUMENT` when a field is out of range or inconsistent.
 */
export function buildAudioTag(tag: AudioTag): Uint8Array {
  let n = tag.data?.length ?? 0;
  if (tag.enhanced && tag.multitrack) {
    for (const t of tag.multitrack.tracks) n += t.data.length + 16;
  }
  const w = new ByteWriter(16 + n);
  if (tag.enhanced) buildEnhanced(w, tag);
  else buildLegacy(w, tag);
  return w.finish();
}

function buildLegacy(w: ByteWriter, tag: LegacyAudioTag): void {
  checkRange(tag.soundFormat, 0, 15, "sound format");
  if (tag.soundFormat === SoundFormat.ExHeader) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      "legacy audio tag: sound format 9 means ExHeader; build an enhanced tag instead",
    );
  }
  checkRange(tag.soundRate, 0, 3, "sound rate");
  checkRange(tag.soundSize, 0, 1, "sound size");
  checkRange(tag.soundType, 0, 1, "sound type");
  w.u8((tag.soundFormat << 4) | (tag.soundRate << 2) | (tag.soundSize << 1) | tag.soundType);
  if (tag.soundFormat === SoundFormat.Aac) {
    if (tag.aacPacketType === undefined) {
      throw new RtmpError("INVALID_ARGUMENT", "legacy AAC audio tag: aacPacketType is missing");
    }
    checkRange(tag.aacPacketType, 0, 255, "AAC packet type");
    w.u8(tag.aacPacketType);
  } else if (tag.aacPacketType !== undefined) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `legacy audio tag: aacPacketType needs sound format 10, got ${tag.soundFormat}`,
    );
  }
  w.bytes(tag.data);
}

function buildEnhanced(w: ByteWriter, tag: ExAudioTag): void {
  checkRange(tag.packetType, 0, 15, "audio packet type");
  const mt = tag.multitrack;
  if (mt === undefined && tag.packetType === AudioPacketType.Multitrack) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      "audio packet type Multitrack (5) needs the multitrack field",
    );
  }
  if (mt === undefined && tag.packetType === AudioPacketType.ModEx) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      "audio packet type ModEx (7) is written from the modEx field, not as packetType",
    );
  }
  const chain = resolveModEx(tag.modEx, tag.timestampOffsetNano);
  const outer = mt !== undefined ? AudioPacketType.Multitrack : tag.packetType;
  w.u8((SoundFormat.ExHeader << 4) | (chain.length > 0 ? AudioPacketType.ModEx : outer));
  writeModExChain(w, chain, outer, AudioPacketType.ModEx, "audio");

  if (mt !== undefined) {
    writeMultitrack(w, tag.packetType, mt, tag.data, AUDIO_TRACKS);
    return;
  }
  if (tag.fourCc === undefined) {
    throw new RtmpError("INVALID_ARGUMENT", "enhanced audio tag: fourCc is missing");
  }
  writeFourCc(w, tag.fourCc, "audio FourCC");
  writeMultichannel(w, tag.packetType, tag.multichannelConfig);
  w.bytes(tag.data ?? EMPTY);
}

function multichannelLength(c: MultichannelConfig | undefined): number {
  if (c === undefined) return 0;
  if (c.channelOrder === AudioChannelOrder.Custom) return 2 + c.channelCount;
  if (c.channelOrder === AudioChannelOrder.Native) return 6;
  return 2;
}

function writeMultichannel(
  w: ByteWriter,
  packetType: number,
  c: MultichannelConfig | undefined,
): void {
  if (packetType !== AudioPacketType.MultichannelConfig) {
    if (c !== undefined) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `audio multichannelConfig needs packet type MultichannelConfig (4), got ${packetType}`,
      );
    }
    return;
  }
  if (c === undefined) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      "audio MultichannelConfig packet: multichannelConfig is missing",
    );
  }
  checkRange(c.channelOrder, 0, 255, "audio channel order");
  checkRange(c.channelCount, 0, 255, "audio channel count");
  w.u8(c.channelOrder).u8(c.channelCount);
  if (c.channelOrder === AudioChannelOrder.Custom) {
    const m = c.channelMapping;
    if (m === undefined || m.length !== c.channelCount) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `audio Custom channel order: expected channelMapping of ${c.channelCount} bytes, got ` +
          `${m === undefined ? "none" : m.length}`,
      );
    }
    w.bytes(m);
  } else if (c.channelOrder === AudioChannelOrder.Native) {
    const flags = c.channelFlags ?? 0;
    checkRange(flags, 0, 0xffffffff, "audio channel flags");
    w.u32(flags);
  }
}

/** Audio tracks start with the MultichannelConfig of a MultichannelConfig packet. */
const AUDIO_TRACKS = trackKind<AudioTrack>("audio", AudioPacketType.Multitrack, {
  readHead(r: ByteReader, packetType: number, track: AudioTrack): void {
    if (packetType === AudioPacketType.MultichannelConfig) {
      track.multichannelConfig = readMultichannel(r);
    }
  },
  headLength(_packetType: number, track: AudioTrack): number {
    return multichannelLength(track.multichannelConfig);
  },
  writeHead(w: ByteWriter, packetType: number, track: AudioTrack): void {
    writeMultichannel(w, packetType, track.multichannelConfig);
  },
});

/**
 * Whether the tag carries decoder configuration that must be kept for late joiners: a legacy AAC
 * sequence header (AudioSpecificConfig) or an enhanced SequenceStart (also in a multitrack
 * message). A MultichannelConfig packet is configuration too but not a sequence header; callers
 * that cache configuration should keep it separately.
 *
 * @example
 * ```ts
 * import { isAudioSequenceHeader, parseAudioTag } from "./audio_tag.ts";
 * console.log(isAudioSequenceHeader(parseAudioTag(new Uint8Array([0xaf, 0, 0x12, 0x10])))); // true
 * ```
 *
 * @param tag A parsed tag.
 * @returns `true` for sequence headers.
 */
export function isAudioSequenceHeader(tag: AudioTag): boolean {
  if (!tag.enhanced) {
    return tag.soundFormat === SoundFormat.Aac &&
      tag.aacPacketType === AacPacketType.SequenceHeader;
  }
  return tag.packetType === AudioPacketType.SequenceStart;
}
