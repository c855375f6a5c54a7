/**
 * The FLV container, sans-IO (FLV 10.1 Annex E): {@linkcode FlvDemuxer} turns bytes pushed in any
 * split into a header and tags; {@linkcode encodeFlvHeader} and {@linkcode encodeFlvTag} write
 * them back. {@linkcode flvMetadataPatches} and {@linkcode ensureFlvMetadataKeys} support
 * recorders that fix `duration` / `filesize` in `onMetaData` once the file is complete.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import { Amf0Decoder, type Amf0ObjectLayout, encodeAmf0 } from "./amf0.ts";
import { ByteReader } from "./bytes.ts";
import { unwrapSetDataFrame } from "./data.ts";

/**
 * FLV tag types (FLV 10.1 E.4.1); they equal the RTMP message type ids.
 *
 * @example
 * ```ts
 * import { FlvTagType } from "./flv.ts";
 * console.log(FlvTagType.Script); // 18
 * ```
 */
export const FlvTagType = {
  Audio: 8,
  Video: 9,
  Script: 18,
} as const;

/** Size of the FLV header plus PreviousTagSize0 (FLV 10.1 E.2, E.3). */
export const FLV_HEADER_SIZE = 13;
/** Bytes an FLV tag adds around its data: the 11-byte tag header and the 4-byte back-pointer. */
export const FLV_TAG_OVERHEAD = 15;
/** Largest tag data size the UI24 DataSize field can express. */
export const FLV_MAX_TAG_DATA = 0xffffff;

/**
 * The FLV file header (FLV 10.1 E.2).
 *
 * @example
 * ```ts
 * import type { FlvHeader } from "./flv.ts";
 * const h: FlvHeader = { version: 1, audio: true, video: true };
 * console.log(h.version); // 1
 * ```
 */
export interface FlvHeader {
  /** File version, 1 for every FLV in use. */
  version: number;
  /** TypeFlagsAudio: audio tags are present. */
  audio: boolean;
  /** TypeFlagsVideo: video tags are present. */
  video: boolean;
}

/**
 * One FLV tag (FLV 10.1 E.4.1).
 *
 * @example
 * ```ts
 * import type { FlvTag } from "./flv.ts";
 * const t: FlvTag = { type: 8, timestamp: 40, streamId: 0, data: new Uint8Array([0xaf, 1]) };
 * console.log(t.type); // 8
 * ```
 */
export interface FlvTag {
  /** TagType (5 bits): 8 audio, 9 video, 18 script data; other values are kept as they are. */
  type: number;
  /** Milliseconds: Timestamp (UI24) with TimestampExtended as the upper 8 bits, unsigned 32-bit. */
  timestamp: number;
  /** StreamID (UI24), 0 in files. */
  streamId: number;
  /** The tag data (an audio/video tag body or SCRIPTDATA). */
  data: Uint8Array;
  /** The Filter bit: the data needs pre-processing (decryption, FLV 10.1 Annex F). */
  filter?: boolean;
  /** The two reserved bits above Filter (FMS use), only when non-zero. */
  reserved?: number;
}

/**
 * Options of {@linkcode FlvDemuxer}.
 *
 * @example
 * ```ts
 * import { FlvDemuxer, type FlvDemuxerOptions } from "./flv.ts";
 * const options: FlvDemuxerOptions = { maxTagSize: 4 << 20 };
 * console.log(new FlvDemuxer(options).header); // null
 * ```
 */
export interface FlvDemuxerOptions {
  /** Largest tag DataSize accepted; larger ones throw `LIMIT_EXCEEDED`. Default 16 MiB − 1. */
  maxTagSize?: number;
  /**
   * Throw `MALFORMED` when a PreviousTagSize disagrees with the tag before it, instead of
   * counting it in {@linkcode FlvDemuxer.previousTagSizeMismatches}. Default `false`.
   */
  strict?: boolean;
}

