// Playback from our RtmpServer to real players — ffmpeg, ffprobe, rtmpdump, GStreamer rtmp2src
// and rtmpsrc (librtmp) — and to a minimal player of our own (tests/support/raw_player.ts) that
// sees every status code and every byte. Publishers are ffmpeg or our RtmpClient. Runs the same
// on Deno, Bun and Node. Peers missing: skipped, except under CI=true where that is a failure.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { RtmpClient } from "../client.ts";
import type { FlvTag } from "../protocol/flv.ts";
import { type PlayInfo, RtmpServer, type RtmpServerOptions } from "../server.ts";
import { fixturePath } from "./support/fixtures.ts";
import { readFlvTags } from "./support/media.ts";
import {
  countPackets,
  ffmpegPublish,
  ffmpegPull,
  hasCommand,
  makeTestFlv,
  removeTempDir,
  tempDir,
  waitFor,
} from "./support/peers.ts";
import { hasGstElement, runPeer } from "./support/players.ts";
import { type PlayerEvent, RawPlayer } from "./support/raw_player.ts";
import { type RunningScript, startScript, stopScript } from "./support/runtime.ts";

const CI = process.env.CI === "true";
const HAVE = {
  ffmpeg: hasCommand("ffmpeg") && hasCommand("ffprobe"),
  rtmpdump: hasCommand("rtmpdump"),
  gst: hasCommand("gst-launch-1.0") && hasGstElement("rtmp2src") && hasGstElement("rtmpsrc") &&
    hasGstElement("filesink"),
};
/** Skip reason when a peer is missing; under CI the test runs and {@linkcode need} fails it. */
function skipWithout(...peers: (keyof typeof HAVE)[]): string | false {
  const missing = peers.filter((p) => !HAVE[p]);
  return missing.length === 0 || CI ? false : `${missing.join(", ")} not installed`;
}
function need(...peers: (keyof typeof HAVE)[]): void {
  for (const p of peers) assert.ok(HAVE[p], `${p} is required (CI=true): install it`);
}

interface TestServer {
  server: RtmpServer;
  lines: string[];
  url(key: string): string;
  close(): Promise<void>;
}

async function startServer(options: RtmpServerOptions = {}): Promise<TestServer> {
  const lines: string[] = [];
  const server = await RtmpServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    // Streams are read through the hub here; nobody iterates the sessions.
    sessionQueue: "lazy",
    log: (line) => lines.push(line),
    ...options,
  });
  return {
    server,
    lines,
    url: (key) => `rtmp://127.0.0.1:${server.addr.port}/live/${key}`,
    close: () => server.close(),
  };
}

function subscribers(s: TestServer, key: string): number {
  return s.server.hub.get(`live/${key}`)?.subscriberCount ?? 0;
}

type Media = { type: number; timestamp: number; data: Uint8Array };

