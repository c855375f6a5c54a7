/**
 * The value model shared by the AMF0 and AMF3 codecs: which JavaScript values stand for which
 * ActionScript types, plus the few classes for types JavaScript has no native value for.
 *
 * Mapping (decode side; the encoders accept the same shapes):
 *
 * | ActionScript / AMF            | JavaScript                                   |
 * |-------------------------------|----------------------------------------------|
 * | Number, AMF3 integer / double | `number`                                     |
 * | Boolean                       | `boolean`                                    |
 * | String, AMF0 long string      | `string`                                     |
 * | null / undefined              | `null` / `undefined`                         |
 * | Date                          | `Date` (AMF0 time zone ignored)              |
 * | anonymous Object              | plain object ({@linkcode AmfObject})         |
 * | AMF0 ECMA array               | plain object marked with {@linkcode ECMA_ARRAY} |
 * | strict / dense Array          | `AmfValue[]`                                 |
 * | AMF3 Array with named keys    | {@linkcode AmfArray3}                        |
 * | typed Object (class alias)    | {@linkcode AmfTypedObject}                   |
 * | XMLDocument (AMF0 0x0F, AMF3 0x07) | {@linkcode AmfXmlDocument}              |
 * | E4X XML (AMF3 0x0B)           | {@linkcode AmfXml}                           |
 * | ByteArray (AMF3)              | `Uint8Array`                                 |
 * | Vector.<int/uint/Number/T>    | {@linkcode AmfVector}                        |
 * | Dictionary (AMF3)             | {@linkcode AmfDictionary}                    |
 *
 * @module
 */

/**
 * Any value the AMF0 and AMF3 codecs read or write.
 *
 * @example
 * ```ts
 * import type { AmfValue } from "./amf.ts";
 * const v: AmfValue = ["connect", 1, { app: "live" }];
 * ```
 */
export type AmfValue =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | AmfValue[]
  | AmfObject
  | AmfTypedObject
  | AmfXmlDocument
  | AmfXml
  | Uint8Array
  | AmfVector
  | AmfDictionary
  | AmfArray3;

/**
 * An anonymous ActionScript object: string keys to values.
 *
 * @example
 * ```ts
 * import type { AmfObject } from "./amf.ts";
 * const o: AmfObject = { level: "status", code: "NetStream.Publish.Start" };
 * ```
 */
export interface AmfObject {
  /** Property values by name. */
  [key: string]: AmfValue;
}

/**
 * Marks a plain object as an AMF0 ECMA array (marker 0x08). The AMF0 decoder sets it
 * (non-enumerable, so it does not show in `Object.keys` or deep equality) on every ECMA array it
 * reads, and the AMF0 encoder writes marked objects as ECMA arrays, so `onMetaData` survives a
 * decode/encode round trip byte for byte.
 *
 * @example
 * ```ts
 * import { ECMA_ARRAY, isEcmaArray } from "./amf.ts";
 * const meta = Object.defineProperty({ duration: 0 }, ECMA_ARRAY, { value: true });
 * console.log(isEcmaArray(meta)); // true
 * ```
 */
export const ECMA_ARRAY: unique symbol = Symbol("amf0.ecmaArray");

/**
 * Marks `obj` as an AMF0 ECMA array (see {@linkcode ECMA_ARRAY}) and returns it.
 *
 * @example
 * ```ts
 * import { ecmaArray } from "./amf.ts";
 * import { encodeAmf0 } from "./amf0.ts";
 * console.log(encodeAmf0([ecmaArray({ width: 1280 })])[0]); // 8
 * ```
 * @param obj The object to mark (modified in place).
 * @returns The same object.
 */
export function ecmaArray(obj: AmfObject): AmfObject {
  Object.defineProperty(obj, ECMA_ARRAY, {
    value: true,
    enumerable: false,
    configurable: true,
    writable: true,
  });
  return obj;
}

