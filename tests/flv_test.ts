import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  encodeFlvHeader,
  encodeFlvPreviousTagSize,
  encodeFlvTag,
  encodeFlvTagHeader,
  encodeFlvTagInto,
  ensureFlvMetadataKeys,
  FLV_HEADER_SIZE,
  FlvDemuxer,
  flvMetadataPatches,
  flvScriptName,
  type FlvTag,
  FlvTagType,
} from "../protocol/flv.ts";
import { decodeAmf0 } from "../protocol/amf0.ts";
import { asc, cat, hex, mixSeed, prng, testSeed, throwsCode } from "./support/util.ts";

const SEED = testSeed("flv_test");

/** AMF0 string as used for script names and property keys (without the 0x02 marker). */
function key(name: string): Uint8Array {
  const b = asc(name);
  return cat(new Uint8Array([b.length >> 8, b.length & 0xff]), b);
}

function num(v: number): Uint8Array {
  const out = new Uint8Array(9);
  new DataView(out.buffer).setFloat64(1, v);
  return out;
}

/** A hand-written FLV: header, an onMetaData tag, an audio tag and a video tag. */
const HEADER = hex("464c56 01 05 00000009 00000000");
const SCRIPT_DATA = cat(
  hex("02"),
  key("onMetaData"),
  hex("08 00000001"),
  key("width"),
  num(320),
  hex("000009"),
);
const TAGS: FlvTag[] = [
  { type: 18, timestamp: 0, streamId: 0, data: SCRIPT_DATA },
  { type: 8, timestamp: 0, streamId: 0, data: hex("af 00 1210") },
  { type: 9, timestamp: 0x01020304, streamId: 0, data: hex("17 00 000000 01 64 00 1f") },
];
function handFile(): Uint8Array {
  const parts: Uint8Array[] = [HEADER];
  for (const t of TAGS) {
    const n = t.data.length;
    const ts = t.timestamp;
    parts.push(
      new Uint8Array([
        t.type,
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff,
        (ts >> 16) & 0xff,
        (ts >> 8) & 0xff,
        ts & 0xff,
        (ts >>> 24) & 0xff,
        0,
        0,
        0,
      ]),
      t.data,
      new Uint8Array([0, 0, (n + 11) >> 8, (n + 11) & 0xff]),
    );
  }
  return cat(...parts);
}

describe("FLV serialisation (FLV 10.1 E.2–E.4.1)", () => {
  it("encodeFlvHeader writes the 9-byte header and PreviousTagSize0", () => {
    assert.deepEqual(encodeFlvHeader({ version: 1, audio: true, video: true }), HEADER);
    assert.deepEqual(
      encodeFlvHeader({ version: 1, audio: false, video: true }),
      hex("464c56 01 01 00000009 00000000"),
    );
    assert.deepEqual(
      encodeFlvHeader({ version: 1, audio: true, video: false }),
      hex("464c56 01 04 00000009 00000000"),
    );
    assert.equal(FLV_HEADER_SIZE, 13);
    throwsCode(
      () => encodeFlvHeader({ version: 256, audio: true, video: true }),
      "INVALID_ARGUMENT",
    );
  });

  it("encodeFlvTag matches hand-built bytes, extended timestamp included", () => {
    const expected = handFile();
    const encoded = cat(HEADER, ...TAGS.map((t) => encodeFlvTag(t)));
    assert.deepEqual(encoded, expected);
    const video = encodeFlvTag(TAGS[2]);
    assert.deepEqual(video.subarray(4, 8), hex("020304 01"));
    assert.deepEqual(encodeFlvTagHeader(TAGS[2]), video.subarray(0, 11));
    assert.deepEqual(
      encodeFlvPreviousTagSize(TAGS[2].data.length),
      video.subarray(video.length - 4),
    );
  });

  it("encodeFlvTagInto writes in place", () => {
    const buf = new Uint8Array(100).fill(0xee);
    const n = encodeFlvTagInto(TAGS[1], buf, 5);
    assert.equal(n, 15 + TAGS[1].data.length);
    assert.deepEqual(buf.subarray(5, 5 + n), encodeFlvTag(TAGS[1]));
    assert.equal(buf[4], 0xee);
    assert.equal(buf[5 + n], 0xee);
    throwsCode(() => encodeFlvTagInto(TAGS[2], new Uint8Array(10), 0), "INVALID_ARGUMENT", /needs/);
  });

  it("filter and reserved bits and the stream id are written", () => {
    const t: FlvTag = {
      type: 9,
      timestamp: 5,
      streamId: 0x010203,
      data: hex("aa"),
      filter: true,
      reserved: 2,
    };
    const b = encodeFlvTag(t);
    assert.equal(b[0], 0x80 | 0x20 | 9);
    assert.deepEqual(b.subarray(8, 11), hex("010203"));
  });

  it("rejects out-of-range fields", () => {
    const t: FlvTag = { type: 8, timestamp: 0, streamId: 0, data: hex("00") };
    throwsCode(() => encodeFlvTag({ ...t, type: 32 }), "INVALID_ARGUMENT", /type/);
    throwsCode(() => encodeFlvTag({ ...t, timestamp: -1 }), "INVALID_ARGUMENT", /timestamp/);
    throwsCode(() => encodeFlvTag({ ...t, timestamp: 2 ** 32 }), "INVALID_ARGUMENT", /timestamp/);
    throwsCode(() => encodeFlvTag({ ...t, timestamp: 1.5 }), "INVALID_ARGUMENT", /timestamp/);
    throwsCode(() => encodeFlvTag({ ...t, streamId: 1 << 24 }), "INVALID_ARGUMENT", /stream id/);
    throwsCode(() => encodeFlvTag({ ...t, reserved: 4 }), "INVALID_ARGUMENT", /reserved/);
    throwsCode(
      () => encodeFlvTag({ ...t, data: new Uint8Array(0x1000000) }),
      "INVALID_ARGUMENT",
      /DataSize/,
    );
  });
});

