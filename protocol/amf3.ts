/**
 * AMF3 codec (Adobe "AMF 3 Specification", January 2013): U29 integers, the string, object and
 * traits reference tables, arrays with dense and associative parts, sealed and dynamic objects,
 * ByteArray, Vector, Dictionary, XML and XMLDocument.
 *
 * Reference tables live for one {@linkcode Amf3Decoder} / {@linkcode Amf3Encoder}: one
 * `decodeAmf3`/`encodeAmf3` call shares them across its values, and every AMF0 `0x11` switch
 * starts fresh ones (AMF3 §4.1).
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
  type AmfVectorKind,
  AmfXml,
  AmfXmlDocument,
  DEFAULT_MAX_DEPTH,
  setAmfProperty,
} from "./amf.ts";
import { ByteReader, ByteWriter, utf8Encode } from "./bytes.ts";

/** Largest U29 value (AMF3 §1.3.1). */
const U29_MAX = 0x1fffffff;
/** Largest length/count/index a U29 with one flag bit can carry (AMF3 §1.3.2, §3.11…). */
const U28_MAX = 0x0fffffff;
/** Integers in −2^28..2^28−1 use the integer type; others the double type (AMF3 §3.6). */
const INT29_MIN = -0x10000000;
const INT29_MAX = 0x0fffffff;
/** Encoder nesting bound: keeps a pathological (acyclic) tree from overflowing the stack. */
const MAX_ENCODE_DEPTH = 1000;
/** Upper bound accepted for {@linkcode AmfDecodeOptions.maxDepth}. */
const MAX_DECODE_DEPTH = 1000;

const MARKER_NAMES: Record<number, string> = {
  0x07: "XMLDocument",
  0x08: "Date",
  0x09: "Array",
  0x0a: "Object",
  0x0b: "XML",
  0x0c: "ByteArray",
  0x0d: "Vector.<int>",
  0x0e: "Vector.<uint>",
  0x0f: "Vector.<Number>",
  0x10: "Vector.<Object>",
  0x11: "Dictionary",
};

const VECTOR_KINDS: Record<number, AmfVectorKind> = {
  0x0d: "int",
  0x0e: "uint",
  0x0f: "double",
  0x10: "object",
};

interface Traits {
  className: string;
  sealed: string[];
  dynamic: boolean;
}

/**
 * Validates {@linkcode AmfDecodeOptions.maxDepth} and returns the effective bound.
 *
 * @example
 * ```ts
 * import { resolveMaxDepth } from "./amf3.ts";
 * console.log(resolveMaxDepth({})); // 64
 * ```
 * @param options Decoder options.
 * @returns The nesting bound to enforce.
 */
export function resolveMaxDepth(options: AmfDecodeOptions | undefined): number {
  const d = options?.maxDepth;
  if (d === undefined) return DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(d) || d < 0 || d > MAX_DECODE_DEPTH) {
    throw new RtmpError(
      "INVALID_ARGUMENT",
      `AMF maxDepth: expected an integer 0..${MAX_DECODE_DEPTH}, got ${String(d)}`,
    );
  }
  return d;
}

/**
 * Names a JavaScript value's kind for error messages.
 *
 * @example
 * ```ts
 * import { describeValue } from "./amf3.ts";
 * console.log(describeValue(new Map())); // Map
 * ```
 * @param v Any value.
 * @returns A short description.
 */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === "string" && name !== "" ? name : "object";
}

/**
 * Whether `v` is a JavaScript object kind that has no AMF mapping (so it must not be written
 * as an anonymous object by accident).
 *
 * @example
 * ```ts
 * import { isUnencodableObject } from "./amf3.ts";
 * console.log(isUnencodableObject(new Set()), isUnencodableObject({})); // true false
 * ```
 * @param v An object that is none of the AMF value classes.
 * @returns `true` for Map, Set, ArrayBuffer, typed arrays other than Uint8Array, and the like.
 */