/**
 * Whether `obj` carries the {@linkcode ECMA_ARRAY} marker.
 *
 * @example
 * ```ts
 * import { ecmaArray, isEcmaArray } from "./amf.ts";
 * console.log(isEcmaArray(ecmaArray({})), isEcmaArray({})); // true false
 * ```
 * @param obj Any object.
 * @returns `true` when it should be written as an AMF0 ECMA array.
 */
export function isEcmaArray(obj: object): boolean {
  return (obj as Record<symbol, unknown>)[ECMA_ARRAY] === true;
}

/**
 * Sets `obj[key] = value` as an own data property even when `key` is `"__proto__"`, which a
 * plain assignment would treat as a prototype change — decoders use it so hostile keys stay
 * ordinary data.
 *
 * @example
 * ```ts
 * import { setAmfProperty } from "./amf.ts";
 * const o = {};
 * setAmfProperty(o, "__proto__", 1);
 * console.log(Object.keys(o)); // ["__proto__"]
 * ```
 * @param obj Target object.
 * @param key Property name.
 * @param value Property value.
 */
export function setAmfProperty(obj: AmfObject, key: string, value: AmfValue): void {
  if (key === "__proto__") {
    Object.defineProperty(obj, key, {
      value,
      enumerable: true,
      configurable: true,
      writable: true,
    });
  } else {
    obj[key] = value;
  }
}

/**
 * An object of a registered ActionScript class: AMF0 typed object (0x10) or an AMF3 object
 * whose traits carry a class name. AMF3 sealed and dynamic members both land in
 * {@linkcode AmfTypedObject.properties}; the AMF3 encoder writes them all as sealed members.
 *
 * @example
 * ```ts
 * import { AmfTypedObject } from "./amf.ts";
 * const p = new AmfTypedObject("com.example.Point", { x: 1, y: 2 });
 * console.log(p.className, p.properties.x); // com.example.Point 1
 * ```
 */
export class AmfTypedObject {
  /** The class alias, e.g. `flex.messaging.messages.RemotingMessage`. */
  className: string;
  /** The member values, in wire order. */
  properties: AmfObject;

  /**
   * Creates a typed object.
   * @param className Class alias (non-empty; an empty name means an anonymous object).
   * @param properties Member values.
   */
  constructor(className: string, properties: AmfObject) {
    this.className = className;
    this.properties = properties;
  }
}

/**
 * A legacy `flash.xml.XMLDocument`, carried as its string form (AMF0 0x0F, AMF3 0x07).
 *
 * @example
 * ```ts
 * import { AmfXmlDocument } from "./amf.ts";
 * console.log(new AmfXmlDocument("<a/>").xml); // <a/>
 * ```
 */
export class AmfXmlDocument {
  /** The document as text. */
  xml: string;

  /**
   * Wraps a document.
   * @param xml The document as text.
   */
  constructor(xml: string) {
    this.xml = xml;
  }
}

/**
 * An ActionScript 3 E4X `XML` value, carried as its string form (AMF3 0x0B).
 *
 * @example
 * ```ts
 * import { AmfXml } from "./amf.ts";
 * console.log(new AmfXml("<a/>").xml); // <a/>
 * ```
 */
export class AmfXml {
  /** The XML as text. */
  xml: string;

  /**
   * Wraps an XML value.
   * @param xml The XML as text.
   */
  constructor(xml: string) {
    this.xml = xml;
  }
}

/**
 * The element type of an {@linkcode AmfVector}: AMF3 markers 0x0D (`int`), 0x0E (`uint`),
 * 0x0F (`double`) and 0x10 (`object`).
 *
 * @example
 * ```ts
 * import type { AmfVectorKind } from "./amf.ts";
 * const k: AmfVectorKind = "double";
 * ```
 */
export type AmfVectorKind = "int" | "uint" | "double" | "object";

/**
 * Options of an {@linkcode AmfVector}.
 *
 * @example
 * ```ts
 * import type { AmfVectorOptions } from "./amf.ts";
 * const o: AmfVectorOptions = { fixed: true, typeName: "com.example.Point" };
 * ```
 */
