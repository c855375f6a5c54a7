/**
 * Seeded fuzzing of the tag codecs and the FLV demuxer: random and mutated inputs must produce
 * either a value or an RtmpError, never another exception; every value that parses must rebuild
 * to the same bytes.
 */
import { fixturePath } from "./support/fixtures.ts";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { RtmpError } from "../errors.ts";
import { buildAudioTag, parseAudioTag } from "../protocol/audio_tag.ts";
import {
  encodeFlvHeader,
  encodeFlvTag,
  ensureFlvMetadataKeys,
  FlvDemuxer,
  flvMetadataPatches,
  type FlvTag,
} from "../protocol/flv.ts";
import { buildVideoTag, parseVideoTag } from "../protocol/video_tag.ts";
import { hex, mixSeed, prng, testSeed, toHex } from "./support/util.ts";

const SEED = testSeed("flv_fuzz_test");

const FOURCCS = ["avc1", "hvc1", "vvc1", "av01", "vp09", "Opus", "mp4a", "fLaC"].map((s) =>
  Uint8Array.from(s, (c) => c.charCodeAt(0))
);

/** Seeds covering every layout branch; mutations start from these. */
const VIDEO_SEEDS = [
  "17 00 000000 01640028ffe1",
  "27 01 ffffd8 00000005 419a",
  "52 01",
  "12 00008400",
  "91 68766331 000021 0000000226",
  "a3 68766331 0201",
  "90 61763031 81000c00",
  "d4 61763031 020009636f6c6f72496e666f03000009",
  "d1 00",
  "96 01 61766331 00 000010 65",
  "96 10 68766331 00 000003 010203 01 000002 0405",
  "a6 21 61766331 00 000005 000001 aabb 61763031 02 000001 cc",
  "97 02 0001f4 01 61766331 000000 65",
  "97 ff 0002 0f4240 03 61763031 aa",
  "96 31 aabbccdd",
].map(hex);

const AUDIO_SEEDS = [
  "af 00 1210",
  "af 01 211a",
  "2f fffb90",
  "90 4f707573 4f707573486561640102",
  "91 4f707573 fcfffe",
  "94 4f707573 00 06",
  "94 4f707573 01 02 00000003",
  "94 4f707573 02 03 000102",
  "95 01 4f707573 00 fcff",
  "95 11 4f707573 00 000002 aabb 01 000001 cc",
  "95 20 4f707573 00 000001 01 6d703461 01 000002 1210",
  "95 14 4f707573 00 000006 0102 00000003 01 000004 0202 0100",
  "97 02 0001f4 01 4f707573 fc",
  "95 f1 010203",
].map(hex);

function mutate(seed: Uint8Array, rnd: () => number): Uint8Array {
  let b = Array.from(seed);
  const ops = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < ops; k++) {
    const op = Math.floor(rnd() * 7);
    const at = Math.floor(rnd() * (b.length + 1));
    switch (op) {
      case 0: // flip a bit
        if (b.length > 0) b[at % b.length] ^= 1 << Math.floor(rnd() * 8);
        break;
      case 1: // random byte
        if (b.length > 0) b[at % b.length] = Math.floor(rnd() * 256);
        break;
      case 2: // truncate
        b = b.slice(0, at);
        break;
      case 3: // insert random bytes
        b.splice(
          at,
          0,
          ...Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => rnd() * 256 | 0),
        );
        break;
      case 4: // delete a run
        b.splice(at, 1 + Math.floor(rnd() * 4));
        break;
      case 5: // insert a known FourCC
        b.splice(at, 0, ...FOURCCS[Math.floor(rnd() * FOURCCS.length)]);
        break;
      default: // nibble games on the first byte (ExHeader bit, packet types, ModEx/Multitrack)
        if (b.length > 0) b[0] = (b[0] & 0xf0) | Math.floor(rnd() * 16);
        if (b.length > 1 && rnd() < 0.3) b[1] = Math.floor(rnd() * 256);
    }
  }
  return new Uint8Array(b);
}

function randomBody(rnd: () => number): Uint8Array {
  const n = Math.floor(rnd() * 24);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rnd() * 256);
  return out;
}

function check(
  body: Uint8Array,
  parse: (b: Uint8Array) => unknown,
  build: (t: never) => Uint8Array,
  stats: { ok: number; err: number },
): void {
  let tag: unknown;
  try {
    tag = parse(body);
  } catch (e) {
    if (!(e instanceof RtmpError)) {
      throw new Error(`non-RtmpError for ${toHex(body)}: ${String(e)}`);
    }
    assert.ok(e.message.length > 0);
    stats.err++;
    return;
  }
  stats.ok++;
  const rebuilt = build(tag as never);
  if (toHex(rebuilt) !== toHex(body)) {
    assert.fail(
      `rebuild differs for ${toHex(body)}: got ` +
        toHex(rebuilt),
    );
  }
}

function fixtureTags(): FlvTag[] {
  return new FlvDemuxer().push(
    new Uint8Array(readFileSync(fixturePath("ertmp-av1-opus-testsrc.flv"))),
  );
}