/**
 * What {@linkcode FlvDemuxer.end} reports about the end of the input.
 *
 * @example
 * ```ts
 * import { FlvDemuxer } from "./flv.ts";
 * const d = new FlvDemuxer();
 * d.push(new Uint8Array([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0, 9, 0]));
 * console.log(d.end()); // { truncatedBytes: 2, clean: false }
 * ```
 */
export interface FlvDemuxerEnd {
  /** Bytes received of an element (header, tag or back-pointer) that never completed. */
  truncatedBytes: number;
  /** The input ended exactly after a PreviousTagSize (the header's included). */
  clean: boolean;
}

const STATE_HEADER = 0;
const STATE_SKIP = 1;
const STATE_PREV = 2;
const STATE_TAG_HEADER = 3;
const STATE_TAG_DATA = 4;
const STATE_FAILED = 5;
const STATE_ENDED = 6;

/**
 * A push-based FLV demuxer: feed it bytes as they arrive, in any split; it returns each tag once
 * complete. It copies every tag's data once into its own array and keeps no reference to the
 * input, so callers may reuse their read buffers.
 *
 * PreviousTagSize: tags are delimited by DataSize (the forward length); a back-pointer that
 * disagrees with the tag before it is counted in {@linkcode FlvDemuxer.previousTagSizeMismatches}
 * (with the first offending file offset in {@linkcode FlvDemuxer.firstMismatchOffset}), or throws
 * `MALFORMED` with `strict: true`. Some writers get the back-pointer wrong while every tag is
 * intact, so the default keeps reading but never hides that it happened.
 *
 * A tag is returned as soon as its data completes, before its trailing PreviousTagSize arrives,
 * so a live consumer does not wait for the next tag.
 *
 * @example
 * ```ts
 * import { encodeFlvHeader, encodeFlvTag, FlvDemuxer } from "./flv.ts";
 * const bytes = new Uint8Array([
 *   ...encodeFlvHeader({ version: 1, audio: true, video: false }),
 *   ...encodeFlvTag({ type: 8, timestamp: 0, streamId: 0, data: new Uint8Array([0xaf, 1, 0x21]) }),
 * ]);
 * const d = new FlvDemuxer();
 * const tags = [...d.push(bytes.subarray(0, 20)), ...d.push(bytes.subarray(20))];
 * console.log(d.header?.audio, tags.length, d.end().clean); // true 1 true
 * ```
 */
export class FlvDemuxer {
  #maxTagSize: number;
  #strict: boolean;
  #state = STATE_HEADER;
  /** Scratch for the 9-byte header, 4-byte back-pointers and 11-byte tag headers. */
  #scratch = new Uint8Array(11);
  #scratchLen = 0;
  #skip = 0;
  #header: FlvHeader | null = null;
  #tag: FlvTag | null = null;
  #tagFill = 0;
  #expectedPrev = 0;
  #offset = 0;
  #mismatches = 0;
  #firstMismatch = -1;
  #tagCount = 0;

