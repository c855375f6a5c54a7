/**
 * Pieces of the Enhanced RTMP tag headers shared by audio and video: FourCC codec ids, the
 * multitrack modes and the ModEx (modifier extension) chain. See E-RTMP v2, "Enhanced Audio" and
 * "Enhanced Video".
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import type { ByteReader, ByteWriter } from "./bytes.ts";

/**
 * FourCC codec identifiers of E-RTMP (v2 `VideoFourCc` and `AudioFourCc`). A FourCC travels as a
 * big-endian UI32 whose bytes are the four ASCII characters.
 *
 * @example
 * ```ts
 * import { FourCc } from "./fourcc.ts";
 * console.log(FourCc.Av1); // "av01"
 * ```
 */
export const FourCc = {
  /** H.264 / AVC. */
  Avc: "avc1",
  /** H.265 / HEVC. */
  Hevc: "hvc1",
  /** AV1. */
  Av1: "av01",
  /** VP9. */
  Vp9: "vp09",
  /** VP8. */
  Vp8: "vp08",
  /** H.266 / VVC. */
  Vvc: "vvc1",
  /** Opus. */
  Opus: "Opus",
  /** FLAC. */
  Flac: "fLaC",
  /** Dolby AC-3. */
  Ac3: "ac-3",
  /** Dolby E-AC-3. */
  Eac3: "ec-3",
  /** AAC. */
  Aac: "mp4a",
  /** MP3. */
  Mp3: ".mp3",
} as const;

/**
 * How the tracks of a multitrack audio or video message are laid out (E-RTMP v2
 * `AvMultitrackType`): one track; many tracks of one codec, each prefixed with its size; many
 * tracks each with its own FourCC and size.
 *
 * @example
 * ```ts
 * import { AvMultitrackType } from "./fourcc.ts";
 * console.log(AvMultitrackType.ManyTracksManyCodecs); // 2
 * ```
 */
export const AvMultitrackType = {
  OneTrack: 0,
  ManyTracks: 1,
  ManyTracksManyCodecs: 2,
} as const;

/**
 * ModEx types (E-RTMP v2 `VideoPacketModExType` / `AudioPacketModExType`; both define the same
 * values).
 *
 * @example
 * ```ts
 * import { ModExType } from "./fourcc.ts";
 * console.log(ModExType.TimestampOffsetNano); // 0
 * ```
 */
export const ModExType = {
  /** Sub-millisecond timestamp offset in nanoseconds, UI24 at the start of the data. */
  TimestampOffsetNano: 0,
} as const;

/**
 * One entry of a ModEx chain: a packet modifier that precedes the real packet type.
 *
 * @example
 * ```ts
 * import type { ModEx } from "./fourcc.ts";
 * const nano: ModEx = { type: 0, data: new Uint8Array([0x00, 0x01, 0xf4]) }; // 500 ns
 * console.log(nano.data.length); // 3
 * ```
 */
export interface ModEx {
  /** ModEx type (UB[4]); see {@linkcode ModExType}. */
  type: number;
  /** The modifier data, 1..65536 bytes. */
  data: Uint8Array;
  /**
   * Set by the parser when the size used the 16-bit escape although it fits 8 bits. The builder
   * then uses the escape too, so rebuilt bytes stay identical.
   */
  size16?: boolean;
}

/** Largest ModEx data size: UI16 + 1 (E-RTMP v2, ModEx loop). */
const MODEX_MAX = 0x10000;

/**
 * Reads a FourCC as a four-character string. Each byte maps to one UTF-16 code unit (Latin-1),
 * so any four bytes survive a parse/build round trip, printable or not.
 *
 * @example
 * ```ts
 * import { ByteReader } from "./bytes.ts";
 * import { readFourCc } from "./fourcc.ts";
 * console.log(readFourCc(new ByteReader(new Uint8Array([0x61, 0x76, 0x30, 0x31])), "codec")); // "av01"
 * ```
 *
 * @param reader Reader positioned at the FourCC.
 * @param what Field name for errors.
 * @returns The FourCC string.
 */
export function readFourCc(reader: ByteReader, what: string): string {
  const b = reader.view(4, what);
  return String.fromCharCode(b[0], b[1], b[2], b[3]);
}

/**
 * Writes a FourCC string (four characters, each U+0000..U+00FF).
 *
 * @example
 * ```ts
 * import { ByteWriter } from "./bytes.ts";
 * import { writeFourCc } from "./fourcc.ts";
 * const w = new ByteWriter();
 * writeFourCc(w, "Opus", "audio FourCC");
 * console.log(w.finish()); // Uint8Array [79, 112, 117, 115]
 * ```
 *
 * @param writer Destination.
 * @param fourCc Four characters.
 * @param what Field name for errors.
 */
export function writeFourCc(writer: ByteWriter, fourCc: string, what: string): void {
  if (typeof fourCc !== "string" || fourCc.length !== 4) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `${what}: expected a 4-character FourCC, got ${JSON.stringify(fourCc)}`,
    );
  }
  for (let i = 0; i < 4; i++) {
    const c = fourCc.charCodeAt(i);
    if (c > 0xff) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `${what}: FourCC characters must be U+0000..U+00FF, got ${JSON.stringify(fourCc)}`,
      );
    }
    writer.u8(c);
  }
}

/** What {@linkcode readModExChain} found. */
export interface ModExChainResult {
  /** The packet type that follows the chain (never the ModEx code itself). */
  packetType: number;
  /** The chain in wire order; empty when the first packet type was not ModEx. */
  modEx: ModEx[];
  /** UI24 from the first TimestampOffsetNano entry, if any. */
  timestampOffsetNano?: number;
}

