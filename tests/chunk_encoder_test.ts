import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ChunkEncoder } from "../protocol/chunk_encoder.ts";
import { ChunkDecoder } from "../protocol/chunk_decoder.ts";
import type { RtmpMessage } from "../protocol/message.ts";
import { throwsCode, u24, u32 } from "./support/util.ts";

const fill = (n: number, seed = 1): Uint8Array =>
  new Uint8Array(n).map((_, i) => (i * seed + 3) & 0xff);

function msg(timestamp: number, size = 32, type = 8, streamId = 1): RtmpMessage {
  return { type, streamId, timestamp, payload: fill(size, timestamp & 0xff) };
}

/** Encodes on one csid, decodes everything, and returns the bytes of each message. */
function roundTrip(
  messages: RtmpMessage[],
  csid = 4,
  encoder = new ChunkEncoder(),
): { encoded: Uint8Array[]; decoded: RtmpMessage[] } {
  const decoder = new ChunkDecoder();
  const encoded = messages.map((m) => encoder.encode(csid, m));
  const decoded = encoded.flatMap((e) => decoder.push(e));
  assert.equal(decoder.bufferedBytes, 0, "every encoded message was consumed exactly");
  return { encoded, decoded };
}

function invalidArgument(fn: () => unknown): void {
  throwsCode(fn, "INVALID_ARGUMENT");
}

describe("ChunkEncoder regressions (design §5)", () => {
  it("[1000, 1000] decodes as [1000, 1000] (no fmt 3 for an equal timestamp)", () => {
    const { encoded, decoded } = roundTrip([msg(1000), msg(1000), msg(1000)]);
    assert.deepEqual(decoded.map((m) => m.timestamp), [1000, 1000, 1000]);
    // Second: fmt 2 with delta 0. Third: the delta really is 0 again, so fmt 3 is right.
    assert.deepEqual([...encoded[1].subarray(0, 4)], [0x84, 0, 0, 0]);
    assert.equal(encoded[2][0], 0xc4);
    assert.equal(encoded[2].length, 1 + 32);
  });

  it("multi-chunk message above 0xFFFFFF repeats the extended timestamp on every chunk", () => {
    const ts = 0x1000000 + 4321; // 4 h 40 min + 4.3 s
    const payload = fill(300, 7);
    const encoder = new ChunkEncoder();
    const bytes = encoder.encode(6, { type: 9, streamId: 1, timestamp: ts, payload });
    const ext = u32(ts);
    // fmt 0 header: 0xFFFFFF marker, then the 4-byte timestamp after the 11-byte header.
    assert.deepEqual([...bytes.subarray(1, 4)], [0xff, 0xff, 0xff]);
    assert.deepEqual([...bytes.subarray(12, 16)], ext);
    const c1 = 16 + 128;
    assert.deepEqual([...bytes.subarray(c1, c1 + 5)], [0xc6, ...ext]);
    const c2 = c1 + 5 + 128;
    assert.deepEqual([...bytes.subarray(c2, c2 + 5)], [0xc6, ...ext]);
    assert.equal(bytes.length, c2 + 5 + 44);
    const [m] = new ChunkDecoder().push(bytes);
    assert.equal(m.timestamp, ts);
    assert.deepEqual(m.payload, payload);
  });

  it("fmt 1/2 extended field carries the delta, not the absolute timestamp", () => {
    const base = 5000;
    const delta = 0x1000000;
    const { encoded, decoded } = roundTrip([
      msg(base, 200),
      msg(base + delta, 200), // same length/type: fmt 2
      msg(base + 2 * delta + 1, 100), // new length: fmt 1
    ]);
    const two = encoded[1];
    assert.equal(two[0] >> 6, 2);
    assert.deepEqual([...two.subarray(1, 8)], [0xff, 0xff, 0xff, ...u32(delta)]);
    // The continuation chunk repeats the delta.
    assert.deepEqual([...two.subarray(8 + 128, 8 + 128 + 5)], [0xc4, ...u32(delta)]);
    const one = encoded[2];
    assert.equal(one[0] >> 6, 1);
    assert.deepEqual([...one.subarray(1, 12)], [
      0xff,
      0xff,
      0xff,
      ...u24(100),
      8,
      ...u32(delta + 1),
    ]);
    assert.deepEqual(decoded.map((m) => m.timestamp), [base, base + delta, base + 2 * delta + 1]);
  });
});