  /**
   * Creates a demuxer waiting for the 9-byte FLV header.
   *
   * @param options Size limit and back-pointer policy.
   */
  constructor(options: FlvDemuxerOptions = {}) {
    const max = options.maxTagSize ?? FLV_MAX_TAG_DATA;
    if (!Number.isInteger(max) || max < 0) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `FlvDemuxer maxTagSize: expected a non-negative integer, got ${max}`,
      );
    }
    this.#maxTagSize = max;
    this.#strict = options.strict ?? false;
  }

  /** The FLV header, once its 9 bytes have arrived; `null` before. */
  get header(): FlvHeader | null {
    return this.#header;
  }

  /** How many PreviousTagSize fields disagreed with the tag before them. */
  get previousTagSizeMismatches(): number {
    return this.#mismatches;
  }

  /** File offset of the first disagreeing PreviousTagSize, or −1. */
  get firstMismatchOffset(): number {
    return this.#firstMismatch;
  }

  /** Bytes consumed so far. */
  get bytesConsumed(): number {
    return this.#offset;
  }

  /** Tags returned so far. */
  get tagCount(): number {
    return this.#tagCount;
  }

  /**
   * Consumes bytes and returns the tags they completed.
   *
   * @param bytes The next bytes of the file or stream, any length.
   * @returns Completed tags in order (often empty).
   * @throws {RtmpError} `MALFORMED` for a bad header (not "FLV", DataOffset < 9) or, with
   * `strict`, a wrong PreviousTagSize; `LIMIT_EXCEEDED` for a tag over `maxTagSize`; `CLOSED`
   * after {@linkcode FlvDemuxer.end}. After an error the demuxer stays failed.
   */
  push(bytes: Uint8Array): FlvTag[] {
    if (this.#state === STATE_ENDED) {
      throw new RtmpError("CLOSED", "FlvDemuxer: push() after end()");
    }
    if (this.#state === STATE_FAILED) {
      throw new RtmpError("MALFORMED", "FlvDemuxer: push() after an earlier error");
    }
    const out: FlvTag[] = [];
    try {
      this.#consume(bytes, out);
    } catch (e) {
      this.#state = STATE_FAILED;
      throw e;
    }
    return out;
  }

  #consume(bytes: Uint8Array, out: FlvTag[]): void {
    let i = 0;
    const n = bytes.length;
    while (i < n) {
      switch (this.#state) {
        case STATE_HEADER: {
          i += this.#fill(bytes, i, 9);
          if (this.#scratchLen === 9) this.#parseHeader();
          break;
        }
        case STATE_SKIP: {
          const take = Math.min(this.#skip, n - i);
          this.#skip -= take;
          i += take;
          this.#offset += take;
          if (this.#skip === 0) this.#state = STATE_PREV;
          break;
        }
        case STATE_PREV: {
          i += this.#fill(bytes, i, 4);
          if (this.#scratchLen === 4) this.#checkPrev();
          break;
        }
        case STATE_TAG_HEADER: {
          i += this.#fill(bytes, i, 11);
          if (this.#scratchLen === 11) this.#parseTagHeader(out);
          break;
        }
        default: {
          // STATE_TAG_DATA
          const tag = this.#tag as FlvTag;
          const take = Math.min(tag.data.length - this.#tagFill, n - i);
          tag.data.set(bytes.subarray(i, i + take), this.#tagFill);
          this.#tagFill += take;
          i += take;
          this.#offset += take;
          if (this.#tagFill === tag.data.length) this.#finishTag(out);
        }
      }
    }
  }

  /** Copies up to `want − scratchLen` bytes into the scratch; returns how many were taken. */
  #fill(bytes: Uint8Array, i: number, want: number): number {
    const take = Math.min(want - this.#scratchLen, bytes.length - i);
    for (let k = 0; k < take; k++) this.#scratch[this.#scratchLen + k] = bytes[i + k];
    this.#scratchLen += take;
    this.#offset += take;
    return take;
  }

  #parseHeader(): void {
    const s = this.#scratch;
    this.#scratchLen = 0;
    if (s[0] !== 0x46 || s[1] !== 0x4c || s[2] !== 0x56) {
      const got = Array.from(s.subarray(0, 3), (b) => b.toString(16).padStart(2, "0")).join(" ");
      throw new RtmpError(
        "MALFORMED",
        `FLV header: expected signature "FLV" (46 4c 56), got ${got}`,
      );
    }
    const dataOffset = ((s[5] << 24) | (s[6] << 16) | (s[7] << 8) | s[8]) >>> 0;
    if (dataOffset < 9) {
      throw new RtmpError(
        "MALFORMED",
        `FLV header: DataOffset must be at least 9 (the header's own size), got ${dataOffset}`,
      );
    }
    this.#header = { version: s[3], audio: (s[4] & 0x04) !== 0, video: (s[4] & 0x01) !== 0 };
    // E.2: DataOffset leaves room for larger headers in future versions; skip what we don't know.
    this.#skip = dataOffset - 9;
    this.#expectedPrev = 0;
    this.#state = this.#skip > 0 ? STATE_SKIP : STATE_PREV;
  }

  #checkPrev(): void {
    const s = this.#scratch;
    this.#scratchLen = 0;
    const prev = ((s[0] << 24) | (s[1] << 16) | (s[2] << 8) | s[3]) >>> 0;
    if (prev !== this.#expectedPrev) {
      const at = this.#offset - 4;
      if (this.#strict) {
        throw new RtmpError(
          "MALFORMED",
          `FLV PreviousTagSize at offset ${at}: expected ${this.#expectedPrev}, got ${prev}`,
        );
      }
      if (this.#mismatches === 0) this.#firstMismatch = at;
      this.#mismatches++;
    }
    this.#state = STATE_TAG_HEADER;
  }

  #parseTagHeader(out: FlvTag[]): void {
    const s = this.#scratch;
    this.#scratchLen = 0;
    const size = (s[1] << 16) | (s[2] << 8) | s[3];
    if (size > this.#maxTagSize) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `FLV tag at offset ${this.#offset - 11}: DataSize ${size} exceeds maxTagSize ` +
          `${this.#maxTagSize}`,
      );
    }
    // E.4.1: Timestamp is the lower 24 bits, TimestampExtended the upper 8.
    const timestamp = ((s[7] << 24) | (s[4] << 16) | (s[5] << 8) | s[6]) >>> 0;
    const tag: FlvTag = {
      type: s[0] & 0x1f,
      timestamp,
      streamId: (s[8] << 16) | (s[9] << 8) | s[10],
      data: new Uint8Array(size),
    };
    if ((s[0] & 0x20) !== 0) tag.filter = true;
    if ((s[0] & 0xc0) !== 0) tag.reserved = s[0] >> 6;
    this.#tag = tag;
    this.#tagFill = 0;
    this.#expectedPrev = size + 11;
    this.#state = STATE_TAG_DATA;
    if (size === 0) this.#finishTag(out);
  }

  #finishTag(out: FlvTag[]): void {
    out.push(this.#tag as FlvTag);
    this.#tag = null;
    this.#tagCount++;
    this.#state = STATE_PREV;
  }

  /**
   * Declares the end of input. Never throws for a truncated file: it reports how many bytes of an
   * unfinished element were dropped.
   *
   * @returns Truncation report.
   */
  end(): FlvDemuxerEnd {
    let truncatedBytes = 0;
    let clean = false;
    switch (this.#state) {
      case STATE_HEADER:
      case STATE_PREV:
      case STATE_TAG_HEADER:
        truncatedBytes = this.#scratchLen;
        clean = this.#state === STATE_TAG_HEADER && this.#scratchLen === 0;
        break;
      case STATE_SKIP:
        // Everything so far belongs to the unfinished header.
        truncatedBytes = this.#offset;
        break;
      case STATE_TAG_DATA:
        truncatedBytes = 11 + this.#tagFill;
        break;
      default:
        break;
    }
    if (this.#state !== STATE_FAILED) this.#state = STATE_ENDED;
    this.#tag = null;
    return { truncatedBytes, clean };
  }
}

/**
 * Encodes the 9-byte FLV header (DataOffset 9) followed by PreviousTagSize0 = 0: 13 bytes.
 *
 * @example
 * ```ts
 * import { encodeFlvHeader } from "./flv.ts";
 * console.log(encodeFlvHeader({ version: 1, audio: true, video: true }).length); // 13
 * ```
 *
 * @param header Version and stream flags.
 * @returns 13 bytes.
 * @throws {RtmpError} `INVALID_ARGUMENT` when the version is not 0..255.
 */
export function encodeFlvHeader(header: FlvHeader): Uint8Array {
  const v = header.version;
  if (!Number.isInteger(v) || v < 0 || v > 255) {
    throw new RtmpError("INVALID_ARGUMENT", `FLV header version: expected 0..255, got ${v}`);
  }
  const flags = (header.audio ? 0x04 : 0) | (header.video ? 0x01 : 0);
  return new Uint8Array([0x46, 0x4c, 0x56, v, flags, 0, 0, 0, 9, 0, 0, 0, 0]);
}

function checkTag(tag: FlvTag): void {
  const { type, timestamp, streamId, data } = tag;
  if (!Number.isInteger(type) || type < 0 || type > 31) {
    throw new RtmpError("INVALID_ARGUMENT", `FLV tag type: expected 0..31, got ${type}`);
  }
  if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp > 0xffffffff) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `FLV tag timestamp: expected an integer 0..4294967295 ms, got ${timestamp}`,
    );
  }
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffff) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `FLV tag stream id: expected 0..16777215, got ${streamId}`,
    );
  }
  if (data.length > FLV_MAX_TAG_DATA) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `FLV tag data: at most ${FLV_MAX_TAG_DATA} bytes fit DataSize, got ${data.length}`,
    );
  }
  const reserved = tag.reserved ?? 0;
  if (!Number.isInteger(reserved) || reserved < 0 || reserved > 3) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `FLV tag reserved bits: expected 0..3, got ${reserved}`,
    );
  }
}

