import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  abortMessage,
  acknowledgementMessage,
  type ControlMessage,
  decodeControl,
  setChunkSizeMessage,
  setPeerBandwidthMessage,
  type UserControlEvent,
  userControlMessage,
  windowAckSizeMessage,
} from "../protocol/control.ts";
import type { RtmpMessage } from "../protocol/message.ts";
import { throwsCode } from "./support/util.ts";

const msg = (type: number, ...payload: number[]): RtmpMessage => ({
  type,
  streamId: 0,
  timestamp: 0,
  payload: Uint8Array.from(payload),
});

describe("protocol control messages (RTMP 1.0 §5.4)", () => {
  const cases: [string, RtmpMessage, ControlMessage, () => RtmpMessage][] = [
    [
      "Set Chunk Size (1)",
      msg(1, 0x00, 0x00, 0x10, 0x00),
      { type: "SetChunkSize", chunkSize: 4096 },
      () => setChunkSizeMessage(4096),
    ],
    [
      "Abort (2)",
      msg(2, 0x00, 0x00, 0x00, 0x06),
      { type: "Abort", chunkStreamId: 6 },
      () => abortMessage(6),
    ],
    [
      "Acknowledgement (3)",
      msg(3, 0xff, 0xff, 0xff, 0xfe),
      { type: "Acknowledgement", sequenceNumber: 0xfffffffe },
      () => acknowledgementMessage(0xfffffffe),
    ],
    [
      "Window Acknowledgement Size (5)",
      msg(5, 0x00, 0x26, 0x25, 0xa0),
      { type: "WindowAckSize", size: 2500000 },
      () => windowAckSizeMessage(2500000),
    ],
    [
      "Set Peer Bandwidth (6) dynamic",
      msg(6, 0x00, 0x26, 0x25, 0xa0, 0x02),
      { type: "SetPeerBandwidth", size: 2500000, limitType: 2 },
      () => setPeerBandwidthMessage(2500000, 2),
    ],
    [
      "Set Peer Bandwidth (6) hard",
      msg(6, 0x00, 0x00, 0x10, 0x00, 0x00),
      { type: "SetPeerBandwidth", size: 4096, limitType: 0 },
      () => setPeerBandwidthMessage(4096, 0),
    ],
  ];
  for (const [name, wire, decoded, build] of cases) {
    it(`decodes and builds ${name}`, () => {
      assert.deepStrictEqual(decodeControl(wire), decoded);
      assert.deepEqual(build(), wire);
    });
  }

  it("accepts the chunk size bounds 1 and 0x7FFFFFFF", () => {
    assert.deepStrictEqual(decodeControl(msg(1, 0, 0, 0, 1)), {
      type: "SetChunkSize",
      chunkSize: 1,
    });
    assert.deepStrictEqual(decodeControl(msg(1, 0x7f, 0xff, 0xff, 0xff)), {
      type: "SetChunkSize",
      chunkSize: 0x7fffffff,
    });
    assert.deepEqual(
      setChunkSizeMessage(0x7fffffff).payload,
      Uint8Array.of(0x7f, 0xff, 0xff, 0xff),
    );
  });

  it("rejects a chunk size of 0 or with the top bit set", () => {
    throwsCode(() => decodeControl(msg(1, 0, 0, 0, 0)), "MALFORMED", /got 0/);
    throwsCode(() => decodeControl(msg(1, 0x80, 0, 0, 0)), "MALFORMED", /got 2147483648/);
    throwsCode(() => decodeControl(msg(1, 0xff, 0xff, 0xff, 0xff)), "MALFORMED");
  });

  it("rejects an unknown bandwidth limit type", () => {
    throwsCode(() => decodeControl(msg(6, 0, 0, 0, 1, 3)), "MALFORMED", /limit type .* got 3/);
  });

  it("rejects payloads too short for their fields", () => {
    for (const [type, len] of [[1, 4], [2, 4], [3, 4], [5, 4], [6, 5], [4, 2]]) {
      for (let n = 0; n < len; n++) {
        throwsCode(() => decodeControl(msg(type, ...new Array<number>(n).fill(1))), "MALFORMED");
      }
    }
  });

  it("ignores trailing bytes after the fixed fields", () => {
    assert.deepStrictEqual(decodeControl(msg(5, 0, 0, 0, 9, 0xaa)), {
      type: "WindowAckSize",
      size: 9,
    });
  });

  it("rejects messages of other types with INVALID_ARGUMENT", () => {
    for (const t of [0, 7, 8, 20, 22]) {
      throwsCode(() => decodeControl(msg(t, 0, 0, 0, 0)), "INVALID_ARGUMENT");
    }
  });

  it("puts control messages on stream 0 at timestamp 0", () => {
    for (const m of [setChunkSizeMessage(128), abortMessage(3), acknowledgementMessage(1)]) {
      assert.equal(m.streamId, 0);
      assert.equal(m.timestamp, 0);
    }
    assert.equal(windowAckSizeMessage(1).type, 5);
    assert.equal(setPeerBandwidthMessage(1, 1).type, 6);
  });

  it("validates builder arguments", () => {
    throwsCode(() => setChunkSizeMessage(0), "INVALID_ARGUMENT");
    throwsCode(() => setChunkSizeMessage(0x80000000), "INVALID_ARGUMENT");
    throwsCode(() => setChunkSizeMessage(1.5), "INVALID_ARGUMENT");
    throwsCode(() => abortMessage(-1), "INVALID_ARGUMENT");
    throwsCode(() => acknowledgementMessage(2 ** 32), "INVALID_ARGUMENT");
    throwsCode(() => windowAckSizeMessage(NaN), "INVALID_ARGUMENT");
    throwsCode(() => setPeerBandwidthMessage(1, 3 as 0), "INVALID_ARGUMENT");
  });
});

