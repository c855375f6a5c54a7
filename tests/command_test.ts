import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  closeStreamCommand,
  type Command,
  connectCommand,
  createStreamCommand,
  decodeCommand,
  deleteStreamCommand,
  encodeCommand,
  errorCommand,
  fcPublishCommand,
  fcUnpublishCommand,
  onFcPublishCommand,
  parseConnect,
  parsePlay,
  parsePublish,
  playCommand,
  publishCommand,
  releaseStreamCommand,
  resultCommand,
  statusCommand,
} from "../protocol/command.ts";
import { CapsExMask, FourCcInfoMask } from "../protocol/capabilities.ts";
import { statusOf } from "../protocol/status.ts";
import {
  decodeData,
  encodeData,
  metadataOf,
  unwrapSetDataFrame,
  wrapSetDataFrame,
} from "../protocol/data.ts";
import { type AmfObject, AmfTypedObject, isEcmaArray } from "../protocol/amf.ts";
import type { RtmpMessage } from "../protocol/message.ts";
import { bytes, hex, throwsCode, u32 } from "./support/util.ts";
import { END, key, num, str, vr } from "./support/amf_layout.ts";

// Hand-written AMF0/AMF3 layout (AMF0 §2, AMF3 §3), independent of the encoders under test.
const bool = (b: boolean): number[] => [0x01, b ? 1 : 0];
const NULL = [0x05];
const obj = (...props: number[][]): number[] => [0x03, ...props.flat(), ...END];
const message = (type: number, payload: Uint8Array, streamId = 0): RtmpMessage => ({
  type,
  streamId,
  timestamp: 0,
  payload,
});

function roundTrip(c: Command, wire: Uint8Array, streamId = 0): void {
  const m = encodeCommand(c, { streamId });
  assert.equal(m.type, 20);
  assert.equal(m.streamId, streamId);
  assert.deepEqual(m.payload, wire);
  assert.deepStrictEqual(decodeCommand(message(20, wire, streamId)), c);
}

describe("FFmpeg publish-flow command payloads", () => {
  const flashVer = "FMLE/3.0 (compatible; Lavf59.27.100)";

  it("connect", () => {
    const wire = bytes(
      str("connect"),
      num(1),
      obj(
        [...key("app"), ...str("live")],
        [...key("type"), ...str("nonprivate")],
        [...key("flashVer"), ...str(flashVer)],
        [...key("tcUrl"), ...str("rtmp://127.0.0.1:1935/live")],
      ),
    );
    const c = connectCommand({
      app: "live",
      type: "nonprivate",
      flashVer,
      tcUrl: "rtmp://127.0.0.1:1935/live",
    });
    roundTrip(c, wire);
    const p = parseConnect(decodeCommand(message(20, wire)));
    assert.equal(p.app, "live");
    assert.equal(p.type, "nonprivate");
    assert.equal(p.flashVer, flashVer);
    assert.equal(p.tcUrl, "rtmp://127.0.0.1:1935/live");
    assert.equal(p.extra, undefined);
  });

  it("matches a connect captured from FFmpeg 5.1 byte for byte", () => {
    const captured = hex(
      "020007636f6e6e656374003ff00000000000000300036170700200046c69766500047479706502000a6e6f6e" +
        "707269766174650008666c617368566572020024464d4c452f332e302028636f6d70617469626c653b204c" +
        "61766635392e32372e313030290005746355726c02001b72746d703a2f2f3132372e302e302e313a343238" +
        "38312f6c697665000009",
    );
    roundTrip(
      connectCommand({
        app: "live",
        type: "nonprivate",
        flashVer,
        tcUrl: "rtmp://127.0.0.1:42881/live",
      }),
      captured,
    );
  });

  const simple: [string, Command, Uint8Array, string][] = [
    [
      "releaseStream",
      releaseStreamCommand(2, "mykey"),
      bytes(str("releaseStream"), num(2), NULL, str("mykey")),
      "02000d72656c6561736553747265616d004000000000000000050200056d796b6579",
    ],
    [
      "FCPublish",
      fcPublishCommand(3, "mykey"),
      bytes(str("FCPublish"), num(3), NULL, str("mykey")),
      "02000946435075626c697368004008000000000000050200056d796b6579",
    ],
    [
      "createStream",
      createStreamCommand(4),
      bytes(str("createStream"), num(4), NULL),
      "02000c63726561746553747265616d00401000000000000005",
    ],
    [
      "publish",
      publishCommand(5, "mykey", "live"),
      bytes(str("publish"), num(5), NULL, str("mykey"), str("live")),
      "0200077075626c697368004014000000000000050200056d796b65790200046c697665",
    ],
    [
      "FCUnpublish",
      fcUnpublishCommand(6, "mykey"),
      bytes(str("FCUnpublish"), num(6), NULL, str("mykey")),
      "02000b4643556e7075626c697368004018000000000000050200056d796b6579",
    ],
    [
      "deleteStream",
      deleteStreamCommand(7, 1),
      bytes(str("deleteStream"), num(7), NULL, num(1)),
      "02000c64656c65746553747265616d00401c00000000000005003ff0000000000000",
    ],
  ];
  for (const [name, c, wire, captured] of simple) {
    it(`${name} (hand-built layout equals the FFmpeg capture)`, () => {
      assert.deepEqual(wire, hex(captured));
      roundTrip(c, wire);
    });
  }
});

