/**
 * The multitrack body shared by enhanced audio and video tags (E-RTMP v2, "Multitrack"): a byte
 * with the AvMultitrackType and the per-track packet type, an optional shared FourCC, then per
 * track an optional FourCC, a UI8 track id, a UI24 size (except OneTrack) and the track body.
 * Only the fields at the start of a track body differ between audio (MultichannelConfig) and
 * video (composition time); a {@linkcode TrackKind} supplies those.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { ByteReader, type ByteWriter } from "./bytes.ts";
import { AvMultitrackType, checkRange, readFourCc, writeFourCc } from "./fourcc.ts";

/**
 * The fields every track of a multitrack message has.
 *
 * @example
 * ```ts
 * import type { Track } from "./multitrack.ts";
 * const t: Track = { trackId: 0, fourCc: "Opus", data: new Uint8Array([0xfc]) };
 * console.log(t.trackId); // 0
 * ```
 */
export interface Track {
  /** UI8 track id. */
  trackId: number;
  /** The track's codec. */
  fourCc: string;
  /** The track's payload after its codec-specific fields. */
  data: Uint8Array;
}

/**
 * A multitrack layout: the AvMultitrackType, the shared FourCC and the tracks.
 *
 * @example
 * ```ts
 * import type { Multitrack, Track } from "./multitrack.ts";
 * const m: Multitrack<Track> = { type: 2, tracks: [] };
 * console.log(m.type); // 2
 * ```
 */
export interface Multitrack<T extends Track> {
  /** See {@linkcode AvMultitrackType}; reserved values keep the body opaque. */
  type: number;
  /** Shared FourCC for OneTrack and ManyTracks. */
  fourCc?: string;
  /** Tracks in wire order. */
  tracks: T[];
}

/**
 * The fields of an enhanced tag that {@linkcode readMultitrack} fills in.
 *
 * @example
 * ```ts
 * import type { MultitrackTag, Track } from "./multitrack.ts";
 * const tag: MultitrackTag<Track> = { packetType: 5 };
 * console.log(tag.multitrack); // undefined
 * ```
 */
export interface MultitrackTag<T extends Track> {
  /** The per-track packet type once read. */
  packetType: number;
  /** The parsed layout. */
  multitrack?: Multitrack<T>;
  /** The opaque body of a reserved multitrack type. */
  data?: Uint8Array;
}

/**
 * What audio and video multitrack bodies do differently, with the field names used in errors.
 * Built once per media type by {@linkcode trackKind}.
 *
 * @example
 * ```ts
 * import { trackKind, type Track } from "./multitrack.ts";
 * const kind = trackKind<Track>("audio", 5, {
 *   readHead: () => {},
 *   headLength: () => 0,
 *   writeHead: () => {},
 * });
 * console.log(kind.labels.trackId); // "audio track id"
 * ```
 */
export interface TrackKind<T extends Track> {
  /** "audio" or "video", for errors. */
  media: string;
  /** The packet type meaning Multitrack (audio 5, video 6). */
  multitrackCode: number;
  /** Field names for `ByteReader` / `checkRange` errors, made once. */
  labels: {
    header: string;
    type: string;
    sharedFourCc: string;
    trackFourCc: string;
    trackId: string;
    trackSize: string;
    trackBody: string;
  };
  /** Reads the codec-specific fields at the start of a track body into `track`. */
  readHead(r: ByteReader, packetType: number, track: T): void;
  /** Bytes {@linkcode TrackKind.writeHead} will write for `track`. */
  headLength(packetType: number, track: T): number;
  /** Checks and writes the codec-specific fields at the start of a track body. */
  writeHead(w: ByteWriter, packetType: number, track: T): void;
}

/**
 * Makes the {@linkcode TrackKind} of one media type.
 *
 * @example
 * ```ts
 * import { trackKind, type Track } from "./multitrack.ts";
 * const kind = trackKind<Track>("video", 6, {
 *   readHead: () => {},
 *   headLength: () => 0,
 *   writeHead: () => {},
 * });
 * console.log(kind.multitrackCode); // 6
 * ```
 *
 * @param media "audio" or "video".
 * @param multitrackCode The packet type meaning Multitrack.
 * @param hooks The codec-specific track fields.
 * @returns The kind, to pass to {@linkcode readMultitrack} and {@linkcode writeMultitrack}.
 */
export function trackKind<T extends Track>(
  media: string,
  multitrackCode: number,
  hooks: Pick<TrackKind<T>, "readHead" | "headLength" | "writeHead">,
): TrackKind<T> {
  return {
    media,
    multitrackCode,
    labels: {
      header: `${media} multitrack type / packet type`,
      type: `${media} multitrack type`,
      sharedFourCc: `${media} multitrack FourCC`,
      trackFourCc: `${media} track FourCC`,
      trackId: `${media} track id`,
      trackSize: `${media} track size`,
      trackBody: `${media} track body`,
    },
    readHead: hooks.readHead,
    headLength: hooks.headLength,
    writeHead: hooks.writeHead,
  };
}

const EMPTY = new Uint8Array(0);

