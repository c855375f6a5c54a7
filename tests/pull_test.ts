// The playing client (RtmpPlayer / RtmpClient.play), the publisher's reconnecting and the client
// side of authmod, against our own server and against servers scripted from the library's
// ServerSession (for what no real server can be told to do: ReconnectRequest, dropping a
// connection mid-GOP, authmod challenges, pings).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { RtmpClient, type RtmpPlayer } from "../client.ts";
import type { PlayerEvent } from "../client.ts";
import { RtmpServer } from "../server.ts";
import { AuthmodServer } from "../protocol/authmod.ts";
import { CapsExMask } from "../protocol/capabilities.ts";
import type { FlvTag } from "../protocol/flv.ts";
import type { MediaPacket } from "../protocol/packet.ts";
import {
  isKeyframePayload,
  isSequenceHeader,
  isSequenceHeaderPayload,
} from "../protocol/packet.ts";
import { parseRtmpUrl, redactRtmpUrl } from "../protocol/url.ts";
import { ERTMP_FIXTURES, fixturePath } from "./support/fixtures.ts";
import { readFlvTags, within } from "./support/media.ts";
import { records, syntheticTags } from "./support/synthetic.ts";
import { type SessionPeer, startSessionServer } from "./support/session_server.ts";
import { removeTempDir, tempDir, waitFor } from "./support/peers.ts";
import { startScript, stopScript } from "./support/runtime.ts";
import { flvTagToPacket } from "../flv/tags.ts";
import { metadataOf } from "../protocol/data.ts";
import { FlvFileWriter } from "../flv/file.ts";
import { join } from "node:path";
import { waitForStall } from "./support/wait.ts";
import { rejectionOf } from "./support/util.ts";

const quiet = { log: null } as const;

function isConfig(tag: FlvTag): boolean {
  return tag.type === 18 || isSequenceHeaderPayload(tag.type === 8 ? "audio" : "video", tag.data);
}

async function drain(player: AsyncIterable<MediaPacket>): Promise<MediaPacket[]> {
  const out: MediaPacket[] = [];
  for await (const p of player) out.push(p);
  return out;
}

/**
 * Publishes `tags` to our server with our client and plays them back with `RtmpPlayer`: the
 * metadata first, then the player joins, then the rest.
 */
async function roundTrip(
  tags: FlvTag[],
  playOptions: Parameters<typeof RtmpPlayer.open>[1] = {},
): Promise<{ packets: MediaPacket[]; events: PlayerEvent[]; fourCcList: unknown }> {
  let fourCcList: unknown;
  await using server = await RtmpServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    sessionQueue: "lazy",
    ...quiet,
    onPlay: (info) => {
      fourCcList = info.connect?.fourCcList;
      return true;
    },
  });
  const url = `rtmp://127.0.0.1:${server.addr.port}/live/rt`;
  const publisher = await RtmpClient.connect(url, {
    enhanced: { video: ["av01"], audio: ["Opus"] },
  });
  // Only the metadata before the player joins: what a late joiner gets of the rest depends on
  // the server's GOP cache, which is not what this tests.
  let i = 0;
  while (i < tags.length && tags[i].type === 18) await publisher.sendFlvTag(tags[i++]);
  const events: PlayerEvent[] = [];
  const player = await RtmpClient.play(url, { ...playOptions, onEvent: (e) => events.push(e) });
  const got = drain(player);
  for (; i < tags.length; i++) await publisher.sendFlvTag(tags[i]);
  await publisher.close();
  const packets = await within(got, 15_000, "the player's packets");
  return { packets, events, fourCcList };
}

