import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { BlockPool } from "../protocol/block_pool.ts";
import { ByteBudget } from "../protocol/byte_budget.ts";
import { ChunkDecoder } from "../protocol/chunk_decoder.ts";
import { RtmpError } from "../errors.ts";
import type { RtmpMessage } from "../protocol/message.ts";
import { prng, throwsCode, u24, u32 } from "./support/util.ts";

type Part = number | number[] | Uint8Array;

/** Flattens bytes, arrays and typed arrays into one Uint8Array. */
function b(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else out.push(...p);
  }
  return new Uint8Array(out);
}

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const fill = (n: number, seed = 1): Uint8Array =>
  new Uint8Array(n).map((_, i) => (i * seed + 7) & 0xff);

/** fmt 0 chunk header for csid 2..63. */
function h0(csid: number, ts: number, len: number, type: number, sid: number): number[] {
  const ext = ts >= 0xffffff;
  return [
    csid,
    ...u24(ext ? 0xffffff : ts),
    ...u24(len),
    type,
    ...le32(sid),
    ...(ext ? u32(ts) : []),
  ];
}

/** Decodes `bytes` one byte at a time and as one push; both must agree. */
function decodeBoth(bytes: Uint8Array, make = () => new ChunkDecoder()): RtmpMessage[] {
  const whole = make().push(bytes);
  const d = make();
  const single: RtmpMessage[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(...d.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(single, whole, "byte-at-a-time decoding differs from one push");
  return whole;
}

function summary(m: RtmpMessage): [number, number, number, number] {
  return [m.type, m.streamId, m.timestamp, m.payload.length];
}

describe("ChunkDecoder header formats", () => {
  it("fmt 0: absolute timestamp, length, type, little-endian stream id", () => {
    const p = fill(5);
    const [m, ...rest] = decodeBoth(b(h0(3, 1000, 5, 20, 0x01020304), p));
    assert.equal(rest.length, 0);
    assert.deepEqual(summary(m), [20, 0x01020304, 1000, 5]);
    assert.deepEqual(m.payload, p);
  });

  it("fmt 1 / fmt 2 / fmt 3 derive from the previous header", () => {
    const bytes = b(
      h0(4, 1000, 2, 8, 7),
      [1, 2],
      [0x44, ...u24(20), ...u24(3), 9], // fmt 1: delta 20, length 3, type 9
      [3, 4, 5],
      [0x84, ...u24(33)], // fmt 2: delta 33
      [6, 7, 8],
      [0xc4], // fmt 3 new message: delta 33 again
      [9, 10, 11],
      [0xc4],
      [12, 13, 14],
    );
    const ms = decodeBoth(bytes);
    assert.deepEqual(ms.map(summary), [
      [8, 7, 1000, 2],
      [9, 7, 1020, 3],
      [9, 7, 1053, 3],
      [9, 7, 1086, 3],
      [9, 7, 1119, 3],
    ]);
    assert.deepEqual(ms[4].payload, new Uint8Array([12, 13, 14]));
  });

  it("fmt 3 right after fmt 0 repeats the fmt-0 timestamp as delta (RTMP 1.0 §5.3.1.2.4)", () => {
    const ms = decodeBoth(b(h0(5, 40, 1, 8, 1), [1], [0xc5], [2]));
    assert.deepEqual(ms.map((m) => m.timestamp), [40, 80]);
  });

  it("multi-chunk message with fmt 3 continuations (spec example 2)", () => {
    const p = fill(307, 3);
    const ms = decodeBoth(
      b(
        h0(4, 1000, 307, 9, 12346),
        p.subarray(0, 128),
        0xc4,
        p.subarray(128, 256),
        0xc4,
        p.subarray(256),
      ),
    );
    assert.equal(ms.length, 1);
    assert.deepEqual(summary(ms[0]), [9, 12346, 1000, 307]);
    assert.deepEqual(ms[0].payload, p);
    // One exact-size buffer per message, not a concatenation or a view into a larger one.
    assert.equal(ms[0].payload.byteOffset, 0);
    assert.equal(ms[0].payload.buffer.byteLength, 307);
  });

  it("basic header: 2-byte and 3-byte forms incl. csid 64, 319, 320, 65599", () => {
    const cases: [number, number[]][] = [
      [64, [0x00, 0]],
      [319, [0x00, 255]],
      [320, [0x01, 0, 1]],
      [365, [0x01, 45, 1]],
      [65599, [0x01, 255, 255]],
    ];
    for (const [csid, bh] of cases) {
      const fmt3 = [bh[0] | 0xc0, ...bh.slice(1)];
      const p = fill(200, csid);
      const bytes = b(
        bh,
        u24(10),
        u24(200),
        9,
        le32(1),
        p.subarray(0, 128),
        fmt3,
        p.subarray(128),
        [bh[0] | 0x80, ...bh.slice(1)], // fmt 2 on the same csid
        u24(5),
        p.subarray(0, 128),
        fmt3,
        p.subarray(128),
      );
      const ms = decodeBoth(bytes);
      assert.deepEqual(ms.map(summary), [[9, 1, 10, 200], [9, 1, 15, 200]], `csid ${csid}`);
      assert.deepEqual(ms[0].payload, p);
    }
  });

  it("3-byte basic header is 64 + b1 + b2 * 256 (design §3): csid 320 and 65 stay apart", () => {
    const bytes = b(
      [0x01, 0, 1], // fmt 0, csid 320
      u24(100),
      u24(1),
      8,
      le32(1),
      [1],
      [0x00, 1], // fmt 0, csid 65
      u24(5000),
      u24(1),
      8,
      le32(1),
      [2],
      [0x81, 0, 1], // fmt 2, csid 320: delta 1
      u24(1),
      [3],
      [0x81, 1, 0], // fmt 2, csid 65 in the 3-byte form: delta 2
      u24(2),
      [4],
    );
    assert.deepEqual(decodeBoth(bytes).map((m) => m.timestamp), [100, 5000, 101, 5002]);
    throwsCode(
      () => new ChunkDecoder().push(b([0x41, 45, 1], u24(0), u24(1), 8)),
      "MALFORMED",
      "chunk stream 365",
    );
  });

  it("csid 64 in the 3-byte form is the same chunk stream as in the 2-byte form", () => {
    const ms = decodeBoth(b([0x00, 0], u24(1), u24(1), 8, le32(0), [1], [0x81, 0, 0], u24(2), [2]));
    assert.deepEqual(ms.map((m) => m.timestamp), [1, 3]);
  });
});

describe("ChunkDecoder extended timestamps", () => {
  it("fmt 0 extended timestamp, repeated on each continuation chunk", () => {
    const ts = 0x01000000 + 12345;
    const p = fill(300, 5);
    const bytes = b(
      [6, ...u24(0xffffff), ...u24(300), 9, ...le32(1), ...u32(ts)],
      p.subarray(0, 128),
      [0xc6, ...u32(ts)],
      p.subarray(128, 256),
      [0xc6, ...u32(ts)],
      p.subarray(256),
    );
    const ms = decodeBoth(bytes);
    assert.equal(ms.length, 1);
    assert.equal(ms[0].timestamp, ts);
    assert.deepEqual(ms[0].payload, p);
  });

  it("extended delta in fmt 1 and fmt 2, and fmt 3 repeating an extended delta", () => {
    const d1 = 0x01000000;
    const d2 = 0xffffff;
    const bytes = b(
      h0(4, 100, 1, 8, 1),
      [1],
      [0x44, ...u24(0xffffff), ...u24(2), 8, ...u32(d1)],
      [2, 3],
      [0x84, ...u24(0xffffff), ...u32(d2)],
      [4, 5],
      [0xc4, ...u32(d2)],
      [6, 7],
    );
    const ms = decodeBoth(bytes);
    assert.deepEqual(ms.map((m) => m.timestamp), [100, 100 + d1, 100 + d1 + d2, 100 + d1 + 2 * d2]);
    assert.deepEqual(ms[3].payload, new Uint8Array([6, 7]));
  });

  it("timestamps wrap at 2^32", () => {
    const bytes = b(h0(4, 0xfffffff0, 1, 8, 1), [1], [0x84, ...u24(0x20)], [2], [0xc4], [3]);
    const ms = decodeBoth(bytes);
    assert.deepEqual(ms.map((m) => m.timestamp), [0xfffffff0, 0x10, 0x30]);
  });
});

describe("ChunkDecoder protocol control", () => {
  it("applies Set Chunk Size at the right byte within one push", () => {
    const p = fill(200);
    const bytes = b(h0(2, 0, 4, 1, 0), u32(256), h0(3, 0, 200, 20, 0), p);
    const d = new ChunkDecoder();
    assert.equal(d.chunkSize, 128);
    const ms = d.push(bytes);
    assert.deepEqual(ms.map(summary), [[1, 0, 0, 4], [20, 0, 0, 200]]);
    assert.deepEqual(ms[1].payload, p);
    assert.equal(d.chunkSize, 256);
    assert.deepEqual(decodeBoth(bytes), ms);
  });

  it("rejects Set Chunk Size 0, with the top bit set, or too short", () => {
    throwsCode(() => new ChunkDecoder().push(b(h0(2, 0, 4, 1, 0), u32(0))), "MALFORMED", "got 0");
    throwsCode(() => new ChunkDecoder().push(b(h0(2, 0, 4, 1, 0), u32(0x80000000))), "MALFORMED");
    throwsCode(() => new ChunkDecoder().push(b(h0(2, 0, 2, 1, 0), [0, 1])), "MALFORMED");
    const d = new ChunkDecoder();
    d.push(b(h0(2, 0, 4, 1, 0), u32(0x7fffffff)));
    assert.equal(d.chunkSize, 0x7fffffff);
    const one = new ChunkDecoder();
    one.push(b(h0(2, 0, 4, 1, 0), u32(1)));
    const ms = one.push(b(h0(3, 0, 3, 20, 0), 9, 0xc3, 8, 0xc3, 7));
    assert.deepEqual(ms[0].payload, new Uint8Array([9, 8, 7]));
  });

  it("Abort discards the partial message on that chunk stream", () => {
    const d = new ChunkDecoder();
    const p = fill(300);
    assert.deepEqual(d.push(b(h0(6, 500, 300, 9, 1), p.subarray(0, 128))), []);
    // Only what arrived is held, not the announced 300 bytes.
    assert.equal(d.bufferedBytes, 128);
    const ms = d.push(b(h0(2, 0, 4, 2, 0), u32(6)));
    assert.deepEqual(ms.map(summary), [[2, 0, 0, 4]]);
    assert.equal(d.bufferedBytes, 0);
    // The next fmt-3 chunk on csid 6 starts a new message with the old header (delta 500).
    const next = d.push(
      b(0xc6, p.subarray(0, 128), 0xc6, p.subarray(128, 256), 0xc6, p.subarray(256)),
    );
    assert.deepEqual(next.map(summary), [[9, 1, 1000, 300]]);
    assert.deepEqual(next[0].payload, p);
    // Aborting an idle or unknown chunk stream is harmless.
    assert.equal(d.push(b(h0(2, 0, 4, 2, 0), u32(40))).length, 1);
    throwsCode(() => new ChunkDecoder().push(b(h0(2, 0, 1, 2, 0), [6])), "MALFORMED");
  });

  it("interleaves messages on two chunk streams", () => {
    const a = fill(200, 3);
    const v = fill(300, 5);
    const bytes = b(
      h0(6, 40, 300, 9, 1),
      v.subarray(0, 128),
      h0(4, 23, 200, 8, 1),
      a.subarray(0, 128),
      0xc6,
      v.subarray(128, 256),
      0xc4,
      a.subarray(128),
      0xc6,
      v.subarray(256),
    );
    const ms = decodeBoth(bytes);
    assert.deepEqual(ms.map(summary), [[8, 1, 23, 200], [9, 1, 40, 300]]);
    assert.deepEqual(ms[0].payload, a);
    assert.deepEqual(ms[1].payload, v);
  });

  it("zero-length messages complete immediately", () => {
    const ms = decodeBoth(b(h0(4, 5, 0, 8, 1), [0x84, ...u24(5)], h0(6, 7, 1, 9, 1), [42]));
    assert.deepEqual(ms.map(summary), [[8, 1, 5, 0], [8, 1, 10, 0], [9, 1, 7, 1]]);
  });

  it("a fmt 2 header in the middle of a message continues it; a length change is MALFORMED", () => {
    const p = fill(200);
    const ms = decodeBoth(
      b(h0(4, 5, 200, 8, 1), p.subarray(0, 128), [0x84, ...u24(9)], p.subarray(128)),
    );
    assert.deepEqual(ms.map(summary), [[8, 1, 5, 200]]);
    assert.deepEqual(ms[0].payload, p);
    throwsCode(
      () =>
        new ChunkDecoder().push(
          b(h0(4, 5, 200, 8, 1), p.subarray(0, 128), [0x44, ...u24(0), ...u24(201), 8]),
        ),
      "MALFORMED",
      "length 200 -> 201",
    );
  });
});

describe("ChunkDecoder errors and limits", () => {
  it("fmt 1/2/3 on a chunk stream never opened with fmt 0 is MALFORMED", () => {
    throwsCode(() => new ChunkDecoder().push(b(0x43, u24(0), u24(1), 8, 1)), "MALFORMED", "fmt 1");
    throwsCode(() => new ChunkDecoder().push(b(0x83, u24(0), 1)), "MALFORMED", "fmt 2");
    throwsCode(() => new ChunkDecoder().push(b(0xc3, 1)), "MALFORMED", "fmt 3");
  });

  it("message larger than maxMessageSize is LIMIT_EXCEEDED", () => {
    const d = new ChunkDecoder({ maxMessageSize: 1000 });
    assert.equal(d.push(b(h0(4, 0, 1000, 9, 1), fill(128))).length, 0);
    throwsCode(
      () => new ChunkDecoder({ maxMessageSize: 999 }).push(b(h0(4, 0, 1000, 9, 1))),
      "LIMIT_EXCEEDED",
    );
  });

  it("more than maxChunkStreams chunk streams is LIMIT_EXCEEDED", () => {
    const d = new ChunkDecoder({ maxChunkStreams: 2 });
    d.push(b(h0(3, 0, 1, 8, 1), 1, h0(4, 0, 1, 8, 1), 1, h0(3, 1, 1, 8, 1), 1));
    throwsCode(() => d.push(b(h0(5, 0, 1, 8, 1), 1)), "LIMIT_EXCEEDED", "at most 2");
  });

  it("partial messages above maxPartialBytes are LIMIT_EXCEEDED, counted as they arrive", () => {
    // Announcing is free: two 600-byte headers with 128 bytes each hold 256 bytes (in a
    // 4 KiB head block each).
    const d = new ChunkDecoder({ maxPartialBytes: 1000 });
    d.push(b(h0(4, 0, 600, 9, 1), fill(128), h0(6, 0, 600, 9, 1), fill(128)));
    assert.equal(d.bufferedBytes, 256);
    assert.equal(d.partialBytes, 2 * 4096);
    d.push(b(0xc4, fill(128), 0xc6, fill(128), 0xc4, fill(128), 0xc6, fill(128), 0xc4, fill(128)));
    assert.equal(d.bufferedBytes, 512 + 384);
    // The next 128 bytes would make 1024.
    throwsCode(() => d.push(b(0xc6, fill(128))), "LIMIT_EXCEEDED", /1000 allowed per connection/);
    assert.equal(d.partialBytes, 0, "a failure gives every block back");
    // A message as large as the cap fits by itself, in one push or read by read.
    const [m] = new ChunkDecoder({ maxPartialBytes: 1000 }).push(chunked(4, fill(1000)));
    assert.equal(m.payload.length, 1000);
    const slow = new ChunkDecoder({ maxPartialBytes: 1000 });
    const wire = chunked(4, fill(1000));
    const got: RtmpMessage[] = [];
    for (let o = 0; o < wire.length; o += 100) got.push(...slow.push(wire.subarray(o, o + 100)));
    assert.deepEqual(got.map((x) => x.payload), [fill(1000)]);
    // A message that could never fit is refused at its header.
    throwsCode(
      () => new ChunkDecoder({ maxPartialBytes: 1000 }).push(b(h0(4, 0, 1001, 9, 1))),
      "LIMIT_EXCEEDED",
      /1001 bytes could never be held/,
    );
    // The old option name still works.
    throwsCode(
      () => new ChunkDecoder({ maxBufferedBytes: 1000 }).push(b(h0(4, 0, 1001, 9, 1))),
      "LIMIT_EXCEEDED",
    );
  });

  it("is unusable after an error and rethrows it", () => {
    const d = new ChunkDecoder();
    let first: unknown;
    try {
      d.push(b(0xc7));
    } catch (e) {
      first = e;
    }
    assert.ok(first instanceof RtmpError);
    assert.throws(() => d.push(b(h0(3, 0, 0, 8, 0))), (e) => e === first);
  });

  it("push after dispose() is CLOSED, the same error every time", () => {
    const d = new ChunkDecoder();
    d.push(b(h0(3, 0, 10, 8, 1), fill(5)));
    d.dispose();
    let first: unknown;
    try {
      d.push(b(fill(5)));
    } catch (e) {
      first = e;
    }
    assert.ok(first instanceof RtmpError && first.code === "CLOSED", String(first));
    assert.throws(() => d.push(b(h0(3, 0, 0, 8, 0))), (e) => e === first);
  });

  it("rejects bad options", () => {
    throwsCode(() => new ChunkDecoder({ maxMessageSize: 0 }), "INVALID_ARGUMENT");
    throwsCode(() => new ChunkDecoder({ maxChunkStreams: 1.5 }), "INVALID_ARGUMENT");
    throwsCode(() => new ChunkDecoder({ maxPartialBytes: -1 }), "INVALID_ARGUMENT");
    throwsCode(() => new ChunkDecoder().setMaxMessageSize(0), "INVALID_ARGUMENT");
  });

  it("setMaxMessageSize: a header over the current cap fails at once, before its data", () => {
    const d = new ChunkDecoder({ maxMessageSize: 64 << 10 });
    assert.equal(d.maxMessageSize, 64 << 10);
    // A command-sized message passes.
    assert.equal(d.push(b(h0(3, 0, 100, 20, 0), fill(100))).length, 1);
    // 16 MiB announced before a publish: refused on the header alone.
    throwsCode(
      () => new ChunkDecoder({ maxMessageSize: 64 << 10 }).push(b(h0(6, 0, 0xffffff, 9, 1))),
      "LIMIT_EXCEEDED",
      /16777215 bytes \(type 9\) exceeds the limit of 65536/,
    );
    // Raised once a publish is accepted: a 100 KiB video message goes through.
    d.setMaxMessageSize(16 << 20);
    const p = fill(100 << 10, 3);
    const chunks: Part[] = [h0(6, 0, p.length, 9, 1)];
    for (let o = 0; o < p.length; o += 128) {
      if (o > 0) chunks.push(0xc6);
      chunks.push(p.subarray(o, o + 128));
    }
    const [m] = d.push(b(...chunks));
    assert.deepEqual(m.payload, p);
    // Lowered again: the next header over it fails.
    d.setMaxMessageSize(1000);
    throwsCode(() => d.push(b(h0(6, 0, 1001, 9, 1))), "LIMIT_EXCEEDED", /limit of 1000/);
  });
});

describe("ChunkDecoder buffers", () => {
  it("counts bytesReceived across pushes, including partial headers", () => {
    const d = new ChunkDecoder();
    const bytes = b(h0(3, 0, 5, 20, 0), fill(5), h0(3, 0, 200, 20, 0), fill(130));
    let total = 0;
    for (const n of [1, 3, 17, 40, 100, 2]) {
      const chunk = bytes.subarray(total, total + n);
      d.push(chunk);
      total += chunk.length;
      assert.equal(d.bytesReceived, total);
    }
    d.push(new Uint8Array(0));
    assert.equal(d.bytesReceived, total);
  });

  it("keeps no reference to pushed bytes (the caller reuses its read buffer)", () => {
    const p = fill(300, 9);
    const stream = b(
      h0(6, 1, 300, 9, 1),
      p.subarray(0, 128),
      0xc6,
      p.subarray(128, 256),
      0xc6,
      p.subarray(256),
    );
    const reused = new Uint8Array(7);
    const d = new ChunkDecoder();
    const ms: RtmpMessage[] = [];
    for (let o = 0; o < stream.length; o += 7) {
      const n = Math.min(7, stream.length - o);
      reused.set(stream.subarray(o, o + n));
      ms.push(...d.push(reused.subarray(0, n)));
      reused.fill(0xaa);
    }
    assert.equal(ms.length, 1);
    assert.deepEqual(ms[0].payload, p);
  });
});

describe("ChunkDecoder keeps what arrived before bad bytes", () => {
  it("returns messages completed before a malformed chunk, then throws on the next push", () => {
    const decoder = new ChunkDecoder();
    // A complete one-byte message on csid 3, then fmt 1 on never-seen csid 9 (malformed).
    const good = [3, 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 5];
    const bad = [0x49, 0, 0, 0, 0, 0, 1, 8];
    const out = decoder.push(new Uint8Array([...good, ...bad]));
    assert.equal(out.length, 1);
    assert.deepEqual(out[0].payload, new Uint8Array([5]));
    assert.throws(() => decoder.push(new Uint8Array([0])), (e: unknown) => {
      assert.ok(e instanceof RtmpError);
      assert.equal(e.code, "MALFORMED");
      return true;
    });
  });
});

/** A message of `p` on csid `csid` cut into chunks of `size` (fmt 0 first, then fmt 3). */
function chunked(csid: number, p: Uint8Array, size = 128, type = 9): Uint8Array {
  const parts: Part[] = [h0(csid, 0, p.length, type, 1)];
  for (let o = 0; o < p.length; o += size) {
    if (o > 0) parts.push(0xc0 | csid);
    parts.push(p.subarray(o, o + size));
  }
  return b(...parts);
}

const setChunkSize = (n: number): Uint8Array => b(h0(2, 0, 4, 1, 0), u32(n));

describe("ChunkDecoder memory follows the bytes that arrived", () => {
  it("a 16 MiB announcement with 3 KB of data holds about 3 KB, not 16 MiB", () => {
    const d = new ChunkDecoder();
    d.push(setChunkSize(4096));
    d.push(b(h0(6, 0, 0xffffff, 9, 1)));
    assert.equal(d.partialBytes, 0, "a header alone allocates nothing");
    d.push(fill(3000));
    assert.equal(d.bufferedBytes, 3000);
    assert.equal(d.partialBytes, 4096, "a 4 KiB head, not a 64 KiB block");
    d.push(fill(1096)); // the rest of the first 4096-byte chunk
    d.push(b(0xc6, fill(1904)));
    assert.equal(d.bufferedBytes, 6000);
    assert.equal(d.partialBytes, 64 << 10, "past the head: one block");
    // Many messages started with one 128-byte chunk each hold 128 + … bytes each, not a block.
    const many = new ChunkDecoder();
    for (let csid = 4; csid < 34; csid++) many.push(b(h0(csid, 0, 0xffffff, 9, 1), fill(128)));
    assert.equal(many.bufferedBytes, 30 * 128);
    assert.equal(many.partialBytes, 30 * 4096);
    // Byte by byte it takes a block whenever the last one is full, never ahead of the data.
    const slow = new ChunkDecoder({ pool: new BlockPool({ blockSize: 16 }) });
    slow.push(b(h0(6, 0, 0xffffff, 9, 1)));
    for (let i = 1; i <= 128; i++) {
      slow.push(b(i & 0xff));
      assert.equal(slow.bufferedBytes, i);
      assert.equal(slow.partialBytes, Math.ceil(i / 16) * 16, `held after ${i} bytes`);
    }
  });

  it("a shared pool serves connection after connection with the same blocks", () => {
    // 8 connections at a time, each holding 1 MiB of a 16 MiB message; 50 times the oldest
    // closes and a new one takes its place (a flood under eviction). The blocks of each closed
    // one go back to the pool and serve the next: no new memory after the first 8.
    const budget = new ByteBudget({ limit: 16 << 20 });
    const pool = new BlockPool({ budget }); // 1 MiB slabs, one kept in reserve
    const data = fill(65536);
    const first = b(setChunkSize(65536), h0(6, 0, 0xffffff, 9, 1), data);
    const more = b(0xc6, data);
    const open: ChunkDecoder[] = [];
    for (let i = 0; i < 58; i++) {
      if (open.length === 8) open.shift()!.dispose();
      const d = new ChunkDecoder({ pool });
      d.push(first);
      for (let k = 1; k < 16; k++) d.push(more);
      assert.equal(d.partialBytes, 1 << 20);
      open.push(d);
      assert.equal(budget.used, open.length << 20);
    }
    assert.equal(pool.allocated, 8 * 16, "8 connections' worth of blocks, reused");
    // Demand gone: the pool keeps no more free blocks than its reserve (one slab).
    for (const d of open) d.dispose();
    assert.equal(budget.used, 0);
    assert.equal(pool.inUse, 0);
    assert.equal(pool.free, 16);
  });

  it("a head pool with a reserve smaller than a slab keeps its slab between messages", () => {
    // The server's head pool: 4 KiB blocks in 1 MiB slabs, reserve 16. Small messages one after
    // another each take a block and give it back; freeing the then wholly free slab each time
    // made every message allocate (and zero) a new 1 MiB slab, halving ingest throughput.
    const budget = new ByteBudget({ limit: 16 << 20 });
    const headPool = new BlockPool({ blockSize: 4096, slabBlocks: 256, budget });
    const d = new ChunkDecoder({ pool: new BlockPool({ budget }), headPool });
    d.push(setChunkSize(65536));
    for (let i = 0; i < 100; i++) {
      // Each message in two pushes, so it is held as a partial message in between.
      const msg = b(h0(6, i, 2000, 9, 1), fill(2000));
      assert.equal(d.push(msg.subarray(0, 500)).length, 0);
      assert.equal(d.push(msg.subarray(500)).length, 1);
    }
    assert.equal(headPool.allocated, 256, "one slab, allocated once");
    assert.equal(headPool.inUse, 0);
    assert.equal(headPool.free, 256, "kept while idle");
    // With less room left in the budget than a slab, the idle slab still goes.
    assert.ok(budget.tryTake(budget.limit - 8192));
    headPool.give(headPool.take()!);
    assert.equal(headPool.free, 0);
  });

  it("payloads are exact, independent buffers though intermediate buffers are reused", () => {
    const d = new ChunkDecoder();
    d.push(setChunkSize(4096));
    const kept: [Uint8Array, Uint8Array][] = [];
    for (const [n, seed] of [[200_000, 3], [70_000, 5], [200_000, 7], [5, 9], [131_072, 11]]) {
      const p = fill(n, seed);
      // Split the wire into odd-sized reads so growth happens mid-chunk too.
      const wire = chunked(6, p, 4096);
      const out: RtmpMessage[] = [];
      for (let o = 0; o < wire.length; o += 1500) out.push(...d.push(wire.subarray(o, o + 1500)));
      assert.equal(out.length, 1);
      assert.equal(out[0].payload.buffer.byteLength, n, "payload is its own exact buffer");
      kept.push([out[0].payload, p]);
      assert.equal(d.bufferedBytes, 0);
      assert.equal(d.partialBytes, 0);
    }
    for (const [got, want] of kept) assert.deepEqual(got, want, "an earlier payload changed");
  });
});

describe("ChunkDecoder reusing buffers across interleaved messages", () => {
  it("random large messages interleaved chunk by chunk on 3 chunk streams decode exactly", () => {
    const seed = Number(process.env.RTMP_TEST_SEED ?? 0x0c0ffee) >>> 0;
    console.log(`chunk_decoder_test: RTMP_TEST_SEED=${seed}`);
    const rand = prng(seed);
    const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
    for (let round = 0; round < 20; round++) {
      const chunkSize = [128, 1000, 4096, 65536][int(0, 3)];
      const wire: Part[] = [setChunkSize(chunkSize)];
      // Each chunk stream sends a queue of messages; the chunks of the three are interleaved,
      // so a message completes when its last chunk goes out: that is the expected order.
      const queues = [0, 1, 2].map((k) =>
        Array.from({ length: int(1, 4) }, (_, i) => fill(int(0, 300_000), round * 31 + k * 7 + i))
      );
      const completed: Uint8Array[] = [];
      const at = [0, 0, 0];
      for (;;) {
        const live = [0, 1, 2].filter((k) => queues[k].length > 0);
        if (live.length === 0) break;
        const k = live[int(0, live.length - 1)];
        const p = queues[k][0];
        wire.push(at[k] === 0 ? h0(4 + k, 0, p.length, 9, 1) : 0xc4 + k);
        wire.push(p.subarray(at[k], at[k] + chunkSize));
        at[k] += chunkSize;
        if (at[k] >= p.length) {
          completed.push(queues[k].shift() as Uint8Array);
          at[k] = 0;
        }
      }
      const bytes = b(...wire);
      const d = new ChunkDecoder();
      const got: Uint8Array[] = [];
      for (let o = 0; o < bytes.length;) {
        const n = int(1, 70_000);
        for (const m of d.push(bytes.subarray(o, o + n))) if (m.type === 9) got.push(m.payload);
        o += n;
      }
      assert.equal(got.length, completed.length, `round ${round}: message count (seed ${seed})`);
      for (let i = 0; i < completed.length; i++) {
        assert.deepEqual(got[i], completed[i], `round ${round}: message ${i} (seed ${seed})`);
        assert.equal(got[i].buffer.byteLength, completed[i].length, "an exact, own buffer");
      }
      assert.equal(d.bufferedBytes, 0);
      assert.equal(d.partialBytes, 0);
    }
  });
});

describe("ChunkDecoder with a shared ByteBudget", () => {
  it("charges every held byte and releases on completion, abort, failure and dispose", () => {
    const budget = new ByteBudget({ limit: 1 << 20 });
    const pool = new BlockPool({ blockSize: 256, budget });
    const a = new ChunkDecoder({ pool });
    const c = new ChunkDecoder({ pool, budget });
    throwsCode(
      () => new ChunkDecoder({ pool, budget: new ByteBudget({ limit: 1 }) }),
      "INVALID_ARGUMENT",
      /budget of the given pool/,
    );
    a.push(b(h0(4, 0, 300, 9, 1), fill(128)));
    c.push(b(h0(4, 0, 300, 9, 1), fill(128)));
    assert.equal(budget.used, 512);
    assert.equal(budget.used, a.partialBytes + c.partialBytes);
    // Completion hands the payload out and its blocks leave the budget.
    assert.equal(a.push(b(0xc4, fill(128), 0xc4, fill(44))).length, 1);
    assert.equal(a.partialBytes, 0);
    assert.equal(budget.used, c.partialBytes);
    // Abort (RTMP 1.0 §5.4.2).
    c.push(b(h0(2, 0, 4, 2, 0), u32(4)));
    assert.equal(c.bufferedBytes, 0);
    assert.equal(budget.used, a.partialBytes + c.partialBytes);
    // A failure gives back everything at once.
    c.push(b(h0(5, 0, 1000, 9, 1), fill(128)));
    assert.ok(c.partialBytes > 0);
    throwsCode(() => c.push(b(0xc9)), "MALFORMED");
    assert.equal(c.partialBytes, 0);
    // dispose() too, and the decoder refuses further input.
    a.push(b(h0(5, 0, 1000, 9, 1), fill(128)));
    a.dispose();
    a.dispose();
    assert.equal(a.partialBytes, 0);
    assert.equal(budget.used, 0);
    throwsCode(() => a.push(b(1)), "CLOSED");
  });

  it("an exhausted budget is LIMIT_EXCEEDED with what is in use, and frees nothing else", () => {
    const budget = new ByteBudget({ limit: 2000 });
    const pool = new BlockPool({ blockSize: 256, budget });
    const big = new ChunkDecoder({ pool });
    big.push(b(h0(4, 0, 5000, 9, 1), fill(128), 0xc4, fill(128), 0xc4, fill(128)));
    const bigHeld = big.partialBytes;
    assert.equal(bigHeld, 512, "384 bytes in two blocks");
    const small = new ChunkDecoder({ pool });
    small.push(b(h0(4, 0, 5000, 9, 1)));
    let sent = 0;
    let error: unknown;
    try {
      for (; sent < 5000; sent += 128) small.push(b(sent === 0 ? [] : 0xc4, fill(128)));
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof RtmpError && error.code === "LIMIT_EXCEEDED", String(error));
    assert.match(error.message, /shared partial-message budget is exhausted \(\d+ of 2000 bytes/);
    // It failed only when a sixth block did not fit next to the big one's two.
    assert.equal(sent, 5 * 256, `failed after ${sent} bytes`);
    assert.equal(small.partialBytes, 0, "the failed decoder gave its bytes back");
    assert.equal(big.partialBytes, bigHeld, "the other holder kept everything");
    assert.equal(budget.used, bigHeld);
  });

  it("onExhausted may evict the biggest holders so the asking decoder carries on", () => {
    const decoders: ChunkDecoder[] = [];
    const evicted: number[] = [];
    const budget = new ByteBudget({
      limit: 5000,
      onExhausted(needed, bud) {
        const ranked = decoders.filter((d) => d.partialBytes > 0)
          .sort((x, y) => y.partialBytes - x.partialBytes);
        for (const d of ranked) {
          if (bud.available >= needed) break;
          d.dispose();
          evicted.push(decoders.indexOf(d));
        }
      },
    });
    const pool = new BlockPool({ blockSize: 1024, budget });
    for (let i = 0; i < 3; i++) decoders.push(new ChunkDecoder({ pool }));
    const [hog, victim, asker] = decoders;
    hog.push(setChunkSize(1024));
    hog.push(b(h0(4, 0, 100_000, 9, 1), fill(1024), 0xc4, fill(1024)));
    victim.push(b(h0(4, 0, 100_000, 9, 1), fill(128), 0xc4, fill(128)));
    const before = budget.used;
    assert.equal(before, 3 * 1024);
    assert.equal(before, hog.partialBytes + victim.partialBytes);
    // asker needs 3 blocks for 3000 bytes: the second does not fit next to both, so the hog goes.
    asker.push(setChunkSize(4096));
    asker.push(b(h0(4, 0, 100_000, 9, 1), fill(3000)));
    assert.deepEqual(evicted, [0]);
    assert.equal(asker.partialBytes, 3 * 1024);
    assert.equal(budget.used, asker.partialBytes + victim.partialBytes);
    throwsCode(() => hog.push(b(0xc4, 1)), "CLOSED");

    // A decoder that is itself the one evicted fails its push with LIMIT_EXCEEDED.
    const alone = new ByteBudget({
      limit: 1000,
      onExhausted: () => self.dispose(),
    });
    const self = new ChunkDecoder({ pool: new BlockPool({ blockSize: 256, budget: alone }) });
    self.push(b(h0(4, 0, 5000, 9, 1), fill(128), 0xc4, fill(128), 0xc4, fill(128)));
    throwsCode(
      () => self.push(b(0xc4, fill(128), 0xc4, fill(128), 0xc4, fill(128), 0xc4, fill(128))),
      "LIMIT_EXCEEDED",
      /evicted to free the shared partial-message budget/,
    );
    assert.equal(alone.used, 0);
    throwsCode(() => self.push(b(1)), "LIMIT_EXCEEDED", /evicted/);
  });
});

describe("ByteBudget", () => {
  it("takes up to its limit and releases", () => {
    const budget = new ByteBudget({ limit: 100 });
    assert.equal(budget.limit, 100);
    assert.equal(budget.tryTake(60), true);
    assert.equal(budget.tryTake(41), false);
    assert.equal(budget.used, 60);
    assert.equal(budget.tryTake(40), true);
    assert.equal(budget.available, 0);
    assert.equal(budget.tryTake(0), true);
    budget.release(100);
    assert.equal(budget.used, 0);
  });

  it("rejects bad counts and over-release with INVALID_ARGUMENT", () => {
    throwsCode(() => new ByteBudget({ limit: 0 }), "INVALID_ARGUMENT");
    const budget = new ByteBudget({ limit: 10 });
    throwsCode(() => budget.tryTake(-1), "INVALID_ARGUMENT");
    throwsCode(() => budget.tryTake(1.5), "INVALID_ARGUMENT");
    budget.tryTake(5);
    throwsCode(() => budget.release(6), "INVALID_ARGUMENT", /only 5 are taken/);
    assert.equal(budget.used, 5);
  });

  it("runs onExhausted once per refused take, not re-entered, and survives a throwing hook", () => {
    let calls = 0;
    const budget: ByteBudget = new ByteBudget({
      limit: 10,
      onExhausted(needed) {
        calls++;
        // A nested take that does not fit does not call the hook again.
        assert.equal(budget.tryTake(100), false);
        if (needed === 7) budget.release(5);
        if (needed === 9) throw new Error("hook failure");
      },
    });
    assert.equal(budget.tryTake(8), true);
    assert.equal(calls, 0, "no hook while takes fit");
    // 8 + 7 > 10: the hook frees 5, and 3 + 7 fits.
    assert.equal(budget.tryTake(7), true);
    assert.equal(calls, 1);
    assert.equal(budget.used, 10);
    // A throwing hook refuses the take and leaves the count alone.
    assert.equal(budget.tryTake(9), false);
    assert.equal(calls, 2);
    assert.equal(budget.used, 10);
  });
});