describe("server replies", () => {
  it("connect _result with properties and info objects", () => {
    const wire = bytes(
      str("_result"),
      num(1),
      obj([...key("fmsVer"), ...str("FMS/3,0,1,123")], [...key("capabilities"), ...num(31)]),
      obj(
        [...key("level"), ...str("status")],
        [...key("code"), ...str("NetConnection.Connect.Success")],
        [...key("description"), ...str("Connection succeeded.")],
        [...key("objectEncoding"), ...num(0)],
      ),
    );
    const c = resultCommand(1, { fmsVer: "FMS/3,0,1,123", capabilities: 31 }, {
      level: "status",
      code: "NetConnection.Connect.Success",
      description: "Connection succeeded.",
      objectEncoding: 0,
    });
    roundTrip(c, wire);
    assert.equal(statusOf(c)?.code, "NetConnection.Connect.Success");
  });

  it("createStream _result carrying the stream id", () => {
    roundTrip(resultCommand(4, null, 1), bytes(str("_result"), num(4), NULL, num(1)));
  });

  it("onStatus NetStream.Publish.Start on the media stream", () => {
    const wire = bytes(
      str("onStatus"),
      num(0),
      NULL,
      obj(
        [...key("level"), ...str("status")],
        [...key("code"), ...str("NetStream.Publish.Start")],
        [...key("description"), ...str("Start publishing")],
      ),
    );
    roundTrip(
      statusCommand({
        level: "status",
        code: "NetStream.Publish.Start",
        description: "Start publishing",
      }),
      wire,
      1,
    );
  });

  it("statusCommand orders level, code, description first and drops an absent description", () => {
    const c = statusCommand({
      tcUrl: "rtmp://other/live",
      code: "NetConnection.Connect.ReconnectRequest",
      level: "status",
    });
    assert.deepEqual(
      encodeCommand(c, { streamId: 0 }).payload,
      bytes(
        str("onStatus"),
        num(0),
        NULL,
        obj(
          [...key("level"), ...str("status")],
          [...key("code"), ...str("NetConnection.Connect.ReconnectRequest")],
          [...key("tcUrl"), ...str("rtmp://other/live")],
        ),
      ),
    );
  });

  it("_error and onFCPublish", () => {
    const info = { level: "error" as const, code: "NetConnection.Connect.Rejected" };
    const e = errorCommand(1, null, info);
    assert.deepStrictEqual(decodeCommand(encodeCommand(e, { streamId: 0 })), e);
    assert.equal(statusOf(e)?.level, "error");
    const f = onFcPublishCommand({
      level: "status",
      code: "NetStream.Publish.Start",
      description: "k",
    });
    assert.equal(f.name, "onFCPublish");
    assert.equal(f.transactionId, 0);
    assert.deepStrictEqual(decodeCommand(encodeCommand(f, { streamId: 0 })), f);
  });

  it("statusInfoOf returns null when there is no info object", () => {
    assert.equal(statusOf(resultCommand(4, null, 1)), null);
    assert.equal(statusOf(resultCommand(4, null, { code: 1, level: "status" })), null);
  });
});