/**
 * Reads a ModEx chain (E-RTMP v2, "Process each ModEx data packet"): while the packet type is
 * ModEx, read a size (UI8 + 1, or UI16 + 1 after the 0xFF escape), the data, then one byte with
 * the ModEx type in the high nibble and the next packet type in the low nibble.
 *
 * @example
 * ```ts
 * import { ByteReader } from "./bytes.ts";
 * import { readModExChain } from "./fourcc.ts";
 * // size 3, data 0x0001f4, then type 0 / packet type 1
 * const r = new ByteReader(new Uint8Array([2, 0x00, 0x01, 0xf4, 0x01]));
 * console.log(readModExChain(r, 7, 7, "video").timestampOffsetNano); // 500
 * ```
 *
 * @param reader Reader positioned just after the byte holding `packetType`.
 * @param packetType The packet type read so far.
 * @param modExCode The value meaning ModEx (7 for both audio and video).
 * @param what "audio" or "video", for errors.
 * @returns The final packet type and the chain.
 */
export function readModExChain(
  reader: ByteReader,
  packetType: number,
  modExCode: number,
  what: string,
): ModExChainResult {
  const modEx: ModEx[] = [];
  let nano: number | undefined;
  while (packetType === modExCode) {
    let size = reader.u8(`${what} ModEx size`) + 1;
    let size16 = false;
    if (size === 256) {
      size = reader.u16(`${what} ModEx 16-bit size`) + 1;
      size16 = size < 256;
    }
    const data = reader.view(size, `${what} ModEx data`);
    const b = reader.u8(`${what} ModEx type / packet type`);
    const type = b >> 4;
    packetType = b & 0x0f;
    if (type === ModExType.TimestampOffsetNano && nano === undefined) {
      // E-RTMP v2: "modExData MUST be at least 3 bytes"; the offset is its leading UI24.
      if (data.length < 3) {
        throw new RtmpError(
          "MALFORMED",
          `${what} ModEx TimestampOffsetNano: expected at least 3 data bytes, got ${data.length}`,
        );
      }
      nano = (data[0] << 16) | (data[1] << 8) | data[2];
    }
    modEx.push(size16 ? { type, data, size16 } : { type, data });
  }
  const result: ModExChainResult = { packetType, modEx };
  if (nano !== undefined) result.timestampOffsetNano = nano;
  return result;
}

/**
 * Resolves the ModEx chain to write: `modEx` when given and non-empty, otherwise one
 * TimestampOffsetNano entry when `timestampOffsetNano` is given, otherwise none.
 *
 * @example
 * ```ts
 * import { resolveModEx } from "./fourcc.ts";
 * console.log(resolveModEx(undefined, 500)[0].data); // Uint8Array [0, 1, 244]
 * ```
 *
 * @param modEx Explicit chain.
 * @param timestampOffsetNano Nanosecond offset 0..0xFFFFFF.
 * @returns The chain to write.
 */
export function resolveModEx(
  modEx: readonly ModEx[] | undefined,
  timestampOffsetNano: number | undefined,
): readonly ModEx[] {
  if (modEx !== undefined && modEx.length > 0) return modEx;
  if (timestampOffsetNano === undefined) return [];
  if (
    !Number.isInteger(timestampOffsetNano) || timestampOffsetNano < 0 ||
    timestampOffsetNano > 0xffffff
  ) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `timestampOffsetNano: expected an integer 0..16777215, got ${timestampOffsetNano}`,
    );
  }
  const v = timestampOffsetNano;
  return [{
    type: ModExType.TimestampOffsetNano,
    data: new Uint8Array([(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]),
  }];
}

/**
 * Writes a ModEx chain after the first header byte (which must already carry the ModEx code in
 * its low nibble when the chain is non-empty). The last entry's low nibble is `packetType`.
 *
 * @example
 * ```ts
 * import { ByteWriter } from "./bytes.ts";
 * import { writeModExChain } from "./fourcc.ts";
 * const w = new ByteWriter();
 * writeModExChain(w, [{ type: 0, data: new Uint8Array([0, 1, 244]) }], 1, 7, "video");
 * console.log(w.finish()); // Uint8Array [2, 0, 1, 244, 1]
 * ```
 *
 * @param writer Destination.
 * @param chain Entries in wire order.
 * @param packetType The packet type that follows the chain.
 * @param modExCode The value meaning ModEx.
 * @param what "audio" or "video", for errors.
 */
export function writeModExChain(
  writer: ByteWriter,
  chain: readonly ModEx[],
  packetType: number,
  modExCode: number,
  what: string,
): void {
  for (let i = 0; i < chain.length; i++) {
    const m = chain[i];
    const size = m.data.length;
    if (size < 1 || size > MODEX_MAX) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `${what} ModEx data: expected 1..65536 bytes, got ${size}`,
      );
    }
    if (!Number.isInteger(m.type) || m.type < 0 || m.type > 15) {
      throw new RtmpError("INVALID_ARGUMENT", `${what} ModEx type: expected 0..15, got ${m.type}`);
    }
    if (size >= 256 || m.size16 === true) writer.u8(0xff).u16(size - 1);
    else writer.u8(size - 1);
    writer.bytes(m.data);
    const next = i + 1 < chain.length ? modExCode : packetType;
    writer.u8((m.type << 4) | next);
  }
}

/**
 * Throws `INVALID_ARGUMENT` unless `value` is an integer in `[min, max]`.
 *
 * @example
 * ```ts
 * import { checkRange } from "./fourcc.ts";
 * checkRange(3, 0, 15, "packet type"); // ok
 * ```
 *
 * @param value The value.
 * @param min Smallest allowed.
 * @param max Largest allowed.
 * @param what Field name for errors.
 */
export function checkRange(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `${what}: expected an integer ${min}..${max}, got ${value}`,
    );
  }
}