describe("RtmpPlayer against our server", () => {
  for (const fixture of ERTMP_FIXTURES) {
    it(`plays the Enhanced RTMP fixture ${fixture} back tag for tag, byte-identical`, async () => {
      const tags = await readFlvTags(fixturePath(fixture));
      const { packets, events, fourCcList } = await roundTrip(tags, { enhanced: true });
      assert.deepEqual(fourCcList, ["*"]);
      assert.deepEqual(records(packets, { media: true }), records(tags, { media: true }));
      const video = packets.find((p) => p.type === "video" && p.tag?.enhanced);
      assert.ok(video?.type === "video" && video.tag?.enhanced && video.tag.fourCc === "av01");
      const audio = packets.find((p) => p.type === "audio" && p.tag?.enhanced);
      assert.ok(audio?.type === "audio" && audio.tag?.enhanced && audio.tag.fourCc === "Opus");
      assert.ok(events.some((e) => e.type === "metadata"), "an onMetaData event");
      assert.ok(events.some((e) => e.type === "unpublish-notify"), "UnpublishNotify at the end");
      assert.ok(events.some((e) => e.type === "stream-begin"));
      assert.equal(events.at(-1)?.type, "closed");
    });
  }

  it("plays H.264 + AAC with metadata first and exact timestamps; a legacy connect announces nothing", async () => {
    const tags = syntheticTags({ frames: 60 });
    const { packets, fourCcList } = await roundTrip(tags);
    assert.equal(fourCcList, undefined);
    assert.deepEqual(records(packets, { media: true }), records(tags, { media: true }));
    const first = packets[0];
    assert.equal(first.type, "data");
    assert.equal(first.type === "data" && first.data?.handler, "onMetaData");
  });

  it("carries timestamps past 2^24 ms (extended timestamps) exactly", async () => {
    const tags = syntheticTags({ frames: 50, base: 0x1000000 + 12_345 });
    const { packets } = await roundTrip(tags);
    const media = packets.filter((p) => p.type !== "data");
    assert.ok(media[0].timestamp >= 0x1000000);
    assert.deepEqual(records(media), records(tags, { media: true }));
  });

  it("an onPlay refusal rejects with REJECTED, the server's code and description", async () => {
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      onPlay: () => ({
        accept: false,
        code: "NetStream.Play.Forbidden",
        description: "this key may not be played",
      }),
    });
    const e = await rejectionOf(RtmpClient.play(`rtmp://127.0.0.1:${server.addr.port}/live/x`));
    assert.equal(e.code, "REJECTED");
    assert.equal(e.status, "NetStream.Play.Forbidden");
    assert.equal(e.description, "this key may not be played");
    assert.match(e.message, /this key may not be played/);
  });

  it("a stream that is not live rejects with NetStream.Play.StreamNotFound", async () => {
    await using server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      limits: { playWaitTimeout: 200 },
    });
    const e = await rejectionOf(RtmpClient.play(`rtmp://127.0.0.1:${server.addr.port}/live/none`));
    assert.equal(e.code, "REJECTED");
    assert.equal(e.status, "NetStream.Play.StreamNotFound");
  });
});

/** Serves one play of `tags` per connection, as the script decides. */
async function servePlay(peer: SessionPeer): Promise<number> {
  await peer.acceptConnect();
  const play = await peer.acceptPlay();
  return play.streamId;
}

function queueTags(peer: SessionPeer, streamId: number, tags: FlvTag[]): void {
  for (const t of tags) peer.queueMedia(streamId, t.type, t.timestamp, t.data);
}

