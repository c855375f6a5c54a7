/**
 * FLV files on disk, through `node:fs/promises` (the same code runs on Deno, Bun and Node).
 *
 * - {@linkcode FlvFileReader} reads a file tag by tag with the sans-IO
 *   {@linkcode FlvDemuxer}, tolerating a truncated last tag.
 * - {@linkcode FlvFileWriter} records tags with bounded buffering, flushing only whole tags so a
 *   crashed recorder leaves a valid file up to its last flushed tag, and on close patches
 *   `duration` / `filesize` into the first `onMetaData` tag.
 *
 * @module
 */

import { type FileHandle, open } from "node:fs/promises";
import { RtmpError } from "../errors.ts";
import {
  encodeFlvHeader,
  encodeFlvPreviousTagSize,
  encodeFlvTagHeader,
  encodeFlvTagInto,
  ensureFlvMetadataKeys,
  FLV_TAG_OVERHEAD,
  FlvDemuxer,
  type FlvDemuxerEnd,
  type FlvHeader,
  flvMetadataPatches,
  type FlvTag,
  FlvTagType,
} from "../protocol/flv.ts";

export type { FlvDemuxerEnd, FlvHeader, FlvTag } from "../protocol/flv.ts";

function ioError(e: unknown, what: string): RtmpError {
  if (e instanceof RtmpError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new RtmpError("IO", `${what}: ${msg}`, { cause: e });
}

const RESOLVED: Promise<void> = Promise.resolve();

async function writeAll(
  fh: FileHandle,
  bytes: Uint8Array,
  position: number | null,
): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(
      bytes,
      done,
      bytes.length - done,
      position === null ? null : position + done,
    );
    if (bytesWritten <= 0) throw new Error("write made no progress");
    done += bytesWritten;
  }
}

/**
 * Options of {@linkcode FlvFileReader.open}.
 *
 * @example
 * ```ts
 * import type { FlvFileReaderOptions } from "./file.ts";
 * const options: FlvFileReaderOptions = { maxTagSize: 8 << 20 };
 * console.log(options.maxTagSize); // 8388608
 * ```
 */
export interface FlvFileReaderOptions {
  /** Largest tag DataSize accepted (`LIMIT_EXCEEDED` above). Default 16 MiB − 1. */
  maxTagSize?: number;
  /** Throw on a wrong PreviousTagSize instead of counting it. Default `false`. */
  strict?: boolean;
  /** Bytes per file read. Default 64 KiB. */
  readSize?: number;
}

/**
 * Reads an FLV file tag by tag. Iterate it once with `for await`; a file cut inside its last tag
 * yields every complete tag and then reports the cut in {@linkcode FlvFileReader.eof}.
 *
 * @example
 * ```ts ignore
 * import { FlvFileReader } from "./file.ts";
 * await using reader = await FlvFileReader.open("in.flv");
 * console.log(reader.header);
 * for await (const tag of reader) console.log(tag.type, tag.timestamp, tag.data.length);
 * console.log(reader.eof?.truncatedBytes);
 * ```
 */
export class FlvFileReader {
  #fh: FileHandle;
  #demuxer: FlvDemuxer;
  #header: FlvHeader;
  #leftover: Uint8Array | null;
  #buf: Uint8Array;
  #eof: FlvDemuxerEnd | null = null;
  #closed = false;
  #closing: Promise<void> | null = null;

  private constructor(
    fh: FileHandle,
    demuxer: FlvDemuxer,
    header: FlvHeader,
    leftover: Uint8Array | null,
    buf: Uint8Array,
  ) {
    this.#fh = fh;
    this.#demuxer = demuxer;
    this.#header = header;
    this.#leftover = leftover;
    this.#buf = buf;
  }