describe("user control events (RTMP 1.0 §6.2, §7.1.7)", () => {
  const cases: [UserControlEvent, number[]][] = [
    [{ type: "StreamBegin", streamId: 1 }, [0, 0, 0, 0, 0, 1]],
    [{ type: "StreamEOF", streamId: 2 }, [0, 1, 0, 0, 0, 2]],
    [{ type: "StreamDry", streamId: 3 }, [0, 2, 0, 0, 0, 3]],
    [
      { type: "SetBufferLength", streamId: 1, bufferLength: 3000 },
      [0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8],
    ],
    [{ type: "StreamIsRecorded", streamId: 1 }, [0, 4, 0, 0, 0, 1]],
    [{ type: "PingRequest", timestamp: 0xdeadbeef }, [0, 6, 0xde, 0xad, 0xbe, 0xef]],
    [{ type: "PingResponse", timestamp: 12345 }, [0, 7, 0, 0, 0x30, 0x39]],
    [{ type: "Unknown", eventType: 31, data: Uint8Array.of(0, 0, 0, 1) }, [0, 31, 0, 0, 0, 1]],
    [{ type: "Unknown", eventType: 0xffff, data: new Uint8Array(0) }, [0xff, 0xff]],
  ];
  for (const [event, payload] of cases) {
    const label = event.type === "Unknown" ? `Unknown ${event.eventType}` : event.type;
    it(`decodes and builds ${label}`, () => {
      const wire = msg(4, ...payload);
      assert.deepStrictEqual(decodeControl(wire), { type: "UserControl", event });
      assert.deepEqual(userControlMessage(event), wire);
    });
  }

  it("copies the data of unknown events out of the payload", () => {
    const wire = msg(4, 0, 32, 9, 9);
    const m = decodeControl(wire);
    assert.equal(m.type, "UserControl");
    if (m.type !== "UserControl" || m.event.type !== "Unknown") throw new Error("unreachable");
    wire.payload[2] = 0;
    assert.deepEqual(m.event.data, Uint8Array.of(9, 9));
  });

  it("rejects truncated event data", () => {
    throwsCode(() => decodeControl(msg(4, 0, 0, 0, 0, 1)), "MALFORMED", /StreamBegin/);
    throwsCode(() => decodeControl(msg(4, 0, 3, 0, 0, 0, 1, 0, 0)), "MALFORMED", /SetBufferLength/);
    throwsCode(() => decodeControl(msg(4, 0, 6)), "MALFORMED", /PingRequest/);
    throwsCode(() => decodeControl(msg(4, 0)), "MALFORMED", /event type/);
  });

  it("sets the given timestamp and stream 0", () => {
    const m = userControlMessage({ type: "PingRequest", timestamp: 5 }, 777);
    assert.equal(m.type, 4);
    assert.equal(m.streamId, 0);
    assert.equal(m.timestamp, 777);
  });

  it("validates event fields", () => {
    throwsCode(() => userControlMessage({ type: "StreamBegin", streamId: -1 }), "INVALID_ARGUMENT");
    throwsCode(
      () => userControlMessage({ type: "SetBufferLength", streamId: 1, bufferLength: 2 ** 32 }),
      "INVALID_ARGUMENT",
    );
    throwsCode(
      () => userControlMessage({ type: "Unknown", eventType: 70000, data: new Uint8Array(0) }),
      "INVALID_ARGUMENT",
    );
    throwsCode(
      () => userControlMessage({ type: "Bogus" } as unknown as UserControlEvent),
      "INVALID_ARGUMENT",
    );
  });
});
