import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Amf3Decoder, Amf3Encoder, decodeAmf3, encodeAmf3 } from "../protocol/amf3.ts";
import {
  AmfArray3,
  AmfDictionary,
  type AmfObject,
  AmfTypedObject,
  type AmfValue,
  AmfVector,
  AmfXml,
  AmfXmlDocument,
  ecmaArray,
} from "../protocol/amf.ts";
import { ByteReader } from "../protocol/bytes.ts";
import { bytes, f64, throwsCode } from "./support/util.ts";
import { vr } from "./support/amf_layout.ts";

// Hand-written AMF3 layout (AMF3 §1.3, §3), independent of the encoder under test.
describe("AMF3 U29 and integers (AMF3 §1.3.1, §3.6)", () => {
  const cases: [number, number[]][] = [
    [0, [0x00]],
    [0x7f, [0x7f]],
    [0x80, [0x81, 0x00]],
    [0x3fff, [0xff, 0x7f]],
    [0x4000, [0x81, 0x80, 0x00]],
    [0x1fffff, [0xff, 0xff, 0x7f]],
    [0x200000, [0x80, 0xc0, 0x80, 0x00]],
    [0xfffffff, [0xbf, 0xff, 0xff, 0xff]],
    [-1, [0xff, 0xff, 0xff, 0xff]],
    [-0x10000000, [0xc0, 0x80, 0x80, 0x00]],
  ];
  for (const [n, u29] of cases) {
    it(`integer ${n} ↔ 04 ${u29.map((b) => b.toString(16).padStart(2, "0")).join(" ")}`, () => {
      assert.deepEqual(encodeAmf3([n]), bytes(0x04, u29));
      assert.deepStrictEqual(decodeAmf3(bytes(0x04, u29)), [n]);
    });
  }

  it("writes numbers outside −2^28..2^28−1, fractions and −0 as doubles", () => {
    for (const n of [0x10000000, -0x10000001, 1.5, -0, NaN, Infinity, 2 ** 53]) {
      assert.deepEqual(encodeAmf3([n]), bytes(0x05, f64(n)));
      assert.deepStrictEqual(decodeAmf3(bytes(0x05, f64(n))), [n]);
    }
  });

  it("reads a 4-byte U29 whose last byte has the top bit set", () => {
    // 0x80 0x80 0x80 0xFF = 0xFF: the fourth byte carries all 8 bits.
    assert.deepStrictEqual(decodeAmf3(bytes(0x04, 0x80, 0x80, 0x80, 0xff)), [0xff]);
  });
});