describe("AMF3 command messages (type 17)", () => {
  // Format byte 0x00, AMF0 "connect" and 1, then 0x11 switching the command object to AMF3.
  const wire = bytes(
    0x00,
    str("connect"),
    num(1),
    0x11,
    0x0a,
    0x0b,
    0x01,
    vr("app"),
    0x06,
    vr("live"),
    vr("objectEncoding"),
    0x04,
    0x03,
    0x01,
  );

  it("decodes the leading 0x00 and a 0x11-switched value", () => {
    const c = decodeCommand(message(17, wire));
    assert.deepStrictEqual(c, {
      name: "connect",
      transactionId: 1,
      commandObject: { app: "live", objectEncoding: 3 },
      args: [],
    });
    assert.equal(parseConnect(c).objectEncoding, 3);
  });

  it("encodes with amf3: type 17, leading 0x00, scalars in AMF0, complex values switched", () => {
    const m = encodeCommand(connectCommand({ app: "live", objectEncoding: 3 }), {
      streamId: 0,
      amf3: true,
      timestamp: 9,
    });
    assert.equal(m.type, 17);
    assert.equal(m.timestamp, 9);
    assert.deepEqual(m.payload, wire);
  });

  it("decodes a type-17 body written entirely in AMF0", () => {
    const c = decodeCommand(message(17, bytes(0x00, str("createStream"), num(2), NULL)));
    assert.deepStrictEqual(c, createStreamCommand(2));
  });

  it("rejects a type-17 body without the 0x00 format byte", () => {
    throwsCode(() => decodeCommand(message(17, bytes(str("x"), num(1)))), "MALFORMED", /0x02/);
    throwsCode(() => decodeCommand(message(17, new Uint8Array(0))), "MALFORMED", /empty/);
  });
});

describe("decodeCommand errors", () => {
  it("requires a string name and a number transaction id", () => {
    throwsCode(() => decodeCommand(message(20, new Uint8Array(0))), "MALFORMED", /empty body/);
    throwsCode(() => decodeCommand(message(20, bytes(num(1), num(1)))), "MALFORMED", /name/);
    throwsCode(() => decodeCommand(message(20, bytes(str("x"), str("1")))), "MALFORMED", /string/);
    throwsCode(() => decodeCommand(message(20, bytes(str("x"), 0x42))), "MALFORMED", /0x42/);
  });

  it("reads a bare name (FFmpeg's onFCPublish) as a notification with transaction id 0", () => {
    assert.deepStrictEqual(decodeCommand(message(20, bytes(str("onFCPublish")))), {
      name: "onFCPublish",
      transactionId: 0,
      commandObject: null,
      args: [],
    });
  });

  it("reads a missing command object as null", () => {
    assert.deepStrictEqual(decodeCommand(message(20, bytes(str("x"), num(0)))), {
      name: "x",
      transactionId: 0,
      commandObject: null,
      args: [],
    });
  });

  it("rejects other message types with INVALID_ARGUMENT", () => {
    throwsCode(() => decodeCommand(message(18, bytes(str("x"), num(0)))), "INVALID_ARGUMENT");
  });

  it("passes the nesting bound through", () => {
    const deep = bytes(str("x"), num(0), 0x0a, u32(1), 0x0a, u32(1), 0x0a, u32(0));
    throwsCode(() => decodeCommand(message(20, deep), { maxDepth: 2 }), "LIMIT_EXCEEDED");
    assert.equal(decodeCommand(message(20, deep), { maxDepth: 3 }).name, "x");
  });
});

describe("encodeCommand arguments", () => {
  it("validates name, transaction id, stream id and timestamp", () => {
    const c = createStreamCommand(1);
    throwsCode(() => encodeCommand({ ...c, name: "" }, { streamId: 0 }), "INVALID_ARGUMENT");
    throwsCode(
      () => encodeCommand({ ...c, transactionId: "1" as unknown as number }, { streamId: 0 }),
      "INVALID_ARGUMENT",
    );
    throwsCode(() => encodeCommand(c, { streamId: -1 }), "INVALID_ARGUMENT", /streamId/);
    throwsCode(() => encodeCommand(c, { streamId: 0, timestamp: 2 ** 32 }), "INVALID_ARGUMENT");
  });
});