  /**
   * Opens a file and reads its FLV header.
   *
   * @param path File path or `file:` URL.
   * @param options Limits and read size.
   * @returns A reader positioned at the first tag.
   * @throws {RtmpError} `IO` when the file cannot be opened or read; `MALFORMED` when it is not
   * an FLV file or ends inside the header.
   */
  static async open(
    path: string | URL,
    options: FlvFileReaderOptions = {},
  ): Promise<FlvFileReader> {
    const readSize = options.readSize ?? 65536;
    if (!Number.isInteger(readSize) || readSize < 1) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `FlvFileReader readSize: expected a positive integer, got ${readSize}`,
      );
    }
    const demuxer = new FlvDemuxer({ maxTagSize: options.maxTagSize, strict: options.strict });
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (e) {
      throw ioError(e, `cannot open FLV file ${String(path)}`);
    }
    const buf = new Uint8Array(readSize);
    try {
      // Feed the demuxer only the 9 header bytes here, so that problems with tags surface while
      // iterating rather than from open().
      let leftover: Uint8Array | null = null;
      while (demuxer.header === null) {
        const n = await readChunk(fh, buf);
        if (n === 0) {
          const { truncatedBytes } = demuxer.end();
          throw new RtmpError(
            "MALFORMED",
            `FLV file ${String(path)} ends inside the header: got ${truncatedBytes} of ` +
              `at least 9 bytes`,
          );
        }
        const take = Math.min(n, 9 - demuxer.bytesConsumed);
        demuxer.push(buf.subarray(0, take));
        if (take < n) leftover = buf.slice(take, n);
      }
      return new FlvFileReader(fh, demuxer, demuxer.header, leftover, buf);
    } catch (e) {
      await fh.close().catch(() => {});
      throw ioError(e, `cannot read FLV file ${String(path)}`);
    }
  }

  /** The FLV header. */
  get header(): FlvHeader {
    return this.#header;
  }

  /**
   * `null` until iteration reached the end of the file; then whether it ended cleanly and how
   * many bytes of an incomplete last tag were dropped.
   */
  get eof(): FlvDemuxerEnd | null {
    return this.#eof;
  }

  /** How many PreviousTagSize fields disagreed with their tag so far (see {@linkcode FlvDemuxer}). */
  get previousTagSizeMismatches(): number {
    return this.#demuxer.previousTagSizeMismatches;
  }

  /**
   * Iterates the tags (once; a second iteration yields nothing). Each tag's `data` is its own
   * copy.
   *
   * @returns An async iterator of tags.
   * @throws {RtmpError} `IO` on a read error, `CLOSED` when the reader was closed mid-iteration,
   * `LIMIT_EXCEEDED` for a tag over `maxTagSize`.
   */
  async *tags(): AsyncGenerator<FlvTag, void, undefined> {
    if (this.#leftover !== null) {
      const first = this.#demuxer.push(this.#leftover);
      this.#leftover = null;
      for (let i = 0; i < first.length; i++) yield first[i];
    }
    while (this.#eof === null) {
      if (this.#closed) throw new RtmpError("CLOSED", "FlvFileReader: read after close()");
      let n: number;
      try {
        n = await readChunk(this.#fh, this.#buf);
      } catch (e) {
        throw ioError(e, "FLV file read failed");
      }
      if (n === 0) {
        this.#eof = this.#demuxer.end();
        return;
      }
      const tags = this.#demuxer.push(this.#buf.subarray(0, n));
      for (let i = 0; i < tags.length; i++) yield tags[i];
    }
  }

  /**
   * Same as {@linkcode FlvFileReader.tags}.
   *
   * @returns An async iterator of tags.
   */
  [Symbol.asyncIterator](): AsyncIterator<FlvTag> {
    return this.tags();
  }

  /**
   * Closes the file. Idempotent.
   *
   * @returns Resolves once the file is closed.
   */
  close(): Promise<void> {
    if (this.#closing === null) {
      this.#closed = true;
      this.#closing = this.#fh.close().catch((e) => {
        throw ioError(e, "FLV file close failed");
      });
    }
    return this.#closing;
  }

  /**
   * Closes the file (for `await using`).
   *
   * @returns Resolves once the file is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

async function readChunk(fh: FileHandle, buf: Uint8Array): Promise<number> {
  const { bytesRead } = await fh.read(buf, 0, buf.length, null);
  return bytesRead;
}

/**
 * Options of {@linkcode FlvFileWriter.create}.
 *
 * @example
 * ```ts
 * import type { FlvFileWriterOptions } from "./file.ts";
 * const options: FlvFileWriterOptions = { audio: true, video: true, flushIntervalMs: 500 };
 * console.log(options.video); // true
 * ```
 */
export interface FlvFileWriterOptions {
  /** TypeFlagsAudio in the header. */
  audio: boolean;
  /** TypeFlagsVideo in the header. */
  video: boolean;
  /**
   * Patch `duration` and `filesize` into the first onMetaData tag at close (default `true`).
   * With `false` every tag is written exactly as given, so rewriting a file tag by tag reproduces
   * it byte for byte.
   */
  patchMetadata?: boolean;
  /**
   * Buffer size in bytes (default 64 KiB). Tags are gathered until the next one would not fit;
   * a tag larger than the buffer is written directly. Memory stays bounded by this size.
   */
  flushBytes?: number;
  /**
   * Longest time in ms a written tag may wait in the buffer before it is flushed (default 250).
   * `0` flushes on every {@linkcode FlvFileWriter.writeTag}.
   */
  flushIntervalMs?: number;
}