describe("AMF3 markers", () => {
  const cases: [string, AmfValue, Uint8Array][] = [
    ["undefined 0x00", undefined, bytes(0x00)],
    ["null 0x01", null, bytes(0x01)],
    ["false 0x02", false, bytes(0x02)],
    ["true 0x03", true, bytes(0x03)],
    ["string 0x06", "hello", bytes(0x06, vr("hello"))],
    ["empty string", "", bytes(0x06, 0x01)],
    ["XMLDocument 0x07", new AmfXmlDocument("<a/>"), bytes(0x07, vr("<a/>"))],
    ["date 0x08", new Date(1700000000123), bytes(0x08, 0x01, f64(1700000000123))],
    ["dense array 0x09", [1, "a"], bytes(0x09, 0x05, 0x01, 0x04, 0x01, 0x06, vr("a"))],
    [
      "array with named keys",
      new AmfArray3([1], { k: 2 }),
      bytes(0x09, 0x03, vr("k"), 0x04, 0x02, 0x01, 0x04, 0x01),
    ],
    [
      "anonymous object 0x0A",
      { a: 1, b: true },
      bytes(0x0a, 0x0b, 0x01, vr("a"), 0x04, 0x01, vr("b"), 0x03, 0x01),
    ],
    [
      "typed object with sealed members",
      new AmfTypedObject("P", { x: 1, y: 2 }),
      bytes(0x0a, 0x23, vr("P"), vr("x"), vr("y"), 0x04, 0x01, 0x04, 0x02),
    ],
    ["XML 0x0B", new AmfXml("<b/>"), bytes(0x0b, vr("<b/>"))],
    ["ByteArray 0x0C", new Uint8Array([1, 2, 255]), bytes(0x0c, 0x07, 1, 2, 255)],
    [
      "Vector.<int> 0x0D",
      new AmfVector("int", [-1, 1]),
      bytes(0x0d, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1),
    ],
    [
      "Vector.<uint> 0x0E (fixed)",
      new AmfVector("uint", [0xffffffff], { fixed: true }),
      bytes(0x0e, 0x03, 0x01, 0xff, 0xff, 0xff, 0xff),
    ],
    ["Vector.<Number> 0x0F", new AmfVector("double", [0.25]), bytes(0x0f, 0x03, 0x00, f64(0.25))],
    [
      "Vector.<Object> 0x10",
      new AmfVector("object", [1, null], { typeName: "*" }),
      bytes(0x10, 0x05, 0x00, vr("*"), 0x04, 0x01, 0x01),
    ],
    [
      "Dictionary 0x11",
      new AmfDictionary([["k", 1], [2, "v"]], true),
      bytes(0x11, 0x05, 0x01, 0x06, vr("k"), 0x04, 0x01, 0x04, 0x02, 0x06, vr("v")),
    ],
  ];
  for (const [name, value, wire] of cases) {
    it(`encodes and decodes ${name}`, () => {
      assert.deepEqual(encodeAmf3([value]), wire);
      assert.deepStrictEqual(decodeAmf3(wire), [value]);
    });
  }

  it("decodes a dynamic typed object with sealed and dynamic members", () => {
    // traits: 1 sealed member, dynamic (0b1_1011 = 0x1B), class "P", sealed "x"; then x = 1,
    // dynamic z = 2, end.
    const wire = bytes(0x0a, 0x1b, vr("P"), vr("x"), 0x04, 0x01, vr("z"), 0x04, 0x02, 0x01);
    assert.deepStrictEqual(decodeAmf3(wire), [new AmfTypedObject("P", { x: 1, z: 2 })]);
  });

  it("decodes a sealed anonymous object (empty class name) as a plain object", () => {
    const wire = bytes(0x0a, 0x13, 0x01, vr("a"), 0x04, 0x05);
    assert.deepStrictEqual(decodeAmf3(wire), [{ a: 5 }]);
  });

  it("writes an anonymous object with an empty key as sealed members so it round-trips", () => {
    const v = { "": 1, b: 2 };
    const enc = encodeAmf3([v]);
    assert.deepEqual(enc, bytes(0x0a, 0x23, 0x01, 0x01, vr("b"), 0x04, 0x01, 0x04, 0x02));
    assert.deepStrictEqual(decodeAmf3(enc), [v]);
  });

  it("writes an ECMA-marked object as a plain anonymous object", () => {
    assert.deepEqual(encodeAmf3([ecmaArray({ a: 1 })]), encodeAmf3([{ a: 1 }]));
  });

  it("keeps a __proto__ key as data", () => {
    const wire = bytes(0x0a, 0x0b, 0x01, vr("__proto__"), 0x04, 0x01, 0x01);
    const [v] = decodeAmf3(wire) as [AmfObject];
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ["__proto__"]);
    assert.deepEqual(encodeAmf3([v]), wire);
  });
});