describe("fuzz: tag codecs", () => {
  it("video: random and mutated bodies", () => {
    const rnd = prng(mixSeed(SEED, 0xc0ffee));
    const stats = { ok: 0, err: 0 };
    const seeds = [
      ...VIDEO_SEEDS,
      ...fixtureTags().filter((t) => t.type === 9).slice(0, 40).map((t) => t.data),
    ];
    for (let i = 0; i < 6000; i++) {
      const body = i % 4 === 0 ? randomBody(rnd) : mutate(seeds[i % seeds.length], rnd);
      check(body, parseVideoTag, buildVideoTag, stats);
    }
    // Both outcomes must actually be exercised.
    assert.ok(stats.ok > 1000, `parsed ${stats.ok}`);
    assert.ok(stats.err > 100, `rejected ${stats.err}`);
  });

  it("audio: random and mutated bodies", () => {
    const rnd = prng(mixSeed(SEED, 0xbadc0de));
    const stats = { ok: 0, err: 0 };
    const seeds = [
      ...AUDIO_SEEDS,
      ...fixtureTags().filter((t) => t.type === 8).slice(0, 40).map((t) => t.data),
    ];
    for (let i = 0; i < 6000; i++) {
      const body = i % 4 === 0 ? randomBody(rnd) : mutate(seeds[i % seeds.length], rnd);
      check(body, parseAudioTag, buildAudioTag, stats);
    }
    assert.ok(stats.ok > 1000, `parsed ${stats.ok}`);
    assert.ok(stats.err > 100, `rejected ${stats.err}`);
  });

  it("every single-byte video and audio header with short tails", () => {
    const stats = { ok: 0, err: 0 };
    for (let b0 = 0; b0 < 256; b0++) {
      for (
        const tail of ["", "00", "0000", "000000", "61766331", "61766331 000001 02", "4f707573 01"]
      ) {
        const body = new Uint8Array([b0, ...hex(tail)]);
        check(body, parseVideoTag, buildVideoTag, stats);
        check(body, parseAudioTag, buildAudioTag, stats);
      }
    }
    assert.ok(stats.ok > 0 && stats.err > 0);
  });
});

describe("fuzz: FLV demuxer", () => {
  function baseFile(): Uint8Array {
    const tags = fixtureTags().slice(0, 60);
    const src: FlvTag[] = tags.length > 0 ? tags : [
      { type: 8, timestamp: 0, streamId: 0, data: hex("af 00 1210") },
      { type: 9, timestamp: 0, streamId: 0, data: hex("17 00 000000 01") },
    ];
    const parts = [
      encodeFlvHeader({ version: 1, audio: true, video: true }),
      ...src.map(encodeFlvTag),
    ];
    return Uint8Array.from(parts.flatMap((p) => Array.from(p)));
  }

  it("mutated files in random splits give tags or RtmpError, and clean ones re-encode", () => {
    const base = baseFile();
    const rnd = prng(mixSeed(SEED, 1234));
    let clean = 0;
    let failed = 0;
    for (let round = 0; round < 300; round++) {
      const file = base.slice();
      const flips = Math.floor(rnd() * 6);
      for (let k = 0; k < flips; k++) {
        file[Math.floor(rnd() * file.length)] = Math.floor(rnd() * 256);
      }
      const cut = rnd() < 0.3 ? Math.floor(rnd() * file.length) : file.length;
      const input = file.subarray(0, cut);
      const d = new FlvDemuxer({ maxTagSize: 1 << 20 });
      const tags: FlvTag[] = [];
      let error = false;
      let i = 0;
      try {
        while (i < input.length) {
          const n = 1 + Math.floor(rnd() * 3000);
          for (const t of d.push(input.subarray(i, i + n))) tags.push(t);
          i += n;
        }
      } catch (e) {
        if (!(e instanceof RtmpError)) throw e;
        error = true;
        failed++;
      }
      const end = d.end();
      assert.ok(end.truncatedBytes >= 0);
      if (error) continue;
      const header = d.header;
      // When the bytes were a well-formed FLV as we write it, re-encoding reproduces them.
      if (
        end.clean && header !== null && d.previousTagSizeMismatches === 0 &&
        (input[4] & 0xfa) === 0 && input[5] === 0 && input[6] === 0 && input[7] === 0 &&
        input[8] === 9
      ) {
        const out = [encodeFlvHeader(header), ...tags.map(encodeFlvTag)];
        const bytes = Uint8Array.from(out.flatMap((p) => Array.from(p)));
        assert.deepEqual(bytes, input);
        clean++;
      }
    }
    assert.ok(clean > 10, `clean rounds ${clean}`);
    assert.ok(failed > 0, `failed rounds ${failed}`);
  });

  it("random bytes after a valid header never escape as other errors", () => {
    const rnd = prng(mixSeed(SEED, 99));
    for (let round = 0; round < 500; round++) {
      const noise = randomBody(rnd);
      const extra = new Uint8Array(Math.floor(rnd() * 200));
      for (let i = 0; i < extra.length; i++) extra[i] = Math.floor(rnd() * 256);
      const d = new FlvDemuxer({ maxTagSize: 4096 });
      try {
        d.push(encodeFlvHeader({ version: 1, audio: true, video: true }));
        d.push(noise);
        d.push(extra);
      } catch (e) {
        if (!(e instanceof RtmpError)) throw e;
      }
      const end = d.end();
      assert.ok(Number.isInteger(end.truncatedBytes));
    }
  });

  it("metadata scanning never throws on garbage", () => {
    const rnd = prng(mixSeed(SEED, 7));
    const meta = hex(
      "02 000a 6f6e4d65746144617461 08 00000001 0005 7769647468 00 4074000000000000 000009",
    );
    for (let i = 0; i < 3000; i++) {
      const body = i % 2 === 0 ? mutate(meta, rnd) : randomBody(rnd);
      const grown = ensureFlvMetadataKeys(body, ["duration", "filesize"]);
      const patches = flvMetadataPatches(grown ?? body, { duration: 1, filesize: 2 });
      for (const p of patches) {
        assert.ok(p.offset >= 0 && p.offset + 8 <= (grown ?? body).length);
      }
      if (grown !== null) {
        assert.equal(patches.length, 2, `both keys patchable in ${toHex(grown)}`);
      }
    }
  });
});