describe("ChunkEncoder header choice", () => {
  it("same-size, same-delta audio uses fmt 3 after the first ones (spec example 1)", () => {
    const { encoded, decoded } = roundTrip([msg(1000), msg(1020), msg(1040), msg(1060)], 3);
    assert.deepEqual(encoded.map((e) => e[0] >> 6), [0, 2, 3, 3]);
    assert.deepEqual(encoded.map((e) => e.length), [44, 36, 33, 33]);
    assert.deepEqual([...encoded[1].subarray(0, 4)], [0x83, ...u24(20)]);
    assert.deepEqual(decoded.map((m) => m.timestamp), [1000, 1020, 1040, 1060]);
  });

  it("a message split at chunk size 128 (spec example 2)", () => {
    const { encoded, decoded } = roundTrip([msg(1000, 307, 9, 12346)]);
    const e = encoded[0];
    assert.equal(e.length, 140 + 129 + 52);
    assert.equal(e[140], 0xc4);
    assert.equal(e[140 + 129], 0xc4);
    assert.deepEqual([...e.subarray(8, 12)], [0x3a, 0x30, 0, 0], "stream id 12346 little-endian");
    assert.deepEqual(decoded[0].payload, fill(307, 1000 & 0xff));
  });

  it("fmt 1 when length or type change", () => {
    const { encoded, decoded } = roundTrip([msg(0, 10), msg(10, 11), msg(20, 11, 9)]);
    assert.deepEqual(encoded.map((e) => e[0] >> 6), [0, 1, 1]);
    assert.deepEqual(decoded.map((m) => [m.type, m.timestamp, m.payload.length]), [
      [8, 0, 10],
      [8, 10, 11],
      [9, 20, 11],
    ]);
  });

  it("does not use fmt 3 straight after a non-zero fmt 0 (readers disagree there)", () => {
    const { encoded, decoded } = roundTrip([msg(1000), msg(2000), msg(3000)]);
    assert.deepEqual(encoded.map((e) => e[0] >> 6), [0, 2, 3]);
    assert.deepEqual(decoded.map((m) => m.timestamp), [1000, 2000, 3000]);
    const zero = roundTrip([msg(0), msg(0)]);
    assert.deepEqual(zero.encoded.map((e) => e[0] >> 6), [0, 3]);
    assert.deepEqual(zero.decoded.map((m) => m.timestamp), [0, 0]);
  });

  it("fmt 0 for a different stream id or a backwards timestamp", () => {
    const { encoded, decoded } = roundTrip([
      msg(100),
      msg(120, 32, 8, 2),
      msg(140, 32, 8, 2),
      msg(50, 32, 8, 2),
    ]);
    assert.deepEqual(encoded.map((e) => e[0] >> 6), [0, 0, 2, 0]);
    assert.deepEqual([...encoded[3].subarray(1, 4)], u24(50), "absolute value");
    assert.deepEqual(decoded.map((m) => [m.streamId, m.timestamp]), [
      [1, 100],
      [2, 120],
      [2, 140],
      [2, 50],
    ]);
  });

  it("a wrap past 2^32 is sent as fmt 0 with the absolute value", () => {
    const { encoded, decoded } = roundTrip([msg(0xfffffff0, 300), msg(0x10, 300)]);
    assert.equal(encoded[1][0] >> 6, 0);
    assert.deepEqual([...encoded[1].subarray(1, 4)], u24(0x10));
    assert.deepEqual(decoded.map((m) => m.timestamp), [0xfffffff0, 0x10]);
  });

  it("fmt 3 new message inheriting an extended delta carries it in 4 bytes", () => {
    const d = 0x1234567;
    const { encoded, decoded } = roundTrip([msg(0), msg(d), msg(2 * d), msg(3 * d)]);
    assert.deepEqual(encoded.map((e) => e[0] >> 6), [0, 2, 3, 3]);
    assert.deepEqual([...encoded[3].subarray(0, 5)], [0xc4, ...u32(d)]);
    assert.equal(encoded[3].length, 5 + 32);
    assert.deepEqual(decoded.map((m) => m.timestamp), [0, d, 2 * d, 3 * d]);
  });

  it("zero-length message: one header, empty payload", () => {
    const { encoded, decoded } = roundTrip([msg(5, 0), msg(10, 0), msg(15, 1)]);
    assert.deepEqual(encoded.map((e) => e.length), [12, 4, 1 + 7 + 1]);
    assert.deepEqual(decoded.map((m) => [m.timestamp, m.payload.length]), [[5, 0], [10, 0], [
      15,
      1,
    ]]);
  });

  it("reset() forgets one or all chunk streams", () => {
    const e = new ChunkEncoder();
    e.encode(4, msg(0));
    e.encode(6, msg(0));
    e.reset(4);
    assert.equal(e.encode(4, msg(0))[0] >> 6, 0);
    assert.equal(e.encode(6, msg(0))[0] >> 6, 3);
    e.reset();
    assert.equal(e.encode(6, msg(0))[0] >> 6, 0);
  });
});

