/**
 * AMF0 codec (Adobe "AMF 0 Specification"), including the AVM+ marker `0x11` that switches a
 * single value to AMF3 (AMF0 §3.1).
 *
 * Decoding: references (0x07) resolve to the earlier object, typed object, strict array or ECMA
 * array (AMF0 §2.9); ECMA arrays come back as plain objects marked with
 * {@linkcode ECMA_ARRAY}; the movieclip (0x04), recordset (0x0E) and unsupported (0x0D) markers
 * are rejected with `UNSUPPORTED`.
 *
 * Encoding: a complex instance that appears again in the same call — including a cycle back to
 * an enclosing object — is written as a reference, as AMF0 §2.9 requires; this keeps cyclic or
 * heavily shared graphs finite. (librtmp and nginx-rtmp do not resolve references, so pass
 * distinct objects where such peers must read the value.) AMF3-only values (ByteArray, Vector,
 * Dictionary, AMF3 arrays with named keys, E4X XML) are written behind an `0x11` switch.
 *
 * @module
 */

import { RtmpError } from "../errors.ts";
import {
  AmfArray3,
  type AmfDecodeOptions,
  AmfDictionary,
  type AmfObject,
  AmfTypedObject,
  type AmfValue,
  AmfVector,
  AmfXml,
  AmfXmlDocument,
  ecmaArray,
  isEcmaArray,
  setAmfProperty,
} from "./amf.ts";
import {
  Amf3Decoder,
  Amf3Encoder,
  describeValue,
  isUnencodableObject,
  resolveMaxDepth,
} from "./amf3.ts";
import { ByteReader, ByteWriter, utf8Encode } from "./bytes.ts";

/** Encoder nesting bound: keeps a pathological tree from overflowing the stack. */
const MAX_ENCODE_DEPTH = 1000;

/**
 * Reads AMF0 values from a {@linkcode ByteReader}. The reference table spans all values read
 * through one decoder (one message body, AMF0 §4.1.3).
 *
 * @example
 * ```ts
 * import { ByteReader } from "./bytes.ts";
 * import { Amf0Decoder } from "./amf0.ts";
 * const d = new Amf0Decoder(new ByteReader(new Uint8Array([0x05, 0x01, 0x01])));
 * console.log(d.readValue(), d.readValue()); // null true
 * ```
 */
export class Amf0Decoder {
  #r: ByteReader;
  #maxDepth: number;
  #refs: AmfValue[] = [];

  /**
   * Creates a decoder over `reader`.
   * @param reader Source; its offset advances past each value read.
   * @param options Nesting bound.
   */
  constructor(reader: ByteReader, options?: AmfDecodeOptions) {
    this.#r = reader;
    this.#maxDepth = resolveMaxDepth(options);
  }

  /**
   * Reads one value.
   * @returns The value.
   */
  readValue(): AmfValue {
    return this.#value(0);
  }

