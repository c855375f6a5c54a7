/**
 * Bounds-checked big-endian byte reading and a growable byte writer, shared by every parser and
 * builder in the protocol core. A read past the end throws {@linkcode RtmpError} `MALFORMED`
 * naming what was being read, so no `RangeError` escapes from a parser.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";

const textDecoder = new TextDecoder("utf-8", { fatal: false });
const textEncoder = new TextEncoder();

/**
 * A copy of `bytes[start..end)` in a buffer of its own. Use it instead of `slice()` on bytes
 * that may come from a socket: Node's `Buffer` (what `node:net` hands over, on Node and Bun)
 * overrides `slice()` to return a view that shares memory with the original, so a "copy" kept
 * past the next read would change or vanish with the read buffer.
 *
 * @example
 * ```ts
 * import { copyBytes } from "./bytes.ts";
 * const read = new Uint8Array([1, 2, 3, 4]);
 * const kept = copyBytes(read, 1, 3);
 * read.fill(0);
 * console.log(kept, kept.buffer.byteLength); // Uint8Array [2, 3] 2
 * ```
 * @param bytes The source.
 * @param start First index copied (default 0).
 * @param end Index after the last one copied (default the end).
 * @returns A new `Uint8Array` (never a Buffer) with those bytes.
 */
export function copyBytes(bytes: Uint8Array, start = 0, end: number = bytes.length): Uint8Array {
  const out = new Uint8Array(Math.max(0, end - start));
  out.set(bytes.subarray(start, end));
  return out;
}

/**
 * Encodes a string as UTF-8.
 *
 * @example
 * ```ts
 * import { utf8Encode } from "./bytes.ts";
 * console.log(utf8Encode("ab")); // Uint8Array [97, 98]
 * ```
 * @param text Any string.
 * @returns Its UTF-8 bytes.
 */
