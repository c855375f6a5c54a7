import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Amf0Decoder, Amf0Encoder, decodeAmf0, encodeAmf0 } from "../protocol/amf0.ts";
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
  isEcmaArray,
} from "../protocol/amf.ts";
import { ByteReader } from "../protocol/bytes.ts";
import { bytes, f64, throwsCode, u16, u32, utf8 } from "./support/util.ts";
import { END, key, num, str } from "./support/amf_layout.ts";

// Hand-written AMF0 layout (AMF0 §2), independent of the encoder under test.
function nested(levels: number): AmfValue {
  let v: AmfValue = 1;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

describe("AMF0 markers", () => {
  const cases: [string, AmfValue, Uint8Array][] = [
    ["number 0x00", 1.5, bytes(0x00, f64(1.5))],
    ["negative zero", -0, bytes(0x00, 0x80, 0, 0, 0, 0, 0, 0, 0)],
    ["boolean true 0x01", true, bytes(0x01, 0x01)],
    ["boolean false", false, bytes(0x01, 0x00)],
    ["string 0x02", "héllo", bytes(str("héllo"))],
    ["empty string", "", bytes(0x02, 0x00, 0x00)],
    ["object 0x03", { a: 1, b: "x" }, bytes(0x03, key("a"), num(1), key("b"), str("x"), END)],
    ["empty object", {}, bytes(0x03, END)],
    ["null 0x05", null, bytes(0x05)],
    ["undefined 0x06", undefined, bytes(0x06)],
    ["strict array 0x0A", [1, "a"], bytes(0x0a, u32(2), num(1), str("a"))],
    ["date 0x0B", new Date(1700000000123), bytes(0x0b, f64(1700000000123), 0x00, 0x00)],
    ["XML document 0x0F", new AmfXmlDocument("<a/>"), bytes(0x0f, u32(4), utf8("<a/>"))],
    [
      "typed object 0x10",
      new AmfTypedObject("Pt", { x: 1 }),
      bytes(0x10, key("Pt"), key("x"), num(1), END),
    ],
  ];
  for (const [name, value, wire] of cases) {
    it(`encodes and decodes ${name}`, () => {
      assert.deepEqual(encodeAmf0([value]), wire);
      assert.deepStrictEqual(decodeAmf0(wire), [value]);
    });
  }

  it("writes and reads an ECMA array 0x08 with its count and keeps the marker", () => {
    const wire = bytes(0x08, u32(2), key("w"), num(640), key("h"), num(480), END);
    const [v] = decodeAmf0(wire);
    assert.deepStrictEqual(v, { w: 640, h: 480 });
    assert.equal(isEcmaArray(v as AmfObject), true);
    assert.deepEqual(Object.keys(v as AmfObject), ["w", "h"]); // the marker is not enumerable
    assert.deepEqual(encodeAmf0([v]), wire);
    assert.deepEqual(encodeAmf0([ecmaArray({ w: 640, h: 480 })]), wire);
  });

  it("decodes an ECMA array whose count is wrong (the count is advisory)", () => {
    const wire = bytes(0x08, u32(0), key("a"), num(1), END);
    assert.deepStrictEqual(decodeAmf0(wire), [{ a: 1 }]);
  });

  it("reads a long string 0x0C and writes one only above 65535 UTF-8 bytes", () => {
    const long = "é".repeat(40000); // 80000 UTF-8 bytes
    assert.deepStrictEqual(decodeAmf0(bytes(0x0c, u32(80000), utf8(long))), [long]);
    const enc = encodeAmf0([long]);
    assert.equal(enc[0], 0x0c);
    assert.deepEqual([...enc.subarray(1, 5)], u32(80000));
    const max = "a".repeat(65535);
    const encMax = encodeAmf0([max]);
    assert.equal(encMax[0], 0x02);
    assert.deepEqual([...encMax.subarray(1, 3)], [0xff, 0xff]);
    assert.equal(encodeAmf0(["a".repeat(65536)])[0], 0x0c);
    assert.deepStrictEqual(decodeAmf0(encodeAmf0([max, long])), [max, long]);
  });

  it("ignores the date time zone on read and writes it as 0", () => {
    const [d] = decodeAmf0(bytes(0x0b, f64(86400000), 0xff, 0x88)); // tz −120
    assert.ok(d instanceof Date);
    assert.equal(d.getTime(), 86400000);
    assert.deepEqual([...encodeAmf0([d]).subarray(9)], [0, 0]);
  });

  it("reads a property with an empty name that is followed by a value", () => {
    const wire = bytes(0x03, key(""), num(7), END);
    assert.deepStrictEqual(decodeAmf0(wire), [{ "": 7 }]);
    assert.deepEqual(encodeAmf0([{ "": 7 }]), wire);
  });

  it("keeps a __proto__ key as data", () => {
    const wire = bytes(0x03, key("__proto__"), num(1), END);
    const [v] = decodeAmf0(wire) as [AmfObject];
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ["__proto__"]);
    assert.deepEqual(encodeAmf0([v]), wire);
  });

  it("switches one value to AMF3 on 0x11 and back to AMF0 afterwards", () => {
    // 0x11, AMF3 integer 5; then an AMF0 string.
    assert.deepStrictEqual(decodeAmf0(bytes(0x11, 0x04, 0x05, str("x"))), [5, "x"]);
    // Inside an object property.
    assert.deepStrictEqual(
      decodeAmf0(bytes(0x03, key("b"), 0x11, 0x0c, 0x05, 0xaa, 0xbb, END)),
      [{ b: new Uint8Array([0xaa, 0xbb]) }],
    );
  });

  it("resets AMF3 reference tables at every 0x11 switch (AMF3 §4.1)", () => {
    // First switch: string "a" enters the AMF3 string table. Second switch: reference 0 must
    // not resolve, since its tables are fresh.
    const wire = bytes(0x11, 0x06, 0x03, 0x61, 0x11, 0x06, 0x00);
    assert.deepStrictEqual(decodeAmf0(wire.subarray(0, 4)), ["a"]);
    throwsCode(() => decodeAmf0(wire), "MALFORMED", /string reference 0/);
  });

  it("writes AMF3-only values behind an 0x11 switch", () => {
    const values: AmfValue[] = [
      new Uint8Array([1, 2]),
      new AmfVector("double", [0.5]),
      new AmfDictionary([["k", 1]]),
      new AmfArray3([1], { a: 2 }),
      new AmfXml("<x/>"),
    ];
    for (const v of values) {
      const enc = encodeAmf0([v]);
      assert.equal(enc[0], 0x11);
      assert.deepStrictEqual(decodeAmf0(enc), [v]);
    }
    assert.deepEqual(encodeAmf0([new Uint8Array([1, 2])]), bytes(0x11, 0x0c, 0x05, 1, 2));
  });
});