export interface AmfVectorOptions {
  /** Fixed-length vector (default `false`). */
  fixed?: boolean;
  /** Element class name for `object` vectors (default `"*"`, the ANY type); ignored otherwise. */
  typeName?: string;
}

/**
 * An ActionScript `Vector.<T>` (AMF3 §3.15). Elements of `int` vectors are int32, of `uint`
 * vectors uint32, of `double` vectors any number; `object` vectors hold any values.
 *
 * @example
 * ```ts
 * import { AmfVector } from "./amf.ts";
 * const v = new AmfVector("int", [1, -2, 3], { fixed: true });
 * console.log(v.kind, v.items.length, v.fixed, v.typeName); // int 3 true ""
 * ```
 */
export class AmfVector {
  /** Element type. */
  kind: AmfVectorKind;
  /** Whether the vector has a fixed length. */
  fixed: boolean;
  /** Element class name for `object` vectors (`"*"` = any); `""` for the numeric kinds. */
  typeName: string;
  /** The elements. */
  items: AmfValue[];

  /**
   * Creates a vector.
   * @param kind Element type.
   * @param items Elements.
   * @param options Fixed flag and, for `object` vectors, the element class name.
   */
  constructor(kind: AmfVectorKind, items: AmfValue[], options: AmfVectorOptions = {}) {
    this.kind = kind;
    this.items = items;
    this.fixed = options.fixed ?? false;
    this.typeName = kind === "object" ? (options.typeName ?? "*") : "";
  }
}

/**
 * A `flash.utils.Dictionary` (AMF3 §3.16): keys of any type, kept as `[key, value]` pairs in
 * wire order because keys are matched by identity and need not be strings.
 *
 * @example
 * ```ts
 * import { AmfDictionary } from "./amf.ts";
 * const d = new AmfDictionary([["a", 1], [2, "b"]]);
 * console.log(d.entries.length, d.weakKeys); // 2 false
 * ```
 */
export class AmfDictionary {
  /** Whether the dictionary holds its keys weakly. */
  weakKeys: boolean;
  /** Key/value pairs in wire order. */
  entries: [AmfValue, AmfValue][];

  /**
   * Creates a dictionary.
   * @param entries Key/value pairs.
   * @param weakKeys Weak-keys flag (default `false`).
   */
  constructor(entries: [AmfValue, AmfValue][], weakKeys = false) {
    this.entries = entries;
    this.weakKeys = weakKeys;
  }
}

/**
 * An AMF3 array that has an associative (named-key) part as well as a dense part (AMF3 §3.11).
 * Arrays without named keys decode to plain `AmfValue[]` instead.
 *
 * @example
 * ```ts
 * import { AmfArray3 } from "./amf.ts";
 * const a = new AmfArray3([1, 2], { name: "x" });
 * console.log(a.dense.length, a.associative.name); // 2 x
 * ```
 */
export class AmfArray3 {
  /** Elements at ordinal indices 0..n-1. */
  dense: AmfValue[];
  /** Elements at named keys (keys must be non-empty). */
  associative: AmfObject;

  /**
   * Creates an array with named keys.
   * @param dense Elements at ordinal indices.
   * @param associative Elements at named keys.
   */
  constructor(dense: AmfValue[], associative: AmfObject) {
    this.dense = dense;
    this.associative = associative;
  }
}

/**
 * Options for the AMF decoders.
 *
 * @example
 * ```ts
 * import type { AmfDecodeOptions } from "./amf.ts";
 * const o: AmfDecodeOptions = { maxDepth: 16 };
 * ```
 */
export interface AmfDecodeOptions {
  /**
   * How many containers (objects, arrays, vectors, dictionaries) may nest inside each other
   * (default 64, at most 1000). Deeper input fails with `LIMIT_EXCEEDED`.
   */
  maxDepth?: number;
}

/**
 * The default {@linkcode AmfDecodeOptions.maxDepth}.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_DEPTH } from "./amf.ts";
 * console.log(DEFAULT_MAX_DEPTH); // 64
 * ```
 */
export const DEFAULT_MAX_DEPTH = 64;
