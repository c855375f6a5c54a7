// The push client against our own server and against plain sockets that misbehave.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { RtmpClient } from "../client.ts";
import { RtmpServer } from "../server.ts";
import { collect, readFlvTags, within } from "./support/media.ts";
import { ERTMP_FIXTURES, fixturePath } from "./support/fixtures.ts";
import { makeTestCert } from "./support/tls_cert.ts";
import { nextSession, rejectionOf } from "./support/util.ts";
import { type AmfObject, AmfTypedObject, type AmfValue, ecmaArray } from "../protocol/amf.ts";
import { ChunkDecoder } from "../protocol/chunk_decoder.ts";
import { ChunkEncoder } from "../protocol/chunk_encoder.ts";
import { type Command, decodeCommand, encodeCommand } from "../protocol/command.ts";
import { ServerHandshake } from "../protocol/handshake.ts";
import { ChunkStreamId, MessageType } from "../protocol/message.ts";

const quiet = { log: null } as const;

function listenRaw(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer(onSocket);
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve({ server, port: typeof a === "object" && a ? a.port : 0 });
    });
  });
}

describe("RtmpClient against our server", () => {
  for (const fixture of ERTMP_FIXTURES) {
    it(`publishes the Enhanced RTMP fixture ${fixture} tag for tag, byte-identical`, async () => {
      const tags = await readFlvTags(fixturePath(fixture));
      let fourCcList: unknown;
      await using server = await RtmpServer.listen({
        hostname: "127.0.0.1",
        port: 0,
        ...quiet,
        onPublish: (info) => {
          fourCcList = info.connect.fourCcList;
          return true;
        },
      });
      const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/ertmp`, {
        enhanced: { video: ["av01"], audio: ["Opus"] },
      });
      const session = await nextSession(server);
      const received = collect(session);
      for (const tag of tags) await client.sendFlvTag(tag);
      await client.close();
      const packets = await received;
      assert.deepEqual(fourCcList, ["av01", "Opus"]);
      const media = tags.filter((t) => t.type !== 18);
      const got = packets.filter((p) => p.type !== "data");
      assert.equal(got.length, media.length);
      for (let i = 0; i < media.length; i++) {
        assert.equal(got[i].timestamp, media[i].timestamp, `tag ${i}`);
        assert.deepEqual(got[i].payload, media[i].data, `tag ${i}`);
      }
      const video = got.find((p) => p.type === "video");
      assert.ok(video && video.type === "video" && video.tag?.enhanced === true);
      assert.equal(video.tag.enhanced && video.tag.fourCc, "av01");
      const audio = got.find((p) => p.type === "audio");
      assert.ok(audio && audio.type === "audio" && audio.tag?.enhanced === true);
      assert.equal(audio.tag.enhanced && audio.tag.fourCc, "Opus");
    });
  }

  it("sends metadata (AMF0 and AMF3), AVC and AAC with composition times", async () => {
    await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/api`);
    const session = await nextSession(server);
    const received = collect(session);
    await client.sendMetadata({ width: 640, height: 360, videocodecid: 7 });
    await client.sendMetadata({ title: "amf3" }, { amf3: true });
    await client.sendVideoSequenceHeader(new Uint8Array([1, 0x64, 0, 0x1f]));
    await client.sendAudioSequenceHeader(new Uint8Array([0x11, 0x90]));
    await client.sendVideo(40, true, new Uint8Array([0, 0, 0, 1, 0x65]), -33);
    await client.sendAudio(40, new Uint8Array([0x21, 0x10]));
    await client.close();
    const packets = await received;
    assert.deepEqual(packets.map((p) => p.type), [
      "data",
      "data",
      "video",
      "audio",
      "video",
      "audio",
    ]);
    const meta = packets[0];
    assert.ok(meta.type === "data" && meta.data?.handler === "@setDataFrame");
    assert.equal((meta.data.values[1] as Record<string, unknown>).width, 640);
    assert.equal(session.metadata?.title, "amf3", "the latest onMetaData wins");
    assert.ok(packets[1].type === "data" && packets[1].amf3);
    const frame = packets[4];
    assert.ok(frame.type === "video" && frame.tag && !frame.tag.enhanced);
    assert.equal(frame.tag.frameType, 1);
    assert.equal(frame.tag.compositionTime, -33);
    assert.equal(frame.timestamp, 40);
    const aac = packets[5];
    assert.ok(aac.type === "audio" && aac.tag && !aac.tag.enhanced);
    assert.equal(aac.tag.soundFormat, 10);
    assert.equal(aac.tag.aacPacketType, 1);
  });

  it("timestamp-first forms and options give the same bytes as the deprecated 0.1 forms", async () => {
    await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    const url = `rtmp://127.0.0.1:${server.addr.port}/live/forms`;
    const run = async (modern: boolean): Promise<Uint8Array[]> => {
      const client = await RtmpClient.connect(url);
      const session = await nextSession(server);
      const received = collect(session);
      const avcC = new Uint8Array([1, 0x64, 0, 0x1f]);
      const asc = new Uint8Array([0x11, 0x90]);
      const au = new Uint8Array([0, 0, 0, 1, 0x65]);
      const text = { handler: "onTextData", values: [{ text: "hi" }] };
      if (modern) {
        await client.sendVideoSequenceHeader(5, avcC);
        await client.sendAudioSequenceHeader(5, asc);
        await client.sendVideo(40, au, { keyframe: true, compositionTime: -33 });
        await client.sendVideo(80, au);
        await client.sendData(90, text);
      } else {
        await client.sendVideoSequenceHeader(avcC, 5);
        await client.sendAudioSequenceHeader(asc, 5);
        await client.sendVideo(40, true, au, -33);
        await client.sendVideo(80, false, au);
        await client.sendData(text, 90);
      }
      await client.close();
      const packets = await received;
      assert.deepEqual(packets.map((p) => p.timestamp), [5, 5, 40, 80, 90]);
      return packets.map((p) => p.payload);
    };
    assert.deepEqual(await run(true), await run(false));
  });

  it("carries timestamps past 2^24 ms (4 h 40 min) and wraps at 2^32", async () => {
    await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/long`);
    const session = await nextSession(server);
    const received = collect(session);
    const big = new Uint8Array(10_000).fill(3); // several chunks per message
    const stamps = [0xfffff0, 0x1000000, 0x1000000, 0x1000020, 0xfffffff0, 2 ** 32 + 16];
    for (const ts of stamps) await client.sendVideo(ts, false, big);
    await client.close();
    const got = (await received).map((p) => p.timestamp);
    assert.deepEqual(got, stamps.map((t) => t % 2 ** 32));
  });

  it("call() gets its own answer without taking events from events()", async () => {
    await using server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/rpc`);
    const length = await client.call("getStreamLength", "rpc");
    assert.deepEqual(length, [null, 0]);
    const e = await rejectionOf(client.call("noSuchMethod"));
    assert.equal(e.code, "REJECTED");
    assert.equal(e.status, "NetConnection.Call.Failed");
    const seen: string[] = [];
    const watching = (async () => {
      for await (const ev of client.events()) seen.push(ev.type);
    })();
    await client.close();
    await watching;
    assert.equal(seen.at(-1), "closed");
    assert.ok(seen.includes("stream-begin"), `events kept for events(): ${seen.join(",")}`);
  });

  it("rejections carry the server's code; a rejected client never reports success", async () => {
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      onPublish: () => ({
        accept: false,
        reason: "nope",
        description: "not today",
        code: "NetStream.Publish.Unauthorized",
      }),
    });
    const e = await rejectionOf(RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/x`));
    assert.equal(e.code, "REJECTED");
    assert.equal(e.status, "NetStream.Publish.Unauthorized");
    assert.equal(e.description, "not today");
  });

  it("rtmps: trusted through options it works; untrusted it fails with TLS", async () => {
    const { ca, cert, key } = await makeTestCert();
    await using server = new RtmpServer(quiet);
    const addr = await server.listenOn({ hostname: "127.0.0.1", port: 0, tls: { cert, key } });
    const e = await rejectionOf(
      RtmpClient.connect(`rtmps://localhost:${addr.port}/live/k`, { timeout: 5000 }),
    );
    assert.equal(e.code, "TLS");
    const client = await RtmpClient.connect(`rtmps://localhost:${addr.port}/live/k`, {
      tls: { ca },
    });
    await client.close();
  });

  it("the server going away makes the next send reject and ends the events", async () => {
    const server = await RtmpServer.listen({ hostname: "127.0.0.1", port: 0, ...quiet });
    const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.addr.port}/live/k`);
    const events: string[] = [];
    const watching = (async () => {
      for await (const ev of client.events()) events.push(ev.type);
    })();
    await server.close();
    await within(client.closed, 5000, "client closed");
    const e = await rejectionOf(client.sendAudio(0, new Uint8Array([1])));
    assert.ok(["CONNECTION_CLOSED", "CONNECTION_RESET"].includes(e.code), e.code);
    await watching;
    assert.equal(events.at(-1), "closed");
    await client.close();
  });
});

/**
 * A minimal server built from protocol/ pieces: it answers connect, createStream, publish and any
 * other call with info objects in the shape `wrap` gives them, in AMF0 (type 20) or AMF3
 * (type 17) command messages. Servers of the Flash Media Server family answer an AMF3 client
 * this way, with typed info objects.
 */
async function shapedServer(
  amf3: boolean,
  wrap: (info: AmfObject) => AmfValue,
): Promise<{ server: Server; port: number }> {
  return await listenRaw((s) => {
    s.on("error", () => {});
    const handshake = new ServerHandshake();
    const decoder = new ChunkDecoder();
    const encoder = new ChunkEncoder();
    const send = (cmd: Command, streamId = 0): void => {
      s.write(encoder.encode(ChunkStreamId.Command, encodeCommand(cmd, { streamId, amf3 })));
    };
    const info = (level: string, code: string): AmfValue =>
      wrap({ level, code, description: `${code} (shaped)` });
    s.on("data", (chunk: Uint8Array) => {
      let bytes: Uint8Array | null = chunk;
      if (!handshake.done) {
        const step = handshake.push(chunk);
        if (step.send) s.write(step.send);
        bytes = step.remainder;
      }
      if (!bytes) return;
      for (const m of decoder.push(bytes)) {
        if (m.type !== MessageType.CommandAmf0 && m.type !== MessageType.CommandAmf3) continue;
        const cmd = decodeCommand(m);
        const tx = cmd.transactionId;
        const reply = (name: string, ...args: AmfValue[]): void =>
          send({ name, transactionId: tx, commandObject: null, args });
        if (cmd.name === "connect") {
          reply("_result", info("status", "NetConnection.Connect.Success"));
        } else if (cmd.name === "createStream") {
          reply("_result", 1);
        } else if (cmd.name === "publish") {
          const start = info("status", "NetStream.Publish.Start");
          send({ name: "onStatus", transactionId: 0, commandObject: null, args: [start] }, 1);
        } else if (tx !== 0 && cmd.name !== "releaseStream" && cmd.name !== "FCPublish") {
          reply("_error", info("error", "NetConnection.Call.Failed"));
        }
      }
    });
  });
}

describe("RtmpClient against servers that shape info objects differently", () => {
  const shapes: Array<[string, boolean, (info: AmfObject) => AmfValue]> = [
    ["AMF3 typed objects in AMF3 commands", true, (o) => new AmfTypedObject("StatusInfo", o)],
    ["AMF0 typed objects", false, (o) => new AmfTypedObject("StatusInfo", o)],
    ["ECMA arrays", false, (o) => ecmaArray({ ...o })],
    ["AMF3 anonymous objects in AMF3 commands", true, (o) => o],
  ];
  for (const [what, amf3, wrap] of shapes) {
    it(`reads NetStream.Publish.Start and _error codes sent as ${what}`, async () => {
      const { server, port } = await shapedServer(amf3, wrap);
      try {
        // Before parseStatus unwrapped typed objects, connect() sat here until its timeout.
        const client = await RtmpClient.connect(`rtmp://127.0.0.1:${port}/live/k`, {
          timeout: 3000,
        });
        const e = await rejectionOf(client.call("noSuchMethod"));
        assert.equal(e.code, "REJECTED");
        assert.equal(e.status, "NetConnection.Call.Failed");
        await client.close();
      } finally {
        server.close();
      }
    });
  }
});