describe("AMF0 references", () => {
  it("resolves 0x07 to the earlier object, array and typed object", () => {
    const wire = bytes(
      0x0a,
      u32(4),
      0x03,
      key("a"),
      num(1),
      END, // index 1 (the strict array is index 0)
      0x10,
      key("T"),
      END, // index 2
      0x07,
      u16(1),
      0x07,
      u16(2),
    );
    const [arr] = decodeAmf0(wire) as [AmfValue[]];
    assert.equal(arr[2], arr[0]);
    assert.equal(arr[3], arr[1]);
    assert.ok(arr[1] instanceof AmfTypedObject);
  });

  it("decodes a self-reference into a cyclic value without looping", () => {
    const wire = bytes(0x03, key("self"), 0x07, u16(0), END);
    const [o] = decodeAmf0(wire) as [AmfObject];
    assert.equal(o.self, o);
  });

  it("rejects a reference past the table", () => {
    throwsCode(() => decodeAmf0(bytes(0x07, u16(0))), "MALFORMED", /index 0/);
    throwsCode(() => decodeAmf0(bytes(0x03, END, 0x07, u16(1))), "MALFORMED", /index 1/);
  });

  it("writes a repeated instance and a cycle as references", () => {
    const shared = { a: 1 };
    assert.deepEqual(
      encodeAmf0([[shared, shared]]),
      bytes(0x0a, u32(2), 0x03, key("a"), num(1), END, 0x07, u16(1)),
    );
    const cyc: AmfObject = { n: 1 };
    cyc.me = cyc;
    const enc = encodeAmf0([cyc]);
    assert.deepEqual(enc, bytes(0x03, key("n"), num(1), key("me"), 0x07, u16(0), END));
    const [back] = decodeAmf0(enc) as [AmfObject];
    assert.equal(back.me, back);
  });

  it("writes distinct equal objects in full", () => {
    const enc = encodeAmf0([{ a: 1 }, { a: 1 }]);
    assert.deepEqual(enc, bytes(0x03, key("a"), num(1), END, 0x03, key("a"), num(1), END));
  });
});