function mediaTags(tags: FlvTag[]): Media[] {
  return tags.filter((t) => t.type === 8 || t.type === 9);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Asserts `got` is `want` tag for tag: type, body bytes and (unless told) timestamp. */
function assertSameMedia(got: Media[], want: Media[], what: string, timestamps = true): void {
  assert.equal(
    got.length,
    want.length,
    `${what}: ${got.length} media tags, expected ${want.length}`,
  );
  for (let i = 0; i < want.length; i++) {
    assert.equal(got[i].type, want[i].type, `${what}: tag ${i} type`);
    if (timestamps) {
      assert.equal(got[i].timestamp, want[i].timestamp, `${what}: tag ${i} timestamp`);
    }
    assert.ok(sameBytes(got[i].data, want[i].data), `${what}: tag ${i} payload differs`);
  }
}

function isHeader(t: Media): boolean {
  return (t.type === 9 && (t.data[0] & 0x0f) === 7 && t.data[1] === 0) ||
    (t.type === 8 && t.data[0] >> 4 === 10 && t.data[1] === 0);
}

/** A legacy video keyframe (for AVC a NALU packet, not a header or end of sequence). */
function isKeyframe(t: Media): boolean {
  return t.type === 9 && t.data[0] >> 4 === 1 && ((t.data[0] & 0x0f) !== 7 || t.data[1] === 1);
}

/** The media the raw player got, as tags. */
function rawMedia(player: RawPlayer, from = 0): Media[] {
  return player.events.slice(from).flatMap((e) =>
    e.kind === "media"
      ? [{ type: e.message.type, timestamp: e.message.timestamp, data: e.message.payload }]
      : []
  );
}

const isStatus = (code: string) => (e: PlayerEvent): boolean =>
  e.kind === "status" && e.code === code;

/** Publishes every tag of a file with our client, as fast as the connection allows. */
async function clientPublish(
  url: string,
  tags: FlvTag[],
  enhanced?: { video?: string[]; audio?: string[] },
): Promise<void> {
  const client = await RtmpClient.connect(url, { timeout: 10_000, enhanced });
  for (const tag of tags) await client.sendFlvTag(tag);
  await client.close();
}

let dir = "";
let source = "";
let sourceTags: FlvTag[] = [];

describe("RTMP play to real players", { skip: skipWithout("ffmpeg") }, () => {
  before(async () => {
    need("ffmpeg");
    dir = await tempDir("rtmp-play-");
    source = await makeTestFlv({ seconds: 6 });
    sourceTags = await readFlvTags(source);
  });
  after(async () => {
    if (dir) await removeTempDir(dir);
  });

  it(
    "players that join before the publisher get every packet: ffmpeg, rtmpdump, GStreamer rtmp2src and rtmpsrc",
    { skip: skipWithout("rtmpdump", "gst"), timeout: 60_000 },
    async () => {
      need("rtmpdump", "gst");
      const s = await startServer();
      try {
        const url = s.url("before");
        const out = (name: string) => join(dir, `before-${name}.flv`);
        const ffmpeg = ffmpegPull(url, out("ffmpeg"), { timeoutMs: 30_000 });
        const rtmpdump = runPeer("rtmpdump", ["-q", "-r", url, "-o", out("rtmpdump"), "--live"]);
        const rtmp2src = runPeer("gst-launch-1.0", [
          ...["-q", "rtmp2src", `location=${url}`, "!", "filesink", `location=${out("rtmp2src")}`],
        ]);
        // An unbuffered filesink: every buffer is on disk at once, so the process can be killed.
        const rtmpsrc = runPeer("gst-launch-1.0", [
          ...["-q", "rtmpsrc", `location=${url} live=1`, "!", "filesink", "buffer-mode=2"],
          `location=${out("rtmpsrc")}`,
        ]);
        await waitFor(() => subscribers(s, "before") === 4, {
          what: "4 players waiting for the publisher",
          timeoutMs: 20_000,
        });
        const pub = await ffmpegPublish(source, url);
        assert.equal(pub.code, 0, pub.stderr);
        // ffmpeg, rtmpdump and rtmp2src end on NetStream.Play.UnpublishNotify; rtmpsrc reconnects
        // and waits for the next publisher, so it is stopped once it has reconnected (all it got
        // from the first play is written by then).
        for (
          const [name, run] of [["ffmpeg", ffmpeg], ["rtmpdump", rtmpdump], [
            "rtmp2src",
            rtmp2src,
          ]] as const
        ) {
          const r = await run.done;
          assert.equal(r.code, 0, `${name}: ${"stderr" in r ? r.stderr : r.output}`);
        }
        await waitFor(
          () => rtmpsrc.exited() || s.lines.filter((l) => / connect app=/.test(l)).length > 5,
          { what: "rtmpsrc to end its first play" },
        );
        rtmpsrc.kill("SIGTERM");
        const r = await rtmpsrc.done;
        assert.ok(!r.timedOut, r.output);

        const want = mediaTags(sourceTags);
        const [srcCounts, ffCounts] = await Promise.all([
          countPackets(source),
          countPackets(out("ffmpeg")),
        ]);
        assert.deepEqual(
          { video: ffCounts.video, audio: ffCounts.audio },
          { video: srcCounts.video, audio: srcCounts.audio },
          "ffprobe counts of the ffmpeg player's file",
        );
        assertSameMedia(mediaTags(await readFlvTags(out("ffmpeg"))), want, "ffmpeg");
        // librtmp skips video messages of 5 bytes or less (here the AVC end-of-sequence tag).
        const librtmpWant = want.filter((t) => !(t.type === 9 && t.data.length <= 5));
        assert.ok(librtmpWant.length === want.length - 1);
        for (const name of ["rtmpdump", "rtmpsrc"]) {
          assertSameMedia(mediaTags(await readFlvTags(out(name))), librtmpWant, name);
        }
        // rtmp2src drops the last messages before end of stream (it does the same with
        // nginx-rtmp): the rest must be the source, byte for byte.
        const g = mediaTags(await readFlvTags(out("rtmp2src")));
        assert.ok(g.length >= want.length - 2, `rtmp2src got ${g.length} of ${want.length}`);
        assertSameMedia(g, want.slice(0, g.length), "rtmp2src");
        assert.ok(!s.lines.some((l) => /dropped in [1-9]/.test(l)), "no player dropped anything");
      } finally {
        await s.close();
      }
    },
  );

  it(
    "a late joiner starts on a keyframe after the headers; ffprobe on the live URL sees both streams",
    {
      timeout: 60_000,
    },
    async () => {
      const s = await startServer();
      try {
        const key = "late";
        const url = s.url(key);
        const publish = ffmpegPublish(source, url, { realtime: true, timeoutMs: 30_000 });
        await waitFor(() => (s.server.hub.get(`live/${key}`)?.lastTimestamp ?? 0) >= 2000, {
          what: "2 s of media published",
        });
        const live = s.server.hub.get(`live/${key}`)!;
        const joinFrom = live.lastTimestamp;
        const raw = await RawPlayer.connect(`rtmp://127.0.0.1:${s.server.addr.port}/live`);
        await raw.play(key);
        await waitFor(() => live.subscriberCount === 1, { what: "the late player subscribed" });
        const joinBy = live.lastTimestamp;
        const late = ffmpegPull(url, join(dir, "late.flv"), { timeoutMs: 30_000 });
        const probe = runPeer("ffprobe", [
          ...["-v", "error", "-show_streams", "-of", "json", url],
        ]);
        const pub = await publish;
        assert.equal(pub.code, 0, pub.stderr);
        const [lateResult, probeResult] = await Promise.all([late.done, probe.done]);
        assert.equal(lateResult.code, 0, lateResult.stderr);
        assert.equal(probeResult.code, 0, probeResult.output);

        const streams = (JSON.parse(probeResult.output) as {
          streams: { codec_type: string; codec_name: string }[];
        }).streams.map((x) => `${x.codec_type}/${x.codec_name}`).sort();
        assert.deepEqual(streams, ["audio/aac", "video/h264"]);

        // What the server sent (raw player): metadata, the two headers, then a GOP that starts at
        // the last keyframe before the join and continues with every later frame as published.
        await raw.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 10_000, "UnpublishNotify");
        const metaAt = raw.events.findIndex((e) => e.kind === "data" && e.handler === "onMetaData");
        assert.ok(metaAt >= 0, "metadata sent");
        assert.ok(metaAt < raw.events.findIndex((e) => e.kind === "media"), "metadata first");
        const got = rawMedia(raw);
        assert.ok(isHeader(got[0]) && isHeader(got[1]), "two sequence headers first");
        assert.deepEqual(new Set([got[0].type, got[1].type]), new Set([8, 9]));
        const want = mediaTags(sourceTags);
        const firstVideo = got.slice(2).find((t) => t.type === 9)!;
        assert.ok(isKeyframe(firstVideo), "first video frame is a keyframe");
        // The GOP current when the player subscribed: its keyframe is the last one published by
        // then (the join happened between the two readings of the stream's newest timestamp).
        const lastKeyBy = (ts: number) =>
          want.findLastIndex((t) => isKeyframe(t) && t.timestamp <= ts);
        const keyAt = want.findIndex((t) => t.type === 9 && t.timestamp === firstVideo.timestamp);
        assert.ok(
          keyAt >= lastKeyBy(joinFrom) && keyAt <= lastKeyBy(joinBy),
          "the GOP of the join time",
        );
        assert.ok(want[keyAt].timestamp > 0, "a late join, not the first GOP");
        const gopVideo = want.slice(keyAt).filter((t) => t.type === 9);
        assertSameMedia(
          got.slice(2).filter((t) => t.type === 9),
          gopVideo,
          "raw late joiner video",
        );

        // ffmpeg's recording of the same: first video tag a keyframe, preceded by both headers.
        const lateTags = mediaTags(await readFlvTags(join(dir, "late.flv")));
        const firstV = lateTags.findIndex((t) => t.type === 9 && !isHeader(t));
        assert.ok(isKeyframe(lateTags[firstV]), "ffmpeg's first video frame is a keyframe");
        const headersBefore = lateTags.slice(0, firstV).filter(isHeader).map((t) => t.type).sort();
        assert.deepEqual(headersBefore, [8, 9], "video and audio sequence headers before it");
        // It joined a little later, maybe a GOP later: its first frame is one of the keyframes
        // after the join, and from there on it has every frame.
        const lateVideo = lateTags.filter((t) => t.type === 9 && !isHeader(t));
        const ffKeyAt = want.findIndex((t) =>
          isKeyframe(t) && sameBytes(t.data, lateVideo[0].data)
        );
        assert.ok(
          ffKeyAt >= keyAt,
          "ffmpeg's first frame is a keyframe of the source after the join",
        );
        // ffprobe does not count the 5-byte end-of-sequence tag as a packet.
        const frames = want.slice(ffKeyAt).filter((t) => t.type === 9 && t.data.length > 5).length;
        assert.equal((await countPackets(join(dir, "late.flv"))).video, frames);
        raw.close();
      } finally {
        await s.close();
      }
    },
  );

  it(
    "an onPlay refusal reaches the player (ffmpeg fails, our player sees the code); the hook gets the request",
    {
      timeout: 60_000,
    },
    async () => {
      const seen: PlayInfo[] = [];
      const s = await startServer({
        limits: { playWaitTimeout: 300 },
        onPlay: (info) => {
          seen.push(info);
          return info.query.get("token") === "good" ? true : {
            accept: false,
            reason: `bad token ${info.query.get("token")}`,
            description: "a valid token is required",
            code: "NetStream.Play.Forbidden",
          };
        },
      });
      try {
        const port = s.server.addr.port;
        const started = Date.now();
        const ff = await ffmpegPull(`${s.url("k")}?token=nope`, join(dir, "refused.flv"), {
          timeoutMs: 15_000,
        }).done;
        assert.notEqual(ff.code, 0, "ffmpeg exits with an error");
        assert.ok(Date.now() - started < 10_000, "at once, not at a timeout");

        const raw = await RawPlayer.connect(`rtmp://127.0.0.1:${port}/live`);
        await raw.play("k?token=bad");
        const refused = await raw.waitFor(isStatus("NetStream.Play.Forbidden"), 5000, "refusal");
        assert.equal((refused as { level: string }).level, "error");
        assert.equal((refused as { description: string }).description, "a valid token is required");
        assert.ok(!raw.codes().includes("NetStream.Play.Start"));
        await raw.whenClosed; // refused: the server closes the connection gracefully
        raw.close();

        // An accepted token is not refused by the hook: the key is simply not live.
        const ok = await RawPlayer.connect(`rtmp://127.0.0.1:${port}/live`);
        await ok.play("k?token=good");
        await ok.waitFor(isStatus("NetStream.Play.StreamNotFound"), 5000, "not live");
        ok.close();

        assert.equal(seen.length, 3);
        const info = seen[1];
        assert.equal(info.app, "live");
        assert.equal(info.name, "k");
        assert.equal(info.streamName, "k?token=bad");
        assert.equal(info.query.get("token"), "bad");
        assert.equal(info.tcUrl, `rtmp://127.0.0.1:${port}/live`);
        assert.equal(info.remoteAddr.hostname, "127.0.0.1");
        assert.equal(info.protocol, "rtmp");
        assert.equal(info.connect?.flashVer, "LNX 9,0,124,2");
        assert.equal(info.request?.start, -2);
        assert.match(seen[0].connect?.flashVer ?? "", /LNX|Lavf/, "ffmpeg's own connect");
        assert.ok(s.lines.some((l) => l.includes('play "live/k" refused: bad token bad')));
      } finally {
        await s.close();
      }
    },
  );
});