/**
 * Writes an FLV tag (11-byte header, data, 4-byte PreviousTagSize) into `target` at `offset`,
 * without an intermediate array. `target` must have {@linkcode FLV_TAG_OVERHEAD} + data length
 * bytes free.
 *
 * @example
 * ```ts
 * import { encodeFlvTagInto } from "./flv.ts";
 * const buf = new Uint8Array(64);
 * const n = encodeFlvTagInto({ type: 9, timestamp: 0, streamId: 0, data: new Uint8Array(3) }, buf, 0);
 * console.log(n); // 18
 * ```
 *
 * @param tag The tag.
 * @param target Destination buffer.
 * @param offset Where to start writing.
 * @returns Bytes written.
 * @throws {RtmpError} `INVALID_ARGUMENT` for an out-of-range field or too little room.
 */
export function encodeFlvTagInto(tag: FlvTag, target: Uint8Array, offset: number): number {
  checkTag(tag);
  const size = tag.data.length;
  const total = size + FLV_TAG_OVERHEAD;
  if (!Number.isInteger(offset) || offset < 0 || offset + total > target.length) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `FLV tag: needs ${total} bytes at offset ${offset}, target has ${target.length}`,
    );
  }
  writeTagHeader(tag, target, offset);
  target.set(tag.data, offset + 11);
  writePrevSize(target, offset + 11 + size, size + 11);
  return total;
}