describe("connect parameters", () => {
  it("writes the Enhanced RTMP v2 capability fields (fourCcList as a strict array)", () => {
    const c = connectCommand({
      app: "live",
      fourCcList: ["hvc1", "av01"],
      videoFourCcInfoMap: { "*": FourCcInfoMask.CanForward, hvc1: 3 },
      capsEx: CapsExMask.Reconnect,
    });
    const wire = bytes(
      str("connect"),
      num(1),
      obj(
        [...key("app"), ...str("live")],
        [...key("fourCcList"), 0x0a, ...u32(2), ...str("hvc1"), ...str("av01")],
        [
          ...key("videoFourCcInfoMap"),
          ...obj([...key("*"), ...num(4)], [...key("hvc1"), ...num(3)]),
        ],
        [...key("capsEx"), ...num(1)],
      ),
    );
    roundTrip(c, wire);
  });

  it("parses typed fields, skips wrongly typed ones, collects unknown ones in extra", () => {
    const params = {
      app: "live",
      tcUrl: "rtmp://h/live",
      flashVer: "FMLE/3.0",
      swfUrl: "s",
      pageUrl: "p",
      type: "nonprivate",
      fpad: false,
      capabilities: 15,
      audioCodecs: 4071,
      videoCodecs: 252,
      videoFunction: 1,
      objectEncoding: 0,
      fourCcList: ["av01", "*"],
      videoFourCcInfoMap: { av01: FourCcInfoMask.CanDecode | FourCcInfoMask.CanEncode },
      audioFourCcInfoMap: { Opus: FourCcInfoMask.CanForward },
      capsEx: CapsExMask.Reconnect | CapsExMask.Multitrack | CapsExMask.ModEx |
        CapsExMask.TimestampNanoOffset,
      extra: { custom: "x" },
    };
    const decoded = decodeCommand(encodeCommand(connectCommand(params), { streamId: 0 }));
    const p = parseConnect(decoded);
    const { raw, ...typed } = p;
    assert.deepStrictEqual(typed, params);
    assert.equal(p.capsEx, 15);
    assert.equal(raw, decoded.commandObject);

    const odd = parseConnect({
      name: "connect",
      transactionId: 1,
      commandObject: {
        app: "a",
        tcUrl: 5,
        fpad: "no",
        capsEx: "1",
        fourCcList: ["hvc1", 7],
        videoFourCcInfoMap: { hvc1: "x", av01: 1 },
        audioFourCcInfoMap: "nope",
      },
      args: [],
    });
    assert.equal(odd.tcUrl, undefined);
    assert.equal(odd.fpad, undefined);
    assert.equal(odd.capsEx, undefined);
    assert.deepEqual(odd.fourCcList, ["hvc1"]);
    assert.deepEqual(odd.videoFourCcInfoMap, { av01: 1 });
    assert.equal(odd.audioFourCcInfoMap, undefined);
    assert.equal(odd.raw.tcUrl, 5);
  });

  it("accepts an ECMA-array or typed command object", () => {
    const wire = bytes(str("connect"), num(1), 0x08, u32(1), key("app"), str("live"), END);
    assert.equal(parseConnect(decodeCommand(message(20, wire))).app, "live");
    const typed = new AmfTypedObject("C", { app: "x" });
    assert.equal(
      parseConnect({ name: "connect", transactionId: 1, commandObject: typed, args: [] }).app,
      "x",
    );
  });

  it("rejects a missing command object or app", () => {
    const base = { name: "connect", transactionId: 1, args: [] };
    throwsCode(() => parseConnect({ ...base, commandObject: null }), "MALFORMED", /command object/);
    throwsCode(() => parseConnect({ ...base, commandObject: [] }), "MALFORMED");
    throwsCode(() => parseConnect({ ...base, commandObject: {} }), "MALFORMED", /"app"/);
    throwsCode(() => parseConnect({ ...base, commandObject: { app: 1 } }), "MALFORMED", /"app"/);
  });
});