describe("AMF0 malformed and hostile input", () => {
  it("names unknown markers and their offset", () => {
    throwsCode(() => decodeAmf0(bytes(0x05, 0x12)), "MALFORMED", /0x12 at offset 1/);
    throwsCode(() => decodeAmf0(bytes(0xff)), "MALFORMED", /0xff at offset 0/);
  });

  it("rejects the reserved movieclip, unsupported and recordset markers as UNSUPPORTED", () => {
    throwsCode(() => decodeAmf0(bytes(0x04)), "UNSUPPORTED", /movieclip/);
    throwsCode(() => decodeAmf0(bytes(0x0d)), "UNSUPPORTED", /unsupported/);
    throwsCode(() => decodeAmf0(bytes(0x0e)), "UNSUPPORTED", /recordset/);
  });

  it("rejects an object-end marker outside an object", () => {
    throwsCode(() => decodeAmf0(bytes(0x09)), "MALFORMED", /object-end/);
  });

  it("rejects truncated values of every kind", () => {
    const whole = [
      bytes(num(1)),
      bytes(0x01, 1),
      bytes(str("abc")),
      bytes(0x03, key("a"), num(1), END),
      bytes(0x08, u32(1), key("a"), num(1), END),
      bytes(0x0a, u32(1), num(1)),
      bytes(0x0b, f64(1), 0, 0),
      bytes(0x0c, u32(2), 0x61, 0x62),
      bytes(0x0f, u32(1), 0x61),
      bytes(0x10, key("T"), END),
      bytes(0x07),
    ];
    for (const w of whole.slice(0, -1)) {
      decodeAmf0(w); // complete input decodes
      for (let n = 1; n < w.length; n++) {
        throwsCode(() => decodeAmf0(w.subarray(0, n)), "MALFORMED");
      }
    }
    throwsCode(() => decodeAmf0(whole[whole.length - 1]), "MALFORMED");
  });

  it("rejects a strict array count larger than the input before allocating", () => {
    throwsCode(
      () => decodeAmf0(bytes(0x0a, u32(0xffffffff), 0x05)),
      "MALFORMED",
      /count 4294967295 but only 1 byte/,
    );
  });

  it("rejects a long string length larger than the input", () => {
    throwsCode(() => decodeAmf0(bytes(0x0c, u32(0xffffffff), 0x61)), "MALFORMED");
  });

  it("enforces the nesting limit (default 64) with LIMIT_EXCEEDED", () => {
    assert.deepStrictEqual(decodeAmf0(encodeAmf0([nested(64)])), [nested(64)]);
    throwsCode(() => decodeAmf0(encodeAmf0([nested(65)])), "LIMIT_EXCEEDED", /maxDepth 64/);
    throwsCode(() => decodeAmf0(encodeAmf0([nested(3)]), { maxDepth: 2 }), "LIMIT_EXCEEDED");
    assert.deepStrictEqual(decodeAmf0(encodeAmf0([nested(3)]), { maxDepth: 3 }), [nested(3)]);
    // Depth counts across an 0x11 switch: AMF0 array > AMF3 array.
    throwsCode(
      () => decodeAmf0(bytes(0x0a, u32(1), 0x11, 0x09, 0x01, 0x01), { maxDepth: 1 }),
      "LIMIT_EXCEEDED",
    );
  });

  it("rejects a bad maxDepth option", () => {
    throwsCode(() => decodeAmf0(bytes(0x05), { maxDepth: -1 }), "INVALID_ARGUMENT");
    throwsCode(() => decodeAmf0(bytes(0x05), { maxDepth: 1.5 }), "INVALID_ARGUMENT");
    throwsCode(() => decodeAmf0(bytes(0x05), { maxDepth: 100000 }), "INVALID_ARGUMENT");
  });

  it("decodes very deep input under the largest maxDepth without overflowing the stack", () => {
    const depth = 1000;
    const wire = new Uint8Array(depth * 5 + 1);
    for (let i = 0; i < depth; i++) wire.set([0x0a, 0, 0, 0, 1], i * 5);
    wire[depth * 5] = 0x05;
    const [v] = decodeAmf0(wire, { maxDepth: 1000 });
    let cur = v;
    let levels = 0;
    while (Array.isArray(cur)) {
      cur = cur[0];
      levels++;
    }
    assert.equal(levels, depth);
    throwsCode(() => decodeAmf0(wire, { maxDepth: 999 }), "LIMIT_EXCEEDED");
  });
});

