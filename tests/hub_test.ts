// The stream hub without sockets: subscriber policies (block / drop), the GOP cache, a live
// stream's priming of late joiners (legacy and Enhanced RTMP fixtures, multitrack), publish /
// unpublish signals, the shared chunked bytes of a message, and a seeded property test of random
// publish sequences read by random slow readers.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { GopCache } from "../hub/gop_cache.ts";
import { HubMessage } from "../hub/hub_message.ts";
import { LiveStream } from "../hub/live_stream.ts";
import { StreamHub } from "../hub/stream_hub.ts";
import { Subscriber, type SubscriberEntry } from "../hub/subscriber.ts";
import { encodeAmf0 } from "../protocol/amf0.ts";
import { AudioPacketType, parseAudioTag } from "../protocol/audio_tag.ts";
import { ChunkDecoder } from "../protocol/chunk_decoder.ts";
import { ChunkEncoder } from "../protocol/chunk_encoder.ts";
import { setChunkSizeMessage } from "../protocol/control.ts";
import type { FlvTag } from "../protocol/flv.ts";
import type { RtmpMessage } from "../protocol/message.ts";
import { buildVideoTag, parseVideoTag } from "../protocol/video_tag.ts";
import { buildAudioTag } from "../protocol/audio_tag.ts";
import { isAudioSequenceHeader } from "../protocol/audio_tag.ts";
import { isVideoKeyframe, isVideoSequenceHeader } from "../protocol/video_tag.ts";
import { fixturePath } from "./support/fixtures.ts";
import { readFlvTags } from "./support/media.ts";
import { prng } from "./support/util.ts";

// ---------------------------------------------------------------------------------------------
// Message builders (legacy AVC / AAC bodies, sized so queue accounting is easy: size = n + 64)

function video(ts: number, kind: "key" | "inter" | "header", n = 100): HubMessage {
  const p = new Uint8Array(Math.max(5, n));
  p[0] = kind === "inter" ? 0x27 : 0x17;
  p[1] = kind === "header" ? 0 : 1;
  return new HubMessage(9, ts, p);
}

function audio(ts: number, n = 50, header = false): HubMessage {
  const p = new Uint8Array(Math.max(2, n));
  p[0] = 0xaf;
  p[1] = header ? 0 : 1;
  return new HubMessage(8, ts, p);
}

function metadata(ts = 0, width = 320): HubMessage {
  return new HubMessage(18, ts, encodeAmf0(["@setDataFrame", "onMetaData", { width }]));
}

function textData(ts: number): HubMessage {
  return new HubMessage(18, ts, encodeAmf0(["onTextData", { text: "hi" }]));
}

/** An FLV tag as a publisher sends it (onMetaData with `@setDataFrame`, like FFmpeg). */
function fromTag(tag: FlvTag): HubMessage {
  if (tag.type !== 18) return new HubMessage(tag.type, tag.timestamp, tag.data);
  const prefix = encodeAmf0(["@setDataFrame"]);
  const p = new Uint8Array(prefix.length + tag.data.length);
  p.set(prefix);
  p.set(tag.data, prefix.length);
  return new HubMessage(18, tag.timestamp, p);
}

function drain(sub: Subscriber): SubscriberEntry[] {
  const out: SubscriberEntry[] = [];
  for (let e = sub.next(); e !== undefined; e = sub.next()) out.push(e);
  return out;
}

function media(entries: SubscriberEntry[]): HubMessage[] {
  return entries.filter((e): e is HubMessage => !("signal" in e));
}