/**
 * Reads a multitrack body (after the packet type Multitrack) into `tag`: the per-track packet
 * type, then the tracks, or the opaque rest for a reserved multitrack type.
 *
 * @example
 * ```ts
 * import { ByteReader } from "./bytes.ts";
 * import { type MultitrackTag, readMultitrack, type Track, trackKind } from "./multitrack.ts";
 * const kind = trackKind<Track>("audio", 5, {
 *   readHead: () => {},
 *   headLength: () => 0,
 *   writeHead: () => {},
 * });
 * const tag: MultitrackTag<Track> = { packetType: 5 };
 * // OneTrack, CodedFrames, "Opus", track 0, one byte
 * readMultitrack(new ByteReader(new Uint8Array([0x01, 0x4f, 0x70, 0x75, 0x73, 0, 0xfc])), tag, kind);
 * console.log(tag.multitrack?.tracks[0].fourCc); // "Opus"
 * ```
 *
 * @param r Reader positioned at the multitrack type / packet type byte.
 * @param tag Receives `packetType`, `multitrack` and, for a reserved type, `data`.
 * @param kind The media type's track fields.
 * @throws {RtmpError} `MALFORMED` when the body is short or the per-track type is Multitrack.
 */
export function readMultitrack<T extends Track>(
  r: ByteReader,
  tag: MultitrackTag<T>,
  kind: TrackKind<T>,
): void {
  const labels = kind.labels;
  const b = r.u8(labels.header);
  const type = b >> 4;
  const packetType = b & 0x0f;
  tag.packetType = packetType;
  if (packetType === kind.multitrackCode) {
    throw new RtmpError(
      "MALFORMED",
      `${kind.media} multitrack: the per-track packet type must not be Multitrack ` +
        `(${kind.multitrackCode}) again`,
    );
  }
  if (type > AvMultitrackType.ManyTracksManyCodecs) {
    // Reserved multitrack type: its layout is unknown, keep the rest opaque.
    tag.multitrack = { type, tracks: [] };
    tag.data = r.rest();
    return;
  }
  const multitrack: Multitrack<T> = { type, tracks: [] };
  let shared = "";
  if (type !== AvMultitrackType.ManyTracksManyCodecs) {
    shared = readFourCc(r, labels.sharedFourCc);
    multitrack.fourCc = shared;
  }
  do {
    const fourCc = type === AvMultitrackType.ManyTracksManyCodecs
      ? readFourCc(r, labels.trackFourCc)
      : shared;
    const trackId = r.u8(labels.trackId);
    const tr = type === AvMultitrackType.OneTrack
      ? r
      : new ByteReader(r.view(r.u24(labels.trackSize), labels.trackBody));
    const track = { trackId, fourCc, data: EMPTY } as T;
    kind.readHead(tr, packetType, track);
    track.data = tr.rest();
    multitrack.tracks.push(track);
  } while (r.remaining > 0);
  tag.multitrack = multitrack;
}

/**
 * Writes a multitrack body (after the packet type Multitrack). Inverse of
 * {@linkcode readMultitrack}.
 *
 * @example
 * ```ts
 * import { ByteWriter } from "./bytes.ts";
 * import { type Track, trackKind, writeMultitrack } from "./multitrack.ts";
 * const kind = trackKind<Track>("audio", 5, {
 *   readHead: () => {},
 *   headLength: () => 0,
 *   writeHead: () => {},
 * });
 * const w = new ByteWriter();
 * const tracks = [{ trackId: 0, fourCc: "Opus", data: new Uint8Array([0xfc]) }];
 * writeMultitrack(w, 1, { type: 0, tracks }, undefined, kind);
 * console.log(w.finish()); // Uint8Array [1, 79, 112, 117, 115, 0, 252]
 * ```
 *
 * @param w Destination.
 * @param packetType The per-track packet type.
 * @param mt The layout.
 * @param opaque The body of a reserved multitrack type.
 * @param kind The media type's track fields.
 * @throws {RtmpError} `INVALID_ARGUMENT` when a field is out of range or inconsistent.
 */
export function writeMultitrack<T extends Track>(
  w: ByteWriter,
  packetType: number,
  mt: Multitrack<T>,
  opaque: Uint8Array | undefined,
  kind: TrackKind<T>,
): void {
  const { media, labels } = kind;
  checkRange(mt.type, 0, 15, labels.type);
  if (packetType === kind.multitrackCode) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `${media} multitrack: per-track packet type cannot be ${kind.multitrackCode}`,
    );
  }
  w.u8((mt.type << 4) | packetType);
  if (mt.type > AvMultitrackType.ManyTracksManyCodecs) {
    w.bytes(opaque ?? EMPTY);
    return;
  }
  const tracks = mt.tracks;
  if (tracks.length === 0) {
    throw new RtmpError("INVALID_ARGUMENT", `${media} multitrack: at least one track is needed`);
  }
  if (mt.type === AvMultitrackType.OneTrack && tracks.length !== 1) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `${media} multitrack OneTrack: expected exactly 1 track, got ${tracks.length}`,
    );
  }
  const manyCodecs = mt.type === AvMultitrackType.ManyTracksManyCodecs;
  if (!manyCodecs) {
    const shared = mt.fourCc ?? tracks[0].fourCc;
    for (const t of tracks) {
      if (t.fourCc !== shared) {
        throw new RtmpError(
          "INVALID_ARGUMENT",
          `${media} multitrack type ${mt.type} shares one FourCC (${shared}), ` +
            `but track ${t.trackId} has ${t.fourCc}`,
        );
      }
    }
    writeFourCc(w, shared, labels.sharedFourCc);
  }
  for (const t of tracks) {
    if (manyCodecs) writeFourCc(w, t.fourCc, labels.trackFourCc);
    checkRange(t.trackId, 0, 255, labels.trackId);
    w.u8(t.trackId);
    if (mt.type !== AvMultitrackType.OneTrack) {
      const size = kind.headLength(packetType, t) + t.data.length;
      checkRange(size, 0, 0xffffff, labels.trackSize);
      w.u24(size);
    }
    kind.writeHead(w, packetType, t);
    w.bytes(t.data);
  }
}