describe("RtmpClient against broken peers", () => {
  it("a closed port gives CONNECTION_REFUSED", async () => {
    const { server, port } = await listenRaw((s) => s.destroy());
    await new Promise((r) => server.close(r));
    const e = await rejectionOf(
      RtmpClient.connect(`rtmp://127.0.0.1:${port}/live/k`, { timeout: 3000 }),
    );
    assert.equal(e.code, "CONNECTION_REFUSED");
  });

  it("a server that accepts TCP but never answers gives TIMEOUT", async () => {
    const sockets: Socket[] = [];
    const { server, port } = await listenRaw((s) => {
      sockets.push(s);
      s.on("error", () => {});
    });
    try {
      const started = Date.now();
      const e = await rejectionOf(
        RtmpClient.connect(`rtmp://127.0.0.1:${port}/live/k`, { timeout: 400 }),
      );
      assert.equal(e.code, "TIMEOUT");
      assert.ok(Date.now() - started < 4000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it("a server that closes after the handshake starts gives CONNECTION_CLOSED", async () => {
    const { server, port } = await listenRaw((s) => {
      s.on("error", () => {});
      s.once("data", () => s.end());
    });
    try {
      const e = await rejectionOf(
        RtmpClient.connect(`rtmp://127.0.0.1:${port}/live/k`, { timeout: 3000 }),
      );
      assert.equal(e.code, "CONNECTION_CLOSED");
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("an aborted signal cancels connecting", async () => {
    const { server, port } = await listenRaw((s) => s.on("error", () => {}));
    try {
      const ac = new AbortController();
      const p = RtmpClient.connect(`rtmp://127.0.0.1:${port}/live/k`, {
        signal: ac.signal,
        timeout: 10_000,
      });
      setTimeout(() => ac.abort(), 100);
      const e = await rejectionOf(p);
      assert.equal(e.code, "ABORTED");
    } finally {
      server.close();
    }
  });

  it("bad URLs are INVALID_URL before any connection", async () => {
    for (const url of ["http://h/live/k", "rtmp://h/live", "rtmp://h:99999/a/b"]) {
      const e = await rejectionOf(RtmpClient.connect(url));
      assert.equal(e.code, "INVALID_URL", url);
    }
  });
});