/**
 * Writes the 11-byte FLV tag header of `tag` into `target` at `offset` (no checks: callers
 * validated the tag).
 */
function writeTagHeader(tag: FlvTag, target: Uint8Array, o: number): void {
  const size = tag.data.length;
  const ts = tag.timestamp >>> 0;
  const sid = tag.streamId;
  target[o] = ((tag.reserved ?? 0) << 6) | (tag.filter === true ? 0x20 : 0) | tag.type;
  target[o + 1] = (size >>> 16) & 0xff;
  target[o + 2] = (size >>> 8) & 0xff;
  target[o + 3] = size & 0xff;
  target[o + 4] = (ts >>> 16) & 0xff;
  target[o + 5] = (ts >>> 8) & 0xff;
  target[o + 6] = ts & 0xff;
  target[o + 7] = (ts >>> 24) & 0xff;
  target[o + 8] = (sid >>> 16) & 0xff;
  target[o + 9] = (sid >>> 8) & 0xff;
  target[o + 10] = sid & 0xff;
}

function writePrevSize(target: Uint8Array, o: number, v: number): void {
  target[o] = (v >>> 24) & 0xff;
  target[o + 1] = (v >>> 16) & 0xff;
  target[o + 2] = (v >>> 8) & 0xff;
  target[o + 3] = v & 0xff;
}

/**
 * Encodes the 11-byte header of an FLV tag (for writers that send the data separately).
 *
 * @example
 * ```ts
 * import { encodeFlvTagHeader } from "./flv.ts";
 * const h = encodeFlvTagHeader({ type: 8, timestamp: 0x01020304, streamId: 0, data: new Uint8Array(2) });
 * console.log(h[7]); // 1 (TimestampExtended)
 * ```
 *
 * @param tag The tag (its data length fills DataSize).
 * @returns 11 bytes.
 * @throws {RtmpError} `INVALID_ARGUMENT` for an out-of-range field.
 */