describe("FlvDemuxer", () => {
  it("reads a whole file pushed at once", () => {
    const d = new FlvDemuxer();
    const tags = d.push(handFile());
    assert.deepEqual(d.header, { version: 1, audio: true, video: true });
    assert.equal(tags.length, 3);
    assert.deepEqual(tags, TAGS);
    assert.equal(tags[2].timestamp, 0x01020304);
    assert.equal(d.tagCount, 3);
    assert.equal(d.bytesConsumed, handFile().length);
    assert.deepEqual(d.end(), { truncatedBytes: 0, clean: true });
  });

  it("gives the same tags for byte-by-byte and random splits", () => {
    const file = handFile();
    const one = new FlvDemuxer();
    const byByte: FlvTag[] = [];
    for (let i = 0; i < file.length; i++) byByte.push(...one.push(file.subarray(i, i + 1)));
    assert.deepEqual(byByte, TAGS);
    assert.equal(one.end().clean, true);
    const rnd = prng(mixSeed(SEED, 42));
    for (let round = 0; round < 50; round++) {
      const d = new FlvDemuxer();
      const got: FlvTag[] = [];
      let i = 0;
      while (i < file.length) {
        const n = Math.floor(rnd() * 20);
        got.push(...d.push(file.subarray(i, i + n)));
        i += n;
      }
      assert.deepEqual(got, TAGS);
      assert.deepEqual(d.end(), { truncatedBytes: 0, clean: true });
    }
  });

  it("keeps no reference to the pushed bytes", () => {
    const file = handFile();
    const d = new FlvDemuxer();
    const tags = d.push(file);
    file.fill(0);
    assert.deepEqual(tags, TAGS);
  });

  it("reads the filter and reserved bits, stream id and zero-length tags", () => {
    const tags: FlvTag[] = [
      { type: 9, timestamp: 1, streamId: 7, data: hex("aa"), filter: true },
      { type: 8, timestamp: 2, streamId: 0, data: new Uint8Array(0), reserved: 3 },
      { type: 20, timestamp: 3, streamId: 0, data: hex("0102") },
    ];
    const file = cat(HEADER, ...tags.map(encodeFlvTag));
    const d = new FlvDemuxer();
    assert.deepEqual(d.push(file), tags);
    assert.equal(d.end().clean, true);
  });

  it("skips header bytes beyond DataOffset 9", () => {
    const file = cat(hex("464c56 01 04 0000000c aabbcc 00000000"), encodeFlvTag(TAGS[1]));
    const d = new FlvDemuxer();
    assert.deepEqual(d.push(file), [TAGS[1]]);
    assert.deepEqual(d.header, { version: 1, audio: true, video: false });
    assert.equal(d.previousTagSizeMismatches, 0);
  });

  it("rejects a bad signature or DataOffset with MALFORMED and stays failed", () => {
    const d = new FlvDemuxer();
    throwsCode(() => d.push(hex("464c58 01 05 00000009 00000000")), "MALFORMED", /signature/);
    throwsCode(() => d.push(HEADER), "MALFORMED", /earlier error/);
    throwsCode(
      () => new FlvDemuxer().push(hex("464c56 01 05 00000005 00000000")),
      "MALFORMED",
      /DataOffset/,
    );
    throwsCode(() => new FlvDemuxer().push(asc("GIF89a......")), "MALFORMED", /"FLV"/);
  });

  it("counts PreviousTagSize mismatches, or throws with strict", () => {
    const file = handFile();
    // Corrupt the back-pointer after the first tag.
    const at = 13 + 11 + TAGS[0].data.length;
    file[at + 3] ^= 0xff;
    const d = new FlvDemuxer();
    assert.deepEqual(d.push(file), TAGS);
    assert.equal(d.previousTagSizeMismatches, 1);
    assert.equal(d.firstMismatchOffset, at);
    const strict = new FlvDemuxer({ strict: true });
    throwsCode(() => strict.push(file), "MALFORMED", new RegExp(`offset ${at}`));
  });

  it("enforces maxTagSize with LIMIT_EXCEEDED", () => {
    const d = new FlvDemuxer({ maxTagSize: 8 });
    throwsCode(() => d.push(handFile()), "LIMIT_EXCEEDED", /maxTagSize 8/);
    throwsCode(() => new FlvDemuxer({ maxTagSize: -1 }), "INVALID_ARGUMENT");
  });

  it("reports a truncated last tag without throwing", () => {
    const file = handFile();
    const lastStart = file.length - (15 + TAGS[2].data.length);
    // Inside the tag header.
    let d = new FlvDemuxer();
    assert.equal(d.push(file.subarray(0, lastStart + 5)).length, 2);
    assert.deepEqual(d.end(), { truncatedBytes: 5, clean: false });
    // Inside the data.
    d = new FlvDemuxer();
    assert.equal(d.push(file.subarray(0, lastStart + 14)).length, 2);
    assert.deepEqual(d.end(), { truncatedBytes: 14, clean: false });
    // Inside the trailing back-pointer: the tag itself is complete.
    d = new FlvDemuxer();
    assert.equal(d.push(file.subarray(0, file.length - 2)).length, 3);
    assert.deepEqual(d.end(), { truncatedBytes: 2, clean: false });
    // Inside the header.
    d = new FlvDemuxer();
    assert.equal(d.push(file.subarray(0, 6)).length, 0);
    assert.equal(d.header, null);
    assert.deepEqual(d.end(), { truncatedBytes: 6, clean: false });
    // Only the header.
    d = new FlvDemuxer();
    d.push(file.subarray(0, 13));
    assert.deepEqual(d.end(), { truncatedBytes: 0, clean: true });
  });

  it("refuses push() after end()", () => {
    const d = new FlvDemuxer();
    d.end();
    throwsCode(() => d.push(HEADER), "CLOSED");
  });
});