describe("RtmpPlayer against a scripted server", () => {
  it("sends play with its arguments, Set Buffer Length, acks at the window and answers pings", async () => {
    const tags = syntheticTags({ frames: 200, frameBytes: 4000 });
    const server = await startSessionServer(async (peer) => {
      const streamId = await servePlay(peer);
      peer.session.channel.sendUserControl({ type: "PingRequest", timestamp: 4242 });
      queueTags(peer, streamId, tags);
      peer.session.endPlay(streamId);
      await peer.flush();
      await peer.done;
    }, { windowAckSize: 100_000 });
    try {
      const player = await RtmpClient.play(server.url("live", "cam?token=1"), {
        start: -1,
        duration: 30,
        reset: true,
        bufferLength: 1500,
        fcSubscribe: true,
      });
      const packets = await within(drain(player), 10_000, "the packets");
      assert.deepEqual(records(packets, { media: true }), records(tags, { media: true }));
      const peer = server.peers[0];
      await peer.done;
      const play = peer.events.find((e) => e.type === "play-request");
      assert.deepEqual(play?.type === "play-request" && play.request, {
        streamName: "cam?token=1",
        start: -1,
        duration: 30,
        reset: true,
      });
      const names = peer.events.filter((e) => e.type === "command").map((e) =>
        e.type === "command" ? e.command.name : ""
      );
      assert.ok(!names.includes("releaseStream"), "no publish commands");
      assert.ok(
        peer.raw.some((m) =>
          m.type === 20 && new TextDecoder().decode(m.payload).includes("FCSubscribe")
        ),
        "FCSubscribe sent",
      );
      const buffer = peer.controls.find((c) =>
        c.type === "UserControl" && c.event.type === "SetBufferLength"
      );
      assert.ok(buffer?.type === "UserControl" && buffer.event.type === "SetBufferLength");
      assert.equal(buffer.event.bufferLength, 1500);
      const pong = peer.controls.find((c) =>
        c.type === "UserControl" && c.event.type === "PingResponse"
      );
      assert.ok(pong?.type === "UserControl" && pong.event.type === "PingResponse");
      assert.equal(pong.event.timestamp, 4242);
      // RTMP 1.0 §5.4.3: one Acknowledgement per window, carrying the bytes received so far.
      const acks = peer.controls.flatMap((c) =>
        c.type === "Acknowledgement" ? [c.sequenceNumber] : []
      );
      const total = tags.reduce((n, t) => n + t.data.length, 0);
      // One read may cover several windows; each ack then carries the total so far.
      // After every read, less than a window is left unacknowledged.
      assert.ok(acks.length >= 2, `${acks.length} acks for ${total} bytes`);
      assert.ok(acks.at(-1)! >= total - 100_000, `last ack ${acks.at(-1)} of ${total} bytes`);
      for (let i = 1; i < acks.length; i++) assert.ok(acks[i] - acks[i - 1] >= 100_000);
      assert.equal(player.endReason, "unpublished");
    } finally {
      await server.close();
    }
    assert.deepEqual(server.errors, []);
  });

  it("pause(true/false) sends pause with the last timestamp; close() sends closeStream, deleteStream, FIN", async () => {
    const tags = syntheticTags({ frames: 20 });
    const server = await startSessionServer(async (peer) => {
      const streamId = await servePlay(peer);
      queueTags(peer, streamId, tags);
      await peer.flush();
      await peer.done;
    });
    try {
      const notes: string[] = [];
      const player = await RtmpClient.play(server.url("live", "p"), {
        onEvent: (e) => e.type === "status" && notes.push(e.status.code),
      });
      const it = player[Symbol.asyncIterator]();
      let last = 0;
      for (let n = 0; n < tags.length; n++) last = (await it.next()).value!.timestamp;
      await player.pause(true);
      assert.equal(player.paused, true);
      const peer = server.peers[0];
      const paused = await peer.next("pause");
      assert.deepEqual({ paused: paused.paused, position: paused.position }, {
        paused: true,
        position: last,
      });
      await player.pause(false);
      assert.equal((await peer.next("pause")).paused, false);
      await waitFor(() => notes.includes("NetStream.Unpause.Notify"), { what: "Unpause.Notify" });
      assert.ok(notes.includes("NetStream.Pause.Notify"), notes.join());
      await player.close();
      const stop = await peer.next("play-stop");
      assert.equal(stop.command, "closeStream");
      await within(peer.done, 5000, "the player's FIN");
      const commands = peer.raw.filter((m) => m.type === 20).map((m) =>
        new TextDecoder().decode(m.payload.subarray(3, 3 + m.payload[2]))
      );
      assert.deepEqual(commands.slice(-2), ["closeStream", "deleteStream"]);
    } finally {
      await server.close();
    }
  });

  it("a reader that stops reading stops the socket reads: the server's writes stall, nothing is lost", async () => {
    // Enough that kernel socket buffers (several MB each way on loopback) are well under half.
    const frames = 800;
    const tags = syntheticTags({ frames, frameBytes: 60_000 }).filter((t) => t.type !== 8);
    let written = 0;
    let finished!: () => void;
    const allWritten = new Promise<void>((r) => finished = r);
    const server = await startSessionServer(async (peer) => {
      const streamId = await servePlay(peer);
      for (const t of tags) {
        peer.queueMedia(streamId, t.type, t.timestamp, t.data);
        await peer.flush();
        written += t.data.length;
      }
      finished();
      peer.session.endPlay(streamId);
      await peer.flush();
      await peer.done;
    });
    try {
      const player = await RtmpClient.play(server.url("live", "bp"), {
        maxQueuedBytes: 256 * 1024,
      });
      const total = tags.reduce((n, t) => n + t.data.length, 0);
      const stalled = await waitForStall(() => written, {
        finished: allWritten,
        what: "server writes",
      });
      // Socket buffers on both sides plus the 256 KiB queue: far less than the 18 MB sent.
      assert.ok(
        stalled < total / 2,
        `server wrote ${stalled} of ${total} bytes to a reader that reads nothing`,
      );
      const packets = await within(drain(player), 20_000, "the packets");
      assert.deepEqual(records(packets, { media: true }), records(tags, { media: true }));
    } finally {
      await server.close();
    }
  });

  it("servers that send only Play.Reset before media: the first media starts the stream", async () => {
    const tags = syntheticTags({ frames: 10 });
    const server = await startSessionServer(async (peer) => {
      await peer.acceptConnect();
      const play = await peer.next("play-request");
      // Answered by hand, the request left pending: Reset, then media, no Play.Start.
      await peer.status(play.streamId, { level: "status", code: "NetStream.Play.Reset" });
      queueTags(peer, play.streamId, tags);
      await peer.flush();
      await peer.done;
    });
    try {
      const events: PlayerEvent[] = [];
      const player = await RtmpClient.play(server.url("live", "r"), {
        onEvent: (e) => events.push(e),
      });
      const it = player[Symbol.asyncIterator]();
      const first = await it.next();
      assert.equal(first.value?.type, "data");
      assert.ok(
        events.some((e) => e.type === "status" && e.status.code === "NetStream.Play.Reset"),
      );
      await player.close();
    } finally {
      await server.close();
    }
  });

  it("rejections: connect refused, and play answered with an error status", async () => {
    const server = await startSessionServer(async (peer, index) => {
      const connect = await peer.next("connect-request");
      if (index === 0) {
        peer.session.reject(connect.id, { description: "app closed for maintenance" });
        await peer.closeWrite();
        return;
      }
      peer.session.accept(connect.id);
      await peer.flush();
      const play = await peer.next("play-request");
      peer.session.reject(play.id, {
        code: "NetStream.Play.StreamNotFound",
        description: "no such stream",
      });
      await peer.flush();
      await peer.done;
    });
    try {
      const a = await rejectionOf(RtmpClient.play(server.url("live", "x")));
      assert.deepEqual([a.code, a.status, a.description], [
        "REJECTED",
        "NetConnection.Connect.Rejected",
        "app closed for maintenance",
      ]);
      const b = await rejectionOf(RtmpClient.play(server.url("live", "x")));
      assert.deepEqual([b.code, b.status, b.description], [
        "REJECTED",
        "NetStream.Play.StreamNotFound",
        "no such stream",
      ]);
    } finally {
      await server.close();
    }
  });

  it("an aborted signal cancels playing; the URL's password never shows in errors", async () => {
    const server = await startSessionServer(async (peer) => {
      await peer.done; // never answers the handshake
    });
    try {
      const ac = new AbortController();
      const pending = RtmpClient.play(`rtmp://u:hunter2@127.0.0.1:${server.port}/live/k`, {
        signal: ac.signal,
      });
      setTimeout(() => ac.abort(), 100);
      const e = await rejectionOf(pending);
      assert.equal(e.code, "ABORTED");
      assert.ok(!JSON.stringify({ m: e.message, d: e.description }).includes("hunter2"));
      const t = await rejectionOf(
        RtmpClient.play(`rtmp://u:hunter2@127.0.0.1:${server.port}/live/k`, { timeout: 200 }),
      );
      assert.equal(t.code, "TIMEOUT");
      assert.ok(!t.message.includes("hunter2"));
      const bad = await rejectionOf(RtmpClient.play("rtmp://u:hunter2@127.0.0.1:99999/live/k"));
      assert.equal(bad.code, "INVALID_URL");
      assert.ok(!bad.message.includes("hunter2"), bad.message);
    } finally {
      await server.close();
    }
  });
});