function settled(p: Promise<void>): () => boolean {
  let done = false;
  p.then(() => done = true);
  return () => done;
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** Lets promise reactions run (a released publish() settles within a few microtask turns). */
async function microtasks(): Promise<void> {
  for (let i = 0; i < 8; i++) await null;
}

// ---------------------------------------------------------------------------------------------

describe("Subscriber: block policy", () => {
  it("push returns a promise past the bound that resolves only once drained under it", async () => {
    // 164 bytes per message: 6 fit in 1000, the 7th and 8th are past the bound.
    const sub = new Subscriber({ policy: "block", maxBytes: 1000 });
    const waits: Array<Promise<void> | undefined> = [];
    for (let i = 0; i < 8; i++) waits.push(sub.push(video(i * 40, i === 0 ? "key" : "inter")));
    assert.deepEqual(waits.map((w) => w !== undefined), [
      false,
      false,
      false,
      false,
      false,
      false,
      true,
      true,
    ]);
    const seventh = settled(waits[6]!);
    const eighth = settled(waits[7]!);
    await tick();
    assert.equal(seventh(), false, "still full: the publisher waits");
    assert.equal(sub.take(1).length, 1); // 7 × 164 = 1148 bytes left, still over
    await tick();
    assert.equal(seventh() || eighth(), false);
    assert.equal(sub.take(1).length, 1); // 984 bytes: under the bound
    await tick();
    assert.ok(seventh() && eighth(), "drained under the bound: both waits released");
    assert.equal(sub.stats().droppedMessages, 0, "block never drops");
  });

  it("a stream with a full block subscriber makes publish() wait; drop subscribers never do", async () => {
    const stream = new LiveStream("live/b");
    stream.start(0);
    const slowViewer = stream.subscribe({ policy: "drop", maxBytes: 200, hardMaxBytes: 1 << 20 });
    for (let i = 0; i < 50; i++) {
      assert.equal(stream.publish(audio(i * 20)), undefined, "a drop subscriber never blocks");
    }
    assert.ok(slowViewer.queuedBytes > 200);
    const recorder = stream.subscribe({ policy: "block", maxBytes: 500 });
    let wait: Promise<void> | undefined;
    for (let i = 50; i < 60 && !wait; i++) wait = stream.publish(audio(i * 20));
    assert.ok(wait, "the block subscriber filled up");
    const released = settled(wait);
    await tick();
    assert.equal(released(), false);
    drain(recorder);
    await tick();
    assert.equal(released(), true);
  });

  it("a block subscriber sees every frame of the next publisher, whatever its queue holds", () => {
    for (const firstVideo of ["key", "inter"] as const) {
      const stream = new LiveStream("live/r");
      const sub = stream.subscribe({ policy: "block", maxBytes: 300 });
      stream.start(0, "a");
      stream.publish(video(0, "key"));
      stream.publish(video(40, "inter"));
      stream.stop("a");
      stream.start(0, "b");
      // The old publisher's frames are still queued and the queue is over its bound (a caller
      // that does not await publish(), or a relay that starts mid-GOP): `block` is for readers
      // that must see everything, so nothing of the new publisher is skipped.
      const sent = [video(0, "header"), video(0, firstVideo), video(40, "inter"), video(80, "key")];
      for (const m of sent) stream.publish(m);
      const got = media(drain(sub));
      assert.deepEqual(got.slice(2), sent, `new publisher starting with a ${firstVideo} frame`);
      assert.equal(sub.stats().droppedMessages, 0);
    }
  });
});

describe("Subscriber: drop policy", () => {
  it("skips inter frames past the soft bound until a keyframe arrives under it; audio, data and headers flow", () => {
    const sub = new Subscriber({ policy: "drop", maxBytes: 1000, hardMaxBytes: 100_000 });
    const k0 = video(0, "key");
    const inters = Array.from({ length: 6 }, (_, i) => video(40 * (i + 1), "inter"));
    for (const m of [k0, ...inters]) assert.equal(sub.push(m), undefined);
    assert.equal(sub.queuedBytes, 7 * 164, "all seven admitted (the last one under the bound)");
    // Past the soft bound now.
    const dropped1 = video(280, "inter");
    const a1 = audio(280);
    const d1 = textData(280);
    const h1 = video(300, "header");
    const droppedKey = video(320, "key"); // a keyframe while still over: dropped too
    const a2 = audio(320);
    for (const m of [dropped1, a1, d1, h1, droppedKey, a2]) sub.push(m);
    const first = drain(sub);
    assert.deepEqual(first, [k0, ...inters, a1, d1, h1, a2]);
    // Under the bound again, but the inter frame's reference was dropped: still skipped.
    const dropped2 = video(360, "inter");
    const a3 = audio(360);
    const k1 = video(400, "key");
    const i1 = video(440, "inter");
    for (const m of [dropped2, a3, k1, i1]) sub.push(m);
    assert.deepEqual(drain(sub), [a3, k1, i1]);
    const s = sub.stats();
    assert.equal(s.droppedMessages, 3);
    assert.equal(s.droppedBytes, dropped1.payload.length * 2 + droppedKey.payload.length);
    assert.equal(s.dropEpisodes, 1);
    assert.equal(sub.closed, false);
  });

  it("closes past the hard bound with a reason, empties the queue and leaves the stream", () => {
    const stream = new LiveStream("live/h");
    stream.start(0);
    const reasons: string[] = [];
    const sub = stream.subscribe(
      { policy: "drop", maxBytes: 500, hardMaxBytes: 1000 },
      (r) => reasons.push(r),
    );
    assert.equal(stream.subscriberCount, 1);
    // Audio keeps flowing past the soft bound, so only the hard bound stops it: 114 bytes each.
    let n = 0;
    while (!sub.closed && n < 100) stream.publish(audio(20 * n++));
    assert.equal(n, 9, "the 9th message (1026 bytes) crossed the hard bound");
    assert.match(sub.closeReason ?? "", /hard bound \(1000 bytes\)/);
    assert.deepEqual(reasons, [sub.closeReason]);
    assert.equal(sub.queuedBytes, 0);
    assert.equal(sub.done, true);
    assert.equal(stream.subscriberCount, 0);
    stream.publish(audio(1000));
    assert.equal(sub.next(), undefined, "nothing is queued after close");
  });

  it("pause queues only headers and signals; resume, receiveVideo and receiveAudio restart cleanly", () => {
    const sub = new Subscriber({ policy: "drop" });
    const want: HubMessage[] = [];
    const push = (m: HubMessage, delivered: boolean): void => {
      sub.push(m);
      if (delivered) want.push(m);
    };
    push(video(0, "key"), true);
    push(video(40, "inter"), true);
    sub.setPaused(true);
    push(video(80, "inter"), false);
    push(audio(80), false);
    push(textData(80), false);
    push(video(90, "header"), true);
    push(audio(90, 7, true), true);
    sub.setPaused(false);
    push(video(120, "inter"), false); // its reference was not delivered
    push(audio(120), true);
    push(video(160, "key"), true);
    push(video(200, "inter"), true);
    sub.setReceive("video", false);
    push(video(240, "inter"), false);
    push(video(280, "key"), false);
    push(audio(240), true);
    sub.setReceive("video", true);
    push(video(320, "inter"), false);
    push(video(360, "key"), true);
    sub.setReceive("audio", false);
    push(audio(400), false);
    push(video(400, "inter"), true);
    sub.setReceive("audio", true);
    push(audio(440), true);
    assert.deepEqual(drain(sub), want);
  });

  it("hands out the published objects: timestamps are never rewritten, also after drops and at 2^32", () => {
    const sub = new Subscriber({ policy: "drop", maxBytes: 600, hardMaxBytes: 1 << 20 });
    const base = 0xffffff00;
    const sent: HubMessage[] = [];
    for (let i = 0; i < 40; i++) {
      const ts = (base + i * 33) >>> 0;
      const m = i % 10 === 0 ? video(ts, "key") : i % 3 === 0 ? audio(ts) : video(ts, "inter");
      sent.push(m);
      sub.push(m);
      if (i % 7 === 6) drain(sub).forEach((e) => assert.ok(sent.includes(e as HubMessage)));
    }
    const got = media(drain(sub));
    for (const m of got) {
      const i = sent.indexOf(m);
      assert.ok(i >= 0, "the same object");
      assert.equal(m.timestamp, (base + i * 33) >>> 0);
    }
    assert.ok(sub.stats().droppedMessages > 0, "the case did drop");
  });
});

describe("GopCache", () => {
  it("starts at a keyframe, keeps audio and data in the GOP, excludes headers", () => {
    const gop = new GopCache();
    gop.add(video(0, "inter"));
    gop.add(audio(0));
    assert.equal(gop.messages().length, 0, "nothing before the first keyframe");
    const k = video(40, "key");
    const a = audio(50);
    const d = textData(60);
    const i = video(80, "inter");
    for (const m of [k, video(40, "header"), a, audio(50, 7, true), d, i]) gop.add(m);
    assert.deepEqual(gop.messages(), [k, a, d, i]);
    assert.equal(gop.bytes, k.size + a.size + d.size + i.size);
    const k2 = video(2000, "key");
    gop.add(k2);
    assert.deepEqual(gop.messages(), [k2], "a keyframe starts a new GOP");
  });

  it("a GOP past maxBytes is dropped whole and caching restarts at the next keyframe", () => {
    const gop = new GopCache({ maxBytes: 1000 });
    gop.add(video(0, "key")); // 164
    for (let i = 1; i <= 5; i++) gop.add(video(i * 40, "inter")); // 984 in all
    assert.equal(gop.messages().length, 6);
    gop.add(video(240, "inter")); // 1148: over
    assert.deepEqual(gop.messages(), []);
    assert.equal(gop.bytes, 0);
    gop.add(video(280, "inter"));
    gop.add(audio(280));
    assert.deepEqual(gop.messages(), [], "no partial GOP after an overflow");
    const k = video(320, "key");
    gop.add(k);
    assert.deepEqual(gop.messages(), [k]);
  });

  it("a GOP longer than maxDuration is dropped whole, also across the 32-bit timestamp wrap", () => {
    const gop = new GopCache({ maxDuration: 1000 });
    const start = 0xffffff00; // wraps 256 ms later
    gop.add(video(start, "key"));
    gop.add(video((start + 1000) >>> 0, "inter"));
    assert.equal(gop.messages().length, 2, "exactly maxDuration is kept");
    gop.add(video((start + 1001) >>> 0, "inter"));
    assert.deepEqual(gop.messages(), []);
  });
});

// ---------------------------------------------------------------------------------------------
// Priming of late joiners

/** Header identity as a decoder sees it: kind, packet type, codec, track. */
function headerIdentity(m: HubMessage): string {
  if (m.type === 9) {
    const t = parseVideoTag(m.payload);
    if (!t.enhanced) return `video:${t.codecId}`;
    const track = t.multitrack?.tracks[0];
    return `video:${t.packetType}:${track?.fourCc ?? t.fourCc}:${track?.trackId ?? "-"}`;
  }
  const t = parseAudioTag(m.payload);
  if (!t.enhanced) return `audio:${t.soundFormat}`;
  const track = t.multitrack?.tracks[0];
  return `audio:${t.packetType}:${track?.fourCc ?? t.fourCc}:${track?.trackId ?? "-"}`;
}

/** Decoder configuration a late joiner needs: sequence headers, and Opus-style MultichannelConfig. */
function isHeaderMessage(m: HubMessage): boolean {
  if (m.type === 9) return isVideoSequenceHeader(parseVideoTag(m.payload));
  if (m.type !== 8) return false;
  const t = parseAudioTag(m.payload);
  return isAudioSequenceHeader(t) ||
    (t.enhanced && t.packetType === AudioPacketType.MultichannelConfig);
}

function isKeyframeMessage(m: HubMessage): boolean {
  return m.type === 9 && isVideoKeyframe(parseVideoTag(m.payload)) && !isHeaderMessage(m);
}

/**
 * Publishes the first `joinAt` tags of a file, subscribes, and checks the primed entries against
 * a model built with the protocol/ tag parsers: the latest metadata, the latest header of each
 * codec/track, then the GOP from the last keyframe, whose first video is that keyframe.
 */
async function checkLateJoin(file: string, joinFraction: number): Promise<void> {
  const messages = (await readFlvTags(fixturePath(file))).map(fromTag);
  const joinAt = Math.floor(messages.length * joinFraction);
  const stream = new LiveStream("live/late");
  stream.start(0);
  for (const m of messages.slice(0, joinAt)) stream.publish(m);
  const sub = stream.subscribe({ policy: "drop" });
  const primed = drain(sub) as HubMessage[];

  const before = messages.slice(0, joinAt);
  const meta = before.filter((m) => m.type === 18).at(-1);
  const headers = new Map<string, HubMessage>();
  for (const m of before) if (isHeaderMessage(m)) headers.set(headerIdentity(m), m);
  const lastKey = before.findLastIndex(isKeyframeMessage);
  assert.ok(lastKey >= 0, "the join point is after a keyframe");
  const gop = before.slice(lastKey).filter((m) => !isHeaderMessage(m));

  assert.ok(meta, "the fixture has metadata");
  assert.equal(primed[0], meta, "metadata first");
  assert.equal(
    new TextDecoder().decode(primed[0].playPayload.subarray(3, 13)),
    "onMetaData",
    "players get onMetaData without @setDataFrame",
  );
  const primedHeaders = primed.slice(1, 1 + headers.size);
  assert.deepEqual(
    primedHeaders.map(headerIdentity).sort(),
    [...headers.keys()].sort(),
    "one header per codec/track",
  );
  for (const h of primedHeaders) assert.equal(h, headers.get(headerIdentity(h)), "the latest one");
  const primedGop = primed.slice(1 + headers.size);
  assert.deepEqual(primedGop, gop, "the GOP from the last keyframe");
  assert.ok(isKeyframeMessage(primedGop.find((m) => m.type === 9)!), "first video is a keyframe");
  // And the stream goes on from there.
  for (const m of messages.slice(joinAt)) stream.publish(m);
  assert.deepEqual(drain(sub), messages.slice(joinAt));
}

describe("LiveStream: late joiners", () => {
  it("legacy H.264/AAC (ffmpeg_publish_source.flv): metadata + headers + GOP", async () => {
    await checkLateJoin("ffmpeg_publish_source.flv", 0.8);
  });

  it("Enhanced RTMP AV1/Opus (both fixtures): metadata + the latest header per codec + GOP", async () => {
    await checkLateJoin("ertmp-av1-opus-testsrc.flv", 0.5);
    await checkLateJoin("ertmp-av1-opus-mptestsrc.flv", 0.7);
  });

  it("multitrack: one header per track, a repeated header replaces its own track only", () => {
    const vHeader = (trackId: number, config: number) =>
      new HubMessage(
        9,
        0,
        buildVideoTag({
          enhanced: true,
          frameType: 1,
          packetType: 0,
          multitrack: {
            type: 0,
            fourCc: "hvc1",
            tracks: [{ trackId, fourCc: "hvc1", data: new Uint8Array([1, config, 2, 3]) }],
          },
        }),
      );
    const aHeader = (trackId: number) =>
      new HubMessage(
        8,
        0,
        buildAudioTag({
          enhanced: true,
          packetType: 0,
          multitrack: {
            type: 0,
            fourCc: "Opus",
            tracks: [{ trackId, fourCc: "Opus", data: new Uint8Array([0x4f, trackId]) }],
          },
        }),
      );
    const v0 = vHeader(0, 0x10);
    const v1 = vHeader(1, 0x20);
    const v1b = vHeader(1, 0x21);
    const a0 = aHeader(0);
    const a1 = aHeader(1);
    for (const m of [v0, v1, a0, a1, v1b]) assert.ok(m.header, "a sequence header");
    const stream = new LiveStream("live/mt");
    stream.start(0);
    for (const m of [v0, v1, a0, a1, v1b]) stream.publish(m);
    const primed = drain(stream.subscribe({ policy: "drop" }));
    assert.deepEqual(primed, [v0, v1b, a0, a1]);
  });

  it("an E-RTMP codec configuration change keeps only the new header", () => {
    const header = (config: number[]) =>
      new HubMessage(
        9,
        0,
        buildVideoTag({
          enhanced: true,
          frameType: 1,
          packetType: 0,
          fourCc: "av01",
          data: new Uint8Array(config),
        }),
      );
    const stream = new LiveStream("live/cfg");
    stream.start(0);
    const old = header([0x81, 0x04, 0x0c]);
    const now = header([0x81, 0x08, 0x0c]);
    stream.publish(old);
    stream.publish(now);
    assert.deepEqual(drain(stream.subscribe({ policy: "drop" })), [now]);
  });

  it("without a cached GOP a late joiner starts at the next keyframe", () => {
    const stream = new LiveStream("live/nogop", { maxBytes: 400 });
    stream.start(0);
    const h = video(0, "header");
    stream.publish(h);
    stream.publish(video(0, "key"));
    for (let i = 1; i < 5; i++) stream.publish(video(i * 40, "inter")); // GOP overflows
    const sub = stream.subscribe({ policy: "drop" });
    const a = audio(200);
    const k = video(240, "key");
    for (const m of [video(200, "inter"), a, k]) stream.publish(m);
    assert.deepEqual(drain(sub), [h, a, k]);
  });
});

describe("LiveStream: publish and unpublish", () => {
  it("waiting subscribers get publish / unpublish signals in order with the media", () => {
    const stream = new LiveStream("live/sig");
    const sub = stream.subscribe({ policy: "drop" });
    assert.deepEqual(drain(sub), [], "nothing while not live");
    stream.start(0, "first");
    const m1 = [metadata(), video(0, "header"), video(0, "key"), video(40, "inter")];
    for (const m of m1) stream.publish(m);
    stream.stop("someone else");
    assert.equal(stream.live, true, "a stale owner cannot stop the stream");
    stream.stop("first");
    assert.equal(stream.live, false);
    stream.start(10, "second");
    const m2 = [video(0, "header"), video(0, "key")];
    for (const m of m2) stream.publish(m);
    assert.deepEqual(drain(sub), [
      { signal: "publish" },
      ...m1,
      { signal: "unpublish" },
      { signal: "publish" },
      ...m2,
    ]);
  });

  it("a republish clears the old metadata, headers and GOP", () => {
    const stream = new LiveStream("live/re");
    stream.start(0, "a");
    for (const m of [metadata(0, 640), video(0, "header"), audio(0, 7, true), video(0, "key")]) {
      stream.publish(m);
    }
    stream.stop("a");
    stream.start(0, "b");
    const h = video(0, "header", 30);
    stream.publish(h);
    assert.deepEqual(drain(stream.subscribe({ policy: "drop" })), [h]);
    assert.equal(stream.metadata, null);
  });

  it("a new owner taking over without a stop does not inherit the old headers", () => {
    const stream = new LiveStream("live/take");
    stream.start(0, "a");
    stream.publish(video(0, "header"));
    stream.publish(audio(0, 7, true));
    stream.start(0, "b");
    const h = video(0, "header", 30);
    stream.publish(h);
    assert.deepEqual(drain(stream.subscribe({ policy: "drop" })), [h]);
  });

  it("endOnUnpublish subscribers end (queued entries still readable); the hub forgets idle streams", () => {
    const hub = new StreamHub();
    const stream = hub.open("live/e");
    stream.start(0, "p");
    const sub = stream.subscribe({ policy: "block", endOnUnpublish: true });
    const k = video(0, "key");
    stream.publish(k);
    stream.stop("p");
    assert.equal(sub.done, false, "the queued keyframe is still there");
    assert.equal(hub.get("live/e"), undefined, "neither publisher nor subscribers: forgotten");
    assert.deepEqual(drain(sub), [k]);
    assert.equal(sub.done, true);
  });
});

// ---------------------------------------------------------------------------------------------

function decodeAll(chunkSize: number, ...parts: Uint8Array[]): RtmpMessage[] {
  const decoder = new ChunkDecoder();
  const out: RtmpMessage[] = [];
  if (chunkSize !== 128) {
    out.push(...decoder.push(new ChunkEncoder().encode(2, setChunkSizeMessage(chunkSize))));
    out.shift();
  }
  for (const p of parts) out.push(...decoder.push(p));
  return out;
}

describe("HubMessage.chunked()", () => {
  it("decodes back to the same message with the player's stream id, a type 0 header and exact extended timestamps", () => {
    const payload = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7) & 0xff);
    payload[0] = 0x27;
    payload[1] = 1;
    for (const chunkSize of [128, 4096, 60_000]) {
      for (const ts of [0, 40, 0xfffffe, 0xffffff, 0x1000000, 0xfffffffe, 0xffffffff]) {
        const m = new HubMessage(9, ts, payload);
        const bytes = m.chunked(chunkSize, 5);
        assert.equal(bytes[0] >> 6, 0, "fmt 0");
        assert.equal(bytes[0] & 0x3f, 6, "video chunk stream");
        const [out, ...rest] = decodeAll(chunkSize, bytes);
        assert.equal(rest.length, 0);
        assert.equal(out.type, 9);
        assert.equal(out.streamId, 5);
        assert.equal(out.timestamp, ts, `timestamp ${ts} at chunk size ${chunkSize}`);
        assert.deepEqual(out.payload, payload);
      }
    }
  });

  it("messages of one chunk stream decode independently, whatever came before (backwards timestamps too)", () => {
    const a = new HubMessage(8, 0x2000000, new Uint8Array([0xaf, 1, 2, 3]));
    const b = new HubMessage(8, 1000, new Uint8Array([0xaf, 1, 4]));
    const c = new HubMessage(8, 1000, new Uint8Array([0xaf, 1, 4]));
    const out = decodeAll(4096, a.chunked(4096, 1), b.chunked(4096, 1), c.chunked(4096, 1));
    assert.deepEqual(out.map((m) => m.timestamp), [0x2000000, 1000, 1000]);
  });

  it("data messages go out without @setDataFrame", () => {
    const m = metadata(0, 1280);
    const [out] = decodeAll(4096, m.chunked(4096, 1));
    assert.equal(out.type, 18);
    assert.deepEqual(out.payload, encodeAmf0(["onMetaData", { width: 1280 }]));
  });

  it("players on different stream ids each get their own id (no shared cache mix-up)", () => {
    const m = video(40, "key");
    for (const id of [1, 2, 1, 0x10001, 1, 3, 0x10001]) {
      const [out] = decodeAll(4096, m.chunked(4096, id));
      assert.equal(out.streamId, id);
    }
    assert.equal(m.chunked(4096, 1), m.chunked(4096, 1), "shared bytes for the common case");
  });
});