describe("publish and play", () => {
  it("parsePublish reads name and type, defaulting the type to live", () => {
    assert.deepEqual(parsePublish(publishCommand(0, "k?token=1", "record")), {
      name: "k?token=1",
      type: "record",
    });
    assert.deepEqual(
      parsePublish({ name: "publish", transactionId: 0, commandObject: null, args: ["k"] }),
      { name: "k", type: "live" },
    );
    throwsCode(
      () => parsePublish({ name: "publish", transactionId: 0, commandObject: null, args: [] }),
      "MALFORMED",
      /publishing name/,
    );
    throwsCode(
      () => parsePublish({ name: "publish", transactionId: 0, commandObject: null, args: [5] }),
      "MALFORMED",
    );
  });

  it("playCommand writes only what is given; parsePlay applies the spec defaults", () => {
    assert.deepEqual(
      encodeCommand(playCommand(0, "cam"), { streamId: 1 }).payload,
      bytes(str("play"), num(0), NULL, str("cam"), num(-2)),
    );
    assert.deepEqual(
      encodeCommand(playCommand(0, "cam", { reset: false }), { streamId: 1 }).payload,
      bytes(str("play"), num(0), NULL, str("cam"), num(-2), num(-1), bool(false)),
    );
    assert.deepEqual(parsePlay(playCommand(0, "cam")), {
      name: "cam",
      start: -2,
      duration: -1,
      reset: true,
    });
    assert.deepEqual(parsePlay(playCommand(0, "c", { start: 10, duration: 5, reset: false })), {
      name: "c",
      start: 10,
      duration: 5,
      reset: false,
    });
    const legacy = { name: "play", transactionId: 0, commandObject: null, args: ["c", -1, -1, 0] };
    assert.equal(parsePlay(legacy).reset, false);
    throwsCode(
      () => parsePlay({ name: "play", transactionId: 0, commandObject: null, args: [null] }),
      "MALFORMED",
      /stream name/,
    );
  });

  it("closeStream builds with transaction id 0", () => {
    assert.deepEqual(
      encodeCommand(closeStreamCommand(), { streamId: 1 }).payload,
      bytes(str("closeStream"), num(0), NULL),
    );
  });
});

