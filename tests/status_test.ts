// Status info objects: one parser for every AMF form servers use, and the client session acting
// on a status that arrives as an AMF3 typed object in an AMF3 command (type 17).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  AmfArray3,
  type AmfObject,
  AmfTypedObject,
  type AmfValue,
  ecmaArray,
} from "../protocol/amf.ts";
import { decodeAmf0 } from "../protocol/amf0.ts";
import { ChunkDecoder } from "../protocol/chunk_decoder.ts";
import { ChunkEncoder } from "../protocol/chunk_encoder.ts";
import {
  type Command,
  decodeCommand,
  encodeCommand,
  resultCommand,
  statusCommand,
} from "../protocol/command.ts";
import { ServerHandshake } from "../protocol/handshake.ts";
import { ChunkStreamId, MessageType, type RtmpMessage } from "../protocol/message.ts";
import { buildStatus, parseStatus, statusOf } from "../protocol/status.ts";
import { ClientSession, type ClientSessionEvent } from "../session/client_session.ts";
import { END, key, num, str, vr } from "./support/amf_layout.ts";
import { bytes, concat } from "./support/util.ts";

const NULL = [0x05];
/** AMF3 string (marker 0x06) of a short ASCII string. */
const str3 = (s: string): number[] => [0x06, ...vr(s)];
/**
 * An AMF3 typed object with sealed string members (AMF3 §3.12): marker 0x0A, U29O-traits
 * inline with `n` sealed members and no dynamic part ((n << 4) | 0b0011), the class name, the
 * member names, then the values.
 */
function typed3(className: string, members: Array<[string, string]>): number[] {
  return [
    0x0a,
    (members.length << 4) | 0b0011,
    ...vr(className),
    ...members.flatMap(([k]) => vr(k)),
    ...members.flatMap(([, v]) => str3(v)),
  ];
}

/** `onStatus(0, null, info)` as a type-17 message whose info is an AMF3 typed object. */
function amf3OnStatus(streamId: number, level: string, code: string): RtmpMessage {
  return {
    type: MessageType.CommandAmf3,
    streamId,
    timestamp: 0,
    payload: bytes(
      0x00, // AMF3 command format byte
      str("onStatus"),
      num(0),
      NULL,
      0x11, // switch to AMF3
      typed3("StatusInfo", [["level", level], ["code", code], ["description", "shaped"]]),
    ),
  };
}

describe("parseStatus", () => {
  const info = { level: "status", code: "NetStream.Publish.Start", description: "live" };

  it("reads anonymous objects, AMF0/AMF3 typed objects, ECMA arrays and AMF3 named arrays", () => {
    const forms: Array<[string, AmfValue]> = [
      ["anonymous object", { ...info }],
      ["typed object", new AmfTypedObject("StatusInfo", { ...info })],
      ["ECMA array", ecmaArray({ ...info })],
      ["AMF3 array with named keys", new AmfArray3([], { ...info })],
    ];
    for (const [what, value] of forms) {
      const s = parseStatus(value);
      assert.ok(s, what);
      assert.equal(s.level, "status", what);
      assert.equal(s.code, "NetStream.Publish.Start", what);
      assert.equal(s.description, "live", what);
      assert.deepEqual(s.raw, info, what);
    }
  });

  it("reads the forms as the AMF0 decoder produces them from hand-written bytes", () => {
    const props = [
      ...key("level"),
      ...str("error"),
      ...key("code"),
      ...str("NetStream.Publish.BadName"),
    ];
    const wires: Array<[string, number[]]> = [
      ["AMF0 object (0x03)", [0x03, ...props, ...END]],
      ["AMF0 typed object (0x10)", [0x10, ...str("X").slice(1), ...props, ...END]],
      ["AMF0 ECMA array (0x08)", [0x08, 0, 0, 0, 2, ...props, ...END]],
      [
        "AMF3 typed object behind 0x11",
        [0x11, ...typed3("X", [["level", "error"], ["code", "NetStream.Publish.BadName"]])],
      ],
    ];
    for (const [what, wire] of wires) {
      const [value] = decodeAmf0(new Uint8Array(wire));
      const s = parseStatus(value);
      assert.equal(s?.code, "NetStream.Publish.BadName", what);
      assert.equal(s?.level, "error", what);
      assert.equal(s?.description, "", what);
    }
  });

  it("defaults a missing level to status and keeps every property in raw", () => {
    const s = parseStatus({ code: "NetConnection.Connect.ReconnectRequest", tcUrl: "rtmp://b/a" });
    assert.equal(s?.level, "status");
    assert.equal(s?.raw.tcUrl, "rtmp://b/a");
    assert.equal(parseStatus({ level: "Error", code: "X" })?.level, "error");
    assert.equal(parseStatus({ level: "WARNING", code: "X" })?.level, "warning");
    const odd = parseStatus({ level: "fatal", code: "X" });
    assert.equal(odd?.level, "status");
    assert.equal(odd?.raw.level, "fatal");
  });

  it("returns null for values that are not status objects", () => {
    const values: AmfValue[] = [
      null,
      undefined,
      0,
      "NetStream.Publish.Start",
      [info.code],
      new Date(0),
      new Uint8Array(2),
      { level: "status" },
      { code: 7 },
      new AmfTypedObject("X", { code: null }),
    ];
    for (const v of values) assert.equal(parseStatus(v), null, String(v));
  });
});