export function isUnencodableObject(v: object): boolean {
  return ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Map ||
    v instanceof Set || v instanceof WeakMap || v instanceof WeakSet || v instanceof Promise ||
    v instanceof RegExp || typeof v === "function";
}

/**
 * Reads AMF3 values from a {@linkcode ByteReader}, keeping the three reference tables across
 * calls to {@linkcode Amf3Decoder.readValue}.
 *
 * @example
 * ```ts
 * import { ByteReader } from "./bytes.ts";
 * import { Amf3Decoder } from "./amf3.ts";
 * const d = new Amf3Decoder(new ByteReader(new Uint8Array([0x04, 0x7f])));
 * console.log(d.readValue()); // 127
 * ```
 */
export class Amf3Decoder {
  #r: ByteReader;
  #maxDepth: number;
  #baseDepth: number;
  #strings: string[] = [];
  #objects: AmfValue[] = [];
  #traits: Traits[] = [];

  /**
   * Creates a decoder over `reader`.
   * @param reader Source; its offset advances past each value read.
   * @param options Nesting bound.
   * @param baseDepth Containers already open around this value (when switched from AMF0).
   */
  constructor(reader: ByteReader, options?: AmfDecodeOptions, baseDepth = 0) {
    this.#r = reader;
    this.#maxDepth = resolveMaxDepth(options);
    this.#baseDepth = baseDepth;
  }

  /**
   * Reads one value.
   * @returns The value.
   */
  readValue(): AmfValue {
    return this.#value(this.#baseDepth);
  }