describe("data messages (types 18 and 15)", () => {
  // @setDataFrame as FFmpeg 5.1 sent it to a server (captured on loopback).
  const ffmpegMeta = hex(
    "02000d40736574446174614672616d6502000a6f6e4d65746144617461080000000d00086475726174696f6e" +
      "003ff0000000000000000577696474680040500000000000000006686569676874004050000000000000000d" +
      "766964656f646174617261746500000000000000000000096672616d6572617465004014000000000000000c" +
      "766964656f636f646563696400401c000000000000000d617564696f6461746172617465004050d880000000" +
      "00000f617564696f73616d706c65726174650040e5888000000000000f617564696f73616d706c6573697a65" +
      "004030000000000000000673746572656f0100000c617564696f636f64656369640040240000000000000007" +
      "656e636f64657202000d4c61766635392e32372e313030000866696c6573697a650000000000000000000000" +
      "09",
  );

  it("decodes FFmpeg's @setDataFrame and re-encodes it byte for byte", () => {
    const d = decodeData(message(18, ffmpegMeta, 1));
    assert.equal(d.handler, "@setDataFrame");
    assert.equal(d.values[0], "onMetaData");
    const meta = metadataOf(d);
    assert.ok(meta !== null);
    assert.equal(isEcmaArray(meta), true);
    assert.equal(meta.width, 64);
    assert.equal(meta.encoder, "Lavf59.27.100");
    assert.equal(meta.stereo, false);
    assert.equal(Object.keys(meta).length, 13);
    const m = encodeData(d, { streamId: 1 });
    assert.equal(m.type, 18);
    assert.deepEqual(m.payload, ffmpegMeta);
  });

  it("unwrapSetDataFrame strips FFmpeg's prefix byte for byte; wrapSetDataFrame puts it back", () => {
    // 16 bytes: marker 0x02, UI16 13, "@setDataFrame" (FFmpeg's capture above).
    const plain = unwrapSetDataFrame(ffmpegMeta);
    assert.deepEqual(plain, ffmpegMeta.subarray(16));
    assert.equal(plain.buffer, ffmpegMeta.buffer, "AMF0: a view, no copy");
    assert.equal(decodeData(message(18, plain)).handler, "onMetaData");
    assert.deepEqual(wrapSetDataFrame(plain), ffmpegMeta);
    assert.equal(unwrapSetDataFrame(plain), plain, "no prefix: the same array back");
    for (const other of [bytes(str("@setDataFrames")), bytes(str("@setDataFram")), bytes(0x02)]) {
      assert.equal(unwrapSetDataFrame(other), other);
    }
  });

  it("wraps and unwraps the AMF3 (type 15) form after its format byte", () => {
    const meta = encodeData({ handler: "onMetaData", values: [{ w: 5 }] }, {
      streamId: 1,
      amf3: true,
    });
    const wrapped = wrapSetDataFrame(meta.payload, { amf3: true });
    const d = decodeData({ ...meta, payload: wrapped });
    assert.deepStrictEqual(d, { handler: "@setDataFrame", values: ["onMetaData", { w: 5 }] });
    assert.deepEqual(wrapped, encodeData(d, { streamId: 1, amf3: true }).payload);
    assert.deepEqual(unwrapSetDataFrame(wrapped, { amf3: true }), meta.payload);
    // Read as AMF0 the format byte is in the way: nothing is stripped.
    assert.equal(unwrapSetDataFrame(wrapped), wrapped);
  });

  it("keeps handler names as sent and finds metadata in both forms", () => {
    const text = decodeData(
      message(18, bytes(str("onTextData"), obj([...key("text"), ...str("hi")]))),
    );
    assert.deepStrictEqual(text, { handler: "onTextData", values: [{ text: "hi" }] });
    assert.equal(metadataOf(text), null);
    const plain = decodeData(message(18, bytes(str("onMetaData"), obj([...key("w"), ...num(1)]))));
    assert.deepStrictEqual(metadataOf(plain), { w: 1 });
    assert.equal(metadataOf({ handler: "@setDataFrame", values: ["onCuePoint", {}] }), null);
    assert.equal(metadataOf({ handler: "onMetaData", values: ["x"] }), null);
    assert.equal(metadataOf({ handler: "onMetaData", values: [] }), null);
  });

  it("decodes and encodes type 15 with the 0x00 format byte and a switched object", () => {
    const wire = bytes(0x00, str("onMetaData"), 0x11, 0x0a, 0x0b, 0x01, vr("w"), 0x04, 0x05, 0x01);
    const d = decodeData(message(15, wire));
    assert.deepStrictEqual(d, { handler: "onMetaData", values: [{ w: 5 }] });
    const m = encodeData(d, { streamId: 1, amf3: true });
    assert.equal(m.type, 15);
    assert.deepEqual(m.payload, wire);
  });

  it("rejects bodies that do not start with a handler name", () => {
    throwsCode(() => decodeData(message(18, new Uint8Array(0))), "MALFORMED", /empty body/);
    throwsCode(() => decodeData(message(18, bytes(NULL))), "MALFORMED", /handler/);
    throwsCode(() => decodeData(message(15, bytes(str("x")))), "MALFORMED", /format byte/);
    throwsCode(() => decodeData(message(20, bytes(str("x")))), "INVALID_ARGUMENT");
    throwsCode(
      () => encodeData({ handler: 1 as unknown as string, values: [] }, { streamId: 1 }),
      "INVALID_ARGUMENT",
    );
  });

  it("carries the stream id and timestamp", () => {
    const m = encodeData({ handler: "onCuePoint", values: [{ name: "c" } as AmfObject] }, {
      streamId: 3,
      timestamp: 1234,
    });
    assert.equal(m.streamId, 3);
    assert.equal(m.timestamp, 1234);
    assert.deepStrictEqual(decodeData(m), { handler: "onCuePoint", values: [{ name: "c" }] });
  });
});