// ---------------------------------------------------------------------------------------------
// Property test

const SEED = process.env.RTMP_TEST_SEED !== undefined
  ? Number(process.env.RTMP_TEST_SEED) >>> 0
  : 0x5eed0010;
const CASES = 80;

interface Reader {
  sub: Subscriber;
  policy: "block" | "drop";
  soft: number;
  hard: number;
  /** Per step, the chance of reading and the bytes per read. */
  readChance: number;
  readBytes: number;
  got: SubscriberEntry[];
  gotSet: Set<HubMessage>;
  /** Entries queued at subscribe time (metadata, headers, GOP). */
  primeCount: number;
  /** What must arrive (unless the reader is closed): headers, signals, unfiltered audio/data. */
  mustGet: SubscriberEntry[];
  paused: boolean;
  audioOff: boolean;
  videoOff: boolean;
  closedByHub: boolean;
  /** A block reader that joined without a cached GOP waits for the next keyframe. */
  waitingKey: boolean;
}

function runCase(seed: number): Promise<void> {
  const rand = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const chance = (p: number): boolean => rand() < p;
  return (async () => {
    const gopBytes = int(500, 60_000);
    const stream = new LiveStream("live/prop", {
      maxBytes: gopBytes,
      maxDuration: int(100, 4000),
    });
    const readers: Reader[] = [];
    /** The previous non-header video message of the same publish, per video message. */
    const reference = new Map<HubMessage, HubMessage | null>();
    let live = false;
    let owner = 0;
    let lastVideo: HubMessage | null = null;
    let ts = chance(0.3) ? 0xffffffff - int(0, 3000) : int(0, 1000);

    const addReader = (): void => {
      const policy = readers.length === 0 && chance(0.5) ? "block" : "drop";
      const soft = chance(0.5) ? int(300, 3000) : int(300, 30_000);
      const hard = Math.floor(soft * (1.2 + rand() * 3));
      const r: Reader = {
        policy,
        soft,
        hard,
        readChance: 0.05 + rand() * 0.9,
        readBytes: int(1, 20_000),
        got: [],
        gotSet: new Set(),
        primeCount: 0,
        mustGet: [],
        paused: false,
        audioOff: false,
        videoOff: false,
        closedByHub: false,
        waitingKey: false,
        sub: null as unknown as Subscriber,
      };
      r.sub = stream.subscribe(
        { policy, maxBytes: soft, hardMaxBytes: hard },
        () => r.closedByHub = true,
      );
      r.primeCount = r.sub.stats().queuedMessages;
      readers.push(r);
      if (policy === "block") {
        // Read the prime at once to see whether it holds a GOP to start from.
        read(r, true);
        r.waitingKey = live && lastVideo !== null &&
          !r.got.some((e) => !("signal" in e) && e.type === 9 && !e.header);
      }
    };

    function read(r: Reader, all = false): void {
      for (const e of r.sub.take(all ? Infinity : r.readBytes)) {
        r.got.push(e);
        if (!("signal" in e)) r.gotSet.add(e);
      }
    }

    const publish = async (m: HubMessage): Promise<void> => {
      if (m.type === 9 && !m.header) {
        reference.set(m, m.keyframe ? null : lastVideo);
        lastVideo = m;
      }
      for (const r of readers) {
        if (r.sub.closed) continue;
        if (r.policy === "block" && m.keyframe) r.waitingKey = false;
        const filtered = m.header
          ? false
          : m.type === 8
          ? r.paused || r.audioOff
          : m.type === 9
          ? r.policy === "drop" || r.waitingKey
          : r.paused;
        if (!filtered) r.mustGet.push(m);
      }
      const wait = stream.publish(m);
      for (const r of readers) {
        if (r.policy === "drop" && !r.sub.closed) {
          assert.ok(r.sub.queuedBytes <= r.hard, "a drop reader stays under its hard bound");
        }
      }
      if (wait) {
        assert.ok(readers.some((r) => r.policy === "block"), "only block readers make us wait");
        const released = settled(wait);
        await microtasks();
        // The publisher waits; time passes for every reader until the block reader drained.
        while (!released()) {
          for (const r of readers) if (r.policy === "block" || chance(r.readChance)) read(r);
          await microtasks();
        }
      }
    };

    const signal = (s: "publish" | "unpublish"): void => {
      for (const r of readers) if (!r.sub.closed) r.mustGet.push({ signal: s });
    };

    const steps = int(100, 700);
    for (let step = 0; step < steps; step++) {
      if (chance(0.03) || (step === 0 && chance(0.7))) addReader();
      if (!live && (step === 0 || chance(0.1))) {
        signal("publish");
        stream.start(step, ++owner);
        live = true;
        lastVideo = null;
        await publish(metadata(ts));
        await publish(video(ts, "header", int(20, 60)));
        await publish(audio(ts, 7, true));
        await publish(video(ts, "key", int(100, 3000)));
      } else if (live && chance(0.01)) {
        signal("unpublish");
        stream.stop(owner);
        live = false;
      } else if (live) {
        ts = (ts + int(0, 45)) >>> 0;
        const x = rand();
        const m = x < 0.08
          ? video(ts, "key", int(500, 6000))
          : x < 0.5
          ? video(ts, "inter", int(20, 1500))
          : x < 0.95
          ? audio(ts, int(10, 400))
          : x < 0.97
          ? video(ts, "header", int(20, 60))
          : textData(ts);
        await publish(m);
      }
      for (const r of readers) {
        if (r.policy === "drop" && chance(0.01)) {
          r.paused = !r.paused;
          r.sub.setPaused(r.paused);
        }
        if (r.policy === "drop" && chance(0.01)) {
          r.videoOff = !r.videoOff;
          r.sub.setReceive("video", !r.videoOff);
        }
        if (r.policy === "drop" && chance(0.01)) {
          r.audioOff = !r.audioOff;
          r.sub.setReceive("audio", !r.audioOff);
        }
        if (chance(r.readChance)) read(r);
      }
    }
    for (const r of readers) read(r, true);

    for (const [i, r] of readers.entries()) {
      const label = `reader ${i} (${r.policy}, soft ${r.soft}, hard ${r.hard})`;
      if (r.sub.closed) {
        assert.ok(r.closedByHub, label);
        assert.equal(r.policy, "drop", `${label}: only drop readers are closed`);
        assert.match(r.sub.closeReason ?? "", /hard bound/, label);
        continue;
      }
      const primed = r.got.slice(0, r.primeCount) as HubMessage[];
      const after = r.got.slice(r.primeCount);
      // The primed GOP starts at a keyframe.
      const firstVideo = primed.find((m) => m.type === 9 && !m.header);
      if (firstVideo) assert.ok(firstVideo.keyframe, `${label}: primed GOP starts at a keyframe`);
      // Everything that had to arrive did, in order, and nothing arrived out of order.
      let j = 0;
      for (const e of after) {
        if (j < r.mustGet.length && sameEntry(e, r.mustGet[j])) j++;
      }
      assert.equal(
        j,
        r.mustGet.length,
        `${label}: every header, signal, audio and data (and for block, video) arrived`,
      );
      // No frame whose reference was dropped; keyframes and headers flagged as published.
      for (const e of r.got) {
        if ("signal" in e || e.type !== 9 || e.header) continue;
        const ref = reference.get(e);
        assert.ok(ref !== undefined, `${label}: a published video frame`);
        if (ref !== null) {
          assert.ok(r.gotSet.has(ref), `${label}: frame at ${e.timestamp} without its reference`);
        }
      }
      // Timestamps: a sample of messages decoded from the bytes players get.
      for (const e of after.filter((_, k) => k % 97 === 0)) {
        if ("signal" in e) continue;
        const [out] = decodeAll(4096, e.chunked(4096, 1));
        assert.equal(out.timestamp, e.timestamp);
      }
    }
  })();
}

function sameEntry(a: SubscriberEntry, b: SubscriberEntry): boolean {
  if ("signal" in a || "signal" in b) {
    return "signal" in a && "signal" in b && a.signal === b.signal;
  }
  return a === b;
}

describe("hub property: random publish sequences, random slow readers", () => {
  it(`${CASES} cases keep every invariant (RTMP_TEST_SEED=${SEED})`, async () => {
    console.log(`hub property test: RTMP_TEST_SEED=${SEED}`);
    for (let c = 0; c < CASES; c++) {
      const seed = (SEED + c * 0x9e3779b9) >>> 0;
      try {
        await runCase(seed);
      } catch (e) {
        throw new Error(
          `case ${c} failed (RTMP_TEST_SEED=${SEED}): ${e instanceof Error ? e.message : e}`,
          { cause: e },
        );
      }
    }
  });
});