describe("RTMP play flow (our own player)", () => {
  it("E-RTMP AV1/Opus: a player that announced av01/Opus gets the published tags byte for byte", async () => {
    const tags = await readFlvTags(fixturePath("ertmp-av1-opus-testsrc.flv"));
    const s = await startServer();
    try {
      const port = s.server.addr.port;
      const player = await RawPlayer.connect(`rtmp://127.0.0.1:${port}/live`, {
        fourCcList: ["av01", "Opus"],
      });
      await player.play("ertmp");
      await waitFor(() => subscribers(s, "ertmp") === 1, { what: "the player waiting" });
      await clientPublish(s.url("ertmp"), tags, { video: ["av01"], audio: ["Opus"] });
      await player.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 10_000, "end");
      assertSameMedia(rawMedia(player), mediaTags(tags), "E-RTMP player");
      const meta = player.events.find((e) => e.kind === "data" && e.handler === "onMetaData");
      assert.ok(meta && meta.kind === "data");
      assert.ok(sameBytes(meta.message.payload, tags.find((t) => t.type === 18)!.data));
      player.close();
    } finally {
      await s.close();
    }
  });

  it("a key that is not live: play waits playWaitTimeout, then StreamNotFound, and the connection is closed", async () => {
    const s = await startServer({ limits: { playWaitTimeout: 800 } });
    try {
      const player = await RawPlayer.connect(`rtmp://127.0.0.1:${s.server.addr.port}/live`);
      const t0 = Date.now();
      await player.play("nobody");
      const status = await player.waitFor(
        isStatus("NetStream.Play.StreamNotFound"),
        10_000,
        "StreamNotFound",
      );
      const waited = Date.now() - t0;
      assert.ok(waited >= 700, `waited ${waited} ms for a publisher`);
      assert.equal((status as { level: string }).level, "error");
      assert.ok(!player.codes().includes("NetStream.Play.Start"));
      await Promise.race([
        player.whenClosed,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error("the server kept the idle connection")), 5000)
        ),
      ]);
      await waitFor(() => s.server.connectionCount === 0, { what: "connection gone" });
      assert.ok(s.lines.some((l) => l.includes('play "live/nobody" refused: not live')));
    } finally {
      await s.close();
    }
  });

  it("a connected player follows unpublish and a new publish without reconnecting", async () => {
    const first = await readFlvTags(fixturePath("ffmpeg_publish_source.flv"));
    const second = await readFlvTags(fixturePath("ertmp-av1-opus-mptestsrc.flv"));
    const s = await startServer();
    try {
      const player = await RawPlayer.connect(`rtmp://127.0.0.1:${s.server.addr.port}/live`);
      await player.play("again");
      await waitFor(() => subscribers(s, "again") === 1, { what: "the player waiting" });
      await clientPublish(s.url("again"), first);
      await player.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 10_000, "unpublish");
      const mark = player.events.length;
      await clientPublish(s.url("again"), second, { video: ["av01"], audio: ["Opus"] });
      await player.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 10_000, "2nd end", mark);
      const flow = player.events.filter((e) => e.kind === "status" || e.kind === "control")
        .map((e) => e.kind === "status" ? e.code : `${(e as { type: string }).type}`);
      assert.deepEqual(flow, [
        "StreamBegin",
        "NetStream.Play.Reset",
        "NetStream.Play.Start",
        "StreamEOF",
        "NetStream.Play.UnpublishNotify",
        "StreamBegin",
        "NetStream.Play.PublishNotify",
        "StreamEOF",
        "NetStream.Play.UnpublishNotify",
      ]);
      const notify = player.events.findIndex(isStatus("NetStream.Play.PublishNotify"));
      assertSameMedia(rawMedia(player).slice(0, mediaTags(first).length), mediaTags(first), "1st");
      // After PublishNotify: the new publisher's own headers and media, nothing of the old one.
      assertSameMedia(rawMedia(player, notify), mediaTags(second), "2nd publisher");
      assert.ok(!player.closed, "still the same connection");
      assert.equal(s.server.connectionCount, 1);
      player.close();
    } finally {
      await s.close();
    }
  });
});

