// Sans-IO sessions: the client and server state machines talk to each other in memory, with
// the bytes between them cut at random points. No sockets, no timers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ClientSession, type ClientSessionEvent } from "../session/client_session.ts";
import { ServerSession, type ServerSessionEvent } from "../session/server_session.ts";
import { MessageType } from "../protocol/message.ts";
import { encodeCommand } from "../protocol/command.ts";
import { encodeData } from "../protocol/data.ts";
import { ChunkEncoder } from "../protocol/chunk_encoder.ts";
import { setChunkSizeMessage } from "../protocol/control.ts";
import { RtmpError } from "../errors.ts";
import { concat, mixSeed, prng, testSeed } from "./support/util.ts";

const SEED = testSeed("session_test");

function splitRandomly(bytes: Uint8Array, rand: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < bytes.length) {
    const n = 1 + Math.floor(rand() * Math.min(700, bytes.length - i));
    out.push(bytes.slice(i, i + n));
    i += n;
  }
  return out;
}

/**
 * Moves bytes both ways until nothing is left. `onServer` sees every server event; when it
 * returns events (those a decision released), they are handled next, in order.
 */
function pump(
  client: ClientSession,
  server: ServerSession,
  rand: () => number,
  onServer: (e: ServerSessionEvent) => ServerSessionEvent[] | void,
  onClient: (e: ClientSessionEvent) => void,
): void {
  const handle = (events: ServerSessionEvent[]): void => {
    for (const e of events) handle(onServer(e) ?? []);
  };
  for (let rounds = 0; rounds < 100; rounds++) {
    const c2s = concat(client.takeOutput());
    const s2c = concat(server.takeOutput());
    if (c2s.length === 0 && s2c.length === 0) return;
    for (const part of splitRandomly(c2s, rand)) handle(server.receive(part));
    for (const part of splitRandomly(s2c, rand)) client.receive(part).forEach(onClient);
  }
  throw new Error("sessions did not settle");
}

function newClient(streamName = "key?token=abc", digest = true): ClientSession {
  return new ClientSession({
    connect: { app: "live", tcUrl: "rtmp://127.0.0.1/live", fourCcList: ["av01", "Opus"] },
    streamName,
    digestHandshake: digest,
  });
}