  #enter(depth: number, what: string, at: number): void {
    if (depth > this.#maxDepth) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `AMF0 ${what} at offset ${at}: nesting deeper than maxDepth ${this.#maxDepth}`,
      );
    }
  }

  #value(depth: number): AmfValue {
    const r = this.#r;
    const at = r.offset;
    const marker = r.u8("AMF0 type marker");
    switch (marker) {
      case 0x00:
        return r.f64("AMF0 number");
      case 0x01:
        return r.u8("AMF0 boolean") !== 0;
      case 0x02:
        return r.utf8(r.u16("AMF0 string length"), "AMF0 string");
      case 0x03: {
        this.#enter(depth + 1, "object", at);
        const obj: AmfObject = {};
        this.#refs.push(obj);
        this.#properties(obj, depth + 1);
        return obj;
      }
      case 0x05:
        return null;
      case 0x06:
        return undefined;
      case 0x07: {
        const i = r.u16("AMF0 reference");
        if (i >= this.#refs.length) {
          throw new RtmpError(
            "MALFORMED",
            `AMF0 reference at offset ${at}: index ${i} but only ${this.#refs.length} ` +
              `complex value(s) seen`,
          );
        }
        return this.#refs[i];
      }
      case 0x08: {
        // AMF0 §2.10: the associative count is advisory; the end marker ends the array.
        r.u32("AMF0 ECMA array count");
        this.#enter(depth + 1, "ECMA array", at);
        const obj = ecmaArray({});
        this.#refs.push(obj);
        this.#properties(obj, depth + 1);
        return obj;
      }
      case 0x09:
        throw new RtmpError(
          "MALFORMED",
          `AMF0: object-end marker 0x09 at offset ${at} outside an object`,
        );
      case 0x0a: {
        const n = r.u32("AMF0 strict array count");
        this.#enter(depth + 1, "strict array", at);
        // Every element takes at least one byte, so a count beyond the bytes left is a lie;
        // checked before any work so a hostile count costs nothing.
        if (n > r.remaining) {
          throw new RtmpError(
            "MALFORMED",
            `AMF0 strict array at offset ${at}: count ${n} but only ${r.remaining} byte(s) left`,
          );
        }
        const arr: AmfValue[] = [];
        this.#refs.push(arr);
        for (let i = 0; i < n; i++) arr.push(this.#value(depth + 1));
        return arr;
      }
      case 0x0b: {
        const ms = r.f64("AMF0 date");
        r.i16("AMF0 date time zone"); // AMF0 §2.13: reserved, not to be used.
        return new Date(ms);
      }
      case 0x0c:
        return r.utf8(r.u32("AMF0 long string length"), "AMF0 long string");
      case 0x0f:
        return new AmfXmlDocument(r.utf8(r.u32("AMF0 XML document length"), "AMF0 XML document"));
      case 0x10: {
        const className = r.utf8(r.u16("AMF0 class name length"), "AMF0 class name");
        this.#enter(depth + 1, "typed object", at);
        const obj = new AmfTypedObject(className, {});
        this.#refs.push(obj);
        this.#properties(obj.properties, depth + 1);
        return obj;
      }
      case 0x11:
        // AMF0 §3.1 / AMF3 §4.1: one AMF3 value, with fresh AMF3 reference tables.
        return new Amf3Decoder(r, { maxDepth: this.#maxDepth }, depth).readValue();
      case 0x04:
      case 0x0d:
      case 0x0e:
        throw new RtmpError(
          "UNSUPPORTED",
          `AMF0: ${
            marker === 0x04 ? "movieclip" : marker === 0x0d ? "unsupported" : "recordset"
          } marker 0x${
            marker.toString(16).padStart(2, "0")
          } at offset ${at} has no decodable value`,
        );
      default:
        throw new RtmpError(
          "MALFORMED",
          `AMF0: unknown type marker 0x${marker.toString(16).padStart(2, "0")} at offset ${at}`,
        );
    }
  }

  /**
   * Reads an anonymous object (0x03) or ECMA array (0x08) and reports where each top-level
   * property's value lies, for tools that patch values in place (an FLV recorder fixing
   * `duration` in `onMetaData`). Values are decoded as {@linkcode Amf0Decoder.readValue} does.
   *
   * Unlike `readValue`, input that ends at a property boundary without the end marker is
   * accepted (`terminated: false`): some FLV writers end `onMetaData` that way.
   *
   * @example
   * ```ts
   * import { ByteReader } from "./bytes.ts";
   * import { Amf0Decoder, encodeAmf0 } from "./amf0.ts";
   * const bytes = encodeAmf0([{ duration: 0 }]);
   * const layout = new Amf0Decoder(new ByteReader(bytes)).readObjectLayout();
   * console.log(layout.properties[0].name, bytes[layout.properties[0].valueAt]); // duration 0
   * ```
   * @returns The layout and the decoded object.
   * @throws {RtmpError} `MALFORMED` when the value is not an object or ECMA array, or as
   * `readValue` does.
   */
  readObjectLayout(): Amf0ObjectLayout {
    const r = this.#r;
    const at = r.offset;
    const marker = r.u8("AMF0 type marker");
    if (marker !== 0x03 && marker !== 0x08) {
      throw new RtmpError(
        "MALFORMED",
        `AMF0 at offset ${at}: expected an object (0x03) or ECMA array (0x08), got 0x${
          marker.toString(16).padStart(2, "0")
        }`,
      );
    }
    if (marker === 0x08) r.u32("AMF0 ECMA array count");
    this.#enter(1, marker === 0x08 ? "ECMA array" : "object", at);
    const value = marker === 0x08 ? ecmaArray({}) : {};
    this.#refs.push(value);
    const propertiesAt = r.offset;
    const properties: Amf0PropertyLayout[] = [];
    for (;;) {
      const end = r.offset;
      if (r.remaining === 0) {
        return {
          marker,
          at,
          propertiesAt,
          propertiesEnd: end,
          end,
          terminated: false,
          properties,
          value,
        };
      }
      const name = this.#key();
      if (name === null) {
        return {
          marker,
          at,
          propertiesAt,
          propertiesEnd: end,
          end: r.offset,
          terminated: true,
          properties,
          value,
        };
      }
      const valueAt = r.offset;
      setAmfProperty(value, name, this.#value(1));
      properties.push({ name, valueAt, valueEnd: r.offset });
    }
  }

  /** Reads a property name, or `null` after consuming the object-end marker. */
  #key(): string | null {
    const r = this.#r;
    const key = r.utf8(r.u16("AMF0 property name length"), "AMF0 property name");
    if (key === "") {
      // AMF0 §2.11: an empty name followed by 0x09 ends the object. An empty name followed
      // by a value is a property called "" (0x09 is never a value marker, so no ambiguity).
      r.need(1, "AMF0 object end or value marker");
      if (r.bytes[r.offset] === 0x09) {
        r.offset++;
        return null;
      }
    }
    return key;
  }

  #properties(obj: AmfObject, depth: number): void {
    for (let key = this.#key(); key !== null; key = this.#key()) {
      setAmfProperty(obj, key, this.#value(depth));
    }
  }
}

/**
 * Where one top-level property of an object lies (see {@linkcode Amf0Decoder.readObjectLayout}).
 *
 * @example
 * ```ts
 * import type { Amf0PropertyLayout } from "./amf0.ts";
 * const p: Amf0PropertyLayout = { name: "duration", valueAt: 14, valueEnd: 23 };
 * ```
 */
export interface Amf0PropertyLayout {
  /** Property name. */
  name: string;
  /** Offset of the value's type marker. */
  valueAt: number;
  /** Offset just past the value. */
  valueEnd: number;
}

/**
 * The layout of an AMF0 object or ECMA array, as offsets into the reader's bytes (see
 * {@linkcode Amf0Decoder.readObjectLayout}).
 *
 * @example
 * ```ts
 * import type { Amf0ObjectLayout } from "./amf0.ts";
 * function count(l: Amf0ObjectLayout): number { return l.properties.length; }
 * ```
 */
export interface Amf0ObjectLayout {
  /** 0x03 (object) or 0x08 (ECMA array). */
  marker: number;
  /** Offset of the marker. */
  at: number;
  /** Offset of the first property (after the marker and, for ECMA arrays, the UI32 count). */
  propertiesAt: number;
  /** Offset just past the last property (where the end marker starts, if any). */
  propertiesEnd: number;
  /** Offset just past the end marker, or `propertiesEnd` when the input ended without one. */
  end: number;
  /** Whether the 00 00 09 end marker was there. */
  terminated: boolean;
  /** Top-level properties in wire order. */
  properties: Amf0PropertyLayout[];
  /** The decoded object (marked as an ECMA array for 0x08). */
  value: AmfObject;
}

/**
 * Whether `value` is an AMF complex value (object, array and the like) rather than a scalar —
 * the values an AMF3 command message switches to AMF3 with `0x11`.
 *
 * @example
 * ```ts
 * import { isAmfComplex } from "./amf0.ts";
 * console.log(isAmfComplex({}), isAmfComplex("x"), isAmfComplex(null)); // true false false
 * ```
 * @param value Any value.
 * @returns `true` for non-null objects other than `Date`.
 */
export function isAmfComplex(value: AmfValue): boolean {
  return typeof value === "object" && value !== null && !(value instanceof Date);
}

/**
 * Writes AMF0 values into a {@linkcode ByteWriter}.
 *
 * @example
 * ```ts
 * import { Amf0Encoder } from "./amf0.ts";
 * console.log(new Amf0Encoder().writeValue(null).writeValue(true).finish()); // [5, 1, 1]
 * ```
 */
export class Amf0Encoder {
  #w: ByteWriter;
  #refs = new Map<object, number>();
  #refCount = 0;

  /**
   * Creates an encoder.
   * @param writer Destination (a new one by default).
   */
  constructor(writer: ByteWriter = new ByteWriter()) {
    this.#w = writer;
  }

  /**
   * Appends one value in AMF0 (AMF3-only values go behind an `0x11` switch).
   * @param value Any {@linkcode AmfValue}.
   * @returns This encoder.
   */
  writeValue(value: AmfValue): this {
    this.#value(value, 0);
    return this;
  }

  /**
   * Appends `0x11` and `value` in AMF3 with fresh AMF3 reference tables (AMF0 §3.1), as AMF3
   * command and data messages carry complex values.
   * @param value Any {@linkcode AmfValue}.
   * @returns This encoder.
   */
  writeAmf3Value(value: AmfValue): this {
    this.#w.u8(0x11);
    new Amf3Encoder(this.#w).writeValue(value);
    return this;
  }

  /**
   * The bytes written so far (a view, valid until the next write).
   * @returns The encoded values.
   */
  finish(): Uint8Array {
    return this.#w.finish();
  }

  #utf8(s: string, what: string): void {
    if (this.#w.ascii16(s)) return;
    const bytes = utf8Encode(s);
    if (bytes.length > 0xffff) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `AMF0 ${what}: ${bytes.length} UTF-8 bytes, the format allows at most 65535`,
      );
    }
    this.#w.u16(bytes.length).bytes(bytes);
  }

  #longUtf8(s: string, what: string): void {
    const bytes = utf8Encode(s);
    if (bytes.length > 0xffffffff) {
      throw new RtmpError("INVALID_ARGUMENT", `AMF0 ${what}: longer than 4 GiB`);
    }
    this.#w.u32(bytes.length).bytes(bytes);
  }

  /** Writes a reference for a repeated instance; otherwise registers it and returns false. */
  #ref(v: object): boolean {
    const i = this.#refs.get(v);
    if (i !== undefined) {
      this.#w.u8(0x07).u16(i);
      return true;
    }
    // AMF0 §2.9: indices are U16, so later instances can only be written inline.
    if (this.#refCount <= 0xffff) this.#refs.set(v, this.#refCount);
    this.#refCount++;
    return false;
  }

  #value(v: AmfValue, depth: number): void {
    const w = this.#w;
    switch (typeof v) {
      case "number":
        w.u8(0x00).f64(v);
        return;
      case "boolean":
        w.u8(0x01).u8(v ? 1 : 0);
        return;
      case "string": {
        // AMF0 §2.4: marker 0x02, then length and bytes (ASCII without a separate encode).
        if (w.ascii16(v, 0x02)) return;
        const bytes = utf8Encode(v);
        // AMF0 §2.14: a long string only when the UTF-8 form exceeds 65535 bytes.
        if (bytes.length <= 0xffff) w.u8(0x02).u16(bytes.length).bytes(bytes);
        else if (bytes.length <= 0xffffffff) w.u8(0x0c).u32(bytes.length).bytes(bytes);
        else throw new RtmpError("INVALID_ARGUMENT", "AMF0 string: longer than 4 GiB");
        return;
      }
      case "undefined":
        w.u8(0x06);
        return;
      case "object":
        break;
      default:
        throw new RtmpError("INVALID_ARGUMENT", `AMF0: cannot encode a ${typeof v}`);
    }
    if (v === null) {
      w.u8(0x05);
      return;
    }
    if (v instanceof Date) {
      // AMF0 §2.13: the time zone is reserved and written as 0.
      w.u8(0x0b).f64(v.getTime()).i16(0);
      return;
    }
    if (v instanceof AmfXmlDocument) {
      w.u8(0x0f);
      this.#longUtf8(v.xml, "XML document");
      return;
    }
    if (
      v instanceof Uint8Array || v instanceof AmfVector || v instanceof AmfDictionary ||
      v instanceof AmfArray3 || v instanceof AmfXml
    ) {
      this.writeAmf3Value(v);
      return;
    }
    if (depth >= MAX_ENCODE_DEPTH) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `AMF0: value nests deeper than ${MAX_ENCODE_DEPTH} levels`,
      );
    }
    if (Array.isArray(v)) {
      if (this.#ref(v)) return;
      w.u8(0x0a).u32(v.length);
      for (let i = 0; i < v.length; i++) this.#value(v[i], depth + 1);
      return;
    }
    if (v instanceof AmfTypedObject) {
      if (this.#ref(v)) return;
      w.u8(0x10);
      this.#utf8(v.className, "class name");
      this.#properties(v.properties, depth);
      return;
    }
    if (isUnencodableObject(v)) {
      throw new RtmpError("INVALID_ARGUMENT", `AMF0: cannot encode a ${describeValue(v)}`);
    }
    if (this.#ref(v)) return;
    const obj = v as AmfObject;
    if (isEcmaArray(obj)) w.u8(0x08).u32(Object.keys(obj).length);
    else w.u8(0x03);
    this.#properties(obj, depth);
  }

  #properties(obj: AmfObject, depth: number): void {
    for (const key of Object.keys(obj)) {
      this.#utf8(key, "property name");
      this.#value(obj[key], depth + 1);
    }
    this.#w.u16(0).u8(0x09);
  }
}