describe("onMetaData patching", () => {
  /** Independent lookup: the 8 bytes after `<len><name>00` at top level of a simple tag. */
  function numberAfter(data: Uint8Array, name: string): number {
    const needle = cat(key(name), hex("00"));
    outer: for (let i = 0; i + needle.length + 8 <= data.length; i++) {
      for (let k = 0; k < needle.length; k++) if (data[i + k] !== needle[k]) continue outer;
      return new DataView(data.buffer, data.byteOffset + i + needle.length, 8).getFloat64(0);
    }
    throw new Error(`${name} not found`);
  }

  function apply(data: Uint8Array, values: Record<string, number>): Uint8Array {
    const copy = data.slice();
    for (const p of flvMetadataPatches(copy, values)) copy.set(p.bytes, p.offset);
    return copy;
  }

  it("patches existing duration and filesize in place", () => {
    const meta = cat(
      hex("02"),
      key("onMetaData"),
      hex("08 00000003"),
      key("duration"),
      num(0),
      key("encoder"),
      hex("02"),
      key("Lavf"),
      key("filesize"),
      num(0),
      hex("000009"),
    );
    assert.equal(ensureFlvMetadataKeys(meta, ["duration", "filesize"]), meta, "unchanged input");
    const patches = flvMetadataPatches(meta, { duration: 12.5, filesize: 123456 }, 1000);
    assert.equal(patches.length, 2);
    for (const p of patches) assert.equal(p.bytes.length, 8);
    const patched = apply(meta, { duration: 12.5, filesize: 123456 });
    assert.equal(numberAfter(patched, "duration"), 12.5);
    assert.equal(numberAfter(patched, "filesize"), 123456);
    assert.equal(patched.length, meta.length);
    // Offsets are absolute: dataOffset + position.
    const rel = flvMetadataPatches(meta, { duration: 1 }, 0)[0].offset;
    assert.equal(patches.find((p) => p.offset === rel + 1000) !== undefined, true);
  });

  it("adds missing keys as Number placeholders (ECMA array)", () => {
    const meta = SCRIPT_DATA;
    const grown = ensureFlvMetadataKeys(meta, ["duration", "filesize"]);
    assert.ok(grown !== null && grown !== meta);
    assert.equal(grown.length, meta.length + (2 + 8 + 9) * 2);
    assert.equal(new DataView(grown.buffer, grown.byteOffset).getUint32(14), 3, "ECMA count + 2");
    assert.equal(numberAfter(grown, "width"), 320);
    assert.equal(numberAfter(grown, "duration"), 0);
    assert.deepEqual(grown.subarray(grown.length - 3), hex("000009"));
    const patched = apply(grown, { duration: 3.25, filesize: 99 });
    assert.equal(numberAfter(patched, "duration"), 3.25);
    assert.equal(numberAfter(patched, "filesize"), 99);
    assert.equal(numberAfter(patched, "width"), 320);
  });

  it("handles an Object container, @setDataFrame and a missing end marker", () => {
    const obj = cat(hex("02"), key("onMetaData"), hex("03"), key("a"), num(1), hex("000009"));
    const grown = ensureFlvMetadataKeys(obj, ["duration"])!;
    assert.equal(grown[3 + 10], 0x03);
    assert.equal(numberAfter(apply(grown, { duration: 2 }), "duration"), 2);

    const sdf = cat(
      hex("02"),
      key("@setDataFrame"),
      hex("02"),
      key("onMetaData"),
      hex("08 00000000 000009"),
    );
    assert.equal(flvScriptName(sdf), "@setDataFrame");
    const g2 = ensureFlvMetadataKeys(sdf, ["filesize"])!;
    assert.equal(numberAfter(apply(g2, { filesize: 7 }), "filesize"), 7);

    const open = cat(hex("02"), key("onMetaData"), hex("08 00000001"), key("duration"), num(5));
    assert.equal(ensureFlvMetadataKeys(open, ["duration"]), open);
    assert.equal(numberAfter(apply(open, { duration: 6 }), "duration"), 6);
  });

  it("walks nested values and patches only top-level Numbers", () => {
    const meta = cat(
      hex("02"),
      key("onMetaData"),
      hex("08 00000005"),
      key("nested"),
      hex("03"),
      key("duration"),
      num(99),
      hex("000009"),
      key("list"),
      hex("0a 00000003"),
      num(1),
      hex("0101"),
      hex("05"),
      key("when"),
      hex("0b"),
      new Uint8Array(10),
      key("long"),
      hex("0c 00000003"),
      asc("abc"),
      key("filesize"),
      hex("02"),
      key("big"),
      hex("000009"),
    );
    // `filesize` exists but is a String: not duplicated, not patched.
    const grown = ensureFlvMetadataKeys(meta, ["duration", "filesize"])!;
    assert.equal(grown.length, meta.length + 2 + 8 + 9);
    const patches = flvMetadataPatches(grown, { duration: 4, filesize: 5 });
    assert.equal(patches.length, 1);
    const patched = apply(grown, { duration: 4, filesize: 5 });
    // The nested `duration` (first occurrence in the bytes) is untouched.
    assert.equal(numberAfter(patched, "duration"), 99);
    const tail = patched.subarray(meta.length - 3);
    assert.equal(numberAfter(tail, "duration"), 4);
  });

  it("ignores script tags that are not onMetaData or cannot be walked", () => {
    const other = cat(hex("02"), key("onCuePoint"), hex("08 00000000 000009"));
    assert.equal(ensureFlvMetadataKeys(other, ["duration"]), null);
    assert.deepEqual(flvMetadataPatches(other, { duration: 1 }), []);
    assert.equal(ensureFlvMetadataKeys(hex("0a 0000"), ["duration"]), null);
    // Values the AMF0 decoder rejects (the reserved "unsupported" marker 0x0D) stop the walk.
    const odd = cat(hex("02"), key("onMetaData"), hex("08 00000001"), key("x"), hex("0d"));
    assert.equal(ensureFlvMetadataKeys(odd, ["duration"]), null);
    // An AMF3-switched value (0x11) is walked like the AMF0 decoder reads it, and kept as is.
    const amf3 = cat(hex("02"), key("onMetaData"), hex("08 00000001"), key("x"), hex("11 04 01"));
    const grown = ensureFlvMetadataKeys(cat(amf3, hex("000009")), ["duration"])!;
    assert.deepEqual(decodeAmf0(grown), ["onMetaData", { x: 1, duration: 0 }]);
    assert.deepEqual(grown.subarray(amf3.length - 3, amf3.length), hex("11 04 01"));
    assert.equal(flvMetadataPatches(grown, { duration: 2 }).length, 1);
    const cut = SCRIPT_DATA.subarray(0, 25);
    assert.equal(ensureFlvMetadataKeys(cut, ["duration"]), null);
    assert.equal(flvScriptName(hex("02 0005 6162")), null);
    assert.equal(FlvTagType.Script, 18);
  });
});