/**
 * Writes an FLV file.
 *
 * Buffering: tags are copied into a buffer of `flushBytes` (64 KiB) that is written when the next
 * tag does not fit, at the latest `flushIntervalMs` (250 ms) after its first tag, on
 * {@linkcode FlvFileWriter.flush} and on close. Only whole tags are ever in the buffer, so a
 * process that dies leaves a file that ends at a tag boundary (at most 250 ms / 64 KiB lost),
 * which {@linkcode FlvFileReader} reads without error.
 *
 * Metadata: with `patchMetadata` (default), the first script tag named `onMetaData` (optionally
 * preceded by `@setDataFrame`) gets Number properties `duration` and `filesize`: existing ones
 * are kept in place, missing ones are appended as 0 by rebuilding that tag (see
 * {@linkcode ensureFlvMetadataKeys}). At close, when the file is a regular file, they are
 * overwritten in place with the media duration in seconds (last minus first audio/video
 * timestamp; the largest timestamp is taken as last) and the final file size in bytes. On a pipe
 * or other non-seekable file, nothing is patched.
 *
 * `writeTag` calls may be issued without awaiting each one; they are written in call order. The
 * caller must not modify a tag's data until its promise resolves.
 *
 * @example
 * ```ts ignore
 * import { FlvFileWriter } from "./file.ts";
 * const writer = await FlvFileWriter.create("out.flv", { audio: true, video: false });
 * await writer.writeTag({ type: 8, timestamp: 0, streamId: 0, data: new Uint8Array([0xaf, 0, 0x12, 0x10]) });
 * await writer.close();
 * ```
 */
export class FlvFileWriter {
  #fh: FileHandle;
  #patch: boolean;
  #interval: number;
  #buf: Uint8Array;
  #len = 0;
  /** Bytes accepted so far (header included): the file offset of the next tag. */
  #total = 0;
  #io: Promise<void> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #error: RtmpError | null = null;
  #closing: Promise<void> | null = null;
  #meta: { data: Uint8Array; offset: number } | null = null;
  #firstTs = -1;
  #maxTs = 0;
  #onTimer = (): void => {
    this.#timer = undefined;
    if (this.#len > 0 && this.#closing === null) this.#enqueue(null).catch(() => {});
  };

  private constructor(fh: FileHandle, patch: boolean, flushBytes: number, interval: number) {
    this.#fh = fh;
    this.#patch = patch;
    this.#buf = new Uint8Array(flushBytes);
    this.#interval = interval;
  }

