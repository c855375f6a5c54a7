import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { buildAggregate, splitAggregate } from "../protocol/aggregate.ts";
import type { RtmpMessage } from "../protocol/message.ts";
import { throwsCode, u32 } from "./support/util.ts";

/** One sub-message in the FLV-tag layout of RTMP 1.0 §7.1.6, written by hand. */
function sub(
  type: number,
  timestamp: number,
  payload: number[],
  opts: { streamId?: number; back?: number } = {},
): number[] {
  const size = payload.length;
  const sid = opts.streamId ?? 0;
  return [
    type,
    (size >>> 16) & 0xff,
    (size >>> 8) & 0xff,
    size & 0xff,
    (timestamp >>> 16) & 0xff,
    (timestamp >>> 8) & 0xff,
    timestamp & 0xff,
    timestamp >>> 24, // high byte after the low 24 bits, as in FLV
    (sid >>> 16) & 0xff,
    (sid >>> 8) & 0xff,
    sid & 0xff,
    ...payload,
    ...u32(opts.back ?? 11 + size),
  ];
}
const agg = (timestamp: number, parts: number[][], streamId = 1): RtmpMessage => ({
  type: 22,
  streamId,
  timestamp,
  payload: Uint8Array.from(parts.flat()),
});

describe("splitAggregate", () => {
  it("splits three sub-messages and renormalises their timestamps to the aggregate's", () => {
    const m = agg(1000, [
      sub(9, 500, [0x17, 0x01, 0x00, 0x00, 0x00, 0xaa], { streamId: 7 }),
      sub(8, 523, [0xaf, 0x01, 0xbb]),
      sub(18, 540, [0x02, 0x00, 0x01, 0x78]),
    ]);
    const out = splitAggregate(m);
    assert.deepStrictEqual(
      out.map((x) => ({ ...x, payload: [...x.payload] })),
      [
        { type: 9, streamId: 1, timestamp: 1000, payload: [0x17, 0x01, 0x00, 0x00, 0x00, 0xaa] },
        { type: 8, streamId: 1, timestamp: 1023, payload: [0xaf, 0x01, 0xbb] },
        { type: 18, streamId: 1, timestamp: 1040, payload: [0x02, 0x00, 0x01, 0x78] },
      ],
    );
  });

  it("keeps timestamps when the first sub-message matches the aggregate (offset 0)", () => {
    const out = splitAggregate(agg(40, [sub(9, 40, [1]), sub(9, 80, [2]), sub(8, 60, [3])]));
    assert.deepEqual(out.map((x) => x.timestamp), [40, 80, 60]);
  });

  it("reads the timestamp's high byte (extended) and wraps modulo 2^32", () => {
    const big = 0x01234567;
    assert.deepEqual(
      splitAggregate(agg(big, [sub(9, big, [1]), sub(9, big + 10, [2])])).map((x) => x.timestamp),
      [big, big + 10],
    );
    const out = splitAggregate(agg(0xfffffff0, [sub(9, 0, [1]), sub(9, 0x20, [2])]));
    assert.deepEqual(out.map((x) => x.timestamp), [0xfffffff0, 0x10]);
    const back = splitAggregate(agg(5, [sub(9, 100, [1]), sub(9, 90, [2])]));
    assert.deepEqual(back.map((x) => x.timestamp), [5, 0xfffffffb]);
  });

  it("returns views into the aggregate payload and handles empty sub-payloads", () => {
    const m = agg(0, [sub(9, 0, []), sub(8, 0, [7])]);
    const out = splitAggregate(m);
    assert.equal(out[0].payload.length, 0);
    assert.equal(out[1].payload.buffer, m.payload.buffer);
    assert.deepEqual(splitAggregate(agg(0, [])), []);
  });

  it("rejects a back pointer that does not match header + payload", () => {
    throwsCode(
      () => splitAggregate(agg(0, [sub(9, 0, [1, 2]), sub(9, 0, [1], { back: 1 })])),
      "MALFORMED",
      /sub-message 1 at offset 17: back pointer 1, expected 12/,
    );
  });

  it("rejects truncated headers, payloads and back pointers", () => {
    const whole = Uint8Array.from([...sub(9, 0, [1, 2, 3]), ...sub(8, 0, [4])]);
    for (let n = 1; n < whole.length; n++) {
      if (n === 18) continue; // a whole first sub-message is a valid aggregate
      throwsCode(
        () =>
          splitAggregate({ type: 22, streamId: 1, timestamp: 0, payload: whole.subarray(0, n) }),
        "MALFORMED",
      );
    }
    assert.equal(
      splitAggregate({ type: 22, streamId: 1, timestamp: 0, payload: whole.subarray(0, 18) })
        .length,
      1,
    );
    throwsCode(() => splitAggregate(agg(0, [[9, 0, 0]])), "MALFORMED", /11-byte header/);
    throwsCode(
      () => splitAggregate(agg(0, [sub(9, 0, [1, 2, 3]).slice(0, 13)])),
      "MALFORMED",
      /declares 3 payload byte/,
    );
  });

  it("rejects a size larger than the payload without allocating", () => {
    const header = [9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0];
    throwsCode(() => splitAggregate(agg(0, [header])), "MALFORMED", /16777215/);
  });

  it("rejects nested aggregates", () => {
    throwsCode(() => splitAggregate(agg(0, [sub(22, 0, [])])), "MALFORMED", /nested/);
  });

  it("rejects other message types with INVALID_ARGUMENT", () => {
    throwsCode(
      () => splitAggregate({ type: 9, streamId: 1, timestamp: 0, payload: new Uint8Array(0) }),
      "INVALID_ARGUMENT",
    );
  });
});