export function utf8Encode(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/**
 * Decodes UTF-8 bytes; invalid sequences become U+FFFD rather than throwing.
 *
 * @example
 * ```ts
 * import { utf8Decode } from "./bytes.ts";
 * console.log(utf8Decode(new Uint8Array([104, 105]))); // "hi"
 * ```
 * @param bytes UTF-8 bytes.
 * @returns The decoded string.
 */
export function utf8Decode(bytes: Uint8Array): string {
  return textDecoder.decode(bytes);
}

/**
 * A cursor over a byte array. Every read checks bounds and throws `MALFORMED` with `what` in the
 * message when the input is short.
 *
 * @example
 * ```ts
 * import { ByteReader } from "./bytes.ts";
 * const r = new ByteReader(new Uint8Array([0, 1, 2, 3]));
 * console.log(r.u16("example"), r.remaining); // 1 2
 * ```
 */
export class ByteReader {
  /** The bytes being read. */
  readonly bytes: Uint8Array;
  /** Current read offset into {@linkcode ByteReader.bytes}. */
  offset: number;
  #view: DataView;

  /**
   * Creates a reader over `bytes` (no copy).
   *
   * @param bytes Bytes to read.
   * @param offset Starting offset.
   */
  constructor(bytes: Uint8Array, offset = 0) {
    this.bytes = bytes;
    this.offset = offset;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes left after the cursor. */
  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  /**
   * Throws `MALFORMED` unless `n` more bytes are available.
   * @param n Bytes needed.
   * @param what What is being read, for the message.
   */
  need(n: number, what: string): void {
    if (n > this.bytes.length - this.offset) {
      throw new RtmpError(
        "MALFORMED",
        `${what}: needs ${n} byte(s) at offset ${this.offset}, only ${this.remaining} left`,
      );
    }
  }

  /** Reads an unsigned byte. @param what Field name for errors. @returns The value. */
  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.offset++];
  }

  /** Reads a big-endian uint16. @param what Field name for errors. @returns The value. */
  u16(what: string): number {
    this.need(2, what);
    const v = this.#view.getUint16(this.offset);
    this.offset += 2;
    return v;
  }

  /** Reads a big-endian uint24. @param what Field name for errors. @returns The value. */
  u24(what: string): number {
    this.need(3, what);
    const b = this.bytes, o = this.offset;
    this.offset += 3;
    return (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
  }

  /** Reads a big-endian signed 24-bit integer. @param what Field name for errors. @returns The value. */
  s24(what: string): number {
    const v = this.u24(what);
    return v & 0x800000 ? v - 0x1000000 : v;
  }

  /** Reads a big-endian uint32. @param what Field name for errors. @returns The value. */
  u32(what: string): number {
    this.need(4, what);
    const v = this.#view.getUint32(this.offset);
    this.offset += 4;
    return v;
  }

  /** Reads a big-endian int16. @param what Field name for errors. @returns The value. */
  i16(what: string): number {
    this.need(2, what);
    const v = this.#view.getInt16(this.offset);
    this.offset += 2;
    return v;
  }

  /** Reads a big-endian int32. @param what Field name for errors. @returns The value. */
  i32(what: string): number {
    this.need(4, what);
    const v = this.#view.getInt32(this.offset);
    this.offset += 4;
    return v;
  }

  /** Reads a big-endian IEEE-754 double. @param what Field name for errors. @returns The value. */
  f64(what: string): number {
    this.need(8, what);
    const v = this.#view.getFloat64(this.offset);
    this.offset += 8;
    return v;
  }

  /**
   * Returns a view (no copy) of the next `n` bytes.
   * @param n Byte count.
   * @param what Field name for errors.
   * @returns A subarray sharing memory with the input.
   */
  view(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /** Returns a view of everything left and moves to the end. @returns The rest. */
  rest(): Uint8Array {
    const v = this.bytes.subarray(this.offset);
    this.offset = this.bytes.length;
    return v;
  }

  /**
   * Reads `n` bytes as UTF-8.
   * @param n Byte count.
   * @param what Field name for errors.
   * @returns The string.
   */
  utf8(n: number, what: string): string {
    return utf8Decode(this.view(n, what));
  }
}

/**
 * A growable big-endian byte writer. It doubles its buffer as needed and returns a view of what
 * was written, so building a message costs one allocation in the common case.
 *
 * @example
 * ```ts
 * import { ByteWriter } from "./bytes.ts";
 * const w = new ByteWriter(8);
 * w.u8(2).u32(7);
 * console.log(w.finish()); // Uint8Array [2, 0, 0, 0, 7]
 * ```
 */
export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;

  /**
   * Creates an empty writer.
   *
   * @param capacity Initial capacity in bytes.
   */
  constructor(capacity = 64) {
    this.#buf = new Uint8Array(Math.max(16, capacity));
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  #ensure(n: number): void {
    const need = this.#len + n;
    if (need <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** Appends a byte. @param v Value 0..255. @returns This writer. */
  u8(v: number): this {
    this.#ensure(1);
    this.#buf[this.#len++] = v;
    return this;
  }

  /** Appends a big-endian uint16. @param v Value. @returns This writer. */
  u16(v: number): this {
    this.#ensure(2);
    this.#view.setUint16(this.#len, v);
    this.#len += 2;
    return this;
  }

  /** Appends a big-endian uint24 (also used for signed 24-bit values). @param v Value. @returns This writer. */
  u24(v: number): this {
    this.#ensure(3);
    const b = this.#buf, o = this.#len;
    b[o] = (v >>> 16) & 0xff;
    b[o + 1] = (v >>> 8) & 0xff;
    b[o + 2] = v & 0xff;
    this.#len += 3;
    return this;
  }

  /** Appends a big-endian uint32. @param v Value. @returns This writer. */
  u32(v: number): this {
    this.#ensure(4);
    this.#view.setUint32(this.#len, v >>> 0);
    this.#len += 4;
    return this;
  }

  /** Appends a big-endian int16. @param v Value. @returns This writer. */
  i16(v: number): this {
    this.#ensure(2);
    this.#view.setInt16(this.#len, v);
    this.#len += 2;
    return this;
  }

  /** Appends a big-endian int32. @param v Value. @returns This writer. */
  i32(v: number): this {
    this.#ensure(4);
    this.#view.setInt32(this.#len, v);
    this.#len += 4;
    return this;
  }

  /** Appends a big-endian IEEE-754 double. @param v Value. @returns This writer. */
  f64(v: number): this {
    this.#ensure(8);
    this.#view.setFloat64(this.#len, v);
    this.#len += 8;
    return this;
  }

  /** Appends bytes. @param bytes Bytes to copy in. @returns This writer. */
  bytes(bytes: Uint8Array): this {
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
    return this;
  }

  /**
   * Appends an all-ASCII string as a big-endian uint16 length and its bytes (the AMF0 string
   * layout, AMF0 §2.4), copying char codes straight in: most strings of RTMP commands are short
   * ASCII, and a separate encode per string (a call into the runtime and an allocation) was a
   * visible part of accepting a connection. Writes nothing and returns false for any other
   * string (a code unit above 0x7F, or more than 65535). A `marker` byte (0..255) is written
   * first, when given (AMF0's type marker), and only with the string.
   *
   * @example
   * ```ts
   * import { ByteWriter } from "./bytes.ts";
   * const w = new ByteWriter();
   * console.log(w.ascii16("ab"), w.ascii16("é"), w.finish()); // true false Uint8Array [0, 2, 97, 98]
   * ```
   *
   * @param text The string.
   * @param marker A byte to write before it, or -1 for none.
   * @returns Whether it was written.
   */
  ascii16(text: string, marker = -1): boolean {
    const n = text.length;
    if (n > 0xffff) return false;
    const head = marker < 0 ? 0 : 1;
    this.#ensure(head + 2 + n);
    const b = this.#buf;
    let o = this.#len + head + 2;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) return false; // what was copied lies past the length: not written
      b[o++] = c;
    }
    if (head) b[this.#len] = marker;
    this.#view.setUint16(this.#len + head, n);
    this.#len = o;
    return true;
  }

  /** Returns a view of the written bytes (valid until the next write). @returns The bytes. */
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}