describe("RTMP play limits (our own player)", () => {
  it("players past maxPlayersPerStream / maxPlayersPerIp are refused with an error status and logged", async () => {
    const s = await startServer({ limits: { maxPlayersPerStream: 1, maxPlayersPerIp: 2 } });
    try {
      const base = `rtmp://127.0.0.1:${s.server.addr.port}/live`;
      const first = await RawPlayer.connect(base);
      await first.play("one");
      await waitFor(() => subscribers(s, "one") === 1, { what: "first player" });
      const second = await RawPlayer.connect(base);
      await second.play("one");
      const refused = await second.waitFor(isStatus("NetStream.Play.Failed"), 5000, "refusal");
      assert.equal((refused as { level: string }).level, "error");
      assert.ok(s.lines.some((l) => /play "live\/one" refused: 1 players of "live\/one"/.test(l)));
      const third = await RawPlayer.connect(base);
      await third.play("two");
      await waitFor(() => subscribers(s, "two") === 1, { what: "a player of another key" });
      const fourth = await RawPlayer.connect(base);
      await fourth.play("three");
      await fourth.waitFor(isStatus("NetStream.Play.Failed"), 5000, "per-IP refusal");
      assert.ok(s.lines.some((l) => /refused: 2 players from this address/.test(l)));
      assert.equal(s.server.playerCount, 2);
      for (const p of [first, second, third, fourth]) p.close();
    } finally {
      await s.close();
    }
  });
});