  /**
   * Creates (or truncates) a file and writes the FLV header.
   *
   * @param path File path or `file:` URL.
   * @param options Header flags, metadata patching and buffering.
   * @returns The writer.
   * @throws {RtmpError} `IO` when the file cannot be created; `INVALID_ARGUMENT` for bad options.
   */
  static async create(path: string | URL, options: FlvFileWriterOptions): Promise<FlvFileWriter> {
    const flushBytes = options.flushBytes ?? 65536;
    const interval = options.flushIntervalMs ?? 250;
    if (!Number.isInteger(flushBytes) || flushBytes < 64) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `FlvFileWriter flushBytes: expected an integer >= 64, got ${flushBytes}`,
      );
    }
    if (!Number.isFinite(interval) || interval < 0) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `FlvFileWriter flushIntervalMs: expected a non-negative number, got ${interval}`,
      );
    }
    const header = encodeFlvHeader({ version: 1, audio: options.audio, video: options.video });
    let fh: FileHandle;
    try {
      fh = await open(path, "w");
    } catch (e) {
      throw ioError(e, `cannot create FLV file ${String(path)}`);
    }
    const w = new FlvFileWriter(fh, options.patchMetadata ?? true, flushBytes, interval);
    try {
      await writeAll(fh, header, null);
    } catch (e) {
      await fh.close().catch(() => {});
      throw ioError(e, `cannot write FLV file ${String(path)}`);
    }
    w.#total = header.length;
    return w;
  }

  /** Bytes written or buffered so far, header included (the file size once flushed). */
  get bytesWritten(): number {
    return this.#total;
  }

  /**
   * Appends a tag. Resolves once the tag is buffered, or written when buffering is off or the
   * buffer had to be flushed to make room.
   *
   * @param tag The tag; its `data` must not change until the promise resolves.
   * @returns Resolves when the writer accepted the tag.
   * @throws {RtmpError} `INVALID_ARGUMENT` for an out-of-range field (the tag is not written),
   * `CLOSED` after close, `IO` when an earlier or this write failed.
   */
  writeTag(tag: FlvTag): Promise<void> {
    if (this.#closing !== null) {
      return Promise.reject(new RtmpError("CLOSED", "FlvFileWriter: writeTag() after close()"));
    }
    if (this.#error !== null) return Promise.reject(this.#error);
    let meta: Uint8Array | null = null;
    if (this.#patch && this.#meta === null && tag.type === FlvTagType.Script) {
      // null for any script tag but onMetaData (with or without `@setDataFrame` before it).
      meta = ensureFlvMetadataKeys(tag.data, ["duration", "filesize"]);
      if (meta !== null && meta !== tag.data) tag = { ...tag, data: meta };
    }
    const total = tag.data.length + FLV_TAG_OVERHEAD;
    let promise: Promise<void>;
    if (this.#io === null && this.#len + total <= this.#buf.length) {
      try {
        this.#len += encodeFlvTagInto(tag, this.#buf, this.#len);
      } catch (e) {
        return Promise.reject(e);
      }
      if (this.#interval === 0) promise = this.#enqueue(null);
      else {
        this.#timer ??= setTimeout(this.#onTimer, this.#interval);
        promise = RESOLVED;
      }
    } else {
      try {
        encodeFlvTagHeader(tag); // validates before anything is queued
      } catch (e) {
        return Promise.reject(e);
      }
      promise = this.#enqueue(tag);
    }
    if (meta !== null) this.#meta = { data: meta, offset: this.#total + 11 };
    if (tag.type === FlvTagType.Audio || tag.type === FlvTagType.Video) {
      if (this.#firstTs < 0) this.#firstTs = tag.timestamp;
      if (tag.timestamp > this.#maxTs) this.#maxTs = tag.timestamp;
    }
    this.#total += total;
    return promise;
  }

  /**
   * Writes everything buffered so far.
   *
   * @returns Resolves once the bytes reached the file.
   * @throws {RtmpError} `IO` on a write error, `CLOSED` after close.
   */
  flush(): Promise<void> {
    if (this.#closing !== null) {
      return Promise.reject(new RtmpError("CLOSED", "FlvFileWriter: flush() after close()"));
    }
    if (this.#error !== null) return Promise.reject(this.#error);
    return this.#enqueue(null);
  }

  /** Queues an IO step (flush, then the tag if any) behind the ones in flight. */
  #enqueue(tag: FlvTag | null): Promise<void> {
    const prev = this.#io ?? RESOLVED;
    const p = prev.then(() => this.#step(tag));
    this.#io = p;
    p.then(
      () => {
        if (this.#io === p) this.#io = null;
      },
      (e) => {
        this.#error ??= ioError(e, "FLV file write failed");
        if (this.#io === p) this.#io = null;
      },
    );
    return p;
  }

  async #step(tag: FlvTag | null): Promise<void> {
    if (this.#error !== null) throw this.#error;
    if (tag === null) {
      await this.#flushBuffer();
      return;
    }
    const total = tag.data.length + FLV_TAG_OVERHEAD;
    if (this.#len + total > this.#buf.length) await this.#flushBuffer();
    if (total > this.#buf.length) {
      // Larger than the buffer: header, data and back-pointer go straight to the file.
      await writeAll(this.#fh, encodeFlvTagHeader(tag), null);
      await writeAll(this.#fh, tag.data, null);
      await writeAll(this.#fh, encodeFlvPreviousTagSize(tag.data.length), null);
      return;
    }
    this.#len += encodeFlvTagInto(tag, this.#buf, this.#len);
    if (this.#interval === 0) await this.#flushBuffer();
    else this.#timer ??= setTimeout(this.#onTimer, this.#interval);
  }

  async #flushBuffer(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#len === 0) return;
    const n = this.#len;
    await writeAll(this.#fh, this.#buf.subarray(0, n), null);
    this.#len = 0;
  }

  /**
   * Flushes, patches the metadata (see the class notes) and closes the file. Idempotent.
   *
   * @returns Resolves once the file is complete and closed.
   * @throws {RtmpError} `IO` when a write, the patch or the close failed.
   */
  close(): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    await (this.#io ?? RESOLVED).catch(() => {});
    let err: RtmpError | null = this.#error;
    if (err === null) {
      try {
        await this.#flushBuffer();
        await this.#patchMetadata();
      } catch (e) {
        err = ioError(e, "FLV file write failed");
      }
    }
    this.#len = 0;
    try {
      await this.#fh.close();
    } catch (e) {
      err ??= ioError(e, "FLV file close failed");
    }
    if (err !== null) throw err;
  }

  async #patchMetadata(): Promise<void> {
    if (this.#meta === null) return;
    const stat = await this.#fh.stat();
    if (!stat.isFile()) return;
    const duration = this.#firstTs < 0 ? 0 : (this.#maxTs - this.#firstTs) / 1000;
    const patches = flvMetadataPatches(
      this.#meta.data,
      { duration, filesize: this.#total },
      this.#meta.offset,
    );
    for (const p of patches) await writeAll(this.#fh, p.bytes, p.offset);
  }

  /**
   * Closes the writer (for `await using`).
   *
   * @returns Resolves once the file is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