describe("AMF3 reference tables (AMF3 §2.2)", () => {
  it("sends repeated strings by reference but never the empty string", () => {
    assert.deepEqual(
      encodeAmf3(["ab", "ab", "", "", "cd", "ab", "cd"]),
      bytes(
        0x06,
        vr("ab"),
        0x06,
        0x00,
        0x06,
        0x01,
        0x06,
        0x01,
        0x06,
        vr("cd"),
        0x06,
        0x00,
        0x06,
        0x02,
      ),
    );
    assert.deepStrictEqual(
      decodeAmf3(bytes(0x06, vr("ab"), 0x06, vr("cd"), 0x06, 0x02, 0x06, 0x00)),
      ["ab", "cd", "cd", "ab"],
    );
  });

  it("shares the string table between values, keys and class names", () => {
    const enc = encodeAmf3(["a", { a: "a" }]);
    // "a" literal, then object: traits 0x0B, class "", key "a" → ref 0, value "a" → ref 0.
    assert.deepEqual(enc, bytes(0x06, vr("a"), 0x0a, 0x0b, 0x01, 0x00, 0x06, 0x00, 0x01));
  });

  it("sends traits by reference for the second object of a class", () => {
    const enc = encodeAmf3([{ a: 1 }, { b: 2 }]);
    assert.deepEqual(
      enc,
      bytes(0x0a, 0x0b, 0x01, vr("a"), 0x04, 0x01, 0x01, 0x0a, 0x01, vr("b"), 0x04, 0x02, 0x01),
    );
    const p = encodeAmf3([new AmfTypedObject("P", { x: 1 }), new AmfTypedObject("P", { x: 2 })]);
    assert.deepEqual(p, bytes(0x0a, 0x13, vr("P"), vr("x"), 0x04, 0x01, 0x0a, 0x01, 0x04, 0x02));
    assert.deepStrictEqual(decodeAmf3(p), [
      new AmfTypedObject("P", { x: 1 }),
      new AmfTypedObject("P", { x: 2 }),
    ]);
  });

  it("sends repeated complex instances by reference and decodes them shared", () => {
    const d = new Date(0);
    const b = new Uint8Array([9]);
    const o = { z: 1 };
    const enc = encodeAmf3([d, b, o, d, b, o]);
    // object table: 0 date, 1 bytearray, 2 object.
    assert.deepEqual(
      enc.subarray(enc.length - 6),
      bytes(0x08, 0x00, 0x0c, 0x02, 0x0a, 0x04),
    );
    const out = decodeAmf3(enc);
    assert.equal(out[3], out[0]);
    assert.equal(out[4], out[1]);
    assert.equal(out[5], out[2]);
  });

  it("encodes and decodes cycles through objects and arrays", () => {
    const o: AmfObject = { a: 1 };
    const arr: AmfValue[] = [o];
    o.arr = arr;
    o.self = o;
    const enc = encodeAmf3([o]);
    assert.deepEqual(
      enc,
      bytes(
        0x0a,
        0x0b,
        0x01,
        vr("a"),
        0x04,
        0x01,
        vr("arr"),
        0x09,
        0x03,
        0x01,
        0x0a,
        0x00,
        vr("self"),
        0x0a,
        0x00,
        0x01,
      ),
    );
    const [back] = decodeAmf3(enc) as [AmfObject];
    assert.equal(back.self, back);
    assert.equal((back.arr as AmfValue[])[0], back);
  });

  it("lets an associative array refer to itself", () => {
    // Array (object index 0) with named key "me" → reference 0, empty dense part.
    const wire = bytes(0x09, 0x01, vr("me"), 0x09, 0x00, 0x01);
    const [a] = decodeAmf3(wire) as [AmfArray3];
    assert.ok(a instanceof AmfArray3);
    assert.equal(a.associative.me, a);
  });

  it("rejects references past the tables and references of the wrong kind", () => {
    throwsCode(() => decodeAmf3(bytes(0x06, 0x00)), "MALFORMED", /string reference 0/);
    throwsCode(() => decodeAmf3(bytes(0x0a, 0x00)), "MALFORMED", /object reference 0/);
    throwsCode(() => decodeAmf3(bytes(0x0a, 0x05)), "MALFORMED", /traits reference 1/);
    throwsCode(
      () => decodeAmf3(bytes(0x0c, 0x03, 0x01, 0x08, 0x00)),
      "MALFORMED",
      /Date: object reference 0 points at a Uint8Array/,
    );
    throwsCode(() => decodeAmf3(bytes(0x0f, 0x01, 0x00, 0x0d, 0x00)), "MALFORMED", /points at/);
  });
});