describe("AMF0 encoder arguments", () => {
  it("rejects property and class names over 65535 UTF-8 bytes", () => {
    const big = "k".repeat(65536);
    throwsCode(() => encodeAmf0([{ [big]: 1 }]), "INVALID_ARGUMENT", /65536 UTF-8 bytes/);
    throwsCode(() => encodeAmf0([new AmfTypedObject(big, {})]), "INVALID_ARGUMENT");
    assert.equal(encodeAmf0([{ ["k".repeat(65535)]: 1 }])[0], 0x03);
  });

  it("rejects values with no AMF form", () => {
    const bad: unknown[] = [() => 1, Symbol("s"), 10n, new Map(), new Set(), new Uint16Array(2)];
    for (const v of bad) {
      throwsCode(() => encodeAmf0([v as AmfValue]), "INVALID_ARGUMENT");
      throwsCode(() => encodeAmf0([{ nested: v as AmfValue }]), "INVALID_ARGUMENT");
    }
  });

  it("rejects absurdly deep values instead of overflowing the stack", () => {
    throwsCode(() => encodeAmf0([nested(5000)]), "INVALID_ARGUMENT", /deeper/);
  });
});

describe("Amf0Decoder / Amf0Encoder", () => {
  it("read values one at a time from a shared ByteReader", () => {
    const wire = bytes(str("a"), num(2), 0x99);
    const r = new ByteReader(wire);
    const d = new Amf0Decoder(r);
    assert.equal(d.readValue(), "a");
    assert.equal(d.readValue(), 2);
    assert.equal(r.offset, 13);
    throwsCode(() => d.readValue(), "MALFORMED", /0x99/);
  });

  it("share a reference table across values of one encoder", () => {
    const o = { a: 1 };
    const enc = new Amf0Encoder().writeValue(o).writeValue(o).finish();
    assert.deepEqual(enc, bytes(0x03, key("a"), num(1), END, 0x07, u16(0)));
    const [x, y] = decodeAmf0(enc);
    assert.equal(x, y);
  });

  it("readObjectLayout reports where each property's value lies", () => {
    const wire = bytes(str("n"), 0x08, u32(2), key("a"), num(1), key("bb"), str("x"), END, 0x05);
    const r = new ByteReader(wire);
    const d = new Amf0Decoder(r);
    assert.equal(d.readValue(), "n");
    const l = d.readObjectLayout();
    assert.equal(l.marker, 0x08);
    assert.equal(l.at, 4);
    assert.equal(l.propertiesAt, 9);
    assert.deepEqual(l.properties, [
      { name: "a", valueAt: 12, valueEnd: 21 },
      { name: "bb", valueAt: 25, valueEnd: 29 },
    ]);
    assert.equal(l.propertiesEnd, 29);
    assert.equal(l.end, 32);
    assert.equal(l.terminated, true);
    assert.deepEqual(l.value, { a: 1, bb: "x" });
    assert.equal(isEcmaArray(l.value), true);
    assert.equal(d.readValue(), null, "the reader stands after the end marker");
  });

  it("readObjectLayout accepts a missing end marker, shares references, rejects non-objects", () => {
    const cut = new Amf0Decoder(new ByteReader(bytes(0x03, key("a"), num(1)))).readObjectLayout();
    assert.equal(cut.terminated, false);
    assert.equal(cut.end, cut.propertiesEnd);
    assert.deepEqual(cut.value, { a: 1 });
    // Reference 0 inside the object is the object itself, as readValue would resolve it.
    const self = bytes(0x03, key("me"), 0x07, u16(0), END);
    const l = new Amf0Decoder(new ByteReader(self)).readObjectLayout();
    assert.equal(l.value.me, l.value);
    throwsCode(
      () => new Amf0Decoder(new ByteReader(bytes(str("x")))).readObjectLayout(),
      "MALFORMED",
      /expected an object \(0x03\) or ECMA array \(0x08\), got 0x02/,
    );
  });

  it("writeAmf3Value writes one AMF3 value behind 0x11", () => {
    assert.deepEqual(new Amf0Encoder().writeAmf3Value({}).finish(), bytes(0x11, 0x0a, 0x0b, 1, 1));
  });
});
