// Server-side core details a real encoder relies on: AMF3 commands, housekeeping answers,
// acknowledgements at the peer's window, and the client seeing a ReconnectRequest.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ChunkDecoder } from "../protocol/chunk_decoder.ts";
import { ChunkEncoder } from "../protocol/chunk_encoder.ts";
import { type Command, decodeCommand, encodeCommand, statusCommand } from "../protocol/command.ts";
import { decodeControl, setChunkSizeMessage, windowAckSizeMessage } from "../protocol/control.ts";
import { ClientHandshake } from "../protocol/handshake.ts";
import { MessageType, type RtmpMessage } from "../protocol/message.ts";
import { ClientSession, type ClientSessionEvent } from "../session/client_session.ts";
import { ServerSession, type ServerSessionEvent } from "../session/server_session.ts";
import { concat } from "./support/util.ts";

/** A hand-driven client: handshake done, then raw messages in and decoded messages out. */
class RawClient {
  readonly server = new ServerSession();
  readonly enc = new ChunkEncoder();
  readonly dec = new ChunkDecoder();
  readonly events: ServerSessionEvent[] = [];

  constructor() {
    const hs = new ClientHandshake({ digest: false });
    this.server.receive(hs.start());
    const step = hs.push(concat(this.server.takeOutput()));
    assert.ok(step.done && step.send);
    this.events.push(...this.server.receive(step.send));
  }

  send(csid: number, message: RtmpMessage): RtmpMessage[] {
    for (const e of this.server.receive(this.enc.encode(csid, message))) {
      this.events.push(e);
      if (e.type === "connect-request") this.events.push(...this.server.accept(e.id));
    }
    return this.dec.push(concat(this.server.takeOutput()));
  }

  command(cmd: Command, options: { amf3?: boolean; streamId?: number } = {}): Command[] {
    return this.send(3, encodeCommand(cmd, { streamId: options.streamId ?? 0, amf3: options.amf3 }))
      .filter((m) => m.type === MessageType.CommandAmf0 || m.type === MessageType.CommandAmf3)
      .map((m) => decodeCommand(m));
  }
}

const connect = (tx = 1): Command => ({
  name: "connect",
  transactionId: tx,
  commandObject: { app: "live", tcUrl: "rtmp://h/live", objectEncoding: 3 },
  args: [],
});