describe("statusOf and buildStatus", () => {
  it("statusOf takes the first argument that is a status, then the command object", () => {
    const typed = new AmfTypedObject("S", { level: "status", code: "A" });
    assert.equal(statusOf(resultCommand(1, { fmsVer: "x" }, 1, typed))?.code, "A");
    const inObject: Command = {
      name: "onStatus",
      transactionId: 0,
      commandObject: { level: "error", code: "B" },
      args: [],
    };
    assert.equal(statusOf(inObject)?.code, "B");
    assert.equal(statusOf(resultCommand(4, null, 1)), null);
  });

  it("buildStatus writes level, code, description, then extras; parseStatus reads it back", () => {
    const built = buildStatus({ details: "k", code: "C", level: "warning", description: "d" });
    assert.deepEqual(Object.keys(built), ["level", "code", "description", "details"]);
    const back = parseStatus(built);
    assert.deepEqual(back, { level: "warning", code: "C", description: "d", raw: built });
    const c = statusCommand({ level: "status", code: "C" });
    assert.deepEqual(c.args[0], { level: "status", code: "C" });
  });
});

/**
 * Plays a minimal server against `client` in memory: handshake, then each command the client
 * sends goes to `answer`, whose messages are chunked back. Returns the client's events.
 */
function serve(
  client: ClientSession,
  answer: (cmd: Command, message: RtmpMessage) => RtmpMessage[],
): ClientSessionEvent[] {
  const handshake = new ServerHandshake();
  const decoder = new ChunkDecoder();
  const encoder = new ChunkEncoder();
  const events: ClientSessionEvent[] = [];
  for (let round = 0; round < 50; round++) {
    let input: Uint8Array | null = concat(client.takeOutput());
    if (input.length === 0) return events;
    const out: Uint8Array[] = [];
    if (!handshake.done) {
      const step = handshake.push(input);
      if (step.send) out.push(step.send);
      input = step.remainder;
    }
    for (const m of input ? decoder.push(input) : []) {
      if (m.type !== MessageType.CommandAmf0 && m.type !== MessageType.CommandAmf3) continue;
      for (const reply of answer(decodeCommand(m), m)) {
        out.push(encoder.encode(ChunkStreamId.Command, reply));
      }
    }
    events.push(...client.receive(concat(out)));
  }
  throw new Error("client and server did not settle");
}

/** A server that answers everything in AMF3 commands, `publish` with `onPublish`'s status. */
function amf3Server(
  onPublish: (streamId: number) => RtmpMessage,
): (cmd: Command, message: RtmpMessage) => RtmpMessage[] {
  const typed = (o: AmfObject): AmfTypedObject => new AmfTypedObject("StatusInfo", o);
  return (cmd) => {
    const amf3 = { streamId: 0, amf3: true };
    if (cmd.name === "connect") {
      const success = typed({ level: "status", code: "NetConnection.Connect.Success" });
      return [encodeCommand(resultCommand(cmd.transactionId, null, success), amf3)];
    }
    if (cmd.name === "createStream") {
      return [encodeCommand(resultCommand(cmd.transactionId, null, 1), amf3)];
    }
    if (cmd.name === "publish") return [onPublish(1)];
    return [];
  };
}

describe("ClientSession reads statuses sent as AMF3 typed objects (type 17)", () => {
  const options = { connect: { app: "live", tcUrl: "rtmp://h/live" }, streamName: "k" };

  it("NetStream.Publish.Start as an AMF3 typed object starts publishing", () => {
    const client = new ClientSession(options);
    const events = serve(
      client,
      amf3Server((id) => amf3OnStatus(id, "status", "NetStream.Publish.Start")),
    );
    const connected = events.find((e) => e.type === "connected");
    assert.ok(connected?.type === "connected");
    assert.equal(connected.info?.code, "NetConnection.Connect.Success");
    const publishing = events.find((e) => e.type === "publishing");
    assert.ok(publishing?.type === "publishing", JSON.stringify(events.map((e) => e.type)));
    assert.equal(publishing.status.code, "NetStream.Publish.Start");
    assert.equal(publishing.status.description, "shaped");
    assert.equal(client.publishing, true);
  });

  it("an error-level AMF3 typed status rejects the publish", () => {
    const client = new ClientSession(options);
    const events = serve(
      client,
      amf3Server((id) => amf3OnStatus(id, "error", "NetStream.Publish.BadName")),
    );
    const rejected = events.find((e) => e.type === "rejected");
    assert.ok(rejected?.type === "rejected");
    assert.equal(rejected.stage, "publish");
    assert.equal(rejected.status.code, "NetStream.Publish.BadName");
    assert.equal(client.publishing, false);
  });
});