  #u29(what: string): number {
    const r = this.#r;
    let v = 0;
    for (let i = 0; i < 3; i++) {
      const b = r.u8(what);
      if (b < 0x80) return (v << 7) | b;
      v = (v << 7) | (b & 0x7f);
    }
    // AMF3 §1.3.1: the fourth byte contributes all 8 bits.
    return ((v << 8) | r.u8(what)) >>> 0;
  }

  #string(what: string): string {
    const h = this.#u29(what);
    if ((h & 1) === 0) {
      const i = h >>> 1;
      if (i >= this.#strings.length) {
        throw new RtmpError(
          "MALFORMED",
          `AMF3 ${what}: string reference ${i} but only ${this.#strings.length} string(s) seen`,
        );
      }
      return this.#strings[i];
    }
    const len = h >>> 1;
    if (len === 0) return ""; // AMF3 §3.8: the empty string is never sent by reference.
    const s = this.#r.utf8(len, what);
    this.#strings.push(s);
    return s;
  }

  #enter(depth: number, what: string): void {
    if (depth > this.#maxDepth) {
      throw new RtmpError(
        "LIMIT_EXCEEDED",
        `AMF3 ${what} at offset ${this.#r.offset}: nesting deeper than maxDepth ${this.#maxDepth}`,
      );
    }
  }

  /** Resolves an object-table reference, checking it points at the kind the marker names. */
  #ref(index: number, marker: number, ok: (v: AmfValue) => boolean): AmfValue {
    const name = MARKER_NAMES[marker];
    if (index >= this.#objects.length) {
      throw new RtmpError(
        "MALFORMED",
        `AMF3 ${name}: object reference ${index} but only ${this.#objects.length} object(s) seen`,
      );
    }
    const v = this.#objects[index];
    if (!ok(v)) {
      throw new RtmpError(
        "MALFORMED",
        `AMF3 ${name}: object reference ${index} points at a ${describeValue(v)}`,
      );
    }
    return v;
  }

  /** Checks a count of items, each at least `unit` bytes, fits the bytes left. */
  #count(n: number, unit: number, what: string): void {
    if (n * unit > this.#r.remaining) {
      throw new RtmpError(
        "MALFORMED",
        `AMF3 ${what}: count ${n} needs at least ${
          n * unit
        } byte(s) at offset ${this.#r.offset}, ` +
          `only ${this.#r.remaining} left`,
      );
    }
  }

  #value(depth: number): AmfValue {
    const r = this.#r;
    const at = r.offset;
    const marker = r.u8("AMF3 type marker");
    switch (marker) {
      case 0x00:
        return undefined;
      case 0x01:
        return null;
      case 0x02:
        return false;
      case 0x03:
        return true;
      case 0x04: {
        // AMF3 §3.6: a U29 holding a sign-extended 29-bit integer.
        const v = this.#u29("AMF3 integer");
        return v & 0x10000000 ? v - 0x20000000 : v;
      }
      case 0x05:
        return r.f64("AMF3 double");
      case 0x06:
        return this.#string("string");
      case 0x07:
      case 0x0b:
        return this.#xml(marker);
      case 0x08:
        return this.#date();
      case 0x09:
        return this.#array(depth + 1);
      case 0x0a:
        return this.#object(depth + 1);
      case 0x0c:
        return this.#byteArray();
      case 0x0d:
      case 0x0e:
      case 0x0f:
      case 0x10:
        return this.#vector(marker, depth + 1);
      case 0x11:
        return this.#dictionary(depth + 1);
      default:
        throw new RtmpError(
          "MALFORMED",
          `AMF3: unknown type marker 0x${marker.toString(16).padStart(2, "0")} at offset ${at}`,
        );
    }
  }

  #xml(marker: number): AmfValue {
    const what = MARKER_NAMES[marker];
    const h = this.#u29(`AMF3 ${what} header`);
    if ((h & 1) === 0) {
      return this.#ref(
        h >>> 1,
        marker,
        marker === 0x07 ? (v) => v instanceof AmfXmlDocument : (v) => v instanceof AmfXml,
      );
    }
    const text = this.#r.utf8(h >>> 1, `AMF3 ${what}`);
    const v = marker === 0x07 ? new AmfXmlDocument(text) : new AmfXml(text);
    this.#objects.push(v);
    return v;
  }

  #date(): AmfValue {
    const h = this.#u29("AMF3 Date header");
    if ((h & 1) === 0) return this.#ref(h >>> 1, 0x08, (v) => v instanceof Date);
    const v = new Date(this.#r.f64("AMF3 Date"));
    this.#objects.push(v);
    return v;
  }

  #byteArray(): AmfValue {
    const h = this.#u29("AMF3 ByteArray header");
    if ((h & 1) === 0) return this.#ref(h >>> 1, 0x0c, (v) => v instanceof Uint8Array);
    // A copy, so the value outlives a reused input buffer.
    const v = this.#r.view(h >>> 1, "AMF3 ByteArray").slice();
    this.#objects.push(v);
    return v;
  }

  #array(depth: number): AmfValue {
    const r = this.#r;
    const h = this.#u29("AMF3 Array header");
    if ((h & 1) === 0) {
      return this.#ref(h >>> 1, 0x09, (v) => Array.isArray(v) || v instanceof AmfArray3);
    }
    this.#enter(depth, "Array");
    const n = h >>> 1;
    // AMF3 §3.11: the associative part is empty exactly when the first key is the empty
    // string, always sent inline as 0x01; knowing the shape up front lets the instance enter the
    // reference table before its members, so self-references resolve.
    r.need(1, "AMF3 Array key");
    if (r.bytes[r.offset] === 0x01) {
      r.offset++;
      this.#count(n, 1, "Array dense part");
      const dense: AmfValue[] = [];
      this.#objects.push(dense);
      for (let i = 0; i < n; i++) dense.push(this.#value(depth));
      return dense;
    }
    const arr = new AmfArray3([], {});
    this.#objects.push(arr);
    for (;;) {
      const key = this.#string("Array key");
      if (key === "") break;
      setAmfProperty(arr.associative, key, this.#value(depth));
    }
    this.#count(n, 1, "Array dense part");
    for (let i = 0; i < n; i++) arr.dense.push(this.#value(depth));
    return arr;
  }

  #object(depth: number): AmfValue {
    const h = this.#u29("AMF3 Object header");
    if ((h & 1) === 0) {
      return this.#ref(
        h >>> 1,
        0x0a,
        (v) =>
          v instanceof AmfTypedObject ||
          (typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype),
      );
    }
    this.#enter(depth, "Object");
    let traits: Traits;
    if ((h & 2) === 0) {
      const i = h >>> 2;
      if (i >= this.#traits.length) {
        throw new RtmpError(
          "MALFORMED",
          `AMF3 Object: traits reference ${i} but only ${this.#traits.length} traits seen`,
        );
      }
      traits = this.#traits[i];
    } else if ((h & 4) !== 0) {
      // AMF3 §3.12 U29O-traits-ext: the body is class-specific (IExternalizable); without the
      // class's own reader its length is unknowable, so the rest cannot be parsed.
      const className = this.#string("Object class name");
      throw new RtmpError(
        "UNSUPPORTED",
        `AMF3 Object: externalizable class "${className}" cannot be decoded generically`,
      );
    } else {
      const n = h >>> 4;
      const className = this.#string("Object class name");
      this.#count(n, 1, "Object sealed member names");
      const sealed: string[] = [];
      for (let i = 0; i < n; i++) sealed.push(this.#string("Object sealed member name"));
      traits = { className, sealed, dynamic: (h & 8) !== 0 };
      this.#traits.push(traits);
    }
    const props: AmfObject = {};
    const obj: AmfValue = traits.className === ""
      ? props
      : new AmfTypedObject(traits.className, props);
    this.#objects.push(obj);
    this.#count(traits.sealed.length, 1, "Object sealed member values");
    for (const name of traits.sealed) setAmfProperty(props, name, this.#value(depth));
    if (traits.dynamic) {
      for (;;) {
        const key = this.#string("Object dynamic member name");
        if (key === "") break;
        setAmfProperty(props, key, this.#value(depth));
      }
    }
    return obj;
  }

  #vector(marker: number, depth: number): AmfValue {
    const r = this.#r;
    const what = MARKER_NAMES[marker];
    const kind = VECTOR_KINDS[marker];
    const h = this.#u29(`AMF3 ${what} header`);
    if ((h & 1) === 0) {
      return this.#ref(h >>> 1, marker, (v) => v instanceof AmfVector && v.kind === kind);
    }
    this.#enter(depth, what);
    const n = h >>> 1;
    const fixed = r.u8(`AMF3 ${what} fixed flag`) !== 0;
    const typeName = kind === "object" ? this.#string(`${what} type name`) : "";
    const vec = new AmfVector(kind, [], { fixed, typeName });
    this.#objects.push(vec);
    const items = vec.items;
    if (kind === "object") {
      this.#count(n, 1, what);
      for (let i = 0; i < n; i++) items.push(this.#value(depth));
    } else if (kind === "double") {
      this.#count(n, 8, what);
      for (let i = 0; i < n; i++) items.push(r.f64(what));
    } else {
      this.#count(n, 4, what);
      for (let i = 0; i < n; i++) items.push(kind === "int" ? r.i32(what) : r.u32(what));
    }
    return vec;
  }

  #dictionary(depth: number): AmfValue {
    const h = this.#u29("AMF3 Dictionary header");
    if ((h & 1) === 0) return this.#ref(h >>> 1, 0x11, (v) => v instanceof AmfDictionary);
    this.#enter(depth, "Dictionary");
    const n = h >>> 1;
    const weak = this.#r.u8("AMF3 Dictionary weak-keys flag") !== 0;
    this.#count(n, 2, "Dictionary");
    const dict = new AmfDictionary([], weak);
    this.#objects.push(dict);
    for (let i = 0; i < n; i++) {
      const key = this.#value(depth);
      dict.entries.push([key, this.#value(depth)]);
    }
    return dict;
  }
}

/**
 * Writes AMF3 values into a {@linkcode ByteWriter}. Strings, traits and complex instances
 * repeated within one encoder are written by reference (AMF3 §2.2), which also makes cyclic
 * object graphs terminate.
 *
 * @example
 * ```ts
 * import { Amf3Encoder } from "./amf3.ts";
 * console.log(new Amf3Encoder().writeValue(127).finish()); // Uint8Array [4, 127]
 * ```
 */
export class Amf3Encoder {
  #w: ByteWriter;
  #strings = new Map<string, number>();
  #objects = new Map<object, number>();
  #objectCount = 0;
  #traits = new Map<string, number>();

  /**
   * Creates an encoder.
   * @param writer Destination (a new one by default).
   */
  constructor(writer: ByteWriter = new ByteWriter()) {
    this.#w = writer;
  }

  /**
   * Appends one value.
   * @param value Any {@linkcode AmfValue}.
   * @returns This encoder.
   */
  writeValue(value: AmfValue): this {
    this.#value(value, 0);
    return this;
  }

  /**
   * The bytes written so far (a view, valid until the next write).
   * @returns The encoded values.
   */
  finish(): Uint8Array {
    return this.#w.finish();
  }

  #u29(v: number, what: string): void {
    const w = this.#w;
    if (!(v >= 0 && v <= U29_MAX)) {
      throw new RtmpError("INVALID_ARGUMENT", `AMF3 ${what}: ${v} does not fit a U29`);
    }
    if (v < 0x80) {
      w.u8(v);
    } else if (v < 0x4000) {
      w.u8((v >>> 7) | 0x80).u8(v & 0x7f);
    } else if (v < 0x200000) {
      w.u8((v >>> 14) | 0x80).u8(((v >>> 7) & 0x7f) | 0x80).u8(v & 0x7f);
    } else {
      w.u8((v >>> 22) | 0x80).u8(((v >>> 15) & 0x7f) | 0x80).u8(((v >>> 8) & 0x7f) | 0x80)
        .u8(v & 0xff);
    }
  }

  #length(n: number, what: string): void {
    if (n > U28_MAX) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `AMF3 ${what}: length ${n} exceeds the format's limit of ${U28_MAX}`,
      );
    }
    this.#u29(n * 2 + 1, what);
  }

  #string(s: string): void {
    // AMF3 §3.8: the empty string is always sent inline.
    if (s === "") {
      this.#w.u8(0x01);
      return;
    }
    const i = this.#strings.get(s);
    if (i !== undefined) {
      this.#u29(i * 2, "string reference");
      return;
    }
    const bytes = utf8Encode(s);
    this.#length(bytes.length, "string");
    this.#w.bytes(bytes);
    if (this.#strings.size <= U28_MAX) this.#strings.set(s, this.#strings.size);
  }

  /** Writes a reference if `v` was written before; otherwise registers it and returns false. */
  #ref(v: object): boolean {
    const i = this.#objects.get(v);
    if (i !== undefined) {
      this.#u29(i * 2, "object reference");
      return true;
    }
    if (this.#objectCount <= U28_MAX) this.#objects.set(v, this.#objectCount);
    this.#objectCount++;
    return false;
  }

  #value(v: AmfValue, depth: number): void {
    const w = this.#w;
    switch (typeof v) {
      case "undefined":
        w.u8(0x00);
        return;
      case "boolean":
        w.u8(v ? 0x03 : 0x02);
        return;
      case "number":
        if (Number.isInteger(v) && v >= INT29_MIN && v <= INT29_MAX && !Object.is(v, -0)) {
          w.u8(0x04);
          this.#u29(v & U29_MAX, "integer");
        } else {
          w.u8(0x05).f64(v);
        }
        return;
      case "string":
        w.u8(0x06);
        this.#string(v);
        return;
      case "object":
        break;
      default:
        throw new RtmpError("INVALID_ARGUMENT", `AMF3: cannot encode a ${typeof v}`);
    }
    if (v === null) {
      w.u8(0x01);
      return;
    }
    if (depth >= MAX_ENCODE_DEPTH) {
      throw new RtmpError(
        "INVALID_ARGUMENT",
        `AMF3: value nests deeper than ${MAX_ENCODE_DEPTH} levels`,
      );
    }
    if (Array.isArray(v)) {
      w.u8(0x09);
      if (this.#ref(v)) return;
      this.#length(v.length, "Array");
      w.u8(0x01);
      for (let i = 0; i < v.length; i++) this.#value(v[i], depth + 1);
    } else if (v instanceof Date) {
      w.u8(0x08);
      if (this.#ref(v)) return;
      w.u8(0x01).f64(v.getTime());
    } else if (v instanceof Uint8Array) {
      w.u8(0x0c);
      if (this.#ref(v)) return;
      this.#length(v.length, "ByteArray");
      w.bytes(v);
    } else if (v instanceof AmfXmlDocument || v instanceof AmfXml) {
      w.u8(v instanceof AmfXml ? 0x0b : 0x07);
      if (this.#ref(v)) return;
      const bytes = utf8Encode(v.xml);
      this.#length(bytes.length, "XML");
      w.bytes(bytes);
    } else if (v instanceof AmfArray3) {
      w.u8(0x09);
      if (this.#ref(v)) return;
      this.#length(v.dense.length, "Array");
      for (const key of Object.keys(v.associative)) {
        if (key === "") {
          throw new RtmpError(
            "INVALID_ARGUMENT",
            "AMF3 Array: an associative key cannot be empty (the empty string ends the list)",
          );
        }
        this.#string(key);
        this.#value(v.associative[key], depth + 1);
      }
      w.u8(0x01);
      for (let i = 0; i < v.dense.length; i++) this.#value(v.dense[i], depth + 1);
    } else if (v instanceof AmfVector) {
      this.#vector(v, depth);
    } else if (v instanceof AmfDictionary) {
      w.u8(0x11);
      if (this.#ref(v)) return;
      this.#length(v.entries.length, "Dictionary");
      w.u8(v.weakKeys ? 1 : 0);
      for (const [key, value] of v.entries) {
        this.#value(key, depth + 1);
        this.#value(value, depth + 1);
      }
    } else if (v instanceof AmfTypedObject) {
      w.u8(0x0a);
      if (this.#ref(v)) return;
      this.#object(v.className, v.properties, false, depth);
    } else if (isUnencodableObject(v)) {
      throw new RtmpError("INVALID_ARGUMENT", `AMF3: cannot encode a ${describeValue(v)}`);
    } else {
      w.u8(0x0a);
      if (this.#ref(v)) return;
      // An anonymous object is written dynamic with no sealed members, unless it has an empty
      // key: that would read as the end of the dynamic members, so then all keys go sealed.
      this.#object("", v as AmfObject, !Object.hasOwn(v, ""), depth);
    }
  }

  #object(className: string, props: AmfObject, dynamic: boolean, depth: number): void {
    const keys = Object.keys(props);
    const sealed = dynamic ? [] : keys;
    const key = (dynamic ? "d" : "s") + JSON.stringify(className) + JSON.stringify(sealed);
    const ti = this.#traits.get(key);
    if (ti !== undefined) {
      // U29O-traits-ref: low bits 01.
      this.#u29(ti * 4 + 1, "traits reference");
    } else {
      if (sealed.length > 0x1ffffff) {
        throw new RtmpError(
          "INVALID_ARGUMENT",
          `AMF3 Object: ${sealed.length} sealed members exceed the format's limit`,
        );
      }
      // U29O-traits: low bits 011, then the dynamic flag, then the sealed member count.
      this.#u29(sealed.length * 16 + (dynamic ? 0b1011 : 0b0011), "traits");
      this.#string(className);
      for (const name of sealed) this.#string(name);
      if (this.#traits.size < 0x7ffffff) this.#traits.set(key, this.#traits.size);
    }
    for (const name of sealed) this.#value(props[name], depth + 1);
    if (dynamic) {
      for (const name of keys) {
        this.#string(name);
        this.#value(props[name], depth + 1);
      }
      this.#w.u8(0x01);
    }
  }

  #vector(v: AmfVector, depth: number): void {
    const w = this.#w;
    const marker = v.kind === "int"
      ? 0x0d
      : v.kind === "uint"
      ? 0x0e
      : v.kind === "double"
      ? 0x0f
      : v.kind === "object"
      ? 0x10
      : -1;
    if (marker < 0) {
      throw new RtmpError("INVALID_ARGUMENT", `AMF3 Vector: unknown kind ${String(v.kind)}`);
    }
    w.u8(marker);
    if (this.#ref(v)) return;
    const items = v.items;
    this.#length(items.length, MARKER_NAMES[marker]);
    w.u8(v.fixed ? 1 : 0);
    if (v.kind === "object") {
      this.#string(v.typeName);
      for (let i = 0; i < items.length; i++) this.#value(items[i], depth + 1);
      return;
    }
    for (let i = 0; i < items.length; i++) {
      const x = items[i];
      if (typeof x !== "number") {
        throw new RtmpError(
          "INVALID_ARGUMENT",
          `AMF3 ${MARKER_NAMES[marker]}: item ${i} is a ${describeValue(x)}, expected a number`,
        );
      }
      if (v.kind === "double") {
        w.f64(x);
      } else if (v.kind === "int") {
        if (!Number.isInteger(x) || x < -0x80000000 || x > 0x7fffffff) {
          throw new RtmpError(
            "INVALID_ARGUMENT",
            `AMF3 Vector.<int>: item ${i} is ${x}, expected an int32`,
          );
        }
        w.i32(x);
      } else {
        if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) {
          throw new RtmpError(
            "INVALID_ARGUMENT",
            `AMF3 Vector.<uint>: item ${i} is ${x}, expected a uint32`,
          );
        }
        w.u32(x);
      }
    }
  }
}

/**
 * Encodes values as one AMF3 sequence (shared reference tables).
 *
 * @example
 * ```ts
 * import { encodeAmf3 } from "./amf3.ts";
 * console.log(encodeAmf3([true, "hi"])); // Uint8Array [3, 6, 5, 104, 105]
 * ```
 * @param values Values to write in order.
 * @returns The encoded bytes.
 * @throws {RtmpError} `INVALID_ARGUMENT` for values with no AMF3 form.
 */
export function encodeAmf3(values: readonly AmfValue[]): Uint8Array {
  const e = new Amf3Encoder();
  for (const v of values) e.writeValue(v);
  return e.finish();
}

/**
 * Decodes every AMF3 value in `bytes` (shared reference tables).
 *
 * @example
 * ```ts
 * import { decodeAmf3 } from "./amf3.ts";
 * console.log(decodeAmf3(new Uint8Array([3, 6, 5, 104, 105]))); // [true, "hi"]
 * ```
 * @param bytes AMF3 data.
 * @param options Nesting bound.
 * @returns The values in order.
 * @throws {RtmpError} `MALFORMED` for broken input, `LIMIT_EXCEEDED` for too-deep nesting,
 * `UNSUPPORTED` for externalizable objects.
 */
export function decodeAmf3(bytes: Uint8Array, options?: AmfDecodeOptions): AmfValue[] {
  const r = new ByteReader(bytes);
  const d = new Amf3Decoder(r, options);
  const out: AmfValue[] = [];
  while (r.remaining > 0) out.push(d.readValue());
  return out;
}