describe("client and server sessions in memory", () => {
  for (const digest of [true, false]) {
    it(`publish flow reaches Publish.Start and media arrives (digest=${digest})`, () => {
      const rand = prng(mixSeed(SEED, digest ? 7 : 8));
      const client = newClient("key?token=abc", digest);
      const server = new ServerSession();
      const serverEvents: ServerSessionEvent[] = [];
      const clientEvents: ClientSessionEvent[] = [];
      const onServer = (e: ServerSessionEvent): ServerSessionEvent[] | void => {
        serverEvents.push(e);
        if (e.type === "connect-request") return server.accept(e.id);
        if (e.type === "publish-request") {
          // Nothing may be announced before the decision: no output queued by the publish.
          assert.equal(server.pendingOutput, 0);
          return server.accept(e.id);
        }
      };
      pump(client, server, rand, onServer, (e) => clientEvents.push(e));
      const handshake = serverEvents.find((e) => e.type === "handshake");
      assert.deepEqual(handshake, { type: "handshake", digest });
      const connect = serverEvents.find((e) => e.type === "connect-request");
      assert.ok(connect && connect.type === "connect-request");
      assert.equal(connect.request.app, "live");
      assert.deepEqual(connect.request.fourCcList, ["av01", "Opus"]);
      const publish = serverEvents.find((e) => e.type === "publish-request");
      assert.ok(publish && publish.type === "publish-request");
      assert.equal(publish.streamName, "key?token=abc");
      assert.equal(publish.publishType, "live");
      const connected = clientEvents.find((e) => e.type === "connected");
      assert.ok(connected && connected.type === "connected");
      // The server states E-RTMP support because the client announced codecs.
      assert.equal((connected.properties as Record<string, unknown>).capsEx !== undefined, true);
      assert.ok(clientEvents.some((e) => e.type === "publishing"));
      assert.ok(clientEvents.some((e) => e.type === "stream-begin"));
      assert.equal(client.publishing, true);

      const sent = [
        { type: MessageType.Video, ts: 0, body: new Uint8Array([0x17, 0, 0, 0, 0, 1, 2, 3]) },
        { type: MessageType.Audio, ts: 0, body: new Uint8Array([0xaf, 0, 0x12, 0x10]) },
        { type: MessageType.Video, ts: 33, body: new Uint8Array(10_000).fill(7) },
        { type: MessageType.Audio, ts: 33, body: new Uint8Array(0) },
        { type: MessageType.Video, ts: 0x1000000 + 5, body: new Uint8Array(9000).fill(9) },
      ];
      for (const m of sent) client.sendMedia(m.type, m.ts, m.body);
      serverEvents.length = 0;
      pump(client, server, rand, onServer, (e) => clientEvents.push(e));
      const media = serverEvents.filter((e) => e.type === "media");
      assert.equal(media.length, sent.length);
      media.forEach((e, i) => {
        assert.ok(e.type === "media");
        assert.equal(e.message.type, sent[i].type);
        assert.equal(e.message.timestamp, sent[i].ts);
        assert.deepEqual(e.message.payload, sent[i].body);
      });

      client.unpublish();
      serverEvents.length = 0;
      pump(client, server, rand, onServer, (e) => clientEvents.push(e));
      assert.ok(serverEvents.some((e) => e.type === "unpublish"));
      assert.deepEqual(server.publishingStreams(), []);
    });
  }

  it("a rejected publish gives the client the server's code, never success", () => {
    const rand = prng(mixSeed(SEED, 3));
    const client = newClient("wrong");
    const server = new ServerSession();
    const clientEvents: ClientSessionEvent[] = [];
    pump(client, server, rand, (e) => {
      if (e.type === "connect-request") return server.accept(e.id);
      if (e.type === "publish-request") {
        return server.reject(e.id, {
          code: "NetStream.Publish.Unauthorized",
          description: "bad key",
        });
      }
      return [];
    }, (e) => clientEvents.push(e));
    const rejected = clientEvents.find((e) => e.type === "rejected");
    assert.ok(rejected && rejected.type === "rejected");
    assert.equal(rejected.stage, "publish");
    assert.equal(rejected.status.code, "NetStream.Publish.Unauthorized");
    assert.equal(rejected.status.description, "bad key");
    assert.equal(client.publishing, false);
    assert.ok(!clientEvents.some((e) => e.type === "publishing"));
    assert.throws(() => client.sendMedia(MessageType.Audio, 0, new Uint8Array(1)), RtmpError);
  });

  it("BadName by default, and a rejected connect reports Connect.Rejected", () => {
    const client = newClient("x");
    const server = new ServerSession();
    const events: ClientSessionEvent[] = [];
    pump(client, server, prng(mixSeed(SEED, 4)), (e) => {
      if (e.type === "connect-request") server.reject(e.id, { description: "app not allowed" });
    }, (e) => events.push(e));
    const rejected = events.find((e) => e.type === "rejected");
    assert.ok(rejected && rejected.type === "rejected");
    assert.equal(rejected.stage, "connect");
    assert.equal(rejected.status.code, "NetConnection.Connect.Rejected");
    assert.equal(rejected.status.description, "app not allowed");

    const client2 = newClient("y");
    const server2 = new ServerSession();
    const events2: ClientSessionEvent[] = [];
    pump(client2, server2, prng(mixSeed(SEED, 5)), (e) => {
      if (e.type === "connect-request") return server2.accept(e.id);
      if (e.type === "publish-request") return server2.reject(e.id);
      return [];
    }, (e) => events2.push(e));
    const r2 = events2.find((e) => e.type === "rejected");
    assert.ok(r2 && r2.type === "rejected");
    assert.equal(r2.status.code, "NetStream.Publish.BadName");
  });

  it("messages that arrive while a decision is pending are held, then handled in order", () => {
    for (const accept of [true, false]) {
      const client = newClient("k");
      const server = new ServerSession();
      let streamId = 0;
      let requestId = 0;
      pump(client, server, prng(mixSeed(SEED, 9)), (e) => {
        if (e.type === "connect-request") return server.accept(e.id);
        if (e.type === "publish-request") {
          streamId = e.streamId; // undecided for now
          requestId = e.id;
        }
        return [];
      }, () => {});
      assert.ok(streamId > 0);
      // An encoder that does not wait for Publish.Start: media right behind the publish.
      const enc = new ChunkEncoder({ chunkSize: 4096 });
      const early = enc.encode(6, {
        type: MessageType.Video,
        streamId,
        timestamp: 0,
        payload: new Uint8Array([0x17, 0]),
      });
      const events = server.receive(
        concat([new ChunkEncoder().encode(2, setChunkSizeMessage(4096)), early]),
      );
      assert.equal(
        events.filter((e) => e.type === "media").length,
        0,
        "nothing before the decision",
      );
      if (accept) {
        const more = server.accept(requestId);
        assert.equal(more.filter((e) => e.type === "media").length, 1, "early media after accept");
      } else {
        const more = server.reject(requestId);
        assert.equal(more.length, 0, "early media of a refused stream is dropped");
      }
    }
  });

  it("commands pipelined behind connect wait for the connect decision", () => {
    const client = newClient("k");
    const server = new ServerSession();
    // Handshake, then connect + releaseStream + FCPublish + createStream + publish in one burst.
    server.receive(concat(client.takeOutput()));
    client.receive(concat(server.takeOutput()));
    const burst: Uint8Array[] = [concat(client.takeOutput())];
    const enc = new ChunkEncoder({ chunkSize: 4096 });
    for (
      const [name, tx] of [["releaseStream", 2], ["FCPublish", 3], ["createStream", 4]] as const
    ) {
      burst.push(
        enc.encode(
          3,
          encodeCommand({
            name,
            transactionId: tx,
            commandObject: null,
            args: name === "createStream" ? [] : ["k"],
          }, { streamId: 0 }),
        ),
      );
    }
    burst.push(
      enc.encode(
        8,
        encodeCommand({
          name: "publish",
          transactionId: 5,
          commandObject: null,
          args: ["k", "live"],
        }, { streamId: 1 }),
      ),
    );
    const events = server.receive(concat(burst));
    assert.deepEqual(events.map((e) => e.type), ["handshake", "connect-request"]);
    const connect = events[1];
    assert.ok(connect.type === "connect-request");
    const after = server.accept(connect.id);
    assert.deepEqual(after.map((e) => e.type), ["publish-request"]);
  });

  it("answers unknown commands with _error and commands before connect are a protocol error", () => {
    const client = newClient("k");
    const server = new ServerSession();
    pump(client, server, prng(mixSeed(SEED, 10)), (e) => {
      if (e.type === "connect-request") return server.accept(e.id);
      if (e.type === "publish-request") return server.accept(e.id);
      return [];
    }, () => {});
    const tx = client.call("someRpc", 1);
    const events: ClientSessionEvent[] = [];
    const unhandled: string[] = [];
    pump(client, server, prng(mixSeed(SEED, 11)), (e) => {
      // The session hands calls it does not know to its caller, who answers them.
      if (e.type === "command") {
        unhandled.push(e.command.name);
        server.sendError(e, {
          level: "error",
          code: "NetConnection.Call.Failed",
          description: `Method not found (${e.command.name}).`,
        });
      }
      return [];
    }, (e) => events.push(e));
    assert.deepEqual(unhandled, ["someRpc"]);
    const answer = events.find((e) => e.type === "error-result");
    assert.ok(answer && answer.type === "error-result", "an _error answer");
    assert.equal(answer.transactionId, tx);
    const info = answer.values[1] as Record<string, unknown>;
    assert.equal(info.code, "NetConnection.Call.Failed");

    const fresh = new ServerSession();
    const c2 = newClient("k");
    // Complete the handshake only, then send createStream without connect.
    const s2c: Uint8Array[] = [];
    fresh.receive(concat(c2.takeOutput()));
    s2c.push(...fresh.takeOutput());
    c2.receive(concat(s2c));
    const c2bytes = concat(c2.takeOutput()); // C2 + set chunk size + connect
    const handshakeLen = 1536;
    fresh.receive(c2bytes.subarray(0, handshakeLen));
    const rogue = new ChunkEncoder();
    assert.throws(
      () =>
        fresh.receive(
          rogue.encode(
            3,
            encodeCommand(
              { name: "createStream", transactionId: 2, commandObject: null, args: [] },
              { streamId: 0 },
            ),
          ),
        ),
      (e: unknown) => e instanceof RtmpError && e.code === "PROTOCOL",
    );
  });
});