describe("AMF3 malformed and hostile input", () => {
  it("names unknown markers and their offset", () => {
    throwsCode(() => decodeAmf3(bytes(0x01, 0x12)), "MALFORMED", /0x12 at offset 1/);
  });

  it("rejects externalizable objects as UNSUPPORTED", () => {
    throwsCode(
      () =>
        decodeAmf3(bytes(0x0a, 0x07, vr("flex.messaging.io.ArrayCollection"), 0x09, 0x01, 0x01)),
      "UNSUPPORTED",
      /externalizable class "flex\.messaging\.io\.ArrayCollection"/,
    );
  });

  it("rejects counts larger than the remaining bytes could hold, before allocating", () => {
    const big = [0xbf, 0xff, 0xff, 0xff]; // U29 0x0FFFFFFF → count 2^27−1 with the flag bit
    throwsCode(() => decodeAmf3(bytes(0x09, big, 0x01, 0x01)), "MALFORMED", /count/);
    throwsCode(() => decodeAmf3(bytes(0x0d, big, 0x00, 0, 0, 0, 0)), "MALFORMED", /count/);
    throwsCode(() => decodeAmf3(bytes(0x0f, 0x05, 0x00, f64(1))), "MALFORMED", /count 2/);
    throwsCode(() => decodeAmf3(bytes(0x10, big, 0x00, 0x01, 0x01)), "MALFORMED", /count/);
    throwsCode(() => decodeAmf3(bytes(0x11, 0x03, 0x00, 0x01)), "MALFORMED", /count 1/);
    throwsCode(() => decodeAmf3(bytes(0x0a, 0xff, 0xff, 0xff, 0x73, 0x01)), "MALFORMED");
    throwsCode(() => decodeAmf3(bytes(0x06, big)), "MALFORMED");
    throwsCode(() => decodeAmf3(bytes(0x0c, big)), "MALFORMED");
  });

  it("rejects every truncation of a valid encoding", () => {
    const v: AmfValue = {
      s: "text",
      n: 1.5,
      i: 300,
      d: new Date(5),
      a: [1, new AmfArray3([], { k: 1 })],
      t: new AmfTypedObject("T", { q: null }),
      b: new Uint8Array([1]),
      v: new AmfVector("object", [new AmfVector("uint", [1])]),
      m: new AmfDictionary([[1, 2]]),
      x: new AmfXml("<x/>"),
    };
    const w = encodeAmf3([v]);
    assert.deepStrictEqual(decodeAmf3(w), [v]);
    for (let n = 1; n < w.length; n++) throwsCode(() => decodeAmf3(w.subarray(0, n)), "MALFORMED");
  });

  it("enforces the nesting limit with LIMIT_EXCEEDED", () => {
    let v: AmfValue = 1;
    for (let i = 0; i < 65; i++) v = i % 2 ? [v] : { k: v };
    throwsCode(() => decodeAmf3(encodeAmf3([v])), "LIMIT_EXCEEDED", /maxDepth 64/);
    assert.equal(decodeAmf3(encodeAmf3([v]), { maxDepth: 65 }).length, 1);
    const dict = new AmfDictionary([[new AmfVector("object", [[]]), 1]]);
    throwsCode(() => decodeAmf3(encodeAmf3([dict]), { maxDepth: 2 }), "LIMIT_EXCEEDED");
    assert.equal(decodeAmf3(encodeAmf3([dict]), { maxDepth: 3 }).length, 1);
  });
});

describe("AMF3 encoder arguments", () => {
  it("rejects vector items that do not fit the vector kind", () => {
    throwsCode(() => encodeAmf3([new AmfVector("int", [2 ** 31])]), "INVALID_ARGUMENT", /int32/);
    throwsCode(() => encodeAmf3([new AmfVector("int", [0.5])]), "INVALID_ARGUMENT");
    throwsCode(() => encodeAmf3([new AmfVector("uint", [-1])]), "INVALID_ARGUMENT", /uint32/);
    throwsCode(() => encodeAmf3([new AmfVector("double", ["x"])]), "INVALID_ARGUMENT");
  });

  it("rejects an empty associative key", () => {
    throwsCode(() => encodeAmf3([new AmfArray3([], { "": 1 })]), "INVALID_ARGUMENT", /empty/);
  });

  it("rejects values with no AMF form", () => {
    for (const v of [() => 1, Symbol("s"), 10n, new Map(), new Float32Array(1)] as unknown[]) {
      throwsCode(() => encodeAmf3([v as AmfValue]), "INVALID_ARGUMENT");
    }
  });

  it("rejects absurdly deep values instead of overflowing the stack", () => {
    let v: AmfValue = 1;
    for (let i = 0; i < 5000; i++) v = [v];
    throwsCode(() => encodeAmf3([v]), "INVALID_ARGUMENT", /deeper/);
  });
});

describe("Amf3Decoder / Amf3Encoder", () => {
  it("keep reference tables across values of one instance", () => {
    const e = new Amf3Encoder();
    e.writeValue("x").writeValue("x");
    assert.deepEqual(e.finish(), bytes(0x06, vr("x"), 0x06, 0x00));
    const r = new ByteReader(e.finish());
    const d = new Amf3Decoder(r);
    assert.equal(d.readValue(), "x");
    assert.equal(d.readValue(), "x");
    assert.equal(r.remaining, 0);
  });
});