describe("ChunkEncoder framing", () => {
  it("basic header forms for csid 2, 63, 64, 319, 320, 65599", () => {
    const cases: [number, number[]][] = [
      [2, [0x02]],
      [63, [0x3f]],
      [64, [0x00, 0]],
      [319, [0x00, 255]],
      [320, [0x01, 0, 1]],
      [365, [0x01, 45, 1]],
      [65599, [0x01, 255, 255]],
    ];
    for (const [csid, bh] of cases) {
      const e = new ChunkEncoder();
      const d = new ChunkDecoder();
      const first = e.encode(csid, msg(1, 200));
      assert.deepEqual([...first.subarray(0, bh.length)], bh, `csid ${csid}`);
      const cont = bh.length + 11 + 128;
      assert.deepEqual([...first.subarray(cont, cont + bh.length)], [bh[0] | 0xc0, ...bh.slice(1)]);
      assert.equal(first.length, 2 * bh.length + 11 + 200);
      const second = e.encode(csid, msg(2, 200));
      assert.deepEqual([...second.subarray(0, bh.length)], [bh[0] | 0x80, ...bh.slice(1)]);
      const ms = [...d.push(first), ...d.push(second)];
      assert.deepEqual(ms.map((m) => m.timestamp), [1, 2]);
    }
  });

  it("rejects invalid chunk stream ids, chunk sizes and message fields", () => {
    const e = new ChunkEncoder();
    for (const csid of [0, 1, 65600, 3.5, NaN]) invalidArgument(() => e.encode(csid, msg(0)));
    for (const size of [0, -1, 0x80000000, 1.5]) {
      invalidArgument(() => e.setChunkSize(size));
      invalidArgument(() => new ChunkEncoder({ chunkSize: size }));
    }
    invalidArgument(() => e.encode(4, msg(-1)));
    invalidArgument(() => e.encode(4, msg(2 ** 32)));
    invalidArgument(() => e.encode(4, msg(0, 1, 256)));
    invalidArgument(() => e.encode(4, msg(0, 1, 8, -1)));
    invalidArgument(() =>
      e.encode(4, { type: 9, streamId: 1, timestamp: 0, payload: new Uint8Array(0x1000000) })
    );
    assert.equal(e.chunkSize, 128);
    e.setChunkSize(0x7fffffff);
    assert.equal(e.chunkSize, 0x7fffffff);
  });

  it("chunk size changes are honoured on both sides (Set Chunk Size then data)", () => {
    const e = new ChunkEncoder();
    const d = new ChunkDecoder();
    const setSize = e.encode(2, {
      type: 1,
      streamId: 0,
      timestamp: 0,
      payload: new Uint8Array(u32(4096)),
    });
    e.setChunkSize(4096);
    const big = e.encode(6, msg(0, 10000, 9));
    // 10000 bytes at 4096 per chunk: 3 chunks, 2 continuation headers.
    assert.equal(big.length, 12 + 10000 + 2);
    const ms = d.push(new Uint8Array([...setSize, ...big]));
    assert.equal(d.chunkSize, 4096);
    assert.deepEqual(ms.map((m) => m.payload.length), [4, 10000]);
    assert.deepEqual(ms[1].payload, fill(10000, 0));
    const one = new ChunkEncoder({ chunkSize: 1 });
    assert.equal(one.encode(3, msg(0, 5)).length, 12 + 5 + 4);
  });
});