describe("the playing client session in memory", () => {
  function newPlayer(play = {}): ClientSession {
    return new ClientSession({
      role: "play",
      connect: { app: "live", tcUrl: "rtmp://127.0.0.1/live" },
      streamName: "cam",
      play,
    });
  }

  it("connect, createStream, play; Reset/Start; media as typed packets; aggregates split; pause; stop", () => {
    const rand = prng(mixSeed(SEED, 41));
    const client = newPlayer({ start: -1, reset: true, bufferLength: 1234 });
    const server = new ServerSession();
    const serverEvents: ServerSessionEvent[] = [];
    const clientEvents: ClientSessionEvent[] = [];
    const onServer = (e: ServerSessionEvent): ServerSessionEvent[] | void => {
      serverEvents.push(e);
      if (e.type === "connect-request" || e.type === "play-request") return server.accept(e.id);
    };
    pump(client, server, rand, onServer, (e) => clientEvents.push(e));
    // Some servers (SRS, FMS) also send an `onStatus` data message (NetStream.Data.Start); ours
    // does not (FFmpeg would list it as a data stream), so it is written here by hand.
    server.queueEncoded(
      new ChunkEncoder({ chunkSize: server.outgoingChunkSize }).encode(
        9,
        encodeData({ handler: "onStatus", values: [{ code: "NetStream.Data.Start" }] }, {
          streamId: 1,
        }),
      ),
    );
    pump(client, server, rand, onServer, (e) => clientEvents.push(e));
    const play = serverEvents.find((e) => e.type === "play-request");
    assert.ok(play?.type === "play-request");
    assert.deepEqual(play.request, { streamName: "cam", start: -1, duration: -1, reset: true });
    assert.ok(!serverEvents.some((e) => e.type === "publish-request"));
    assert.equal(client.playing, true);
    const started = clientEvents.find((e) => e.type === "playing");
    assert.ok(started?.type === "playing" && started.status?.code === "NetStream.Play.Start");
    const statuses = clientEvents.flatMap((e) => e.type === "status" ? [e.status.code] : []);
    assert.ok(statuses.includes("NetStream.Play.Reset"), statuses.join());
    assert.ok(statuses.includes("NetStream.Data.Start"), "the onStatus data message is a status");
    // |RtmpSampleAccess is not media.
    assert.ok(!clientEvents.some((e) => e.type === "media"));

    const sid = play.streamId;
    const ch = server.channel;
    ch.send(6, {
      type: 9,
      streamId: sid,
      timestamp: 0x1000000 + 1,
      payload: new Uint8Array([0x17, 1, 0, 0, 0, 9]),
    });
    ch.send(4, { type: 8, streamId: sid, timestamp: 5, payload: new Uint8Array([0xaf, 1, 7]) });
    // An aggregate (type 22) of two audio messages (RTMP 1.0 §7.1.6): tag header, body, back-pointer.
    const sub = (ts: number, b: number[]): number[] => [
      8,
      0,
      0,
      b.length,
      (ts >> 16) & 0xff,
      (ts >> 8) & 0xff,
      ts & 0xff,
      0,
      0,
      0,
      0,
      ...b,
      0,
      0,
      0,
      11 + b.length,
    ];
    ch.send(4, {
      type: 22,
      streamId: sid,
      timestamp: 100,
      payload: new Uint8Array([...sub(100, [0xaf, 1, 1]), ...sub(123, [0xaf, 1, 2])]),
    });
    clientEvents.length = 0;
    pump(client, server, rand, onServer, (e) => clientEvents.push(e));
    const media = clientEvents.flatMap((e) => e.type === "media" ? [e.packet] : []);
    assert.deepEqual(media.map((p) => [p.type, p.timestamp]), [
      ["video", 0x1000001],
      ["audio", 5],
      ["audio", 100],
      ["audio", 123],
    ]);
    assert.ok(media[0].type === "video" && media[0].tag?.enhanced === false);
    assert.equal(client.lastTimestamp, 123);

    client.pause(true);
    client.pause(false);
    client.stop();
    serverEvents.length = 0;
    pump(client, server, rand, onServer, () => {});
    const pauses = serverEvents.flatMap((e) => e.type === "pause" ? [[e.paused, e.position]] : []);
    assert.deepEqual(pauses, [[true, 123], [false, 123]]);
    assert.ok(serverEvents.some((e) => e.type === "play-stop" && e.command === "closeStream"));
    assert.deepEqual(server.playingStreams(), []);
    assert.equal(client.closed, true);
  });

  it("a refused play is a rejection at the play stage; pause before playing is CLOSED", () => {
    const rand = prng(mixSeed(SEED, 42));
    const client = newPlayer();
    assert.throws(
      () => client.pause(true),
      (e: unknown) => e instanceof RtmpError && e.code === "CLOSED",
    );
    const server = new ServerSession();
    const clientEvents: ClientSessionEvent[] = [];
    pump(client, server, rand, (e) => {
      if (e.type === "connect-request") return server.accept(e.id);
      if (e.type === "play-request") {
        return server.reject(e.id, { code: "NetStream.Play.StreamNotFound", description: "gone" });
      }
      return [];
    }, (e) => clientEvents.push(e));
    const rejected = clientEvents.find((e) => e.type === "rejected");
    assert.ok(rejected?.type === "rejected");
    assert.equal(rejected.stage, "play");
    assert.deepEqual([rejected.status.code, rejected.status.description], [
      "NetStream.Play.StreamNotFound",
      "gone",
    ]);
    assert.equal(client.closed, true);
  });
});