describe("RTMP play: the publisher does not come back (our own player)", () => {
  it("after unpublishedPlayerTimeout the player gets StreamEOF + NetStream.Play.Stop, then a FIN", async () => {
    const tags = await readFlvTags(fixturePath("ffmpeg_publish_source.flv"));
    const s = await startServer({ limits: { unpublishedPlayerTimeout: 500 } });
    try {
      const player = await RawPlayer.connect(`rtmp://127.0.0.1:${s.server.addr.port}/live`);
      await player.play("gone");
      await waitFor(() => subscribers(s, "gone") === 1, { what: "the player waiting" });
      await clientPublish(s.url("gone"), tags);
      const eof = await player.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 5000, "gone");
      await player.whenClosed;
      const tail = player.events.slice(player.events.indexOf(eof) + 1).map((e) =>
        e.kind === "status" ? e.code : e.kind === "control" ? e.type : e.kind
      );
      assert.deepEqual(tail, ["StreamEOF", "NetStream.Play.Stop"]);
      assert.ok(s.lines.some((l) => l.includes('play "live/gone" ended (publisher did not come')));
      await waitFor(() => s.server.connectionCount === 0, { what: "connection gone" });
    } finally {
      await s.close();
    }
  });
});

describe("RTMP play controls (our own player)", () => {
  it("pause stops delivery, unpause resumes at a keyframe; closeStream + play again on the same stream decodes cleanly", async () => {
    // 37 tags: metadata, two headers, keyframes at tags 3 and 16, audio in between.
    const tags = await readFlvTags(fixturePath("ffmpeg_publish_source.flv"));
    assert.ok(isKeyframe(tags[16]) && !tags.slice(4, 16).some(isKeyframe));
    const s = await startServer();
    const key = "ctl";
    try {
      const client = await RtmpClient.connect(s.url(key), { timeout: 10_000 });
      const send = async (from: number, to: number): Promise<void> => {
        for (const t of tags.slice(from, to)) await client.sendFlvTag(t);
        const last = tags[to - 1].timestamp;
        await waitFor(() => s.server.hub.get(`live/${key}`)?.lastTimestamp === last, {
          what: `tag ${to - 1} at the hub`,
        });
      };
      const got = (player: RawPlayer, tag: FlvTag, from = 0) =>
        player.waitFor(
          (e) => e.kind === "media" && sameBytes(e.message.payload, tag.data),
          5000,
          `tag at ${tag.timestamp}`,
          from,
        );
      await send(0, 10);
      const player = await RawPlayer.connect(`rtmp://127.0.0.1:${s.server.addr.port}/live`);
      const sid = await player.play(key);
      await got(player, tags[9]);
      player.command(sid, "pause", true, 0);
      const paused = player.events.indexOf(
        await player.waitFor(isStatus("NetStream.Pause.Notify"), 5000, "Pause.Notify"),
      );
      await send(10, 14);
      player.command(sid, "pause", false, 0);
      const resumed = player.events.indexOf(
        await player.waitFor(isStatus("NetStream.Unpause.Notify"), 5000, "Unpause.Notify"),
      );
      await send(14, 30);
      await got(player, tags[29], resumed);
      assert.deepEqual(
        rawMedia(player, paused).length,
        rawMedia(player, resumed).length,
        "none while paused",
      );
      // Audio flows at once; video waits for the next keyframe (tags 13 and 14's reference were
      // not sent), then continues as published.
      assertSameMedia(
        rawMedia(player, resumed),
        mediaTags(tags.slice(14, 30)).filter((t, i) => t.type === 8 || i + 14 >= 16),
        "after unpause",
      );

      // The same stream played again: primed anew, and every byte still decodes.
      player.command(sid, "closeStream");
      await waitFor(() => s.lines.some((l) => l.includes("(player sent closeStream)")), {
        what: "the first play ended",
      });
      const mark = player.events.length;
      player.command(sid, "play", key, -2);
      await player.waitFor(isStatus("NetStream.Play.Start"), 5000, "2nd Play.Start", mark);
      await send(30, tags.length);
      await client.close();
      await player.waitFor(isStatus("NetStream.Play.UnpublishNotify"), 5000, "end", mark);
      const meta = player.events.slice(mark).find((e) =>
        e.kind === "data" && e.handler === "onMetaData"
      );
      assert.ok(meta?.kind === "data" && sameBytes(meta.message.payload, tags[0].data));
      assertSameMedia(
        rawMedia(player, mark),
        mediaTags([tags[1], tags[2], ...tags.slice(16)]),
        "second play: headers, the GOP, then the rest",
      );
      assert.ok(!player.closed);
      player.close();
    } finally {
      await s.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// A stalled player against a server in its own process (so its memory is the server's alone).

const SOFT = 4 << 20;
const HARD = 5 << 20;

interface ChildServer {
  script: RunningScript;
  port: number;
  count(key: string): Promise<number>;
  memory(field: "VmRSS" | "VmHWM"): number;
  /** Resets the peak (VmHWM) to the current RSS; false where the kernel does not allow it. */
  resetPeak(): boolean;
}

let queryId = 0;

async function startChildServer(limits: Record<string, number>): Promise<ChildServer> {
  const script = startScript("tests/support/play_server.ts", [JSON.stringify(limits)], {
    stdin: "pipe",
  });
  const port = Number((await script.waitFor(/listening (\d+)/))[1]);
  const proc = `/proc/${script.child.pid}`;
  return {
    script,
    port,
    async count(key: string): Promise<number> {
      const id = ++queryId;
      script.child.stdin!.write(`count ${id} ${key}\n`);
      return Number((await script.waitFor(new RegExp(`count ${id} (\\d+)`), 5000))[1]);
    },
    memory(field): number {
      const m = readFileSync(`${proc}/status`, "utf8").match(new RegExp(`${field}:\\s+(\\d+) kB`));
      assert.ok(m, `${field} in ${proc}/status`);
      return Number(m[1]) * 1024;
    },
    resetPeak(): boolean {
      // Linux: writing 5 to clear_refs resets VmHWM to the current VmRSS.
      try {
        writeFileSync(`${proc}/clear_refs`, "5");
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** The source's media repeated `loops` times with continuous timestamps (headers once). */
function loopTags(tags: FlvTag[], loops: number): FlvTag[] {
  // The 5-byte AVC end-of-sequence tag would end the stream for decoders mid-way: left out.
  const media = tags.filter((t) => !(t.type === 9 && t.data.length <= 5));
  const span = Math.max(...media.map((t) => t.timestamp)) + 40;
  const out: FlvTag[] = [];
  for (let loop = 0; loop < loops; loop++) {
    for (const t of media) {
      const config = t.type === 18 || ((t.type === 8 || t.type === 9) && t.data[1] === 0);
      if (loop > 0 && config) continue;
      out.push({ ...t, timestamp: t.timestamp + loop * span });
    }
  }
  return out;
}

/** Publishes `tags` with our client, optionally paced to `rate` bytes/s; resolves with the ms. */
async function timedPublish(url: string, tags: FlvTag[], rate = 0): Promise<number> {
  const client = await RtmpClient.connect(url, { timeout: 10_000 });
  const t0 = performance.now();
  let bytes = 0;
  for (const tag of tags) {
    await client.sendFlvTag(tag);
    bytes += tag.data.length;
    if (rate > 0) {
      const ahead = (bytes / rate) * 1000 - (performance.now() - t0);
      if (ahead > 5) await new Promise((r) => setTimeout(r, ahead));
    }
  }
  await client.close();
  return performance.now() - t0;
}

describe("a stalled player", { skip: skipWithout("ffmpeg") }, () => {
  it(
    "is cut at its hard bound without slowing the publisher or another player; server memory stays bounded",
    { timeout: 60_000 },
    async () => {
      need("ffmpeg");
      const tags = await readFlvTags(await makeTestFlv({ seconds: 6 }));
      const fast = loopTags(tags, 300); // ≈ 180 MB
      const fastBytes = fast.reduce((n, t) => n + t.data.length, 0);
      // The server runs in its own process (same runtime), so its RSS is the server's alone.
      const server = await startChildServer({
        playerQueueBytes: SOFT,
        playerQueueHardBytes: HARD,
      });
      const base = `rtmp://127.0.0.1:${server.port}/live`;
      const out = await tempDir("rtmp-stall-");
      try {
        const rss0 = server.memory("VmRSS");
        // 1. A fast publisher alone.
        const alone = await timedPublish(`${base}/alone`, fast);
        // 2. The same with a player that stopped reading right after `play`.
        const stalled = await RawPlayer.connect(base);
        await stalled.play("fast");
        stalled.stopReading();
        await waitFor(async () => (await server.count("live/fast")) === 1, {
          what: "the stalled player subscribed",
        });
        const rss1 = server.resetPeak() ? server.memory("VmRSS") : rss0;
        const withStaller = await timedPublish(`${base}/fast`, fast);
        await server.script.waitFor(
          /player of "live\/fast" disconnected: queue over its hard bound \(5242880 bytes\)/,
          10_000,
        );
        const growth = server.memory("VmHWM") - rss1;
        // Reading again, it gets what the kernel buffered, then the server's close.
        stalled.resumeReading();
        await stalled.whenClosed;
        const stalledGot = rawMedia(stalled).length;
        assert.ok(stalledGot < fast.length / 2, `the stalled player got ${stalledGot} messages`);

        // 3. A stalled player and an ffmpeg player; the publisher paced at 10 MB/s (ffmpeg keeps
        // up with that; at full speed it does not, stalled player or not).
        const paced = loopTags(tags, 50); // ≈ 30 MB
        const stalled2 = await RawPlayer.connect(base);
        await stalled2.play("paced");
        stalled2.stopReading();
        const ffOut = join(out, "paced.flv");
        const ffmpeg = ffmpegPull(`${base}/paced`, ffOut, { timeoutMs: 60_000 });
        await waitFor(async () => (await server.count("live/paced")) === 2, {
          what: "both players subscribed",
        });
        await timedPublish(`${base}/paced`, paced, 10e6);
        const r = await ffmpeg.done;
        assert.equal(r.code, 0, r.stderr);
        await server.script.waitFor(/player of "live\/paced" disconnected: queue over its hard/);
        stalled2.close();

        const mb = (n: number): string => (n / 1e6).toFixed(1);
        console.log(
          `stalled player: publish ${mb(fastBytes)} MB alone ${alone.toFixed(0)} ms, with a ` +
            `stalled player ${withStaller.toFixed(0)} ms; server RSS ${mb(rss0)} MB at start, ` +
            `${mb(rss1)} MB before the stalled run, whose peak is +${mb(growth)} MB ` +
            `(player queue bound ${mb(HARD)} MB)`,
        );
        // Not a benchmark: a publisher held back by the stalled reader would take as long as
        // the stalled player stays (seconds) or forever; this only rules that out, generously.
        assert.ok(withStaller < 3 * alone + 1000, `${withStaller} ms vs ${alone} ms alone`);
        // A server that kept the stalled player's backlog would grow by about what it was sent
        // (measured with the bounds lifted); garbage alone stays well under half of that.
        assert.ok(growth < fastBytes / 2, `server memory grew by ${mb(growth)} MB in the run`);
        // The other player got every packet of the paced publish, byte for byte. ffmpeg's
        // muxer ends its file with its own AVC end-of-sequence tag: left out.
        const got = mediaTags(await readFlvTags(ffOut)).filter((t) => t.data.length > 5);
        assertSameMedia(got, mediaTags(paced), "ffmpeg next to a stalled player");
        assert.match(
          server.script.stderr(),
          /play "live\/paced" ended \(player sent deleteStream\) after [\d.]+ s, \d+ messages, 0 dropped/,
        );
      } finally {
        await stopScript(server.script);
        await removeTempDir(out);
      }
    },
  );
});