/** Splits a synthetic stream: config, then frames. */
function split(tags: FlvTag[]): { config: FlvTag[]; frames: FlvTag[] } {
  const n = tags.findIndex((t) => !isConfig(t));
  return { config: tags.slice(0, n), frames: tags.slice(n) };
}

/** Index of the first video keyframe at or after `from`. */
function nextKeyframe(frames: FlvTag[], from: number): number {
  for (let i = from; i < frames.length; i++) {
    if (frames[i].type === 9 && isKeyframePayload(frames[i].data)) return i;
  }
  return frames.length;
}

/** Index of the last video keyframe at or before `at`. */
function previousKeyframe(frames: FlvTag[], at: number): number {
  for (let i = at; i >= 0; i--) {
    if (frames[i].type === 9 && isKeyframePayload(frames[i].data)) return i;
  }
  return 0;
}

describe("RtmpPlayer reconnecting", () => {
  it("follows ReconnectRequest to the named server at the next keyframe: one continuous stream", async () => {
    const tags = syntheticTags({ frames: 80, gop: 10 });
    const { config, frames } = split(tags);
    const cut = 37; // the request arrives mid-GOP
    const k1 = nextKeyframe(frames, cut + 1);
    let capsEx = 0;
    const b = await startSessionServer(async (peer) => {
      const streamId = await servePlay(peer);
      // Like a server with a GOP cache: configuration, then the GOP the client is in.
      queueTags(peer, streamId, config);
      queueTags(peer, streamId, frames.slice(previousKeyframe(frames, cut)));
      peer.session.endPlay(streamId);
      await peer.flush();
      await peer.done;
    });
    const a = await startSessionServer(async (peer) => {
      const connect = await peer.acceptConnect();
      capsEx = connect.request.capsEx ?? 0;
      const play = await peer.acceptPlay();
      queueTags(peer, play.streamId, config);
      queueTags(peer, play.streamId, frames.slice(0, cut));
      await peer.flush();
      await peer.status(0, {
        level: "status",
        code: "NetConnection.Connect.ReconnectRequest",
        description: "draining",
        tcUrl: `rtmp://127.0.0.1:${b.port}/live`,
      });
      // E-RTMP v2: the old server keeps serving until the client leaves.
      queueTags(peer, play.streamId, frames.slice(cut, nextKeyframe(frames, k1 + 1)));
      await peer.flush();
      await peer.done;
    });
    try {
      const events: PlayerEvent[] = [];
      const player = await RtmpClient.play(a.url("live", "cam"), {
        reconnect: true,
        onEvent: (e) => events.push(e),
      });
      const packets = await within(drain(player), 15_000, "the packets");
      assert.equal(
        capsEx & CapsExMask.Reconnect,
        CapsExMask.Reconnect,
        "capsEx announces Reconnect",
      );
      assert.deepEqual(records(packets), records([...config, ...frames]));
      assert.equal(player.reconnects, 1);
      assert.equal(player.url.port, b.port);
      const kinds = events.map((e) => e.type);
      assert.ok(kinds.indexOf("reconnect-request") < kinds.indexOf("reconnected"));
      const rc = events.find((e) => e.type === "reconnecting");
      assert.ok(rc?.type === "reconnecting" && rc.attempt === 1 && rc.delayMs === 0);
      // The old server saw the player leave cleanly.
      const old = a.peers[0];
      await within(old.done, 5000, "leaving the old server");
      assert.ok(old.events.some((e) => e.type === "play-stop" && e.command === "closeStream"));
    } finally {
      await a.close();
      await b.close();
    }
    assert.deepEqual([...a.errors, ...b.errors], []);
  });

  it("reconnects after a lost connection with back-off, resumes video at a keyframe, no duplicates", async () => {
    const tags = syntheticTags({ frames: 60, gop: 10 });
    const { config, frames } = split(tags);
    const cut = 25;
    const server = await startSessionServer(async (peer, index) => {
      const streamId = await servePlay(peer);
      queueTags(peer, streamId, config);
      if (index === 0) {
        queueTags(peer, streamId, frames.slice(0, cut));
        await peer.flush();
        await waitFor(() => peer.controls.length > 0 || peer.ended, { what: "the client's acks" })
          .catch(() => {});
        peer.kill();
        return;
      }
      queueTags(peer, streamId, frames.slice(previousKeyframe(frames, cut)));
      peer.session.endPlay(streamId);
      await peer.flush();
      await peer.done;
    });
    try {
      const events: PlayerEvent[] = [];
      const player = await RtmpClient.play(server.url("live", "lost"), {
        reconnect: { initialDelay: 20, maxDelay: 100 },
        onEvent: (e) => events.push(e),
      });
      const packets = await within(drain(player), 15_000, "the packets");
      const got = records(packets, { media: true });
      assert.equal(new Set(got).size, got.length, "no packet twice");
      const k = nextKeyframe(frames, cut);
      const videoAfter = packets.filter((p) =>
        p.type === "video" && p.timestamp > frames[cut - 1].timestamp
      );
      assert.ok(
        videoAfter.length > 0 && isKeyframePayload(videoAfter[0].payload),
        "video resumes at a keyframe",
      );
      assert.equal(videoAfter[0].timestamp, frames[k].timestamp);
      // Everything before the cut and everything from the next keyframe arrived, in order.
      const want = records([...frames.slice(0, cut), ...frames.slice(k)], { media: true });
      assert.deepEqual(got.filter((r) => want.includes(r)), want);
      const rc = events.find((e) => e.type === "reconnecting");
      assert.ok(
        rc?.type === "reconnecting" && rc.delayMs >= 10 && rc.delayMs <= 20,
        JSON.stringify(rc),
      );
      assert.ok(events.some((e) => e.type === "reconnected"));
      assert.equal(player.reconnects, 1);
    } finally {
      await server.close();
    }
  });

  it("a new connection on a restarted timeline is shifted to continue after the last packet", async () => {
    const before = split(syntheticTags({ frames: 30, gop: 10, base: 60_000 }));
    const after = split(syntheticTags({ frames: 30, gop: 10 }));
    const server = await startSessionServer(async (peer, index) => {
      const streamId = await servePlay(peer);
      const part = index === 0 ? before : after;
      queueTags(peer, streamId, [...part.config, ...part.frames]);
      if (index === 0) {
        await peer.flush();
        await waitFor(() => peer.controls.length > 0 || peer.ended, { what: "the client" })
          .catch(() => {});
        peer.kill();
        return;
      }
      peer.session.endPlay(streamId);
      await peer.flush();
      await peer.done;
    });
    try {
      const player = await RtmpClient.play(server.url("live", "restart"), {
        reconnect: { initialDelay: 10 },
      });
      const packets = (await within(drain(player), 15_000, "the packets")).filter((p) =>
        p.type !== "data"
      );
      const last = Math.max(...before.frames.map((t) => t.timestamp));
      const resumed = packets.findIndex((p) => p.timestamp > last);
      assert.ok(resumed > 0);
      assert.ok(packets[resumed].type === "video" && isKeyframePayload(packets[resumed].payload));
      assert.equal(packets[resumed].timestamp, last + 1);
      for (const kind of ["audio", "video"]) {
        const ts = packets.filter((p) => p.type === kind && !isSequenceHeader(p)).map((p) =>
          p.timestamp
        );
        assert.ok(ts.every((t, i) => i === 0 || t > ts[i - 1]), `${kind} timestamps increase`);
      }
      // Every frame of the new timeline arrived, shifted by the same amount.
      const shifted = packets.slice(resumed).filter((p) => !isSequenceHeader(p));
      assert.deepEqual(
        records(shifted),
        records(after.frames.map((t) => ({ ...t, timestamp: t.timestamp + last + 1 }))),
      );
    } finally {
      await server.close();
    }
  });

  it("gives up after maxAttempts: the iteration throws CONNECTION_CLOSED naming the attempts", async () => {
    const tags = syntheticTags({ frames: 10 });
    let port = 0;
    const server = await startSessionServer(async (peer) => {
      const streamId = await servePlay(peer);
      queueTags(peer, streamId, tags);
      await peer.flush();
      peer.kill();
    });
    port = server.port;
    const player = await RtmpClient.play(server.url("live", "gone"), {
      reconnect: { maxAttempts: 2, initialDelay: 10, maxDelay: 20 },
    });
    const got: MediaPacket[] = [];
    const done = (async () => {
      for await (const p of player) {
        got.push(p);
        if (got.length === 1) await server.close(); // nothing listens any more
      }
    })();
    const e = await rejectionOf(within(done, 15_000, "giving up"));
    assert.equal(e.code, "CONNECTION_CLOSED");
    assert.match(e.message, /2 reconnect attempt\(s\) failed/);
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.equal(player.endReason, "error");
  });
});