/**
 * Encodes values as one AMF0 sequence.
 *
 * @example
 * ```ts
 * import { encodeAmf0 } from "./amf0.ts";
 * console.log(encodeAmf0(["hi", null])); // Uint8Array [2, 0, 2, 104, 105, 5]
 * ```
 * @param values Values to write in order.
 * @returns The encoded bytes.
 * @throws {RtmpError} `INVALID_ARGUMENT` for values with no AMF form or names over 65535 bytes.
 */
export function encodeAmf0(values: readonly AmfValue[]): Uint8Array {
  const e = new Amf0Encoder();
  for (const v of values) e.writeValue(v);
  return e.finish();
}

/**
 * Decodes every AMF0 value in `bytes`. An `0x11` marker reads one AMF3 value.
 *
 * @example
 * ```ts
 * import { decodeAmf0 } from "./amf0.ts";
 * console.log(decodeAmf0(new Uint8Array([2, 0, 2, 104, 105, 5]))); // ["hi", null]
 * ```
 * @param bytes AMF0 data.
 * @param options Nesting bound.
 * @returns The values in order.
 * @throws {RtmpError} `MALFORMED` for broken input, `LIMIT_EXCEEDED` for too-deep nesting,
 * `UNSUPPORTED` for reserved markers and externalizable AMF3 objects.
 */
export function decodeAmf0(bytes: Uint8Array, options?: AmfDecodeOptions): AmfValue[] {
  const r = new ByteReader(bytes);
  const d = new Amf0Decoder(r, options);
  const out: AmfValue[] = [];
  while (r.remaining > 0) out.push(d.readValue());
  return out;
}