export function encodeFlvTagHeader(tag: FlvTag): Uint8Array {
  checkTag(tag);
  const out = new Uint8Array(11);
  writeTagHeader(tag, out, 0);
  return out;
}

/**
 * Encodes the 4-byte PreviousTagSize that follows a tag with `dataSize` bytes of data.
 *
 * @example
 * ```ts
 * import { encodeFlvPreviousTagSize } from "./flv.ts";
 * console.log(encodeFlvPreviousTagSize(5)); // Uint8Array [0, 0, 0, 16]
 * ```
 *
 * @param dataSize The tag's DataSize.
 * @returns 4 bytes: 11 + dataSize, big-endian.
 */
export function encodeFlvPreviousTagSize(dataSize: number): Uint8Array {
  const out = new Uint8Array(4);
  writePrevSize(out, 0, dataSize + 11);
  return out;
}

/**
 * Encodes one FLV tag: 11-byte tag header, data, and the 4-byte PreviousTagSize (11 + DataSize).
 *
 * @example
 * ```ts
 * import { encodeFlvTag } from "./flv.ts";
 * const bytes = encodeFlvTag({ type: 8, timestamp: 20, streamId: 0, data: new Uint8Array([0xaf, 1]) });
 * console.log(bytes.length); // 17
 * ```
 *
 * @param tag The tag.
 * @returns A new array of 15 + data length bytes.
 * @throws {RtmpError} `INVALID_ARGUMENT` for an out-of-range field or data over 16 MiB − 1.
 */