describe("RtmpClient (publisher) reconnecting", () => {
  it("follows ReconnectRequest at the next keyframe, resending metadata and sequence headers", async () => {
    const tags = syntheticTags({ frames: 80, gop: 10 });
    const { config, frames } = split(tags);
    let capsEx = 0;
    const received: { a: FlvTag[]; b: FlvTag[] } = { a: [], b: [] };
    const collect = async (peer: SessionPeer, into: FlvTag[]): Promise<void> => {
      await peer.acceptConnect().then((c) => capsEx ||= c.request.capsEx ?? 0);
      await peer.acceptPublish();
      while (true) {
        const ev = await peer.next("media", 15_000).catch(() => null);
        if (ev === null) return;
        into.push({
          type: ev.message.type,
          timestamp: ev.message.timestamp,
          streamId: 0,
          data: ev.message.payload,
        });
        if (into === received.a && into.length === config.length + 33) {
          await peer.status(0, {
            level: "status",
            code: "NetConnection.Connect.ReconnectRequest",
            tcUrl: `rtmp://127.0.0.1:${b.port}/live`,
          });
        }
      }
    };
    const b = await startSessionServer((peer) => collect(peer, received.b));
    const a = await startSessionServer((peer) => collect(peer, received.a));
    try {
      const client = await RtmpClient.connect(a.url("live", "key"), { reconnect: true });
      for (const t of tags) {
        await client.sendFlvTag(t);
        if (received.a.length < config.length + 40 && client.reconnects === 0) {
          // Pace the first part so the request arrives while frames are still being sent.
          await new Promise((r) => setTimeout(r, 2));
        }
      }
      await client.close();
      await waitFor(() => b.peers[0]?.ended === true, { what: "the new server's session end" });
      assert.equal(client.reconnects, 1);
      assert.equal(capsEx & CapsExMask.Reconnect, CapsExMask.Reconnect);
      assert.ok(
        a.peers[0].events.some((e) => e.type === "unpublish"),
        "left the old server cleanly",
      );
      // The new server got the configuration first (metadata as @setDataFrame), then a keyframe.
      const bConfig = received.b.slice(0, config.length);
      assert.deepEqual(bConfig.map((t) => t.type), config.map((t) => t.type));
      const firstFrame = received.b[config.length];
      assert.ok(
        firstFrame.type === 9 && isKeyframePayload(firstFrame.data),
        "resumes at a keyframe",
      );
      // Old + new server together: every frame exactly once, in order.
      const frameRecords = (list: FlvTag[]): string[] => records(list.filter((t) => !isConfig(t)));
      assert.deepEqual([...frameRecords(received.a), ...frameRecords(received.b)], records(frames));
      const events: string[] = [];
      for await (const e of client.events()) events.push(e.type);
      assert.ok(
        events.includes("reconnect-request") && events.includes("reconnected"),
        events.join(),
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("reconnects after a lost connection: sends wait, configuration is resent, video resumes at a keyframe", async () => {
    const tags = syntheticTags({ frames: 60, gop: 10 });
    const { config } = split(tags);
    const received: FlvTag[][] = [[], []];
    const server = await startSessionServer(async (peer, index) => {
      await peer.acceptConnect();
      await peer.acceptPublish();
      while (true) {
        const ev = await peer.next("media", 15_000).catch(() => null);
        if (ev === null) return;
        received[index].push({
          type: ev.message.type,
          timestamp: ev.message.timestamp,
          streamId: 0,
          data: ev.message.payload,
        });
        if (index === 0 && received[0].length === config.length + 25) {
          peer.kill();
          return;
        }
      }
    });
    try {
      const client = await RtmpClient.connect(server.url("live", "key"), {
        reconnect: { initialDelay: 20, maxDelay: 50 },
      });
      for (const t of tags) {
        await client.sendFlvTag(t);
        await new Promise((r) => setTimeout(r, 1));
      }
      await client.close();
      await waitFor(() => server.peers[1]?.ended === true, { what: "the second session end" });
      assert.equal(client.reconnects, 1);
      const second = received[1];
      assert.deepEqual(
        second.slice(0, config.length).map((t) => t.type),
        config.map((t) => t.type),
      );
      const firstVideo = second.slice(config.length).find((t) => t.type === 9)!;
      assert.ok(isKeyframePayload(firstVideo.data), "video resumes at a keyframe");
      const firstMedia = second[config.length];
      assert.equal(firstMedia.type, 9, "nothing before the keyframe (audio waits for it too)");
    } finally {
      await server.close();
    }
  });
});

describe("authmod (client side) against a server built from AuthmodServer", () => {
  const random = (n: number): Uint8Array => crypto.getRandomValues(new Uint8Array(n));

  /** Each connection: authenticate `app`; refuse with the description, or accept and serve. */
  function authServer(mods: ("adobe" | "llnw")[], passwords: Record<string, string>) {
    const auth = new AuthmodServer({ mods });
    const apps: string[] = [];
    return {
      apps,
      start: () =>
        startSessionServer(async (peer) => {
          const connect = await peer.next("connect-request");
          apps.push(connect.request.app);
          let o = auth.authenticate(connect.request.app, { now: Date.now(), random });
          if (o.kind === "need_password") {
            o = auth.authenticate(connect.request.app, {
              now: Date.now(),
              random,
              password: passwords[o.user] ?? null,
            });
          }
          if (o.kind !== "accepted") {
            peer.session.reject(connect.id, {
              description: o.kind === "need_password" ? "?" : o.description,
            });
            await peer.closeWrite();
            return;
          }
          peer.session.accept(connect.id);
          await peer.flush();
          const ev = await peer.next(["play-request", "publish-request"]);
          peer.session.accept(ev.id);
          await peer.flush();
          if (ev.type === "play-request") {
            queueTags(peer, ev.streamId, syntheticTags({ frames: 5 }));
            peer.session.endPlay(ev.streamId);
            await peer.flush();
          }
          await peer.done;
        }),
    };
  }

  for (const mod of ["adobe", "llnw"] as const) {
    it(`plays with rtmp://user:pass@ (authmod=${mod}), one TCP connection per step`, async () => {
      const s = authServer([mod], { alice: "s3cr:t w0rd" });
      const server = await s.start();
      try {
        const player = await RtmpClient.play(
          `rtmp://alice:${encodeURIComponent("s3cr:t w0rd")}@127.0.0.1:${server.port}/live/cam`,
        );
        const packets = await within(drain(player), 10_000, "the packets");
        assert.ok(packets.length > 5);
        assert.equal(server.peers.length, 3, "need-user, challenge, response");
        assert.equal(s.apps[0], "live");
        assert.equal(s.apps[1], `live?authmod=${mod}&user=alice`);
        assert.match(s.apps[2], new RegExp(`^live\\?authmod=${mod}&user=alice&.*response=`));
        assert.ok(!s.apps.join().includes("s3cr"), "the password is never sent");
      } finally {
        await server.close();
      }
    });
  }

  it("publishes with credentials given as an option", async () => {
    const s = authServer(["adobe"], { bob: "pw" });
    const server = await s.start();
    try {
      const client = await RtmpClient.connect(server.url("live", "key"), {
        credentials: { user: "bob", password: "pw" },
      });
      await client.sendFlvTag(syntheticTags({ frames: 1 })[0]);
      await client.close();
      assert.equal(server.peers.length, 3);
    } finally {
      await server.close();
    }
  });

  it("a wrong password is REJECTED with the server's reason, and the password appears nowhere", async () => {
    const s = authServer(["adobe"], { alice: "right" });
    const server = await s.start();
    try {
      const e = await rejectionOf(
        RtmpClient.play(`rtmp://alice:wrong-pass@127.0.0.1:${server.port}/live/cam`),
      );
      assert.equal(e.code, "REJECTED");
      assert.equal(e.status, "NetConnection.Connect.Rejected");
      assert.match(e.description ?? "", /reason=authfailed/);
      assert.match(e.message, /authentication failed/);
      const all = JSON.stringify({
        m: e.message,
        d: e.description,
        s: e.stack,
        c: String(e.cause),
      });
      assert.ok(!all.includes("wrong-pass"), all);
      const none = await rejectionOf(RtmpClient.play(server.url("live", "cam")));
      assert.match(none.message, /requires authentication.*no user name and password/);
    } finally {
      await server.close();
    }
  });

  it("rtmp push and rtmp pull take user:pass@ in the URL; a wrong one exits 1 without the password", async () => {
    const s = authServer(["adobe"], { carol: "open sesame" });
    const server = await s.start();
    const dir = await tempDir("rtmp-pull-auth-");
    try {
      const source = join(dir, "in.flv");
      const w = await FlvFileWriter.create(source, { audio: true, video: true });
      for (const t of syntheticTags({ frames: 20 })) await w.writeTag(t);
      await w.close();
      const creds = `carol:${encodeURIComponent("open sesame")}`;
      const push = startScript("cli.ts", [
        "push",
        "--fast",
        "-q",
        source,
        `rtmp://${creds}@127.0.0.1:${server.port}/live/key`,
      ]);
      assert.equal(await push.exit, 0, push.stderr());
      const out = join(dir, "out.flv");
      const pull = startScript("cli.ts", [
        "pull",
        `rtmp://${creds}@127.0.0.1:${server.port}/live/cam`,
        out,
      ]);
      assert.equal(await pull.exit, 0, pull.stderr());
      assert.equal((await readFlvTags(out)).filter((t) => t.type === 9).length, 5 + 1);
      assert.equal(server.peers.length, 6, "three connections each");
      const wrong = startScript("cli.ts", [
        "pull",
        `rtmp://carol:not-it@127.0.0.1:${server.port}/live/cam`,
        join(dir, "no.flv"),
      ]);
      assert.equal(await wrong.exit, 1);
      assert.match(wrong.stderr(), /authentication failed/);
      assert.ok(!wrong.stderr().includes("not-it"), wrong.stderr());
    } finally {
      await server.close();
      await removeTempDir(dir);
    }
  });

  it("parsed URLs keep the password out of logs and JSON", () => {
    const u = parseRtmpUrl("rtmp://bob:p%40ss@h:1936/live/key");
    assert.equal(u.username, "bob");
    assert.equal(u.password, "p@ss");
    assert.equal(u.tcUrl, "rtmp://h:1936/live");
    assert.ok(!JSON.stringify(u).includes("p@ss"));
    assert.ok(!Object.keys(u).includes("password"));
    assert.equal(redactRtmpUrl("rtmp://bob:p%40ss@h/live/key"), "rtmp://bob:***@h/live/key");
  });
});

describe("rtmp pull (CLI) against our server", () => {
  async function liveServer(): Promise<
    { server: RtmpServer; url: string; feed: Promise<void>; stop(): void }
  > {
    const server = await RtmpServer.listen({
      hostname: "127.0.0.1",
      port: 0,
      ...quiet,
      sessionQueue: "lazy",
    });
    const url = `rtmp://127.0.0.1:${server.addr.port}/live/cli`;
    const publisher = await RtmpClient.connect(url);
    const tags = syntheticTags({ frames: 2000, gop: 25 });
    let stopped = false;
    const feed = (async () => {
      const t0 = performance.now();
      for (const t of tags) {
        if (stopped) break;
        const wait = t.timestamp - (performance.now() - t0);
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        await publisher.sendFlvTag(t);
      }
      await publisher.close();
    })();
    return { server, url, feed, stop: () => stopped = true };
  }

  it("SIGTERM (or Ctrl-C) ends the pull with exit 0 and a finalised file", async () => {
    const live = await liveServer();
    const dir = await tempDir("rtmp-pull-cli-");
    try {
      const file = join(dir, "int.flv");
      const pull = startScript("cli.ts", ["pull", live.url, file]);
      await waitFor(async () => ((await readFlvTags(file).catch(() => [])).length > 30), {
        what: "the file to grow",
      });
      assert.equal(await stopScript(pull), 0, pull.stderr());
      assert.match(pull.stderr(), /pulled \d+ tags.*interrupted/);
      const tags = await readFlvTags(file);
      const meta = tags.find((t) => t.type === 18)!;
      const text = new TextDecoder().decode(meta.data);
      assert.ok(text.includes("duration") && text.includes("filesize"));
      const md = flvTagToPacket(meta);
      const duration = md?.type === "data" && md.data ? metadataOf(md.data)?.duration : undefined;
      const av = tags.filter((t) => t.type !== 18);
      const span = (Math.max(...av.map((t) => t.timestamp)) - av[0].timestamp) / 1000;
      assert.ok(span > 0.3);
      assert.equal(duration, span, "the media duration patched into onMetaData");
    } finally {
      live.stop();
      await live.feed;
      await live.server.close();
      await removeTempDir(dir);
    }
  });

  it("--duration stops after that much media; - writes FLV to stdout", async () => {
    const live = await liveServer();
    const dir = await tempDir("rtmp-pull-cli-");
    try {
      const file = join(dir, "dur.flv");
      const pull = startScript("cli.ts", ["pull", "--duration", "1.2", "-q", live.url, file]);
      assert.equal(await within(pull.exit, 15_000, "--duration"), 0, pull.stderr());
      assert.match(pull.stderr(), /duration reached/);
      const media = (await readFlvTags(file)).filter((t) => t.type !== 18 && !isConfig(t));
      const span = media.at(-1)!.timestamp - media[0].timestamp;
      assert.ok(span < 1200 && span > 900, `${span} ms of media`);
      const stdout = startScript("cli.ts", ["pull", "--duration", "0.5", live.url, "-"]);
      assert.equal(await within(stdout.exit, 15_000, "pull to stdout"), 0, stdout.stderr());
      assert.ok(stdout.stdout().startsWith("FLV"), "an FLV header on stdout");
    } finally {
      live.stop();
      await live.feed;
      await live.server.close();
      await removeTempDir(dir);
    }
  });

  it("bad arguments exit 2 with the usage; an unreachable server exits 1", async () => {
    for (
      const args of [
        ["pull"],
        ["pull", "rtmp://127.0.0.1/live/k"],
        ["pull", "--duration", "soon", "rtmp://127.0.0.1/live/k", "x.flv"],
        ["pull", "http://127.0.0.1/live/k", "x.flv"],
        ["pull", "rtmp://127.0.0.1/live", "x.flv"],
      ]
    ) {
      const r = startScript("cli.ts", args);
      assert.equal(await r.exit, 2, `${args.join(" ")}: ${r.stderr()}`);
      assert.match(r.stderr(), /Usage: rtmp pull/);
    }
    const closed = startScript("cli.ts", [
      "pull",
      "--timeout",
      "3000",
      `rtmp://127.0.0.1:1/live/k`,
      "x.flv",
    ]);
    assert.equal(await closed.exit, 1);
    assert.match(closed.stderr(), /^rtmp pull: .*(refused|ECONNREFUSED)/im);
    const help = startScript("cli.ts", ["pull", "--help"]);
    assert.equal(await help.exit, 0);
    assert.match(help.stdout(), /--duration SEC/);
  });
});