describe("ServerSession details", () => {
  it("accepts an AMF3 (type 17) connect and answers in kind", () => {
    const c = new RawClient();
    const out = c.send(3, encodeCommand(connect(), { streamId: 0, amf3: true }));
    const result = out.find((m) => m.type === MessageType.CommandAmf3);
    assert.ok(result, "a type-17 _result");
    const cmd = decodeCommand(result);
    assert.equal(cmd.name, "_result");
    assert.equal((cmd.args[0] as Record<string, unknown>).code, "NetConnection.Connect.Success");
    assert.equal((cmd.args[0] as Record<string, unknown>).objectEncoding, 3);
    assert.ok(c.events.some((e) => e.type === "connect-request" && e.request.app === "live"));
  });

  it("answers _checkbw, getStreamLength and releaseStream; hands unknown calls to its caller", () => {
    const c = new RawClient();
    c.command(connect());
    const answers = [
      ...c.command({ name: "_checkbw", transactionId: 2, commandObject: null, args: [] }),
      ...c.command({ name: "getStreamLength", transactionId: 3, commandObject: null, args: ["k"] }),
      ...c.command({ name: "releaseStream", transactionId: 4, commandObject: null, args: ["k"] }),
      ...c.command({ name: "noSuchMethod", transactionId: 5, commandObject: null, args: [7] }),
    ];
    assert.deepEqual(answers.map((a) => [a.name, a.transactionId]), [
      ["_result", 2],
      ["_result", 3],
      ["_result", 4],
    ]);
    assert.equal(answers[1].args[0], 0);
    const call = c.events.find((e) => e.type === "command");
    assert.ok(call && call.type === "command", "an event for the unknown call");
    assert.equal(call.command.name, "noSuchMethod");
    assert.deepEqual(call.command.args, [7]);
    c.server.sendResult(call, "answered");
    const reply = c.dec.push(concat(c.server.takeOutput())).map((m) => decodeCommand(m));
    assert.deepEqual(reply.map((r) => [r.name, r.transactionId, r.args[0]]), [
      ["_result", 5, "answered"],
    ]);
  });

  it("acknowledges once the client's window of bytes has arrived", () => {
    const c = new RawClient();
    c.command(connect());
    c.send(2, windowAckSizeMessage(5000));
    let acks: number[] = [];
    for (let i = 0; i < 6; i++) {
      const payload = new Uint8Array(1000);
      const out = c.send(4, { type: MessageType.Audio, streamId: 1, timestamp: i, payload });
      acks = acks.concat(
        out.filter((m) => m.type === MessageType.Acknowledgement).map((m) => {
          const ctl = decodeControl(m);
          return ctl.type === "Acknowledgement" ? ctl.sequenceNumber : -1;
        }),
      );
    }
    assert.equal(acks.length, 1, "one acknowledgement for ~6 KB with a 5000-byte window");
    assert.ok(acks[0] >= 5000, `sequence number ${acks[0]} covers the window`);
    assert.ok(acks[0] <= c.server.bytesReceived, "never more than was received");
  });

  it("answers a ping request with a ping response carrying the same timestamp", () => {
    const c = new RawClient();
    c.command(connect());
    const ping = new Uint8Array([0, 6, 0, 0, 0x12, 0x34]);
    const out = c.send(2, {
      type: MessageType.UserControl,
      streamId: 0,
      timestamp: 0,
      payload: ping,
    });
    const pong = out.find((m) => m.type === MessageType.UserControl);
    assert.ok(pong);
    assert.deepEqual(decodeControl(pong), {
      type: "UserControl",
      event: { type: "PingResponse", timestamp: 0x1234 },
    });
  });

  it("applies the client's Set Chunk Size before the next chunk", () => {
    const c = new RawClient();
    c.send(2, setChunkSizeMessage(4096));
    c.enc.setChunkSize(4096);
    c.command(connect());
    assert.ok(c.events.some((e) => e.type === "connect-request"));
  });
});

describe("ClientSession sees a ReconnectRequest", () => {
  it("reports NetConnection.Connect.ReconnectRequest with its tcUrl", () => {
    const client = new ClientSession({
      connect: { app: "live", tcUrl: "rtmp://h/live" },
      streamName: "k",
    });
    const server = new ServerSession();
    const events: ClientSessionEvent[] = [];
    const flow = (): void => {
      for (let i = 0; i < 20; i++) {
        const up = concat(client.takeOutput());
        const down = concat(server.takeOutput());
        if (up.length === 0 && down.length === 0) return;
        for (const e of server.receive(up)) {
          if (e.type === "connect-request") server.accept(e.id);
          if (e.type === "publish-request") server.accept(e.id);
        }
        events.push(...client.receive(down));
      }
    };
    flow();
    assert.equal(client.publishing, true);
    // The server side asks the client to move (E-RTMP v2): an onStatus on stream 0.
    const ask = statusCommand({
      level: "status",
      code: "NetConnection.Connect.ReconnectRequest",
      description: "maintenance",
      tcUrl: "rtmp://other/live",
    });
    // A fresh chunk stream (csid 7) at the 4096-byte chunk size the server already announced.
    const bytes = new ChunkEncoder({ chunkSize: 4096 }).encode(
      7,
      encodeCommand(ask, { streamId: 0 }),
    );
    const got = client.receive(bytes);
    assert.deepEqual(got, [{
      type: "reconnect-request",
      tcUrl: "rtmp://other/live",
      description: "maintenance",
    }]);
  });
});