describe("buildAggregate", () => {
  const msgs: RtmpMessage[] = [
    { type: 9, streamId: 1, timestamp: 0x01000010, payload: Uint8Array.of(0x17, 1) },
    { type: 8, streamId: 1, timestamp: 0x01000020, payload: Uint8Array.of(0xaf) },
    { type: 18, streamId: 1, timestamp: 0x01000030, payload: new Uint8Array(0) },
  ];

  it("lays sub-messages out as FLV-style tags with back pointers", () => {
    const m = buildAggregate(msgs, 1);
    assert.equal(m.type, 22);
    assert.equal(m.streamId, 1);
    assert.equal(m.timestamp, 0x01000010);
    assert.deepEqual(
      [...m.payload],
      [
        ...sub(9, 0x01000010, [0x17, 1], { streamId: 1 }),
        ...sub(8, 0x01000020, [0xaf], { streamId: 1 }),
        ...sub(18, 0x01000030, [], { streamId: 1 }),
      ],
    );
  });

  it("round-trips through splitAggregate", () => {
    const out = splitAggregate(buildAggregate(msgs, 1));
    assert.deepStrictEqual(
      out.map((x) => ({ ...x, payload: [...x.payload] })),
      msgs.map((x) => ({ ...x, payload: [...x.payload] })),
    );
  });

  it("validates its input", () => {
    throwsCode(() => buildAggregate([], 1), "INVALID_ARGUMENT", /at least one/);
    throwsCode(() => buildAggregate([{ ...msgs[0], type: 22 }], 1), "INVALID_ARGUMENT");
    throwsCode(() => buildAggregate([{ ...msgs[0], type: 256 }], 1), "INVALID_ARGUMENT");
    throwsCode(() => buildAggregate([{ ...msgs[0], timestamp: -1 }], 1), "INVALID_ARGUMENT");
    throwsCode(() => buildAggregate(msgs, -1), "INVALID_ARGUMENT");
    throwsCode(
      () => buildAggregate([{ ...msgs[0], payload: new Uint8Array(0x1000000) }], 1),
      "INVALID_ARGUMENT",
      /16777215/,
    );
  });
});