export function encodeFlvTag(tag: FlvTag): Uint8Array {
  checkTag(tag);
  const out = new Uint8Array(tag.data.length + FLV_TAG_OVERHEAD);
  encodeFlvTagInto(tag, out, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------
// onMetaData scanning.
//
// A recorder has to find `duration` and `filesize` inside the onMetaData tag it wrote, to patch
// them in place at close. This needs byte offsets, which the AMF0 decoder reports
// (`readObjectLayout`); the patcher never re-encodes, so bytes the caller wrote stay as written.
// ---------------------------------------------------------------------------------------------

const ON_METADATA = "onMetaData";

/** The layout of an onMetaData script tag's container, or `null` for any other tag. */
function scanMetadata(data: Uint8Array): Amf0ObjectLayout | null {
  try {
    // Offsets stay relative to `data`: the reader starts after any `@setDataFrame`.
    const r = new ByteReader(data, data.length - unwrapSetDataFrame(data).length);
    const d = new Amf0Decoder(r);
    if (d.readValue() !== ON_METADATA) return null;
    return d.readObjectLayout();
  } catch (e) {
    if (e instanceof RtmpError) return null;
    throw e;
  }
}

/**
 * A byte patch to apply to a file: write `bytes` at absolute `offset`.
 *
 * @example
 * ```ts
 * import type { FlvMetadataPatch } from "./flv.ts";
 * const p: FlvMetadataPatch = { offset: 40, bytes: new Uint8Array(8) };
 * console.log(p.offset); // 40
 * ```
 */
export interface FlvMetadataPatch {
  /** Absolute offset (the tag data's offset plus the position inside the data). */
  offset: number;
  /** The new 8-byte big-endian IEEE-754 double. */
  bytes: Uint8Array;
}

/**
 * Computes in-place patches that set numeric `onMetaData` properties (e.g. `duration`,
 * `filesize`) in an already-written script tag. Only top-level properties whose value is already
 * an AMF0 Number are patched, since a Number is 8 bytes at a fixed position; other keys in
 * `values` are skipped. Returns `[]` when `scriptData` is not an onMetaData tag (optionally
 * preceded by `@setDataFrame`).
 *
 * @example
 * ```ts
 * import { ensureFlvMetadataKeys, flvMetadataPatches } from "./flv.ts";
 * const meta = ensureFlvMetadataKeys(new Uint8Array([
 *   2, 0, 10, ...new TextEncoder().encode("onMetaData"), 8, 0, 0, 0, 0, 0, 0, 9,
 * ]), ["duration"]);
 * const patches = flvMetadataPatches(meta!, { duration: 12.5 }, 1000);
 * console.log(patches.length, patches[0].offset > 1000); // 1 true
 * ```
 *
 * @param scriptData The script tag's data as written.
 * @param values Property name → new number.
 * @param dataOffset Absolute file offset of `scriptData[0]`.
 * @returns One patch per property found (the first occurrence of each name).
 */
export function flvMetadataPatches(
  scriptData: Uint8Array,
  values: Readonly<Record<string, number>>,
  dataOffset = 0,
): FlvMetadataPatch[] {
  const layout = scanMetadata(scriptData);
  if (layout === null) return [];
  const patches: FlvMetadataPatch[] = [];
  const done = new Set<string>();
  for (const p of layout.properties) {
    if (!Object.hasOwn(values, p.name) || done.has(p.name)) continue;
    if (scriptData[p.valueAt] !== 0) continue;
    done.add(p.name);
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, values[p.name]);
    patches.push({ offset: dataOffset + p.valueAt + 1, bytes });
  }
  return patches;
}

/**
 * Makes sure an onMetaData script tag has top-level Number properties named `keys`, so they can
 * later be patched in place with {@linkcode flvMetadataPatches}. When all exist as Numbers the
 * input is returned unchanged; otherwise a new script tag is built: the original bytes up to the
 * container, the container (ECMA array count raised by the number of added keys), every original
 * property byte for byte, then each missing key as a Number 0, and the 00 00 09 end marker. A key
 * that exists with a non-Number value is left alone (not duplicated).
 *
 * @example
 * ```ts
 * import { ensureFlvMetadataKeys } from "./flv.ts";
 * const meta = new Uint8Array([2, 0, 10, ...new TextEncoder().encode("onMetaData"), 8, 0, 0, 0, 0, 0, 0, 9]);
 * console.log(ensureFlvMetadataKeys(meta, ["duration", "filesize"])!.length); // 59
 * ```
 *
 * @param scriptData A script tag's data.
 * @param keys Property names to ensure.
 * @returns The tag data to write, or `null` when it is not an onMetaData tag this scan can walk.
 */
export function ensureFlvMetadataKeys(
  scriptData: Uint8Array,
  keys: readonly string[],
): Uint8Array | null {
  const layout = scanMetadata(scriptData);
  if (layout === null) return null;
  const present = new Set(layout.properties.map((p) => p.name));
  const missing = keys.filter((k, i) => !present.has(k) && keys.indexOf(k) === i);
  if (missing.length === 0) return scriptData;
  // The missing keys as AMF0 properties plus the end marker: an encoded object minus its 0x03.
  const added = encodeAmf0([Object.fromEntries(missing.map((k) => [k, 0]))]).subarray(1);
  const head = scriptData.subarray(0, layout.propertiesEnd);
  const tail = scriptData.subarray(layout.end);
  const out = new Uint8Array(head.length + added.length + tail.length);
  out.set(head, 0);
  out.set(added, head.length);
  out.set(tail, head.length + added.length);
  if (layout.marker === 0x08) {
    const view = new DataView(out.buffer);
    const count = view.getUint32(layout.at + 1);
    view.setUint32(layout.at + 1, Math.min(0xffffffff, count + missing.length));
  }
  return out;
}

/**
 * Reads the name of a script tag (its first AMF0 String), or `null` if it does not start with
 * one.
 *
 * @example
 * ```ts
 * import { flvScriptName } from "./flv.ts";
 * console.log(flvScriptName(new Uint8Array([2, 0, 2, 0x6f, 0x6e]))); // "on"
 * ```
 *
 * @param scriptData A script tag's data.
 * @returns The name, or `null`.
 */
export function flvScriptName(scriptData: Uint8Array): string | null {
  try {
    const name = new Amf0Decoder(new ByteReader(scriptData)).readValue();
    return typeof name === "string" ? name : null;
  } catch (e) {
    if (e instanceof RtmpError) return null;
    throw e;
  }
}
